"""Interfaces to the rest of the ecosystem: scipy's ``minimize`` calling convention and cvxpy.

The cvxpy bridge imports cvxpy only when one of its functions is called.
"""

from .cvxpy_bridge import CrosscheckReport, CvxpyProblem, crosscheck, to_cvxpy
from .scipy_minimize import STATUS_CODES, minimize

__all__ = ["minimize", "STATUS_CODES", "to_cvxpy", "crosscheck", "CvxpyProblem", "CrosscheckReport"]
