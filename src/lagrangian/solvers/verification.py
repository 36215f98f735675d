r"""How every nonlinear solver's run ends: the trust invariant applied to its result.

:func:`verified` runs a solver and judges what it returns, with the problem's own
functions and nothing the solver computed but the KKT residuals every result carries
(computed from the problem's functions at its ``x``):

1. a SUCCESS is moved onto its active set (:mod:`~lagrangian.solvers.polish`, kept
   only when its KKT residuals are no larger), then confirmed by the second-order
   check (:mod:`~lagrangian.solvers.second_order`); at negative curvature the run
   restarts from a point along it, and ends NEGATIVE_CURVATURE when that cannot
   lower ``f``;
2. a run that stalled (line search, restoration, a singular or non-finite KKT
   matrix) is judged afresh: on its active set with least-squares multipliers, a
   point whose residuals are within ``tol`` is a SUCCESS after all;
3. a run that stalled near a KKT point and stays ACCEPTABLE is given the
   second-order check too: at a saddle (an iteration that regularized an indefinite
   Hessian all the way in, as on CUTEst EIGENBCO) the solve restarts along the
   negative curvature, and the new run replaces it only when it ends SUCCESS or
   ACCEPTABLE at a lower ``f``.

Limits the caller set (iterations, time, evaluations) are respected: such a result
is returned as it is.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from ..errors import ConvergenceError
from ..result import Status
from .polish import polish_with_residuals
from .second_order import MAX_ESCAPES, UNCONFIRMED, WEAK_CONFIRMED, escape_along_negative_curvature, second_order_check

__all__ = ["verified", "polished", "RECHECKED"]


def polished(problem, result, tol, *, allow_empty: bool = False, **options):
    """``result`` moved onto its active set by :func:`~lagrangian.solvers.polish.polish` when that checks out.

    The polish is judged against the residuals ``result`` carries (every solver computes
    them from the problem's functions at its ``x``), and the polished result carries
    the residuals the polish computed at the new point: neither is evaluated twice.
    ``options`` go to :func:`~lagrangian.solvers.polish.polish_with_residuals`.
    """
    found = polish_with_residuals(problem, result.x, result.y, result.z, tol, allow_empty=allow_empty, before=result.kkt, **options)
    if found is None:
        return result
    x, y, z, residuals = found
    return dataclasses.replace(result, x=x, fun=float(problem.objective(x)), y=y, z=z, multipliers=problem.split(y), kkt=residuals)


#: Statuses of a run that stalled at a point that may still be a KKT point. (A limit the
#: caller set is not rechecked: polishing would spend what the limit forbids.)
RECHECKED = (
    Status.LINE_SEARCH_FAILED, Status.RESTORATION_FAILED, Status.SINGULAR_KKT, Status.NONFINITE, Status.ACCEPTABLE,
    Status.FEASIBLE_POINT, Status.STALLED,
)


def _rechecked(problem, result, tol):
    """A stalled run's point as a SUCCESS when, on its active set with least-squares multipliers, the KKT residuals are within ``tol``.

    An iteration can stall at the answer because its own multipliers ran away (a
    degenerate active set, an objective that is constant on the feasible set): the
    point is then judged afresh, by the same independent residuals every result carries.
    """
    again = polished(problem, result, tol, allow_empty=True)
    # Unpolished (nothing to move onto an active set), the point is judged by its own residuals:
    # a run that stalls at a stationary point (zero steps at a saddle) is a first-order
    # answer, which the second-order check in verified() then confirms or escapes from.
    if again.kkt.max() > tol:
        return result
    return dataclasses.replace(again, status=Status.SUCCESS, message=Status.SUCCESS.advice)


def verified(run, problem, x0, *, tol, raise_on_failure=False):
    """Run ``run(x0)`` (a solver returning a Solution, never raising), polish a SUCCESS and confirm it by the second-order check.

    A SUCCESS is first moved onto its active set (:func:`polished`, kept only when
    its KKT residuals check out); a run that stalled is judged afresh the same way
    (:func:`_rechecked`).

    At a SUCCESS with negative curvature (or an ACCEPTABLE end, module docstring item 3)
    the solve restarts from a point along the
    negative-curvature direction (at most ``MAX_ESCAPES`` times); when no such point
    lowers the Lagrangian, or the new solve ends higher, the first-order point is
    returned with :attr:`~lagrangian.Status.NEGATIVE_CURVATURE` (an ACCEPTABLE end keeps
    its status, with the check's verdict in ``second_order``). The histories and
    evaluation counts of the restarts add up on the returned result.

    The whole of it runs with the problem's evaluations reused point by point
    (:meth:`~lagrangian.Problem.reusing_evaluations`): the polish and the second-order
    check read the values the iteration computed at its last point. The result's
    ``evaluations`` count every call of the problem's functions the whole of it made.
    """
    before = dict(problem.counts)
    with problem.reusing_evaluations():
        result = _verified(run, problem, x0, tol)
    # Every call the solve made, the polish's and the second-order check's included.
    evaluations = {key: problem.counts[key] - before[key] for key in result.evaluations}
    result = dataclasses.replace(result, evaluations=MappingProxyType(evaluations))
    if raise_on_failure and not result.success:
        raise ConvergenceError(result)
    return result


def _verified(run, problem, x0, tol):
    """The body of :func:`verified`, without the exception."""
    result = run(x0)
    if result.status in RECHECKED:
        result = _rechecked(problem, result, tol)
    runs = [result]
    for _ in range(MAX_ESCAPES + 1):
        # A SUCCESS is checked on its active set; an ACCEPTABLE end (stalled near a KKT
        # point) as it is: at a saddle (the iteration regularized an indefinite Hessian
        # all the way in) a new start along the negative curvature can still reach a
        # minimizer, and replaces it only by ending at least as well.
        stalled = result.status is Status.ACCEPTABLE
        if not (stalled or result.status is Status.SUCCESS):
            break
        if not stalled:
            result = polished(problem, result, tol)
        check = second_order_check(problem, result.x, result.y, result.z)
        result = runs[-1] = dataclasses.replace(result, second_order=check.description)
        if not check.negative:
            break
        start = escape_along_negative_curvature(problem, result.x, result.y, check)
        again = run(start) if start is not None else None
        if again is None or not again.fun < result.fun or len(runs) > MAX_ESCAPES or (stalled and again.status not in (Status.SUCCESS, Status.ACCEPTABLE)):
            if not stalled:
                result = runs[-1] = _unescaped(problem, result, check)
            break
        runs.append(again)
        result = again
    return _joined(runs) if len(runs) > 1 else result


def _unescaped(problem, result, check):
    """A SUCCESS whose negative curvature no new start could leave, with the verdict that allows."""
    if not check.conclusive:
        # Found with weakly active bounds released, and no descent along it inside
        # the bounds: the point passes the test it can be held to.
        return dataclasses.replace(result, second_order=WEAK_CONFIRMED)
    if problem.derivative_sources["hessian"] == "exact":
        return dataclasses.replace(result, status=Status.NEGATIVE_CURVATURE, message=Status.NEGATIVE_CURVATURE.advice)
    # The function values along v do not confirm the approximate curvature
    # (differences with steps relative to a large |x| can be far off).
    return dataclasses.replace(result, second_order=UNCONFIRMED)


def _joined(runs):
    """The last run's result with every run's history (numbered on)."""
    history, offset = [], 0
    for r in runs:
        history += [dataclasses.replace(record, iteration=record.iteration + offset) for record in r.history]
        offset = len(history)
    return dataclasses.replace(runs[-1], history=tuple(history), nit=len(history) - 1)
