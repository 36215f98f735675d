r"""The standard form the convex QP solver iterates on, and the certificates read from its iterates.

:class:`StandardForm` splits ``l <= A x <= u, lb <= x <= ub`` into equality rows
``A_E x = b`` and two-sided inequality blocks (:class:`Sides` for rows,
:class:`BoundSides` for variable bounds) with their slacks and multipliers, and holds
the KKT pattern of the reduced system. The certificates (see
:class:`lagrangian.result.Certificate`): a Farkas vector ``(y, z)`` with
``A^T y + z = 0`` and support function ``sigma(y, z) < 0`` proves infeasibility; a
ray ``d`` with ``P d = 0``, ``q^T d < 0`` in the recession cone of the constraints
proves unboundedness once a feasible point exists. Each is accepted only if it
excludes solutions within :data:`CERTIFICATE_RADIUS` (relative) of the iterate.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..linalg.kkt_factorization import kkt_pattern
from ..result import Certificate

__all__ = [
    "CERTIFICATE_RADIUS", "Sides", "BoundSides", "StandardForm", "support_function", "farkas_certificate",
    "farkas_of_iterate", "ray_of_step", "ray_box", "ray_certificate", "certificate_radius",
]

CERTIFICATE_RADIUS = 1e8  # a certificate must exclude solutions this far beyond the iterate


class Sides:
    """The finite sides of a block of rows ``l <= M x <= u``: slacks, multipliers and their algebra.

    Arrays run over the block's rows; a missing side has ``present`` False, slack 1
    and multiplier 0, so it drops out of every sum.
    """

    def __init__(self, M, lower, upper):
        self.M = sp.csr_array(M)
        self.MT = sp.csr_array(self.M.T)
        self.has_u, self.has_l = np.isfinite(upper), np.isfinite(lower)
        self.U, self.L = np.where(self.has_u, upper, 0.0), np.where(self.has_l, lower, 0.0)
        self.size = self.M.shape[0]
        self.s_u, self.s_l = np.ones(self.size), np.ones(self.size)
        self.z_u, self.z_l = np.zeros(self.size), np.zeros(self.size)

    def apply(self, v):
        """``M v``."""
        return self.M @ v

    def apply_transpose(self, w):
        """``M^T w``."""
        return self.MT @ w

    @property
    def count(self) -> int:
        return int(self.has_u.sum() + self.has_l.sum())

    def start(self, r, dual):
        """Slacks from the row values ``r = M x`` and multipliers from ``dual = W M x`` (W = I)."""
        self.s_u, self.s_l = np.where(self.has_u, self.U - r, 1.0), np.where(self.has_l, r - self.L, 1.0)
        self.z_u, self.z_l = self.has_u * dual, self.has_l * -dual

    def slacks(self):
        return self.s_u[self.has_u], self.s_l[self.has_l]

    def duals(self):
        return self.z_u[self.has_u], self.z_l[self.has_l]

    def shift(self, ds, dz):
        self.s_u, self.s_l = np.where(self.has_u, self.s_u + ds, 1.0), np.where(self.has_l, self.s_l + ds, 1.0)
        self.z_u, self.z_l = np.where(self.has_u, self.z_u + dz, 0.0), np.where(self.has_l, self.z_l + dz, 0.0)

    def advance(self, alpha, steps):
        """Take ``alpha`` times the step ``(ds_u, ds_l, dz_u, dz_l)``."""
        ds_u, ds_l, dz_u, dz_l = steps
        self.s_u, self.s_l = self.s_u + alpha * ds_u, self.s_l + alpha * ds_l
        self.z_u, self.z_l = self.z_u + alpha * dz_u, self.z_l + alpha * dz_l

    def residuals(self, r):
        """``G x + s - h`` for the upper and the lower sides."""
        return self.has_u * (r + self.s_u - self.U), self.has_l * (-r + self.s_l + self.L)

    def multiplier(self):
        """``z_u - z_l``: this block's multipliers in the package convention."""
        return self.z_u - self.z_l

    def dual_value(self) -> float:
        """``h^T z`` over the block's sides."""
        return float(self.U @ self.z_u - self.L @ self.z_l)

    def complementarity(self, alpha=0.0, steps=None) -> float:
        """``s^T z`` now, or after ``alpha`` times ``steps`` (the predictor's ``mu_aff``)."""
        if steps is None:
            return float(self.s_u @ self.z_u + self.s_l @ self.z_l)
        ds_u, ds_l, dz_u, dz_l = steps
        return float((self.s_u + alpha * ds_u) @ (self.z_u + alpha * dz_u) + (self.s_l + alpha * ds_l) @ (self.z_l + alpha * dz_l))

    def weights(self):
        w_u = np.divide(self.z_u, self.s_u, out=np.zeros_like(self.z_u), where=self.has_u)
        w_l = np.divide(self.z_l, self.s_l, out=np.zeros_like(self.z_l), where=self.has_l)
        return w_u, w_l

    def reduce(self, res_u, res_l, target_u, target_l):
        r"""``(Omega, rho)`` of the reduced system, with ``t = r_G - r_c / z`` for a target ``r_c``."""
        w_u, w_l = self.weights()
        self._t_u = np.divide(target_u, self.z_u, out=np.zeros_like(target_u), where=self.has_u)
        self._t_l = np.divide(target_l, self.z_l, out=np.zeros_like(target_l), where=self.has_l)
        self._t_u, self._t_l = res_u - self._t_u, res_l - self._t_l
        self._w_u, self._w_l, self._res_u, self._res_l = w_u, w_l, res_u, res_l
        return w_u + w_l, w_u * self._t_u - w_l * self._t_l

    def recover(self, M_dx):
        """``(ds_u, ds_l, dz_u, dz_l)`` from ``M dx`` and the last :meth:`reduce`."""
        dz_u = self._w_u * (M_dx + self._t_u)
        dz_l = self._w_l * (-M_dx + self._t_l)
        ds_u = self.has_u * -(M_dx + self._res_u)
        ds_l = self.has_l * (M_dx - self._res_l)
        return ds_u, ds_l, dz_u, dz_l

    def step_limit(self, ds_u, ds_l, dz_u, dz_l) -> float:
        """Largest ``alpha`` (``inf`` if none) keeping every present slack and multiplier non-negative."""
        alpha = np.inf
        for value, step, present in (
            (self.s_u, ds_u, self.has_u), (self.s_l, ds_l, self.has_l), (self.z_u, dz_u, self.has_u), (self.z_l, dz_l, self.has_l)
        ):
            falling = present & (step < 0)
            if falling.any():
                alpha = min(alpha, float(np.min(-value[falling] / step[falling])))
        return alpha

    def recession_violation(self, M_d) -> float:
        """Largest amount by which ``M d`` leaves the recession cone of the block's sides."""
        up = np.where(self.has_u, np.maximum(M_d, 0.0), 0.0)
        down = np.where(self.has_l, np.maximum(-M_d, 0.0), 0.0)
        return float(max(up.max(initial=0.0), down.max(initial=0.0)))


def identity_rows(n, index):
    """Rows ``index`` of the ``n x n`` identity (CSR)."""
    return sp.csr_array((np.ones(index.size), (np.arange(index.size), index)), shape=(index.size, n))


class BoundSides(Sides):
    """The sides of the bounds ``l_j <= x_j <= u_j`` of the variables ``index``: ``M`` is
    rows of the identity, applied by indexing rather than as a sparse product."""

    def __init__(self, n, index, lower, upper):
        super().__init__(identity_rows(n, index), lower, upper)
        self.n, self.index = n, index

    def apply(self, v):
        return v[self.index]

    def apply_transpose(self, w):
        out = np.zeros(self.n)
        out[self.index] = w
        return out


class StandardForm:
    """The QP's data sorted for the method: equalities, inequality rows, bounds."""

    def __init__(self, qp):
        n = qp.n
        self.n, self.m = n, qp.A.shape[0]
        self.P, self.q, self.r = sp.csr_array(qp.P), qp.q, qp.r
        self.eq = np.flatnonzero(np.isfinite(qp.l) & (qp.l == qp.u))
        self.fixed = np.flatnonzero(np.isfinite(qp.lb) & (qp.lb == qp.ub))
        self.ineq = np.flatnonzero((qp.l != qp.u) & (np.isfinite(qp.l) | np.isfinite(qp.u)))
        fixed = np.zeros(n, bool)
        fixed[self.fixed] = True
        self.bounded = np.flatnonzero(~fixed & (np.isfinite(qp.lb) | np.isfinite(qp.ub)))
        self.AE = sp.csr_array(sp.vstack([qp.A[self.eq], identity_rows(n, self.fixed)]))
        self.AET = sp.csr_array(self.AE.T)
        self.b = np.concatenate([qp.u[self.eq], qp.lb[self.fixed]])
        self.rows = Sides(qp.A[self.ineq], qp.l[self.ineq], qp.u[self.ineq])
        self.bounds = BoundSides(n, self.bounded, qp.lb[self.bounded], qp.ub[self.bounded])
        self.J = sp.csr_array(sp.vstack([self.AE, self.rows.M]))
        self.pattern = kkt_pattern(self.P, self.J)

    @property
    def sides(self):
        return (self.rows, self.bounds)

    def package_multipliers(self, y_E, sides=None):
        """``(y, z)`` in the package convention from the method's multipliers.

        ``sides`` gives ``z_u - z_l`` for the rows and the bounds; default: the
        current multipliers.
        """
        rows, bounds = sides or (self.rows.multiplier(), self.bounds.multiplier())
        y, z = np.zeros(self.m), np.zeros(self.n)
        y[self.eq] = y_E[: self.eq.size]
        y[self.ineq] = rows
        z[self.fixed] = y_E[self.eq.size:]
        z[self.bounded] = bounds
        return y, z

    def constraint_force(self, y_E):
        """``A_E^T y + G^T z``: the constraints' share of the dual residual."""
        force = self.AET @ y_E
        for block in self.sides:
            force = force + block.apply_transpose(block.multiplier())
        return force


def support_function(v, lower, upper):
    """``sum_i max(u_i v_i, l_i v_i)``, the support function of the box ``[l, u]`` at ``v``."""
    # Only the side a multiplier's sign selects enters: an infinite side there makes sigma infinite.
    return float(np.where(v > 0, upper, 0.0) @ v + np.where(v < 0, lower, 0.0) @ v)


def farkas_certificate(qp, y, z):
    """``(y, z)`` as an infeasibility certificate of ``qp``, scaled to unit max-norm, or None if ``sigma >= 0``."""
    size = max(np.abs(y).max(initial=0.0), np.abs(z).max(initial=0.0))
    if not size > 0:
        return None
    y, z = y / size, z / size
    value = support_function(y, qp.l, qp.u) + support_function(z, qp.lb, qp.ub)
    if not value < 0:
        return None
    return Certificate("infeasible", value, float(np.abs(qp.AT @ y + z).sum()), y=y, z=z)


def farkas_of_iterate(form, qp, y_E, sides=None):
    """The multipliers (default: the current ones) as a Farkas certificate, in the package convention, or None."""
    return farkas_certificate(qp, *form.package_multipliers(y_E, sides))


def ray_of_step(form, dx):
    """The step ``dx`` as a ray of unboundedness (scaled to unit max-norm), or None."""
    size = np.abs(dx).max(initial=0.0)
    if size == 0 or not np.all(np.isfinite(dx)):
        return None
    d = dx / size
    value = float(form.q @ d)
    if not value < 0:
        return None
    violation = max(
        float(np.abs(form.P @ d).max(initial=0.0)),
        float(np.abs(form.AE @ d).max(initial=0.0)),
        *(block.recession_violation(block.apply(d)) for block in form.sides),
    )
    return Certificate("unbounded", value, violation, d=d)


def ray_box(form, present, unit):
    """One side of the ray LP's box: 0 where the bound has that side (the recession cone), else +-1."""
    side = np.full(form.n, unit)
    side[form.bounded[present]] = 0.0
    return side


def ray_certificate(qp, d):
    """The ray ``d`` of ``qp`` as a :class:`Certificate` (unit max-norm), from the data alone."""
    d = d / np.abs(d).max()
    rows = Sides(qp.A, qp.l, qp.u)  # an equality row's recession cone is a^T d = 0: both sides count
    bounds = Sides(sp.eye_array(qp.n, format="csr"), qp.lb, qp.ub)
    violation = max(float(np.abs(qp.P @ d).max(initial=0.0)), rows.recession_violation(qp.A @ d), bounds.recession_violation(d))
    return Certificate("unbounded", float(qp.q @ d), violation, d=d)


def certificate_radius(certificate, x):
    """The radius a certificate must reach: ``1e8 max(1, ||x||_inf)`` for a Farkas vector, ``1e8`` for a ray."""
    return CERTIFICATE_RADIUS * (max(1.0, float(np.abs(x).max(initial=0.0))) if certificate.kind == "infeasible" else 1.0)
