"""Solvers. Each takes a :class:`~lagrangian.Problem` and returns a :class:`~lagrangian.Solution`."""

from ..errors import ProblemError
from .convex_qp import convex_qp
from .interior_point import interior_point
from .newton_kkt import newton_kkt

__all__ = ["interior_point", "newton_kkt", "convex_qp", "solve"]

_METHODS = {"newton_kkt": newton_kkt, "interior_point": interior_point}


def solve(problem, *, method: str = "auto", **options):
    """Solve ``problem`` with the solver its constraints call for.

    Parameters
    ----------
    problem : Problem
    method : {"auto", "newton_kkt", "interior_point"}
        ``"auto"`` sends equality-constrained problems (every row ``cl == cu``, no
        bounds) to :func:`newton_kkt` and everything else to
        :func:`interior_point`.
    **options
        Passed to the solver (``tol``, ``max_iterations``, ``log``, ...).
    """
    if method == "auto":
        method = "newton_kkt" if problem.is_equality_constrained else "interior_point"
    if method not in _METHODS:
        raise ProblemError("method", f"expected 'auto' or one of {sorted(_METHODS)}, got {method!r}")
    return _METHODS[method](problem, **options)
