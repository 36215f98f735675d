"""Interfaces to the rest of the ecosystem: scipy's ``minimize`` calling convention."""

from .scipy_minimize import STATUS_CODES, minimize

__all__ = ["minimize", "STATUS_CODES"]
