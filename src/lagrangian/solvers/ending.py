"""What every solver does the same way: option checks, the callback and limits each iteration, and the Solution, last log line and optional raise at the end."""

from __future__ import annotations

import math
import time
from types import MappingProxyType

import numpy as np

from ..errors import ConvergenceError, ProblemError
from ..kkt import kkt_residuals_from_values
from ..result import Solution, Status


def check_option(name, value, *, integer=False, allow_none=False):
    """A solver option that must be a positive number (``integer``: a non-negative integer), or None if allowed."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value) and value > 0
    if integer:
        ok = ok and float(value) == int(value)
    if not ok and not (integer and value == 0):
        raise ProblemError(name, f"expected a positive {'integer' if integer else 'number'}, got {value!r}")
    return int(value) if integer else float(value)


#: How far f must fall along a candidate ray (from a feasible point, inside the bounds) before
#: the ray counts as evidence of unboundedness (solvers.unboundedness); never a test on an iterate alone.
OBJECTIVE_FLOOR = -1e20


def all_finite(*values) -> bool:
    """True when every array (dense, scipy.sparse or a ``(W, M)`` low-rank pair) holds only finite numbers.

    Checked before a KKT matrix is assembled: a NaN there comes from the user's
    functions at an iterate or from multipliers that overflowed, a solver outcome
    (:attr:`~lagrangian.Status.NONFINITE`), not bad input.
    """
    # One dot product answers for almost every float array: a NaN or inf entry makes
    # x . x NaN or inf. Only a non-finite product (which finite entries above 1e154 give
    # too) is checked entry by entry. On the arrays of a small problem this is half the
    # cost of np.isfinite(x).all() per array, the errstate included (the product's
    # overflow or inf - inf must not warn).
    with np.errstate(over="ignore", invalid="ignore"):
        return _all_finite(values)


def _all_finite(values) -> bool:
    for value in values:
        if value is None:
            continue
        if isinstance(value, tuple):
            if not _all_finite(value):
                return False
            continue
        data = value.data if hasattr(value, "tocsr") else np.asarray(value)
        if data.dtype == np.float64:
            flat = data.ravel()
            if math.isfinite(flat.dot(flat)):
                continue
        if not np.isfinite(data).all():
            return False
    return True


def limit_status(iteration, max_iterations, started, max_time):
    """``MAX_ITERATIONS`` or ``TIME_LIMIT`` once the solve has reached that limit, else None."""
    if iteration == max_iterations:
        return Status.MAX_ITERATIONS
    if max_time is not None and time.perf_counter() - started > max_time:
        return Status.TIME_LIMIT
    return None


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
