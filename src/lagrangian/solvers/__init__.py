"""Solvers. Each takes a :class:`~lagrangian.Problem` and returns a :class:`~lagrangian.Solution`."""

from ..errors import ProblemError
from ..fixed_variables import solve_without_fixed
from ..problem import Problem
from .mehrotra import convex_qp
from .interior_point import interior_point
from .newton_kkt import newton_kkt

__all__ = ["interior_point", "newton_kkt", "convex_qp", "solve"]

_METHODS = {"newton_kkt": newton_kkt, "interior_point": interior_point}


def solve(problem, *, method: str = "auto", **options):
    """Solve ``problem`` with the solver its constraints call for.

    Parameters
    ----------
    problem : Problem or QuadraticProgram
        A :class:`~lagrangian.QuadraticProgram` goes to the convex method
        (:func:`~lagrangian.solvers.mehrotra.convex_qp`, as :func:`lagrangian.solve_qp`
        does) unless ``method`` names a nonlinear solver, which then runs on
        ``qp.problem()``.
    method : {"auto", "convex_qp", "newton_kkt", "interior_point"}
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

    if not isinstance(problem, Problem) and callable(getattr(problem, "problem", None)):
        # A QuadraticProgram (qp imports this package, so it is recognised by what it
        # offers, not by its class): the convex method, as lagrangian.solve_qp does.
        if method in ("auto", "convex_qp"):
            return convex_qp(problem, **options)
        return solve(problem.problem(), method=method, **options)
    if method == "auto":
        method = "newton_kkt" if problem.is_equality_constrained else "interior_point"
    if method not in _METHODS:
        raise ProblemError("method", f"expected 'auto' or one of {sorted(_METHODS)}, got {method!r}")
    return solve_without_fixed(_METHODS[method], problem, **options)
