r"""The interior point's view of a problem: variables and slacks ``w = (x, s)``, bounds on ``w``, scaling.

Every inequality row ``cl_i <= c_i(x) <= cu_i`` gets a slack ``s_i``, so that the
constraints become ``d(w) = 0`` and all inequalities are bounds on ``w``:

.. math::

    d(w) = \begin{bmatrix} D_E (c_E(x) - c_{l,E}) \\ D_I c_I(x) - s \end{bmatrix} = 0,
    \qquad l_w \le w \le u_w ,

with ``l_w = (lb, D_I cl_I)`` and ``u_w = (ub, D_I cu_I)``. ``D`` scales the rows and
``sf`` the objective so that no gradient entry exceeds 100 at the starting point
(IPOPT's gradient-based scaling, Wächter & Biegler 2006, section 3.8). The
starting-point push (section 3.6) and the fraction-to-the-boundary rule (eq. 15)
live here too, as they only read distances to the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import linalg
# kappa_1 = kappa_2 = BOUND_PUSH: the starting distance from the bounds, the one Problem uses too
from ..bounds import BOUND_PUSH, push_inside
from ..linalg.kkt_factorization import assembled_dense

__all__ = ["BOUND_PUSH", "ROW_RELAX", "GRADIENT_SCALE", "push_inside", "fraction_to_boundary", "SlackForm", "Point"]

KAPPA_D = 1e-5  # damping of one-sided bounds in the barrier function (IPOPT's kappa_d)
ROW_RELAX = 1e-8  # inequality rows' bounds are relaxed by at most this, relative (IPOPT's bound_relax_factor is 1e-8)
GRADIENT_SCALE = 100.0  # largest scaled gradient entry


def fraction_to_boundary(values, steps, tau):
    """Largest ``alpha`` in (0, 1] with ``values + alpha steps >= (1 - tau) values`` (values > 0)."""
    shrinking = steps < 0
    if not np.count_nonzero(shrinking):  # (a tenth of shrinking.any()'s cost on a short vector)
        return 1.0
    return min(1.0, tau * float((values[shrinking] / -steps[shrinking]).min()))


class SlackForm:
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

    def __init__(self, problem, x0, tol=1e-8):
        p = problem
        self.problem = p
        self.n, self.m = p.n, p.m
        equality = p.cl == p.cu
        self.inequality_rows = np.flatnonzero(~equality)
        k = self.inequality_rows.size
        self.nw = self.n + k
        self.dense = assembled_dense(self.nw + self.m)

        g0, J0 = p.gradient(x0), p.jacobian(x0, dense=self.dense)
        self.f_scale = min(1.0, GRADIENT_SCALE / max(np.abs(g0).max(initial=0.0), 1e-300))
        if not self.m:
            row_max = np.zeros(0)
        else:
            row_max = np.abs(J0).max(axis=1) if self.dense else abs(J0).max(axis=1).toarray().ravel()
        self.row_scale = np.minimum(1.0, GRADIENT_SCALE / np.maximum(row_max, 1e-300))
        D = self.row_scale
        self.target = np.where(equality, D * p.cl, 0.0)

        lower, upper = np.concatenate([p.lb, p.cl[self.inequality_rows]]), np.concatenate([p.ub, p.cu[self.inequality_rows]])
        with np.errstate(invalid="ignore"):
            # Every row bound is relaxed by ROW_RELAX (IPOPT's bound_relax_factor): rows whose bounds pin them
            # together (an equality written as two opposite inequalities) leave the slacks
            # no interior otherwise. Variable bounds stay exact (the functions are never
            # evaluated outside them); the polish puts active rows back on their bounds.
            # At most tol, so that a point of the relaxed problem is feasible to tol (relative):
            # IPOPT's 1e-8 at the default tol. With 1e-9 the pair c(x) >= 0, -c(x) >= 0
            # (c = x0^2 + x1^2 - 4, or scipy's COBYLA test) left mu at 2e-2 for hundreds of
            # iterations, the slacks' multipliers near 1e5 and the dual residual above 10 mu
            # (MAX_ITERATIONS at 500); with 1e-8 it takes 26-36 iterations, IPOPT 18-19.
            # The price is on a cusp: HS13's x1 moves by (1e-8)^(1/3) = 2e-3 (IPOPT's by
            # 2.7e-3); 1e-8 cost HS249 one iteration.
            relax = np.concatenate([np.zeros(self.n), np.full(k, min(ROW_RELAX, tol))])
            lower = np.where(relax > 0, lower - relax * np.maximum(1.0, np.abs(lower)), lower)
            upper = np.where(relax > 0, upper + relax * np.maximum(1.0, np.abs(upper)), upper)
        # Fixed variables (lb == ub) are parameters, as IPOPT's make_parameter: held at their
        # value, their step is zero (a unit diagonal and empty Jacobian columns), they carry
        # no barrier term, and their multipliers are what stationarity leaves at the end. A
        # relaxed interior of width 2e-10 instead cut every step through them to ~1e-9.
        self.fixed = np.flatnonzero(p.lb == p.ub)
        self.fixed_value = p.lb[self.fixed].copy()
        lower[self.fixed], upper[self.fixed] = -np.inf, np.inf
        units = np.concatenate([np.ones(self.n), D[self.inequality_rows]])
        lower, upper = units * lower, units * upper
        self.lower, self.upper = lower, upper
        below, above = np.flatnonzero(np.isfinite(lower)), np.flatnonzero(np.isfinite(upper))
        # A square system: as many equality rows as free variables, no inequality rows.
        # Where its Jacobian is nonsingular the feasible points are isolated, so each is a
        # local minimizer whatever f is: the run ends as soon as a point is feasible, and
        # the multipliers come from least squares at the end (IPOPT's square-problem rules).
        # Without this, the multipliers of a nearly singular square J grow 30-100x per
        # iteration and mu never drops. The step is still the Newton step of the whole
        # barrier problem, objective and Hessian included, as IPOPT's: where J is
        # nonsingular it is Newton's step on d(w) = 0 whatever f is, and where J is
        # singular (the feasible set a curve through a degenerate root) f chooses the
        # root: CUTEst FLT ended at f = 1 with the objective dropped, at IPOPT's f = 0 with it.
        free = int(np.sum(p.lb[: self.n] < p.ub[: self.n]))
        self.square = k == 0 and self.m > 0 and self.m == free
        self.bounded = np.concatenate([below, above])
        self.sign = np.concatenate([np.ones(below.size), -np.ones(above.size)])
        self.bound = np.concatenate([lower[below], upper[above]])
        # Bounds whose entry has no bound on the other side get the damping term
        # kappa_d mu (w - l) (or (u - w)) in the barrier function (Wächter & Biegler 2006,
        # section 3.7): without it -mu ln(w - l) falls without bound as w grows, and the
        # barrier problem pushes such an entry to infinity while f rises (CUTEst YFIT).
        other = np.concatenate([upper[below], lower[above]])
        self.one_sided = ~np.isfinite(other)
        self._damped = bool(self.one_sided.any())  # (most problems have no one-sided bound: no damping to sum)
        self._slack_columns = self.n + np.arange(k)

    # -- the pieces of the method -------------------------------------------------
    def push_inside(self, w):
        """Move ``w`` strictly inside its bounds (IPOPT's bound_push / bound_frac), fixed variables onto their value."""
        w = push_inside(w, self.lower, self.upper)
        w[self.fixed] = self.fixed_value
        return w

    def hold_fixed(self, W):
        """``W`` with the fixed variables' rows and columns replaced by the identity's (their step is zero)."""
        if not self.fixed.size:
            return W
        if not sp.issparse(W):
            W = np.array(W, dtype=float)
            W[self.fixed, :], W[:, self.fixed] = 0.0, 0.0
            W[self.fixed, self.fixed] = 1.0
            return W
        keep = np.ones(self.nw)
        keep[self.fixed] = 0.0
        mask = sp.diags_array(keep)
        return (mask @ W @ mask + sp.diags_array(1.0 - keep)).tocsr()

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
        return fraction_to_boundary(self.distance(w), self.toward(dw), tau)

    def residual(self, w, c):
        """``d(w)`` from the raw constraint values ``c``."""
        d = self.row_scale * c - self.target
        k = self.nw - self.n
        if k == self.m:  # every row an inequality: the same subtraction without indexing
            d -= w[self.n :]
        elif k:
            d[self.inequality_rows] -= w[self.n :]
        return d

    def jacobian(self, J):
        """``A = [D J, -P]`` from the raw Jacobian (dense when the form is, else CSR).

        Row ``i`` is ``D_i`` times row ``i`` of ``J``, followed, for an inequality
        row, by ``-1`` in its slack's column.
        """
        slack_columns = self._slack_columns
        if self.dense:
            if self.nw == self.n and not self.fixed.size:
                return self.row_scale[:, None] * J  # (no slack columns to append, nothing to zero)
            A = np.zeros((self.m, self.nw))
            A[:, : self.n] = self.row_scale[:, None] * J
            A[self.inequality_rows, slack_columns] = -1.0
            if self.fixed.size:
                A[:, self.fixed] = 0.0
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
        if self.fixed.size:
            data[np.isin(indices, self.fixed)] = 0.0  # the pattern stays, the columns are empty
        return sp.csr_array((data, indices, indptr), shape=(self.m, self.nw))

    def point(self, w, f, c, d=None):
        """The accepted iterate at ``w`` (with raw ``f`` and ``c`` already evaluated): its gradient and Jacobian.

        ``d``, when the caller computed it at ``w`` (a trial point's evaluation), is
        kept on the point rather than computed again.
        """
        x = w[: self.n]
        return Point(w, f, c, self.problem.gradient(x), self.problem.jacobian(x, dense=self.dense), d=d)

    def point_at(self, x, f, c):
        """The iterate at ``x`` (raw ``f`` and ``c`` evaluated there) with each slack at its row's value, clipped to its bounds."""
        rows = self.inequality_rows
        s = np.clip(self.row_scale[rows] * c[rows], self.lower[self.n :], self.upper[self.n :])
        return self.point(np.concatenate([x, s]), f, c)

    def point_jacobian(self, point):
        """``A`` at an accepted point, built once and kept on the point."""
        if point.A is None:
            point.A = self.jacobian(point.J)
        return point.A

    # An iteration reads each of these several times (the optimality error, the step, the
    # line search, the multipliers): each is computed once per point and kept there.
    def point_residual(self, point):
        """``d(w)`` at an accepted point."""
        if point.d is None:
            point.d = self.residual(point.w, point.c)
        return point.d

    def point_theta(self, point):
        """``theta = ||d(w)||_1`` at an accepted point."""
        if point.theta is None:
            point.theta = np.abs(self.point_residual(point)).sum()
        return point.theta

    def point_w_max(self, point):
        """``||w||_inf`` at an accepted point (the tiny-step tests of the line search and the iteration)."""
        if point.w_max is None:
            point.w_max = np.abs(point.w).max(initial=0.0)
        return point.w_max

    def point_distance(self, point):
        """:meth:`distance` at an accepted point."""
        if point.distance is None:
            point.distance = self.distance(point.w)
        return point.distance

    def point_gradient(self, point):
        """:meth:`gradient` (scaled ``grad_w f``) at an accepted point."""
        if point.gradient is None:
            point.gradient = self.gradient(point.g)
        return point.gradient

    def point_barrier(self, point, mu):
        """:meth:`barrier` at an accepted point for this ``mu`` (kept for the last ``mu`` asked)."""
        if point.phi is None or point.phi[0] != mu:
            point.phi = (mu, self.barrier(point.f, point.w, mu, self.point_distance(point)))
        return point.phi[1]

    def gradient(self, g):
        """``grad_w f`` in scaled units (zero on the slacks)."""
        gradient = self.f_scale * g if self.nw == self.n else np.concatenate([self.f_scale * g, np.zeros(self.nw - self.n)])
        if self.fixed.size:
            gradient[self.fixed] = 0.0
        return gradient

    def hessian(self, x, y, model):
        """``(W, low_rank)``: ``W = nabla^2_ww L`` in scaled units (zero on the slacks), and a
        limited-memory model's low-rank part (``W`` then holds its ``sigma I``), else None."""
        low_rank, scale = None, 1.0
        if model is not None:
            Wx, low_rank = model.hessian_parts()
        else:
            Wx, scale = self.problem.hessian(x, self.row_scale * y / self.f_scale, dense=self.dense), self.f_scale
        if self.dense:
            Wx = scale * (Wx.toarray() if sp.issparse(Wx) else Wx)
            if self.nw == self.n:  # (no slack rows and columns to append: Wx is a new array already)
                return self.hold_fixed(Wx), self._hold_fixed_low_rank(low_rank)
            W = np.zeros((self.nw, self.nw))
            W[: self.n, : self.n] = Wx
            return self.hold_fixed(W), self._hold_fixed_low_rank(low_rank)
        # [[scale Wx, 0], [0, 0]]: Wx's CSR arrays with empty rows appended (no block_diag),
        # scaled in the same construction (a sparse product would construct another matrix).
        Wx = linalg.as_csr(Wx)
        indptr = np.concatenate([Wx.indptr, np.full(self.nw - self.n, Wx.indptr[-1])])
        data = Wx.data * scale if scale != 1.0 else Wx.data
        W = sp.csr_array((data, Wx.indices, indptr), shape=(self.nw, self.nw))
        return self.hold_fixed(W), self._hold_fixed_low_rank(low_rank)

    def _hold_fixed_low_rank(self, low_rank):
        """A limited-memory model's ``(W, M)`` with the fixed variables' rows of ``W`` zeroed."""
        if low_rank is None or not self.fixed.size:
            return low_rank
        W, M = low_rank
        W = np.array(W, dtype=float)
        W[self.fixed[self.fixed < W.shape[0]]] = 0.0
        return W, M

    def barrier(self, f, w, mu, distance=None):
        """``phi_mu(w)``, with the damping of one-sided bounds; ``inf`` outside the bounds or where ``f`` is not finite.

        ``distance`` is :meth:`distance` at ``w`` when the caller holds it.
        """
        if distance is None:
            distance = self.distance(w)
        if not (math.isfinite(f) and distance.min(initial=np.inf) > 0):
            return np.inf
        damping = KAPPA_D * mu * distance[self.one_sided].sum() if self._damped else 0.0
        return self.f_scale * f - mu * np.log(distance).sum() + damping

    def barrier_gradient(self, g, w, mu, distance=None, gradient=None):
        """``grad phi_mu(w)``: ``grad f - mu / distance`` toward each bound, plus the damping ``kappa_d mu`` of one-sided ones.

        ``distance`` and ``gradient`` are :meth:`distance` and :meth:`gradient` there when the caller holds them.
        """
        if distance is None:
            distance = self.distance(w)
        if gradient is None:
            gradient = self.gradient(g)
        return gradient + self.scatter(self.sign * (KAPPA_D * mu * self.one_sided - mu / distance))

    def unscale(self, y, z, point=None):
        """Multipliers in the package convention and original units: ``(y, z_U - z_L)``.

        With the ``point``, a fixed variable's ``z`` is what stationarity leaves,
        ``-(grad f + J^T y)_j`` (the multiplier of its bound ``x_j = lb_j = ub_j``).
        """
        y_out, z_out = self.row_scale * y / self.f_scale, self.scatter(-self.sign * z)[: self.n] / self.f_scale
        if point is not None and self.fixed.size:
            z_out[self.fixed] = -(point.g + linalg.transpose_times(point.J, y_out))[self.fixed]
        return y_out, z_out


@dataclass
class Point:
    """An accepted iterate with the raw function values held there."""

    w: np.ndarray
    f: float
    c: np.ndarray
    g: np.ndarray
    J: object
    A: object = None  # the slack form's Jacobian [D J, -P], built on first use
    # Computed on first use too (SlackForm.point_residual, point_distance, point_gradient, point_barrier):
    d: np.ndarray = None
    theta: float = None
    distance: np.ndarray = None
    w_max: float = None
    gradient: np.ndarray = None
    phi: tuple = None  # (mu, phi_mu(w))
