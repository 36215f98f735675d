r"""A convex QP's answer checked from its data, and polished onto its active set.

An interior point ends at ``mu ~ tol``: a bound or row that is active with a zero
multiplier (weakly active) is approached only to about ``sqrt(tol)`` (``min x^2`` on
``[0, 1]`` once ended at ``x = 4.8e-5``) and a vertex is off by ``mu / z``. The
polish of :mod:`lagrangian.solvers.polish` (the one the nonlinear solvers use) moves
the answer onto the active set it identifies: for a QP, one Newton-KKT step on

.. math::

    \min_x \tfrac12 x^T P x + q^T x \quad \text{s.t.} \quad a_i^T x = b_i \ (i \in \mathcal A),
    \quad x_j = \text{its bound} \ (j \in \mathcal B)

is exact, and the multipliers are the least-squares ones of that active set. The
polished point replaces the interior point only when it checks out against the data
(:func:`check_solution`): no larger primal infeasibility, stationarity residual and
complementarity (a multiplier of the wrong sign counts in full) than the interior
point's, or all within ``tol``, and an objective not higher by more than
``tol max(1, |f|)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..kkt import kkt_residuals
from ..result import Status
from .polish import CANDIDATE_DISTANCE
from .verification import polished

__all__ = ["check_solution", "polished_qp", "data_scale"]

#: Candidates for the active set lie within this many sqrt(tol) (relative) of their side.
_WEAK_DISTANCE = 10.0
#: A polishing round may move x by this many candidate distances.
_MOVE = 10.0
#: QPs with more variables plus rows than this keep the interior answer: the polish's
#: steps are dense least-squares solves, which would cost more than the whole solve.
DENSE_LIMIT = 400


def data_scale(*arrays) -> float:
    """``max(1, largest finite |entry|)`` of ``arrays``: the size residuals are measured against."""
    return max([1.0] + [float(np.abs(a[np.isfinite(a)]).max(initial=0.0)) for a in arrays])


def check_solution(qp, x, y, z, *, tol: float = 1e-6) -> dict:
    """Relative KKT residuals of ``(x, y, z)`` computed from the data, and ``ok`` when all are below ``tol``.

    Primal: violation of ``l <= Ax <= u`` and ``lb <= x <= ub``. Dual:
    ``P x + q + A^T y + z`` (stationarity). Sign and complementarity: a positive
    multiplier only at a finite upper side, a negative one only at a finite lower
    side, and ``|y_i|`` times that side's slack (the same for ``z``).
    """
    x, y, z = (np.asarray(v, dtype=float) for v in (x, y, z))
    Ax = qp.A @ x
    scale_p = data_scale(qp.l, qp.u, qp.lb, qp.ub, Ax, x)
    primal = max(
        float(np.maximum(qp.l - Ax, 0).max(initial=0.0)), float(np.maximum(Ax - qp.u, 0).max(initial=0.0)),
        float(np.maximum(qp.lb - x, 0).max(initial=0.0)), float(np.maximum(x - qp.ub, 0).max(initial=0.0)),
    ) / scale_p
    Px = qp.P @ x
    force = qp.A.T @ y + z
    dual = float(np.abs(Px + qp.q + force).max(initial=0.0)) / data_scale(qp.q, Px, force)
    worst = 0.0
    for values, multiplier, lower, upper in ((Ax, y, qp.l, qp.u), (x, z, qp.lb, qp.ub)):
        up = np.maximum(multiplier, 0.0)
        down = np.maximum(-multiplier, 0.0)
        with np.errstate(invalid="ignore"):
            slack_up = np.where(up > 0, upper - values, 0.0)
            slack_down = np.where(down > 0, values - lower, 0.0)
        # a multiplier on a missing side is infinitely wrong
        slack_up = np.where(np.isfinite(slack_up), np.abs(slack_up), np.inf)
        slack_down = np.where(np.isfinite(slack_down), np.abs(slack_down), np.inf)
        with np.errstate(invalid="ignore"):
            products = np.concatenate([np.where(up > 0, up * slack_up, 0.0), np.where(down > 0, down * slack_down, 0.0)])
        worst = max(worst, float(np.nan_to_num(products, nan=np.inf).max(initial=0.0)))
    complementarity = worst / max(scale_p, data_scale(y, z))
    return {"primal": primal, "dual": dual, "complementarity": complementarity,
            "ok": bool(max(primal, dual, complementarity) <= tol)}


def _signed(multiplier, lower, upper):
    """``multiplier`` with the entries that point at a missing side (positive without an
    upper side, negative without a lower one) set to zero."""
    multiplier = np.where(np.isfinite(upper), multiplier, np.minimum(multiplier, 0.0))
    return np.where(np.isfinite(lower), multiplier, np.maximum(multiplier, 0.0))


def _worst(check: dict) -> float:
    return max(check["primal"], check["dual"], check["complementarity"])


def polished_qp(qp, solution, tol: float):
    """``solution`` (of ``qp``, by :func:`~lagrangian.solvers.mehrotra.convex_qp`) on its active set when that checks out.

    Only a ``SUCCESS`` of at most :data:`DENSE_LIMIT` variables plus rows is polished.
    The polished point, its multipliers put in their sign cones, is kept when its
    residuals from the data (:func:`check_solution`) are no larger than the interior
    point's or within ``tol``, and its objective is not higher than the interior
    point's by more than ``tol max(1, |f|)``; otherwise ``solution`` is returned unchanged.
    """
    if solution.status is not Status.SUCCESS or qp.n == 0 or qp.n + qp.A.shape[0] > DENSE_LIMIT:
        return solution
    # P and A are constant: one Newton-KKT step per round lands exactly on the active set.
    # A weakly active side is left about sqrt(mu) ~ sqrt(tol) away; a candidate much farther
    # than that is inactive (generous candidates cost dense solves that are then rejected).
    distance = min(CANDIDATE_DISTANCE, _WEAK_DISTANCE * np.sqrt(tol))
    # Landing on the right active set moves x by about the candidates' distance; a far larger
    # move means the held set was wrong (an LP whose solutions form a face, say), so stop there.
    candidate = polished(solution._problem, solution, tol, newton_steps=1, candidate_distance=distance,
                         max_move=_MOVE * distance)
    if candidate is solution:
        return solution
    # The active set's least-squares multipliers can carry a rounding-level entry of the wrong
    # sign (1e-17 on a row with no upper side): they are put in their sign cones, and the
    # stationarity test below then shows whether that moved them by more than rounding.
    problem = solution._problem
    y, z = _signed(candidate.y, qp.l, qp.u), _signed(candidate.z, qp.lb, qp.ub)
    candidate = dataclasses.replace(candidate, y=y, z=z, multipliers=problem.split(y), kkt=kkt_residuals(problem, candidate.x, y, z))
    before = _worst(check_solution(qp, solution.x, solution.y, solution.z))
    after = _worst(check_solution(qp, candidate.x, candidate.y, candidate.z))
    higher = candidate.fun > solution.fun + tol * max(1.0, abs(solution.fun))
    if higher or not after <= max(before, tol):
        return solution
    return candidate
