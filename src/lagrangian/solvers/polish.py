r"""Active-set polishing: from an interior point's answer to the point on its active set.

An interior point stops at ``mu ~ tol``: a bound whose multiplier is zero (weakly
active) is then only approached to about ``sqrt(mu)`` (``min x^2`` on ``[0, 1]``
stops near ``x = 5e-5``), and a vertex is off by ``mu / z``. Interior-point codes
identify the active set from the final iterate and finish on it (crossover, or
polishing as in OSQP); here, with ``A`` the candidate active set read off the
final iterate,

1. the variables at an active bound are put on it; the other ("free") variables
   solve the equality-constrained problem ``min f s.t. c_A(x) = b_A`` by Newton-KKT
   steps (exact or differenced Hessian), or are projected onto ``c_A(x) = b_A`` by
   minimum-norm Gauss-Newton steps when there is no Hessian. The first step is taken
   from the final iterate itself, with the move onto the bounds in its right-hand
   side, so that it reads the derivatives the iteration has already evaluated there;
2. the multipliers are the least-squares ones of the active set,
   ``min || grad f_F + J_{A,F}^T y_A ||`` on the free variables, and the bound
   multipliers take the rest of the gradient, ``z_B = -(grad f + J_A^T y_A)_B``;
   where one has the wrong sign, the sign-constrained least-squares multipliers of
   the same set are tried (a degenerate vertex has many multiplier sets, some with
   the right signs); failing that, a candidate whose multiplier has the wrong sign
   is released and the polish repeated (at most three rounds);
3. the polished point is accepted only if its KKT residuals, recomputed from the
   problem's functions, are no larger than the unpolished ones' (or within ``tol``),
   so polishing never makes an answer worse.

The candidates are generous (within ``1e-3 max(1, |bound|)``, or a multiplier larger
than the distance): a wrong candidate costs one released round or a rejected
polish, never a worse answer.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import lsq_linear

from .. import linalg
from ..convention import bound_violation
from ..kkt import kkt_residuals, kkt_residuals_from_values, least_squares_multipliers
from .ending import all_finite
from .second_order import near_bounds

__all__ = ["polish", "polish_with_residuals"]

#: Problems with more variables than this are not polished (the steps are dense).
POLISH_LIMIT = 500
#: A bound or row within this relative distance is a candidate for the active set.
CANDIDATE_DISTANCE = 1e-3
_NEWTON_STEPS = 6
_ROUNDS = 3
_ROUNDING = 64 * np.finfo(float).eps


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M, dtype=float)


def _candidates(problem, x, c, y, z, distance=CANDIDATE_DISTANCE):
    """``(row_target, lower, upper)``: for each row the bound it is held at (nan when free), and the bounds' masks."""
    at_lower, at_upper, lower, upper = near_bounds(problem, x, c, y, z, distance)
    at_upper = at_upper & ~at_lower
    target = np.full(problem.m, np.nan)
    target[at_lower] = problem.cl[at_lower]
    target[at_upper] = problem.cu[at_upper]
    equal = problem.cl == problem.cu
    target[equal] = problem.cl[equal]
    return target, lower, upper & ~lower


def _on_active_set(problem, x, y, target, lower, upper, newton_steps=_NEWTON_STEPS):
    r"""``(x, y, z, g, J)`` with the bounds of ``lower``/``upper`` fixed and the rows with a target held there.

    Each Newton-KKT step solves, on the free variables ``F`` and held rows ``A``,

    .. math::

        \begin{bmatrix} H_{FF} & J_{AF}^T \\ J_{AF} & 0 \end{bmatrix}
        \begin{bmatrix} d_F \\ \delta y_A \end{bmatrix}
        = -\begin{bmatrix} \nabla f_F + J_{AF}^T y_A + H_{FB} d_B \\ c_A - b_A + J_{AB} d_B \end{bmatrix},

    where ``d_B`` moves the held variables onto their bounds: the first step is taken
    from the point as given, with the derivatives the solve has already evaluated
    there, and puts the held variables on their bounds exactly (``d_B = 0`` after it).
    The steps end when the residuals reach rounding level (:func:`_at_rounding_level`).
    ``g`` and ``J`` (dense, every row) are the gradient and Jacobian at the returned
    ``x``, evaluated for the multipliers: the caller's checks read them instead of
    evaluating them again.
    """
    x = x.copy()
    held = lower | upper
    bound = np.where(lower, problem.lb, problem.ub)
    free = ~held
    rows = np.flatnonzero(np.isfinite(target))
    y = np.where(np.isfinite(target), y, 0.0)
    for _ in range(newton_steps):
        g = problem.gradient(x)
        J = _dense(problem.jacobian(x, dense=True))[rows] if problem.m else np.zeros((0, problem.n))
        c = problem.constraint_values(x)[rows] if problem.m else np.zeros(0)
        if not all_finite(g, J, c, y):
            return None  # values that overflowed here (LAPACK's SVD would fail on them): no polish
        move = np.where(held, bound - x, 0.0)
        r = c - target[rows] + J[:, held] @ move[held]  # the held rows after the move, to first order
        Jf = J[:, free]
        on_bounds = np.abs(move).max(initial=0.0) <= _ROUNDING * max(1.0, np.abs(x).max(initial=0.0))
        if not free.any() or (on_bounds and _at_rounding_level(g[free], Jf, y[rows], c, r, stationarity=problem.has_hessian)):
            break  # no step left, or one below rounding: no Hessian to pay for
        if problem.has_hessian:
            H = _dense(problem.hessian(x, y, dense=True))[free]
            if not all_finite(H):
                return None
            Hf = H[:, free]
            K = np.zeros((Hf.shape[0] + rows.size,) * 2)  # [[H, Jf^T], [Jf, 0]]
            K[: Hf.shape[0], : Hf.shape[0]], K[: Hf.shape[0], Hf.shape[0] :], K[Hf.shape[0] :, : Hf.shape[0]] = Hf, Jf.T, Jf
            rhs = -np.concatenate([g[free] + Jf.T @ y[rows] + H[:, held] @ move[held], r])
            step = np.linalg.lstsq(K, rhs, rcond=None)[0]
            dx, dy = step[: Hf.shape[0]], step[Hf.shape[0] :]
            y[rows] += dy
        else:
            dx = least_squares_multipliers(Jf.T, r) if rows.size else np.zeros(int(free.sum()))
        if not np.all(np.isfinite(dx)):
            return None
        x[held] = bound[held]
        x[free] += dx
        if on_bounds and np.abs(dx).max(initial=0.0) <= 1e-15 * max(1.0, np.abs(x).max(initial=0.0)):
            break
    x[held] = bound[held]
    g = problem.gradient(x)
    J_all = _dense(problem.jacobian(x, dense=True)) if problem.m else np.zeros((0, problem.n))
    J = J_all[rows]
    if not all_finite(g, J_all):
        return None
    y = np.zeros(problem.m)
    if rows.size:
        y[rows] = least_squares_multipliers(J[:, free], g[free])
    z = np.zeros(problem.n)
    fixed = ~free
    z[fixed] = -(g + J.T @ y[rows])[fixed]
    return x, y, z, g, J_all


def _at_rounding_level(g, J, y, c, r, *, stationarity: bool) -> bool:
    r"""Whether the residuals of the held set, ``c_A - b_A`` and (with ``stationarity``) ``g_F + J_{A,F}^T y_A``, are at rounding level.

    Rounding level is :data:`_ROUNDING` times the size of the terms each residual
    sums (``max(1, |c|, |b|)``; ``max(1, |g|, |J|^T |y|)``): the next Newton step would
    change the point by about as much as rounding does, and stopping before it saves
    the Hessian it needs. After the first step from an interior-point answer (about
    ``mu / z ~ 1e-9`` off its active set) the residuals are of the order of its square.
    (A row's value is often a difference of larger terms the user's function sums,
    which cannot be seen here: hence a margin of 64 eps rather than a few.)
    """
    if np.abs(r).max(initial=0.0) > _ROUNDING * max(1.0, np.abs(c).max(initial=0.0), np.abs(c - r).max(initial=0.0)):
        return False
    if not stationarity:
        return True
    terms = np.abs(J.T) @ np.abs(y) if y.size else np.zeros_like(g)
    return bool(np.abs(g + J.T @ y).max(initial=0.0) <= _ROUNDING * max(1.0, np.abs(g).max(initial=0.0), terms.max(initial=0.0)))


def _sign_constrained_multipliers(problem, g, J, target, lower, upper, margin):
    r"""Multipliers of the held set with the right signs, when some exist: ``(y, z)`` or None.

    At a degenerate vertex (more held sides than free variables) the multipliers are
    not unique, and the least-squares ones of step 2 may have a wrong sign where a
    right-signed set exists. This solves the sign-constrained least-squares problem
    over every held side at once,

    .. math::

        \min_{y_A, z_B} \| \nabla f + J_A^T y_A + z_B \|_2 \quad \text{s.t.} \quad
        y_i \le 0 \text{ at } c_l, \; y_i \ge 0 \text{ at } c_u, \;
        z_j \le 0 \text{ at } l_j, \; z_j \ge 0 \text{ at } u_j

    (equality rows and fixed variables unrestricted; the package's sign convention),
    by bounded-variable least squares, and keeps the answer only if it makes
    stationarity hold to ``margin``: the held set is then a true active set and no side
    need be released.
    """
    rows = np.flatnonzero(np.isfinite(target))
    held = np.flatnonzero(lower | upper)
    if rows.size + held.size == 0:
        return None
    M = np.hstack([J[rows].T, np.eye(problem.n)[:, held]])
    low, high = np.full(M.shape[1], -np.inf), np.full(M.shape[1], np.inf)
    ranged = problem.cl[rows] != problem.cu[rows]
    at_cl, at_cu = ranged & (target[rows] == problem.cl[rows]), ranged & (target[rows] == problem.cu[rows])
    high[: rows.size][at_cl], low[: rows.size][at_cu] = 0.0, 0.0
    movable = problem.lb[held] != problem.ub[held]
    high[rows.size :][movable & lower[held]], low[rows.size :][movable & upper[held]] = 0.0, 0.0
    found = lsq_linear(M, -g, bounds=(low, high), method="bvls")
    if not np.all(np.isfinite(found.x)) or np.abs(M @ found.x + g).max(initial=0.0) > margin:
        return None
    y, z = np.zeros(problem.m), np.zeros(problem.n)
    y[rows], z[held] = found.x[: rows.size], found.x[rows.size :]
    return y, z


def polish(problem, x, y, z, tol, *, allow_empty: bool = False, before=None, **options):
    """The polished ``(x, y, z)``, or None when polishing does not give residuals at least as small.

    See the module docstring. Only problems with bounds or inequality rows and at
    most :data:`POLISH_LIMIT` variables are polished. ``allow_empty`` polishes with no
    candidate at all (every bound and row inactive, their multipliers zero: the answer
    an interior iterate only approaches as ``mu / s``), for a run that stalled there.
    ``before`` is the :class:`~lagrangian.kkt.KKTResiduals` at ``(x, y, z)`` when the
    caller holds them (a solver's result carries them); else they are computed.
    ``options`` are :func:`polish_with_residuals`'s.
    """
    found = polish_with_residuals(problem, x, y, z, tol, allow_empty=allow_empty, before=before, **options)
    return None if found is None else found[:3]


def polish_with_residuals(problem, x, y, z, tol, *, allow_empty: bool = False, before=None, newton_steps: int = _NEWTON_STEPS,
                          candidate_distance: float = CANDIDATE_DISTANCE, max_move: float = np.inf):
    """:func:`polish`'s ``(x, y, z)`` and their :class:`~lagrangian.kkt.KKTResiduals`, or None.

    The residuals are those :func:`~lagrangian.kkt.kkt_residuals` computes at the
    polished point (the problem's functions there, the Jacobian as the CSR matrix
    ``Problem.jacobian`` gives), from the evaluations the polish made there.
    ``newton_steps`` caps the Newton-KKT steps per round: one is exact for a quadratic
    objective with linear constraints (:mod:`~lagrangian.solvers.qp_polish`).
    ``candidate_distance`` replaces :data:`CANDIDATE_DISTANCE` (a method whose answer is
    known to be within a smaller distance of its active set can say so), and a round
    that moves ``x`` farther than ``max_move`` (relative to ``max(1, ||x||_inf)``) ends
    the polish: the active set it held was wrong (a face of solutions, not a vertex).
    """
    n = problem.n
    inequalities = np.isfinite(problem.lb).any() or np.isfinite(problem.ub).any() or (problem.cl != problem.cu).any()
    if not inequalities or n > POLISH_LIMIT:
        return None
    with np.errstate(all="ignore"):
        target, lower, upper = _candidates(problem, x, problem.constraint_values(x), y, z, candidate_distance)
        if not (allow_empty or lower.any() or upper.any() or np.isfinite(target).any()):
            return None  # nothing to land on: the iterate is already as good as a polish makes it
        for _ in range(_ROUNDS):
            polished = _on_active_set(problem, x, y, target, lower, upper, newton_steps)
            if polished is None:
                return None
            xp, yp, zp, gp, Jp = polished
            if np.abs(xp - x).max(initial=0.0) > max_move * max(1.0, np.abs(x).max(initial=0.0)):
                return None
            # Release candidates whose multiplier says the point wants to leave the bound.
            margin = max(tol, 1e-8) * max(1.0, np.abs(gp).max(initial=0.0))
            # (A fixed variable, lb == ub, takes a multiplier of either sign, as an equality row does.)
            movable = problem.lb != problem.ub
            wrong_lower, wrong_upper = lower & movable & (zp > margin), upper & movable & (zp < -margin)
            held = np.isfinite(target) & (problem.cl != problem.cu)
            wrong_rows = held & (((target == problem.cl) & (yp > margin)) | ((target == problem.cu) & (yp < -margin)))
            if not (wrong_lower.any() or wrong_upper.any() or wrong_rows.any()):
                break
            signed = _sign_constrained_multipliers(problem, gp, Jp, target, lower, upper, margin)
            if signed is not None:
                yp, zp = signed
                break
            lower, upper = lower & ~wrong_lower, upper & ~wrong_upper
            target = np.where(wrong_rows, np.nan, target)
        else:
            return None
        if not np.all(np.isfinite(xp)) or bound_violation(xp, problem.lb, problem.ub).max(initial=0.0) > 0:
            return None
        # The Jacobian as kkt_residuals reads it (CSR: J^T y summed row by row), so that these
        # are the residuals a fresh check of the answer computes, to the last bit.
        after = kkt_residuals_from_values(problem, xp, yp, zp, c=problem.constraint_values(xp), gradient=gp, jacobian=linalg.as_csr(Jp))
        if before is None:
            before = kkt_residuals(problem, x, y, z)
    if not np.isfinite(after.max()) or after.max() > max(before.max(), tol):
        return None
    return xp, yp, zp, after
