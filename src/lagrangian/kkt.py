r"""The KKT conditions as residuals and as a sparse saddle-point system.

At a point ``(x, y)`` of an equality-constrained problem ``c(x) = c_l``, Newton's
method on the stationarity and feasibility conditions solves

.. code-block:: text

    [ H + dw I    J^T   ] [ dx    ]     [ grad f(x)  ]      H = Hessian of the Lagrangian
    [ J          -dc I  ] [ y_new ] = - [ c(x) - c_l ]      J = dc/dx at x

for the step ``dx`` and the new multipliers ``y_new`` directly (Nocedal & Wright
2006, eq. 18.9). The step is a descent direction for the merit function only if
the matrix has *inertia* ``(n, m, 0)``: ``n`` positive and ``m`` negative
eigenvalues, which holds exactly when ``H`` is positive definite on the null space
of ``J`` and ``J`` has full row rank. :class:`~lagrangian.linalg.kkt_factorization.InertiaCorrection` enforces it by
regularizing: ``dw > 0`` convexifies ``H``; ``dc > 0`` handles a rank-deficient
``J`` (Wächter & Biegler 2006, section 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from .convention import bound_violation, complementarity_violation, lagrangian_gradient
from .linalg.kkt_factorization import InertiaCorrection, KKTFactorInfo

__all__ = ["KKTResiduals", "kkt_residuals", "kkt_residuals_from_values", "kkt_matrix", "least_squares_multipliers", "KKTSystem", "NewtonStep"]


@dataclass(frozen=True)
class KKTResiduals:
    """Infinity norms of the KKT conditions (convention in :mod:`lagrangian.convention`).

    Attributes
    ----------
    stationarity : float
        ``|| grad f + J^T y + z ||_inf``.
    primal : float
        Largest violation of ``cl <= c(x) <= cu`` and ``lb <= x <= ub``.
    complementarity : float
        Largest product of a multiplier with its distance to the bound it belongs
        to, counting wrong-signed multipliers in full.
    """

    stationarity: float
    primal: float
    complementarity: float

    def max(self) -> float:
        return max(self.stationarity, self.primal, self.complementarity)

    def as_dict(self) -> dict:
        return {"stationarity": self.stationarity, "primal": self.primal, "complementarity": self.complementarity}

    def __str__(self):
        return (
            f"stationarity {self.stationarity:.2e}, primal {self.primal:.2e}, "
            f"complementarity {self.complementarity:.2e}"
        )


def kkt_residuals(problem, x, y, z=None) -> KKTResiduals:
    """The KKT residuals of ``problem`` at ``(x, y, z)`` as infinity norms.

    Parameters
    ----------
    problem : Problem
    x : array_like (n,)
    y : array_like (m,)
        Constraint multipliers, stacked in problem order.
    z : array_like (n,), optional
        Bound multipliers (zero when omitted).
    """
    x = np.asarray(x, dtype=float)
    return kkt_residuals_from_values(
        problem, x, y, z, c=problem.constraint_values(x), gradient=problem.gradient(x), jacobian=problem.jacobian(x)
    )


def kkt_residuals_from_values(problem, x, y, z=None, *, c, gradient, jacobian) -> KKTResiduals:
    """:func:`kkt_residuals` from ``c(x)``, ``grad f(x)`` and ``J(x)`` already evaluated.

    Solvers that hold these values at their last iterate use this to avoid calling
    the user's functions again; only the problem's bounds are read.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = np.zeros(problem.n) if z is None else np.asarray(z, dtype=float)
    stationarity = lagrangian_gradient(gradient, jacobian, y, z)
    primal = np.concatenate([bound_violation(c, problem.cl, problem.cu), bound_violation(x, problem.lb, problem.ub)])
    complementarity = np.concatenate(
        [complementarity_violation(c, problem.cl, problem.cu, y), complementarity_violation(x, problem.lb, problem.ub, z)]
    )
    return KKTResiduals(
        float(np.abs(stationarity).max(initial=0.0)),
        float(primal.max(initial=0.0)),
        float(complementarity.max(initial=0.0)),
    )


def kkt_matrix(H, J, *, primal_regularization: float = 0.0, dual_regularization: float = 0.0, active=None):
    """Assemble ``[[H + dw I, J_A^T], [J_A, -dc I]]`` as a CSC array.

    Parameters
    ----------
    H : (n, n) dense or sparse
        Hessian of the Lagrangian (only its values are used, both triangles).
    J : (m, n) dense or sparse
        Constraint Jacobian.
    primal_regularization : float
        ``dw`` above.
    dual_regularization : float or (m,) array
        ``dc`` above; an array puts a different entry on each constraint row (an
        interior-point method for QPs keeps its eliminated inequality rows there).
    active : boolean mask or index array over the rows of J, optional
        Keep only these rows: the reduced system of an active set.
    """
    H = sp.csr_array(H)
    J = sp.csr_array(J)
    if active is not None:
        J = J[np.asarray(active)] if np.asarray(active).dtype != bool else J[np.flatnonzero(active)]
    n, m = H.shape[0], J.shape[0]
    top_left = H + primal_regularization * sp.eye_array(n) if primal_regularization else H
    dc = np.broadcast_to(np.asarray(dual_regularization, dtype=float), (m,))
    bottom_right = sp.diags_array(-dc) if dc.any() else None
    if m == 0:
        return sp.csc_array(top_left)
    return sp.block_array([[top_left, J.T], [J, bottom_right]], format="csc")


#: Up to this many entries (m x n) the least-squares multipliers come from a dense solve.
DENSE_LEAST_SQUARES_LIMIT = 10_000


def least_squares_multipliers(J, g) -> np.ndarray:
    r"""The multipliers that best explain a gradient: :math:`\arg\min_y \|g + J^T y\|_2`.

    The usual first estimate of ``y`` (and the re-estimate after a rank-deficient
    step): exact at a KKT point, and defined even when ``J`` loses rank.
    """
    if J.shape[0] == 0:
        return np.zeros(0)
    if J.shape[0] * J.shape[1] <= DENSE_LEAST_SQUARES_LIMIT:
        # Small: LAPACK's minimum-norm least squares (SVD based), exact and far cheaper
        # than LSQR's Python iterations; it agrees with LSQR's answer from zero, which
        # is also the minimum-norm one when J loses rank.
        dense = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)
        return -np.linalg.lstsq(dense.T, g, rcond=None)[0]
    return -lsqr(sp.csr_array(J).T, g, atol=1e-14, btol=1e-14)[0]


@dataclass(frozen=True)
class NewtonStep:
    """One Newton-KKT step: ``dx``, the new multipliers ``y``, and how it was regularized."""

    dx: np.ndarray
    y: np.ndarray
    info: KKTFactorInfo


class KKTSystem:
    r"""The KKT system of an equality-constrained problem at one point ``(x, y)``.

    Everything a script needs to look at or take one Newton step::

        K = KKTSystem(problem, x, y)
        K.matrix        # [[H, J^T], [J, 0]] as scipy.sparse (CSC)
        K.residual      # [grad_x L; c(x) - c_l]
        K.residuals     # KKTResiduals (infinity norms)
        step = K.newton_step()   # dx and new multipliers, inertia-corrected

    Parameters
    ----------
    problem : Problem
        Its rows must all be equalities (``cl == cu``); an active set of an
        inequality-constrained problem is passed as ``active``.
    x, y : array_like
    hessian : (n, n) matrix, optional
        Use this Hessian instead of the problem's (a quasi-Newton model, say).
    active : boolean mask over the constraint rows, optional
        Rows to treat as equalities at their nearer bound (others are dropped).
    """

    def __init__(self, problem, x, y=None, *, hessian=None, active=None):
        self.problem = problem
        self.x = np.asarray(x, dtype=float)
        self.y = np.zeros(problem.m) if y is None else np.asarray(y, dtype=float)
        rows = np.arange(problem.m) if active is None else np.flatnonzero(np.asarray(active, dtype=bool))
        if active is None and not np.all(problem.cl == problem.cu):
            raise ValueError("KKTSystem: the problem has inequality rows; pass active= to choose the active set")
        self.rows = rows
        self.f = problem.objective(self.x)
        self.gradient = problem.gradient(self.x)
        c = problem.constraint_values(self.x)
        # An active row sits at its nearer finite bound (its only bound for one-sided rows).
        target = np.where(np.abs(c - problem.cl) <= np.abs(c - problem.cu), problem.cl, problem.cu)
        target = np.where(np.isfinite(target), target, np.where(np.isfinite(problem.cl), problem.cl, problem.cu))
        self.constraint_residual = (c - target)[rows]
        self.jacobian = problem.jacobian(self.x)[rows]
        if hessian is not None:
            self.hessian = sp.csr_array(hessian)
        elif problem.has_hessian:
            self.hessian = problem.hessian(self.x, self.y)
        else:
            raise ValueError("KKTSystem: the problem has no Hessian; pass hessian= (e.g. a quasi-Newton model)")

    @property
    def matrix(self):
        """The unregularized KKT matrix ``[[H, J^T], [J, 0]]`` (CSC)."""
        return kkt_matrix(self.hessian, self.jacobian)

    @property
    def residual(self) -> np.ndarray:
        """``[grad f + J^T y; c(x) - c_l]`` over the active rows."""
        dual = lagrangian_gradient(self.gradient, self.jacobian, self.y[self.rows], np.zeros(self.x.size))
        return np.concatenate([dual, self.constraint_residual])

    @property
    def residuals(self) -> KKTResiduals:
        r = self.residual
        n = self.x.size
        return KKTResiduals(float(np.abs(r[:n]).max(initial=0)), float(np.abs(r[n:]).max(initial=0)), 0.0)

    def newton_step(self, correction: InertiaCorrection | None = None) -> NewtonStep:
        """Solve for ``dx`` and the new multipliers, regularizing to inertia ``(n, m, 0)``."""
        correction = correction or InertiaCorrection()
        rhs = -np.concatenate([self.gradient, self.constraint_residual])
        solution, info = correction.solve(self.hessian, self.jacobian, rhs)
        n = self.x.size
        y = np.zeros(self.problem.m)
        y[self.rows] = solution[n:]
        return NewtonStep(solution[:n], y, info)
