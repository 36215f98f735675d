"""The worked examples as reusable code."""

from .ridge import (
    RidgeSolution,
    ridge_constrained,
    ridge_leave_one_out,
    ridge_leave_one_out_choice,
    ridge_norm,
    ridge_penalized,
    ridge_validation_choice,
)

__all__ = [
    "RidgeSolution",
    "ridge_constrained",
    "ridge_penalized",
    "ridge_norm",
    "ridge_validation_choice",
    "ridge_leave_one_out",
    "ridge_leave_one_out_choice",
]
