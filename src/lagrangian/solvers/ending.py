"""What every solver does the same way: the callback each iteration, and the Solution, last log line and optional raise at the end."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from ..errors import ConvergenceError
from ..kkt import kkt_residuals_from_values
from ..result import Solution


def callback_stops(callback, record, x) -> bool:
    """Call the user's ``callback(record, x)``; True when it raised ``StopIteration`` (scipy's way to stop)."""
    if callback is None:
        return False
    try:
        callback(record, x.copy())
    except StopIteration:
        return True
    return False


def finish(problem, *, solver, x, f, y, z, c, g, J, status, history, start_counts, stream, raise_on_failure, certificate=None) -> Solution:
    """Build the :class:`~lagrangian.Solution` from values the solver already holds at ``x``.

    The KKT residuals are computed from ``c(x)``, ``grad f(x)`` and ``J(x)`` as
    evaluated by the solver (no further calls of the user's functions); the
    evaluation counts are those since ``start_counts``.
    """
    residuals = kkt_residuals_from_values(problem, x, y, z, c=c, gradient=g, jacobian=J)
    evaluations = {key: problem.counts[key] - start_counts[key] for key in problem.counts}
    result = Solution(
        x=np.array(x, dtype=float),
        fun=float(f),
        y=np.array(y, dtype=float),
        z=np.array(z, dtype=float),
        multipliers=problem.split(y),
        kkt=residuals,
        status=status,
        message=status.advice,
        nit=len(history) - 1,
        evaluations=MappingProxyType(evaluations),
        derivatives=problem.derivative_sources,
        solver=solver,
        history=tuple(history),
        certificate=certificate,
        _problem=problem,
    )
    if stream is not None:
        print(f"{status.name}: {status.advice}", file=stream)
    if raise_on_failure and not result.success:
        raise ConvergenceError(result)
    return result
