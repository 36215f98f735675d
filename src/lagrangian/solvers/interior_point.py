r"""A primal-dual interior-point method with a filter line search (IPOPT's algorithm).

The problem ``min f(x) s.t. cl <= c(x) <= cu, lb <= x <= ub`` is first put in the
form the method works on: every inequality row gets a slack ``s``,

.. math::

    \min_{w = (x, s)} f(x) \quad \text{s.t.} \quad
    d(w) = \begin{bmatrix} c_E(x) - c_{l,E} \\ c_I(x) - s \end{bmatrix} = 0,
    \qquad l_w \le w \le u_w ,

with ``l_w = (lb, cl_I)`` and ``u_w = (ub, cu_I)``. For a barrier parameter
``mu > 0`` the bounds are replaced by logarithms,

.. math::

    \varphi_\mu(w) = f(x) - \mu \sum \ln(w_i - l_i) - \mu \sum \ln(u_i - w_i),

and Newton's method on the perturbed KKT conditions (``z_L (w - l) = mu``,
``z_U (u - w) = mu``) gives, after eliminating the bound multipliers, one
symmetric indefinite solve per iteration (Wächter & Biegler 2006, eq. 13):

.. code-block:: text

    [ W + Sigma + dw I    A^T   ] [ dw    ]     [ grad phi_mu(w) ]    Sigma = Z_L/(W-L) + Z_U/(U-W)
    [ A                 -dc I   ] [ y_new ] = - [ d(w)           ]    A = dd/dw = [J, -P]

which is the matrix of :func:`lagrangian.kkt.kkt_matrix` with ``H = W + Sigma``,
solved with the same :class:`~lagrangian.linalg.kkt_factorization.InertiaCorrection`. The multipliers
keep the package convention: the stationarity of ``s`` reads ``y_I = z_U,s -
z_L,s``, so ``y_I >= 0`` at an upper bound, and ``z = z_U - z_L`` on ``x``.

Globalization is the filter line search of the paper (section 2.3): a trial
point is accepted if it reduces either the constraint violation ``theta = ||d||_1``
or the barrier function enough, and is not dominated by the filter; an Armijo
condition on ``phi_mu`` applies when the step is a descent direction and the
point is nearly feasible. Up to four second-order corrections are tried when the
full step is rejected, reusing the accepted factorization. When no step length is
acceptable, a feasibility restoration phase minimizes the violation
``1/2 ||d(w)||^2`` (Gauss-Newton with its own barrier), and a point where that
stalls while infeasible is reported as :attr:`~lagrangian.Status.INFEASIBLE`.

The barrier parameter follows the monotone Fiacco-McCormick rule
``mu <- max(tol/10, min(0.2 mu, mu^1.5))`` once the barrier problem is solved to
``10 mu``. Objective and constraint rows are scaled at the start so that no
gradient entry exceeds 100 (IPOPT's gradient-based scaling); all reported values
are unscaled.

Reference: A. Wächter and L. T. Biegler, "On the implementation of an
interior-point filter line-search algorithm for large-scale nonlinear
programming", Math. Program. 106 (2006) 25-57.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import linalg
from ..convention import bound_violation, lagrangian_gradient
from ..derivatives import quasi_newton_model
from ..errors import ProblemError, SingularKKTError, SingularMatrixError
from ..kkt import least_squares_multipliers
from ..linalg.kkt_factorization import InertiaCorrection, assembled_dense, factorize_kkt
from ..result import IterationRecord, Solution, Status
from .ending import OBJECTIVE_FLOOR, callback_stops, check_option, finish, limit_status

__all__ = ["interior_point"]

# Constants of Wächter & Biegler (2006), table of section 4 / IPOPT's defaults.
_KAPPA_EPSILON = 10.0  # solve the barrier problem to kappa_eps * mu
_KAPPA_MU, _THETA_MU = 0.2, 1.5  # mu <- min(kappa_mu mu, mu^theta_mu)
_TAU_MIN = 0.99  # fraction to the boundary
_KAPPA_SIGMA = 1e10  # bound multipliers stay within this factor of mu / distance
_S_MAX = 100.0  # optimality error scaling
_S_CAP = 1e4  # ... by at most this factor
_SINGULAR_RESIDUAL = 1e-5  # IPOPT's residual_ratio_singular: a KKT solve worse than this is singular
_GAMMA_THETA, _GAMMA_PHI = 1e-5, 1e-8  # filter margins
_DELTA, _S_THETA, _S_PHI = 1.0, 1.1, 2.3  # switching condition
_ETA_PHI = 1e-8  # Armijo constant
_GAMMA_ALPHA = 0.05  # minimum step factor
_MAX_SOC, _KAPPA_SOC = 4, 0.99  # second-order corrections
_BOUND_PUSH = 1e-2  # kappa_1 = kappa_2: starting distance from the bounds
_BOUND_RELAX = 1e-10  # fixed variables (lb == ub) get this relative interior
_GRADIENT_SCALE = 100.0  # largest scaled gradient entry
_MULTIPLIER_LIMIT = 1e3  # least-squares starting multipliers larger than this are discarded
_RESTORATION_ITERATIONS = 200
_RESTORATION_MU_FLOOR = 1e-12
_ACCEPTABLE = 1e-6  # a stalled solve whose best scaled KKT error is below this ends ACCEPTABLE
# A stationary point of the violation is reported as infeasible only when the violation
# is clearly not rounding or regularization (below this, RESTORATION_FAILED says so).
_INFEASIBLE_VIOLATION = 1e-4  # as IPOPT's constr_viol_tol


def _push_inside(values, lower, upper):
    """``values`` moved at least ``min(1e-2 max(1, |bound|), 1e-2 width)`` inside ``[lower, upper]``.

    IPOPT's ``bound_push`` and ``bound_frac`` (both 1e-2): the starting point must be
    strictly interior for the barrier, but not so close to a bound that the first
    barrier terms dominate. Intervals too narrow for both pushes get their midpoint.
    Only finite bounds enter the arithmetic (``-inf + inf`` would cost a floating-point
    exception per entry).
    """
    values = np.array(values, dtype=float)
    width = upper - lower  # +inf unless both bounds are finite
    below, above = np.flatnonzero(np.isfinite(lower)), np.flatnonzero(np.isfinite(upper))
    low = lower[below] + np.minimum(_BOUND_PUSH * np.maximum(1.0, np.abs(lower[below])), _BOUND_PUSH * width[below])
    high = upper[above] - np.minimum(_BOUND_PUSH * np.maximum(1.0, np.abs(upper[above])), _BOUND_PUSH * width[above])
    values[below] = np.maximum(values[below], low)
    values[above] = np.minimum(values[above], high)
    raised, lowered = np.full(values.size, -np.inf), np.full(values.size, np.inf)
    raised[below], lowered[above] = low, high
    narrow = np.flatnonzero(raised > lowered)
    values[narrow] = 0.5 * (lower[narrow] + upper[narrow])
    return values


def _fraction_to_boundary(values, steps, tau):
    """Largest ``alpha`` in (0, 1] with ``values + alpha steps >= (1 - tau) values`` (values > 0)."""
    shrinking = steps < 0
    if not shrinking.any():
        return 1.0
    return min(1.0, tau * float((values[shrinking] / -steps[shrinking]).min()))


class _SlackForm:
    """The problem as the interior-point method sees it: ``w = (x, s)``, ``d(w) = 0``, bounds on ``w``, scaled.

    Holds the scaling (objective factor ``sf``, row factors ``D``), the
    inequality rows (each with a slack, whose column in ``A = [D J, -P]`` is the
    selector ``P``: one ``-1`` per inequality row) and the relaxed bounds of
    ``w``. The finite bounds are one list, lower bounds first: entry ``b`` bounds
    ``w[bounded[b]]`` from below (``sign[b] = 1``) or above (``sign[b] = -1``) by
    ``bound[b]``, so that its distance is ``sign (w[bounded] - bound) > 0`` and its
    multiplier ``z[b] >= 0`` (``z_L`` and ``z_U`` of the paper, one vector). Raw
    (unscaled) values come from the user's functions; everything the iteration
    sees is scaled.

    A problem whose KKT matrix has at most :data:`~lagrangian.linalg.kkt_factorization.DENSE_KKT_LIMIT`
    rows is ``dense``: its Jacobians and Hessians are asked for, built and factored
    as dense arrays (:class:`~lagrangian.linalg.kkt_factorization.DenseKKT`); on a handful of variables
    every scipy.sparse construction costs more than the arithmetic.
    """

    def __init__(self, problem, x0):
        p = problem
        self.problem = p
        self.n, self.m = p.n, p.m
        equality = p.cl == p.cu
        self.inequality_rows = np.flatnonzero(~equality)
        k = self.inequality_rows.size
        self.nw = self.n + k
        self.dense = assembled_dense(self.nw + self.m)

        g0, J0 = p.gradient(x0), p.jacobian(x0, dense=self.dense)
        self.f_scale = min(1.0, _GRADIENT_SCALE / max(np.abs(g0).max(initial=0.0), 1e-300))
        if not self.m:
            row_max = np.zeros(0)
        else:
            row_max = np.abs(J0).max(axis=1) if self.dense else abs(J0).max(axis=1).toarray().ravel()
        self.row_scale = np.minimum(1.0, _GRADIENT_SCALE / np.maximum(row_max, 1e-300))
        D = self.row_scale
        self.target = np.where(equality, D * p.cl, 0.0)

        lower, upper = np.concatenate([p.lb, p.cl[self.inequality_rows]]), np.concatenate([p.ub, p.cu[self.inequality_rows]])
        with np.errstate(invalid="ignore"):
            # Only intervals of zero width (fixed variables) are opened: any relaxation
            # moves the answer by (multiplier sensitivity) x (relaxation).
            fixed = lower == upper
            lower = np.where(fixed, lower - _BOUND_RELAX * np.maximum(1.0, np.abs(lower)), lower)
            upper = np.where(fixed, upper + _BOUND_RELAX * np.maximum(1.0, np.abs(upper)), upper)
        units = np.concatenate([np.ones(self.n), D[self.inequality_rows]])
        lower, upper = units * lower, units * upper
        self.lower, self.upper = lower, upper
        below, above = np.flatnonzero(np.isfinite(lower)), np.flatnonzero(np.isfinite(upper))
        self.bounded = np.concatenate([below, above])
        self.sign = np.concatenate([np.ones(below.size), -np.ones(above.size)])
        self.bound = np.concatenate([lower[below], upper[above]])

    # -- the pieces of the method -------------------------------------------------
    def push_inside(self, w):
        """Move ``w`` strictly inside its bounds (IPOPT's bound_push / bound_frac)."""
        return _push_inside(w, self.lower, self.upper)

    def distance(self, w):
        """``w - l`` and ``u - w`` for every finite bound, one vector."""
        return self.sign * (w[self.bounded] - self.bound)

    def toward(self, dw):
        """How fast each distance changes along ``dw``: ``distance(w + a dw) = distance(w) + a toward(dw)``."""
        return self.sign * dw[self.bounded]

    def scatter(self, values):
        """The ``w``-vector with each bound's value added on the entry it bounds (zero elsewhere).

        Bound multipliers, barrier gradients and the ``Sigma`` diagonal are all built
        this way, e.g. ``z = scatter(-sign z)`` (``z_U - z_L``) and
        ``Sigma = scatter(z / distance)``.
        """
        return np.bincount(self.bounded, weights=values, minlength=self.nw)

    def max_step(self, w, dw, tau):
        """The fraction-to-the-boundary step length for ``w + alpha dw`` (the paper's eq. 15)."""
        return _fraction_to_boundary(self.distance(w), self.toward(dw), tau)

    def residual(self, w, c):
        """``d(w)`` from the raw constraint values ``c``."""
        d = self.row_scale * c - self.target
        d[self.inequality_rows] -= w[self.n :]
        return d

    def jacobian(self, J):
        """``A = [D J, -P]`` from the raw Jacobian (dense when the form is, else CSR).

        Row ``i`` is ``D_i`` times row ``i`` of ``J``, followed, for an inequality
        row, by ``-1`` in its slack's column.
        """
        slack_columns = self.n + np.arange(self.inequality_rows.size)
        if self.dense:
            A = np.zeros((self.m, self.nw))
            A[:, : self.n] = self.row_scale[:, None] * J
            A[self.inequality_rows, slack_columns] = -1.0
            return A
        # Assembled as CSR arrays directly.
        J = linalg.as_csr(J)
        counts = np.diff(J.indptr)
        rows = np.repeat(np.arange(self.m), counts)
        extra = np.zeros(self.m, dtype=np.int64)
        extra[self.inequality_rows] = 1
        indptr = np.concatenate([[0], np.cumsum(counts + extra)])
        data = np.empty(indptr[-1])
        indices = np.empty(indptr[-1], dtype=np.int64)
        # J's entries move right by the slack entries of the rows above them.
        moved = np.arange(J.nnz) + (np.cumsum(extra) - extra)[rows]
        data[moved] = self.row_scale[rows] * J.data
        indices[moved] = J.indices
        ends = indptr[1:][self.inequality_rows] - 1
        data[ends] = -1.0
        indices[ends] = slack_columns
        return sp.csr_array((data, indices, indptr), shape=(self.m, self.nw))

    def point(self, w, f, c):
        """The accepted iterate at ``w`` (with raw ``f`` and ``c`` already evaluated): its gradient and Jacobian."""
        x = w[: self.n]
        return _Point(w, f, c, self.problem.gradient(x), self.problem.jacobian(x, dense=self.dense))

    def point_jacobian(self, point):
        """``A`` at an accepted point, built once and kept on the point."""
        if point.A is None:
            point.A = self.jacobian(point.J)
        return point.A

    def gradient(self, g):
        return np.concatenate([self.f_scale * g, np.zeros(self.nw - self.n)])

    def hessian(self, x, y, model):
        """``(W, low_rank)``: ``W = nabla^2_ww L`` in scaled units (zero on the slacks), and a
        limited-memory model's low-rank part (``W`` then holds its ``sigma I``), else None."""
        low_rank, scale = None, 1.0
        if model is not None:
            Wx, low_rank = model.hessian_parts()
        else:
            Wx, scale = self.problem.hessian(x, self.row_scale * y / self.f_scale, dense=self.dense), self.f_scale
        if self.dense:
            W = np.zeros((self.nw, self.nw))
            W[: self.n, : self.n] = scale * (Wx.toarray() if sp.issparse(Wx) else Wx)
            return W, low_rank
        # [[scale Wx, 0], [0, 0]]: Wx's CSR arrays with empty rows appended (no block_diag),
        # scaled in the same construction (a sparse product would construct another matrix).
        Wx = linalg.as_csr(Wx)
        indptr = np.concatenate([Wx.indptr, np.full(self.nw - self.n, Wx.indptr[-1])])
        data = Wx.data * scale if scale != 1.0 else Wx.data
        return sp.csr_array((data, Wx.indices, indptr), shape=(self.nw, self.nw)), low_rank

    def barrier(self, f, w, mu):
        """``phi_mu(w)``; ``inf`` outside the bounds or where ``f`` is not finite."""
        distance = self.distance(w)
        if not (np.isfinite(f) and distance.min(initial=np.inf) > 0):
            return np.inf
        return self.f_scale * f - mu * np.log(distance).sum()

    def unscale(self, y, z):
        """Multipliers in the package convention and original units: ``(y, z_U - z_L)``."""
        return self.row_scale * y / self.f_scale, self.scatter(-self.sign * z)[: self.n] / self.f_scale


@dataclass
class _Point:
    """An accepted iterate with the raw function values held there."""

    w: np.ndarray
    f: float
    c: np.ndarray
    g: np.ndarray
    J: object
    A: object = None  # the slack form's Jacobian [D J, -P], built on first use


class _Filter:
    """The set of (theta, phi) pairs a trial point must not be dominated by."""

    def __init__(self, theta_max):
        self.theta_max = theta_max
        self.entries = []

    def reset(self):
        self.entries = []

    def rejects(self, theta, phi):
        return theta > self.theta_max or any(theta >= t and phi >= p for t, p in self.entries)

    def add(self, theta, phi):
        self.entries = [(t, p) for t, p in self.entries if not (t >= theta and p >= phi)]
        self.entries.append((theta, phi))


class _Log:
    """IPOPT-style iteration log."""

    header = (
        f"{'iter':>4} {'objective':>15} {'inf_pr':>9} {'inf_du':>9} {'lg(mu)':>6} {'||d||':>9} "
        f"{'lg(rg)':>6} {'alpha_du':>9} {'alpha_pr':>9} {'ls':>3}"
    )

    def __init__(self, stream):
        self.stream = stream
        if stream is not None:
            print(self.header, file=stream)

    def line(self, r: IterationRecord, tag=""):
        if self.stream is None:
            return
        reg = "-" if not r.regularization else f"{np.log10(r.regularization):.1f}"
        first = r.iteration == 0
        print(
            f"{r.iteration:>4}{tag or ' '}{r.objective:>15.8e} {r.primal:>9.2e} {r.dual:>9.2e} {np.log10(r.barrier):>6.1f} "
            f"{'-' if first else f'{r.step_norm:.2e}':>9} {reg:>6} {'-' if first else f'{r.dual_step:.2e}':>9} "
            f"{'-' if first else f'{r.step:.2e}':>9} {'-' if first else r.trials:>3}",
            file=self.stream,
        )


def interior_point(
    problem,
    *,
    x0=None,
    y0=None,
    z0=None,
    tol: float = 1e-8,
    max_iterations: int = 3000,
    max_time: float | None = None,
    max_evaluations: int | None = None,
    mu_init: float = 0.1,
    raise_on_failure: bool = False,
    log=False,
    callback=None,
) -> Solution:
    r"""Solve ``min f(x) s.t. cl <= c(x) <= cu, lb <= x <= ub`` by a primal-dual interior-point method.

    See the module docstring for the algorithm. Every kind of constraint row and
    bound is handled; equality-only problems work too (they are then an SQP
    method with a filter).

    Parameters
    ----------
    problem : Problem
    x0 : array_like (n,), optional
        Starting point (default ``problem.x0``); moved inside the bounds by at
        most 1e-2 relative.
    y0 : array_like (m,), optional
        Starting constraint multipliers in the package convention (default: the
        least-squares estimate, or zero when that exceeds 1e3).
    z0 : array_like (n,), optional
        Starting bound multipliers in the package convention (``z0 <= 0`` at a
        lower bound, ``>= 0`` at an upper bound); with ``y0`` and ``x0`` this is
        a warm start. Default: 1 for every bound.
    tol : float
        Stop when the scaled optimality error ``max(inf_du / s_d, inf_pr,
        compl / s_c)`` of the scaled problem is below ``tol`` (the paper's eq. 5).
    max_iterations : int
    max_time : float, optional
        Wall-clock limit in seconds.
    max_evaluations : int, optional
        Limit on objective evaluations (the usual count of scipy's ``nfev``).
    mu_init : float
        Starting barrier parameter.
    raise_on_failure : bool
        Raise :class:`~lagrangian.errors.ConvergenceError` instead of returning an
        unsuccessful status.
    log : bool or text stream
        IPOPT-style log, one line per iteration (``True`` means ``sys.stdout``).
        An ``r`` after the iteration number marks a restoration step.
    callback : callable, optional
        ``callback(record: IterationRecord, x)`` after every iteration.

    Returns
    -------
    Solution
        On an iteration, time or evaluation limit, the iterate with the smallest
        optimality error seen, with the matching status.
    """
    tol = check_option("tol", tol)
    max_iterations = check_option("max_iterations", max_iterations, integer=True)
    max_time = check_option("max_time", max_time, allow_none=True)
    max_evaluations = check_option("max_evaluations", max_evaluations, integer=True, allow_none=True)
    mu_init = check_option("mu_init", mu_init)
    n, m = problem.n, problem.m
    x_start = problem.x0.copy() if x0 is None else np.asarray(x0, dtype=float).copy()
    if x_start.shape != (n,) or not np.all(np.isfinite(x_start)):
        raise ProblemError("x0", f"expected {n} finite values, got shape {x_start.shape}")
    started = time.perf_counter()
    start_counts = dict(problem.counts)
    stream = (sys.stdout if log is True else log) if log else None
    logger = _Log(stream)

    # -- starting point ---------------------------------------------------------------
    # Scaling reads the gradients at the point the iteration starts from.
    form = _SlackForm(problem, _push_inside(x_start, problem.lb, problem.ub))
    w = form.push_inside(np.concatenate([x_start, np.zeros(form.nw - n)]))
    x = w[:n]
    f, c = problem.objective(x), problem.constraint_values(x)
    if not (np.isfinite(f) and np.all(np.isfinite(c))):
        raise ProblemError("x0", "the objective or constraints are not finite at the starting point (after moving it inside the bounds)")
    w[n:] = form.row_scale[form.inequality_rows] * c[form.inequality_rows]
    point = form.point(form.push_inside(w), f, c)

    z = np.ones(form.bounded.size)
    if z0 is not None:
        z_start = np.asarray(z0, dtype=float)
        if z_start.shape != (n,) or not np.all(np.isfinite(z_start)):
            raise ProblemError("z0", f"expected {n} finite values, got shape {z_start.shape}")
        scaled = np.zeros(form.nw)
        scaled[:n] = z_start * form.f_scale
        z = np.maximum(-form.sign * scaled[form.bounded], mu_init)
    if y0 is not None:
        y = np.asarray(y0, dtype=float).copy()
        if y.shape != (m,) or not np.all(np.isfinite(y)):
            raise ProblemError("y0", f"expected {m} finite values, got shape {y.shape}")
        y = y * form.f_scale / form.row_scale
    else:
        y = _multiplier_estimate(form, point, z)

    correction = InertiaCorrection(singular_residual=_SINGULAR_RESIDUAL)
    model = None if problem.has_hessian else quasi_newton_model(n, problem.quasi_newton)
    mu = mu_init
    d = form.residual(point.w, point.c)
    theta0 = np.abs(d).sum()
    filt = _Filter(1e4 * max(1.0, theta0))
    theta_min = 1e-4 * max(1.0, theta0)
    history, best = [], None
    status = Status.MAX_ITERATIONS
    alpha, alpha_z, regularization, step_norm, trials, tag = 0.0, 0.0, 0.0, 0.0, 0, ""

    def optimality_error(point, y, z, d):
        """``mu -> E_mu`` at this iterate (the paper's eq. 5); only the complementarity term depends on mu."""
        dual = form.gradient(point.g) + linalg.transpose_times(form.point_jacobian(point), y) + form.scatter(-form.sign * z)
        products = form.distance(point.w) * z
        count, z_sum = z.size, z.sum()
        # IPOPT's scaling of the dual and complementarity errors by the multipliers' size,
        # capped: with multipliers run away to 1e40 it would otherwise call any point optimal.
        s_d = min(_S_CAP, max(_S_MAX, (np.abs(y).sum() + z_sum) / max(m + count, 1)) / _S_MAX)
        s_c = min(_S_CAP, max(_S_MAX, z_sum / max(count, 1)) / _S_MAX)
        rest = max(np.abs(dual).max(initial=0.0) / s_d, np.abs(d).max(initial=0.0))
        return lambda mu: max(rest, np.abs(products - mu).max(initial=0.0) / s_c)

    for iteration in range(max_iterations + 1):
        d = form.residual(point.w, point.c)
        error_at = optimality_error(point, y, z, d)
        error = error_at(0.0)
        y_out, z_out = form.unscale(y, z)
        x = point.w[:n]
        record = IterationRecord(
            iteration,
            point.f,
            float(np.concatenate([bound_violation(point.c, problem.cl, problem.cu), bound_violation(x, problem.lb, problem.ub)]).max(initial=0.0)),
            float(np.abs(lagrangian_gradient(point.g, point.J, y_out, z_out)).max(initial=0.0)),
            alpha,
            regularization,
            barrier=mu,
            step_norm=step_norm,
            dual_step=alpha_z,
            trials=trials,
        )
        history.append(record)
        logger.line(record, tag)
        if callback_stops(callback, record, x):
            status = Status.STOPPED
            break
        if best is None or error < best[0]:
            best = (error, point, y.copy(), z.copy())
        if error <= tol:
            status = Status.SUCCESS
            break
        if point.f < OBJECTIVE_FLOOR and np.abs(d).max(initial=0.0) <= tol:
            status = Status.UNBOUNDED
            break
        limit = limit_status(iteration, max_iterations, started, max_time)
        if limit is not None:
            status = limit
            break
        if max_evaluations is not None and problem.counts["objective"] - start_counts["objective"] >= max_evaluations:
            status = Status.EVALUATION_LIMIT
            break

        # -- barrier parameter: decrease once the barrier problem is solved -----------
        while mu > tol / 10 and error_at(mu) <= _KAPPA_EPSILON * mu:
            mu = max(tol / 10, min(_KAPPA_MU * mu, mu**_THETA_MU))
            filt.reset()
        tau = max(_TAU_MIN, 1.0 - mu)

        # -- the Newton step on the barrier problem -----------------------------------
        w, A = point.w, form.point_jacobian(point)
        distance = form.distance(w)
        sigma = form.scatter(z / distance)
        grad_phi = form.gradient(point.g) + form.scatter(-form.sign * mu / distance)
        try:
            W, low_rank = form.hessian(w[:n], y, model)
            solution, info = correction.solve(W, A, -np.concatenate([grad_phi, d]), barrier=mu, low_rank=low_rank, diagonal=sigma)
        except SingularKKTError:
            status = Status.SINGULAR_KKT
            break
        regularization = info.primal_regularization
        dw, dy = solution[: form.nw], solution[form.nw :] - y
        toward = form.toward(dw)
        dz = mu / distance - z - z / distance * toward
        alpha_max = _fraction_to_boundary(distance, toward, tau)
        alpha_z = _fraction_to_boundary(z, dz, tau)
        step_norm = float(np.abs(dw[:n]).max(initial=0.0))

        # -- filter line search ---------------------------------------------------------
        theta, phi = np.abs(d).sum(), form.barrier(point.f, w, mu)
        slope = grad_phi @ dw
        accepted, trials, tag = None, 0, ""
        tiny = np.abs(dw).max(initial=0.0) <= 10 * np.finfo(float).eps * (1 + np.abs(w).max(initial=0.0))

        def acceptable(theta_t, phi_t, alpha_t):
            """(accepted, Armijo-type) for a trial point."""
            if not np.isfinite(phi_t) or filt.rejects(theta_t, phi_t):
                return False, False
            switching = slope < 0 and alpha_t * (-slope) ** _S_PHI > _DELTA * theta**_S_THETA
            if theta <= theta_min and switching:
                return phi_t <= phi + _ETA_PHI * alpha_t * slope, True
            return theta_t <= (1 - _GAMMA_THETA) * theta or phi_t <= phi - _GAMMA_PHI * theta, False

        if slope < 0:
            alpha_min = min(_GAMMA_THETA, _GAMMA_PHI * theta / -slope)
            if theta <= theta_min:
                alpha_min = min(alpha_min, _DELTA * theta**_S_THETA / (-slope) ** _S_PHI)
            alpha_min *= _GAMMA_ALPHA
        else:
            alpha_min = _GAMMA_ALPHA * _GAMMA_THETA
        alpha_min = max(alpha_min, np.finfo(float).eps)

        alpha = alpha_max
        while accepted is None and alpha >= alpha_min:
            trial_w = w + alpha * dw
            trial_f, trial_c = problem.objective(trial_w[:n]), problem.constraint_values(trial_w[:n])
            trials += 1
            trial_d = form.residual(trial_w, trial_c)
            trial_theta = np.abs(trial_d).sum()
            if not trial_theta < np.inf:  # NaN included
                trial_theta = np.inf
            trial_phi = form.barrier(trial_f, trial_w, mu) if trial_theta < np.inf else np.inf
            ok, armijo = acceptable(trial_theta, trial_phi, alpha)
            if tiny and np.isfinite(trial_phi):
                ok, armijo = True, True
            if ok:
                accepted = (trial_w, trial_f, trial_c, trial_theta, trial_phi, armijo, alpha)
                break
            if trials == 1 and m and np.isfinite(trial_theta) and trial_theta >= theta:
                accepted = _second_order_correction(
                    problem, form, info, w, d, grad_phi, alpha, trial_d, trial_theta, tau, mu, acceptable
                )
                if accepted is not None:
                    trials += accepted[-1]
                    accepted = accepted[:-1]
                    break
            alpha *= 0.5

        if accepted is None:
            # -- feasibility restoration ----------------------------------------------
            if theta <= tol * 1e-2:
                status = Status.LINE_SEARCH_FAILED
                break
            outcome, restored = _restore(problem, form, point, mu, filt, tau, tol)
            if outcome is not None:
                status = outcome
                if outcome is Status.INFEASIBLE:
                    point = restored  # the point that (locally) minimizes the violation
                break
            point, tag = restored, "r"
            # Restart the bound multipliers on the central path and re-estimate y.
            z = mu / form.distance(point.w)
            y = _multiplier_estimate(form, point, z)
            alpha, alpha_z = 0.0, 0.0
            continue

        trial_w, trial_f, trial_c, trial_theta, trial_phi, armijo, alpha = accepted
        if not armijo:
            filt.add((1 - _GAMMA_THETA) * theta, phi - _GAMMA_PHI * theta)
        if regularization > 0 and np.abs(d).max(initial=0.0) <= tol:
            ray = _unbounded_ray(problem, form, point, dw, tol)
            if ray is not None:
                point, status = ray, Status.UNBOUNDED
                break
        x_old, g_old, J_old = w[:n], point.g, point.J
        point = form.point(trial_w, trial_f, trial_c)
        if info.dual_regularization > 0:
            # With J rank-deficient the regularized multipliers scale like ||d|| / dc
            # and mean nothing: estimate them afresh at the new point.
            y = _multiplier_estimate(form, point, z)
        else:
            y = y + alpha * dy
        # Keep each bound multiplier within a factor kappa_sigma of mu / distance (eq. 16).
        central = mu / form.distance(point.w)
        z = np.clip(z + alpha_z * dz, central / _KAPPA_SIGMA, _KAPPA_SIGMA * central)
        if model is not None:
            ys = form.row_scale * y
            model.update(
                point.w[:n] - x_old,
                form.f_scale * (point.g - g_old) + (linalg.transpose_times(point.J, ys) - linalg.transpose_times(J_old, ys)),
            )

    if status in (Status.MAX_ITERATIONS, Status.TIME_LIMIT, Status.EVALUATION_LIMIT) and best is not None:
        _, point, y, z = best
    elif status in (Status.LINE_SEARCH_FAILED, Status.RESTORATION_FAILED, Status.SINGULAR_KKT) and best[0] <= _ACCEPTABLE:
        _, point, y, z = best
        status = Status.ACCEPTABLE
    y_out, z_out = form.unscale(y, z)
    return finish(
        problem, solver="interior_point", x=point.w[:n], f=point.f, y=y_out, z=z_out, c=point.c, g=point.g, J=point.J,
        status=status, history=history, start_counts=start_counts, stream=stream, raise_on_failure=raise_on_failure,
    )


def _unbounded_ray(problem, form, point, dw, tol):
    """A feasible point with ``f < -1e20`` along ``dw``, or None.

    Called when the Hessian needed regularization at a feasible point: the step
    then follows a direction of zero or negative curvature, and on an unbounded
    problem the regularized steps only grow geometrically (``||dw|| ~ 1/dw``),
    so ``f`` would take thousands of iterations to pass the floor. One trial far
    along the ray settles it (the components of ``dw`` that head for their own
    bound are dropped): if ``f`` descends along it and the point where its linear
    model passes the floor is still feasible with ``f < -1e20``, the problem is
    unbounded below (that point is the proof).
    """
    n = problem.n
    direction = dw.copy()
    # Components heading for their own bound stay where they are (the regularized step
    # carries small such components), and what is left is projected onto the null
    # space of A, so that the ray keeps linear constraints exactly.
    blocked = np.zeros(form.nw, bool)
    blocked[form.bounded[form.toward(dw) < 0]] = True
    direction[blocked] = 0.0
    A = form.point_jacobian(point)
    if A.shape[0]:
        free = sp.diags_array((~blocked).astype(float))
        try:
            correction = factorize_kkt(sp.eye_array(form.nw), A @ free, dual_regularization=1e-12)
            direction = direction - free @ (A.T @ correction.solve(np.concatenate([direction, np.zeros(A.shape[0])]))[form.nw :])
        except SingularMatrixError:
            return None
        direction[blocked] = 0.0
    if (form.toward(direction) < 0).any():
        return None
    slope = float(point.g @ direction[:n])
    if slope >= 0:
        return None
    length = (abs(point.f) - 10 * OBJECTIVE_FLOOR) / -slope
    ray = point.w + length * direction
    with np.errstate(all="ignore"):
        f, c = problem.objective(ray[:n]), problem.constraint_values(ray[:n])
        if not (np.isfinite(f) and f < OBJECTIVE_FLOOR and np.all(np.isfinite(c))):
            return None
        # Rounding at this magnitude leaves residuals of about eps |A| |w| (terms of size
        # 1e20 cancel); allow that much.
        rounding = 1e-12 * (abs(A) @ np.abs(ray)).max(initial=0.0) if A.shape[0] else 0.0
        if np.abs(form.residual(ray, c)).max(initial=0.0) > max(tol, rounding):
            return None
    return form.point(ray, f, c)


def _multiplier_estimate(form, point, z):
    """Least-squares ``y`` from ``grad f + A^T y - z_L + z_U = 0``, or zero when it exceeds 1e3 (IPOPT)."""
    gz = form.gradient(point.g) + form.scatter(-form.sign * z)
    y = least_squares_multipliers(form.point_jacobian(point), gz)
    return np.zeros_like(y) if np.abs(y).max(initial=0.0) > _MULTIPLIER_LIMIT else y


def _second_order_correction(problem, form, info, w, d, grad_phi, alpha, trial_d, trial_theta, tau, mu, acceptable):
    """Up to ``_MAX_SOC`` corrections of the rejected full step (paper, section 2.4).

    Each solves the same (already factorized) matrix with the constraint part of
    the right-hand side replaced by ``c_soc <- alpha_soc c_soc + d(w + dw_soc)``.
    Returns the accepted trial tuple plus the number of trial points, or None.
    """
    n = problem.n
    F = info.factorization
    if F is None:
        return None
    c_soc = alpha * d + trial_d
    theta_previous = trial_theta
    for k in range(1, _MAX_SOC + 1):
        try:
            dw_soc = F.solve(-np.concatenate([grad_phi, c_soc]))[: form.nw]
        except SingularMatrixError:
            return None
        alpha_soc = form.max_step(w, dw_soc, tau)
        soc_w = w + alpha_soc * dw_soc
        soc_f, soc_c = problem.objective(soc_w[:n]), problem.constraint_values(soc_w[:n])
        soc_d = form.residual(soc_w, soc_c)
        if not np.isfinite(soc_d).all():
            return None
        soc_theta = np.abs(soc_d).sum()
        soc_phi = form.barrier(soc_f, soc_w, mu)
        ok, armijo = acceptable(soc_theta, soc_phi, alpha)
        if ok:
            return soc_w, soc_f, soc_c, soc_theta, soc_phi, armijo, alpha, k
        if soc_theta > _KAPPA_SOC * theta_previous:
            return None
        theta_previous = soc_theta
        c_soc = alpha_soc * c_soc + soc_d
    return None


def _restore(problem, form, point, mu, filt, tau, tol):
    r"""Feasibility restoration: reduce ``theta = ||d(w)||_1`` until the filter accepts the point.

    Minimizes :math:`\tfrac12 \|d(w)\|^2 - \mu_R \sum \ln(\text{distance to the bounds})`
    by damped Gauss-Newton steps (``zeta = 1e-2 sqrt(mu_R)`` on the diagonal), each the
    quasidefinite solve

    .. code-block:: text

        [ Sigma_R + zeta I   A^T ] [ dw ]     [ grad barrier ]
        [ A                  -I  ] [ u  ] = - [ d(w)         ]

    (eliminating ``u = A dw + d`` gives the normal equations of the linearized
    least-squares problem), with a backtracking Armijo search. When the problem has
    a Hessian the curvature ``sum_i d_i nabla^2 d_i`` is added to the (1,1) block
    (a Newton step, inertia-corrected), which keeps convergence fast when the
    violation cannot reach zero.

    Returns ``(None, point)`` with the restored point, ``(Status.INFEASIBLE,
    point)`` when the step vanishes at an infeasible stationary point of the
    violation, or ``(Status.RESTORATION_FAILED, point)`` when the iteration limit
    is reached or the system is singular.
    """
    correction = InertiaCorrection()
    n, m = problem.n, problem.m
    d = form.residual(point.w, point.c)
    theta_start = np.abs(d).sum()
    mu_r = max(mu, np.abs(d).max(initial=0.0))
    current = point
    for _ in range(_RESTORATION_ITERATIONS):
        w = current.w
        d = form.residual(w, current.c)
        A = form.point_jacobian(current)
        distance = form.distance(w)
        zeta = np.sqrt(mu_r) * 1e-2
        sigma = zeta + form.scatter(mu_r / distance**2)
        gb = form.scatter(-form.sign * mu_r / distance)
        # Stationary for the violation while still infeasible: a local minimizer of
        # 1/2 ||d||^2 over the bounds, not of the problem. The test is the projected
        # gradient: components pushing into a bound the point (nearly) sits on drop out.
        violation = np.abs(d).max(initial=0.0)
        gradient = A.T @ d
        near = distance <= 1e-6 * np.maximum(1.0, np.abs(form.bound))
        projected = gradient.copy()
        projected[form.bounded[near & (form.toward(gradient) > 0)]] = 0.0
        stationary = np.abs(projected).max(initial=0.0) <= 1e-6 * max(1.0, violation)
        if violation > _INFEASIBLE_VIOLATION and mu_r <= 1e-8 and stationary:
            return Status.INFEASIBLE, current
        H = sp.diags_array(sigma)
        if problem.has_hessian:
            # Newton rather than Gauss-Newton: with a large residual the curvature
            # sum_i d_i nabla^2 d_i matters (Gauss-Newton then converges only linearly).
            x = w[:n]
            curvature = problem.hessian(x, form.row_scale * d) - problem.hessian(x, np.zeros(m))
            H = H + sp.block_diag([curvature, sp.csr_array((form.nw - n, form.nw - n))])
        try:
            solution, _ = correction.solve(H, A, -np.concatenate([gb, d]), dual_regularization=1.0)
        except SingularKKTError:
            return Status.RESTORATION_FAILED, current
        dw = solution[: form.nw]

        def psi(w_, d_):
            """The restoration merit: 1/2 ||d||^2 plus the log barrier (form.barrier with f = 0)."""
            return 0.5 * d_ @ d_ + form.barrier(0.0, w_, mu_r) if np.isfinite(d_).all() else np.inf

        slope = gb @ dw + d @ (A @ dw)
        psi0 = psi(w, d)
        alpha = form.max_step(w, dw, tau)
        while alpha > 1e-12:
            trial_w = w + alpha * dw
            trial_c = problem.constraint_values(trial_w[:n])
            trial_d = form.residual(trial_w, trial_c)
            if psi(trial_w, trial_d) <= psi0 + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        if alpha <= 1e-12 or np.abs(alpha * dw).max(initial=0.0) <= 1e-15 * (1 + np.abs(w).max(initial=0.0)):
            if mu_r > _RESTORATION_MU_FLOOR:
                mu_r = max(_RESTORATION_MU_FLOOR, 0.1 * mu_r)
                continue
            return (Status.INFEASIBLE if violation > _INFEASIBLE_VIOLATION and stationary else Status.RESTORATION_FAILED), current
        trial_f = problem.objective(trial_w[:n])
        current = form.point(trial_w, trial_f, trial_c)
        theta_new = np.abs(trial_d).sum()
        phi_new = form.barrier(trial_f, trial_w, mu)
        if theta_new <= 0.9 * theta_start and np.isfinite(phi_new) and not filt.rejects(theta_new, phi_new):
            return None, current
        mu_r = max(_RESTORATION_MU_FLOOR, 0.2 * mu_r)
    return Status.RESTORATION_FAILED, current
