r"""Ridge regression: the penalty lambda is the multiplier of a norm constraint.

The constrained problem

.. math::

    \min_W \|XW - Y\|_F^2 \quad \text{s.t.} \quad \|W\|_F^2 \le t

has the Lagrangian :math:`\|XW - Y\|_F^2 + \lambda (\|W\|_F^2 - t)`; where the
constraint is active, stationarity :math:`2X^T(XW - Y) + 2\lambda W = 0` is exactly
the normal equation of the penalized problem
:math:`\min_W \|XW - Y\|_F^2 + \lambda \|W\|_F^2`, whose solution is

.. math::

    W(\lambda) = (X^T X + \lambda I)^{-1} X^T Y .

So the multiplier :math:`\lambda^*(t)` of the constraint *is* the ridge penalty,
with the factor as written here: penalty :math:`\lambda\|W\|^2` on the loss
:math:`\|XW - Y\|^2`. (With the common ``1/2`` on both terms, the same
:math:`\lambda` results; with ``1/2`` on the loss only, it halves.) The map back is
:math:`t(\lambda) = \|W(\lambda)\|_F^2`, decreasing in :math:`\lambda`; for
:math:`t \ge \|W_{\text{least squares}}\|^2` the constraint is inactive and
:math:`\lambda = 0`. In the package convention the multiplier of an upper bound is
:math:`y \ge 0`, so :math:`\lambda = y`.

Note the forum's question ("what does the multiplier of W^T W mean?"): lambda is not
the multiplier of an equation :math:`W^T W = 0`; it is the price of the norm budget
``t``, :math:`\lambda = -\partial f^*/\partial t`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import ProblemError
from ..problem import Inequality, Problem
from ..solvers import interior_point

__all__ = [
    "RidgeSolution",
    "ridge_constrained",
    "ridge_penalized",
    "ridge_norm",
    "ridge_validation_choice",
    "ridge_leave_one_out",
    "ridge_leave_one_out_choice",
]


def _data(X, Y):
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim != 2:
        raise ProblemError("X", f"expected a 2-D array, got shape {X.shape}")
    Y2 = Y.reshape(-1, 1) if Y.ndim == 1 else Y
    if Y2.ndim != 2 or Y2.shape[0] != X.shape[0]:
        raise ProblemError("Y", f"expected {X.shape[0]} rows, got shape {Y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y2))):
        raise ProblemError("X/Y", "contain NaN or infinite entries")
    return X, Y2, Y.ndim == 1


def ridge_penalized(X, Y, lam: float) -> np.ndarray:
    """``W(lambda) = (X^T X + lambda I)^{-1} X^T Y`` by a Cholesky solve."""
    X, Y2, vector = _data(X, Y)
    if not (np.isfinite(lam) and lam >= 0):
        raise ProblemError("lam", f"expected a non-negative number, got {lam!r}")
    G = X.T @ X + lam * np.eye(X.shape[1])
    W = sla.solve(G, X.T @ Y2, assume_a="pos")
    return W.ravel() if vector else W


def ridge_norm(X, Y, lam: float) -> float:
    """``t(lambda) = ||W(lambda)||_F^2``: the norm budget at which ``lambda`` is the multiplier."""
    return float(np.sum(ridge_penalized(X, Y, lam) ** 2))


@dataclass(frozen=True)
class RidgeSolution:
    """``W`` of the constrained problem and its multiplier ``lam`` (the ridge penalty)."""

    W: np.ndarray
    lam: float
    solution: object


def ridge_constrained(X, Y, t: float, **options) -> RidgeSolution:
    """Solve ``min ||XW - Y||^2 s.t. ||W||^2 <= t`` with the interior point; ``lam`` is the multiplier.

    Options go to :func:`lagrangian.interior_point` (``tol`` defaults to 1e-12:
    the multiplier is the quantity of interest).
    """
    X, Y2, vector = _data(X, Y)
    if not (np.isfinite(t) and t > 0):
        raise ProblemError("t", f"expected a positive number, got {t!r}")
    d, k = X.shape[1], Y2.shape[1]
    G, B = X.T @ X, X.T @ Y2
    shape = (d, k)

    def loss(w):
        R = X @ w.reshape(shape) - Y2
        return float(np.sum(R * R))

    hessian_loss = sp.csr_array(np.kron(2 * G, np.eye(k)))  # vec(W) row-major: W[i, j] -> i k + j
    problem = Problem(
        loss,
        np.zeros(d * k),
        gradient=lambda w: (2 * (G @ w.reshape(shape) - B)).ravel(),
        constraints=[Inequality(lambda w: np.array([w @ w]), upper=t, jacobian=lambda w: 2 * w[None, :], name="norm")],
        hessian=lambda w, y: hessian_loss + 2 * y[0] * sp.eye_array(d * k),
        name="ridge (constrained)",
    )
    options.setdefault("tol", 1e-12)
    solution = interior_point(problem, **options)
    W = solution.x.reshape(shape)
    return RidgeSolution(W.ravel() if vector else W, float(solution.multiplier("norm")[0]), solution)


def ridge_validation_choice(X, Y, X_val, Y_val, *, lam0: float = 1.0, tol: float = 1e-10, max_iterations: int = 100):
    r"""Choose lambda by minimizing the validation loss, with its gradient from the KKT system.

    Implicit differentiation of ``(X^T X + lambda I) W = X^T Y`` gives
    ``dW/dlambda = -(X^T X + lambda I)^{-1} W``, so the hypergradient of
    ``V(lambda) = ||X_val W(lambda) - Y_val||^2`` is
    ``2 <X_val W - Y_val, X_val dW/dlambda>``, one extra solve with the factorized
    matrix. Newton's method on ``s = log lambda`` (the second derivative by a
    difference of hypergradients) finds a stationary point of ``V``.

    Returns
    -------
    (lam, history) : float, list of (lambda, V, dV/dlambda)
    """
    X, Y2, _ = _data(X, Y)
    Xv, Yv2, _ = _data(X_val, Y_val)
    G, B = X.T @ X, X.T @ Y2

    def value_and_hypergradient(lam):
        factor = sla.cho_factor(G + lam * np.eye(G.shape[0]))
        W = sla.cho_solve(factor, B)
        dW = -sla.cho_solve(factor, W)
        R = Xv @ W - Yv2
        return float(np.sum(R * R)), float(2 * np.sum(R * (Xv @ dW)))

    s, history = np.log(lam0), []
    for _ in range(max_iterations):
        lam = np.exp(s)
        V, dV = value_and_hypergradient(lam)
        history.append((lam, V, dV))
        g = dV * lam  # dV/ds
        h = 1e-4
        g_plus = value_and_hypergradient(np.exp(s + h))[1] * np.exp(s + h)
        curvature = (g_plus - g) / h
        step = -g / curvature if curvature > 0 else -np.sign(g)  # Newton, or a unit step downhill
        s += float(np.clip(step, -2.0, 2.0))
        if abs(g) <= tol * max(1.0, V):
            break
    return float(np.exp(s)), history


def ridge_leave_one_out(X, Y, lams) -> np.ndarray:
    r"""Leave-one-out squared error of ridge regression for each ``lambda``, in closed form.

    Refitting without sample ``i`` changes its prediction by a factor that the hat
    matrix ``H(lambda) = X (X^T X + lambda I)^{-1} X^T`` gives directly
    (Sherman-Morrison): the leave-one-out residual is ``(y_i - yhat_i) / (1 - H_ii)``.
    With the thin SVD ``X = U diag(s) V^T``, ``H = U diag(s^2 / (s^2 + lambda)) U^T``,
    so every ``lambda`` costs ``O(n r)`` after one SVD instead of ``n`` refits.

    Returns
    -------
    ndarray
        ``sum_i ||(Y_i - Yhat_i) / (1 - H_ii)||^2`` for each entry of ``lams``.
    """
    X, Y2, _ = _data(X, Y)
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    if not (np.all(np.isfinite(lams)) and np.all(lams >= 0)):
        raise ProblemError("lams", "expected non-negative finite penalties")
    U, singular, _ = np.linalg.svd(X, full_matrices=False)
    UtY = U.T @ Y2
    errors = np.empty(lams.size)
    for k, lam in enumerate(lams):
        shrink = singular**2 / (singular**2 + lam)
        fitted = U @ (shrink[:, None] * UtY)
        leverage = (U**2) @ shrink
        errors[k] = float(np.sum(((Y2 - fitted) / (1 - leverage)[:, None]) ** 2))
    return errors


def ridge_leave_one_out_choice(X, Y, lams) -> float:
    """The ``lambda`` of ``lams`` with the smallest closed-form leave-one-out error."""
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    return float(lams[np.argmin(ridge_leave_one_out(X, Y, lams))])
