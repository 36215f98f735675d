"""Interfaces to the rest of the ecosystem: scipy's ``minimize`` calling convention and cvxpy.

The cvxpy bridge imports cvxpy only when one of its functions is called.
"""

from .cvxpy_bridge import CrosscheckReport, CvxpyImport, CvxpyProblem, crosscheck, from_cvxpy, to_cvxpy
from .scipy_minimize import STATUS_CODES, minimize

__all__ = ["minimize", "STATUS_CODES", "to_cvxpy", "from_cvxpy", "crosscheck", "CvxpyImport", "CvxpyProblem", "CrosscheckReport"]
