"""Solvers. Each takes a :class:`~lagrangian.Problem` and returns a :class:`~lagrangian.Solution`."""

from ..errors import ProblemError
from .newton_kkt import newton_kkt

__all__ = ["newton_kkt", "solve"]


def solve(problem, **options):
    """Solve ``problem`` with the solver its constraints call for.

    Equality-constrained problems (every row ``cl == cu``, no bounds) go to
    :func:`newton_kkt`. Inequality rows and bounds need the interior-point solver,
    which this version does not have yet; such problems raise a
    :class:`~lagrangian.errors.ProblemError` rather than being solved wrongly.
    """
    if problem.is_equality_constrained:
        return newton_kkt(problem, **options)
    raise ProblemError(
        "problem",
        "has inequality rows or variable bounds; this version solves equality-constrained problems only "
        "(lagrangian.solvers.newton_kkt). State active inequalities as equalities, or use KKTSystem(..., active=...)",
    )
