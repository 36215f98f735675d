"""Solvers. Each takes a :class:`~lagrangian.Problem` and returns a :class:`~lagrangian.Solution`."""

from ..errors import ProblemError
from ..fixed_variables import solve_without_fixed
from .convex_qp import convex_qp
from .interior_point import interior_point
from .newton_kkt import newton_kkt

__all__ = ["interior_point", "newton_kkt", "convex_qp", "solve"]

_METHODS = {"newton_kkt": newton_kkt, "interior_point": interior_point}


def solve(problem, *, method: str = "auto", **options):
    """Solve ``problem`` with the solver its constraints call for.

    Parameters
    ----------
    problem : Problem or QuadraticProgram
        A :class:`~lagrangian.QuadraticProgram` goes to :func:`lagrangian.solve_qp`
        (the convex method; ``method`` is passed on when not ``"auto"``).
    method : {"auto", "newton_kkt", "interior_point"}
        ``"auto"`` sends equality-constrained problems (every row ``cl == cu``, no
        bounds) to :func:`newton_kkt` and everything else to
        :func:`interior_point`.
    **options
        Passed to the solver (``tol``, ``max_iterations``, ``log``, ...).

    Notes
    -----
    Variables with equal bounds (``lb == ub``) are removed before the solver
    runs and put back in the solution, with the bound multipliers that close
    their stationarity rows (:mod:`lagrangian.fixed_variables`): a solver never
    differentiates or steps in a variable that has no room to move.
    """

    from ..qp import QuadraticProgram, solve_qp  # qp imports this package

    if isinstance(problem, QuadraticProgram):
        return solve_qp(problem, **options) if method == "auto" else solve_qp(problem, method=method, **options)
    if method == "auto":
        method = "newton_kkt" if problem.is_equality_constrained else "interior_point"
    if method not in _METHODS:
        raise ProblemError("method", f"expected 'auto' or one of {sorted(_METHODS)}, got {method!r}")
    return solve_without_fixed(_METHODS[method], problem, **options)
