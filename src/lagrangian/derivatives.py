"""Derivatives the user did not give: central differences and quasi-Newton Hessians.

One finite-difference routine serves gradients and Jacobians alike (a gradient is
the Jacobian of a scalar function). Each column ``j`` uses the central difference::

    J[:, j] ~ (F(x + h_j e_j) - F(x - h_j e_j)) / (2 h_j),   h_j = eps^(1/3) max(1, |x_j|),

whose truncation error O(h^2) and rounding error O(eps / h) balance at that
scale-aware step, leaving about 10 correct digits on well-scaled functions
(Nocedal & Wright 2006, section 8.1).

Interior means interior: given bounds ``lower <= x <= upper``,
:func:`finite_difference_jacobian` never evaluates ``F`` outside them. A column
whose variable lacks room for the central difference on one side takes the
one-sided second-order difference into the interval,

    J[:, j] ~ (-3 F(x) + 4 F(x + h e_j) - F(x + 2 h e_j)) / (2 h)     (h < 0 at an upper bound),

whose error is also O(h^2); where the interval is narrower than ``2 h`` the step
shrinks to fit, and a variable with no room at all (``lower == upper``) gets a NaN
column: its derivative cannot be had without leaving the bounds (it is fixed, and
:mod:`lagrangian.fixed_variables` removes it from the problem before any solver asks).

Without a Hessian, the solvers keep a quasi-Newton model of the Hessian of the
Lagrangian (``Problem(quasi_newton=...)``): :class:`QuasiNewtonHessian`, a dense
BFGS or SR1 matrix, for up to :data:`DENSE_QUASI_NEWTON_LIMIT` variables, and
:class:`LimitedMemoryBFGS` above, whose low-rank form the KKT solver adds to a
sparse factorization (:class:`lagrangian.linalg.scaled_factorization.LowRankCorrectedFactorization`).
Every model offers ``update(s, y)``, ``product(v)`` and ``hessian_parts()``, the
``(sparse matrix, low-rank part or None)`` pair the solvers factor.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import BFGS, SR1

__all__ = [
    "central_difference_jacobian", "finite_difference_jacobian", "bounded_direction", "central_difference_step", "QuasiNewtonHessian", "LimitedMemoryBFGS",
    "quasi_newton_model", "DENSE_QUASI_NEWTON_LIMIT",
]

#: ``quasi_newton="auto"`` keeps a dense model up to this many variables (8 MB), a
#: limited-memory one above.
DENSE_QUASI_NEWTON_LIMIT = 1000

_CBRT_EPS = np.finfo(float).eps ** (1.0 / 3.0)


def central_difference_step(x: np.ndarray) -> np.ndarray:
    """The scale-aware step ``eps^(1/3) * max(1, |x|)``, element-wise."""
    return _CBRT_EPS * np.maximum(1.0, np.abs(x))


def central_difference_jacobian(fun, x: np.ndarray) -> np.ndarray:
    """Approximate the Jacobian of ``fun`` at ``x`` by central differences (no bounds).

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array_like`` of shape (k,) (or a scalar, then k = 1).
    x : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (k, n)
        Costs ``2 n`` evaluations of ``fun``.
    """
    return finite_difference_jacobian(fun, x)


def _room(x, lower, upper):
    """Distances from ``x`` to its upper and lower bounds (``inf`` where unbounded)."""
    n = x.size
    lower = np.full(n, -np.inf) if lower is None else np.broadcast_to(np.asarray(lower, dtype=float), (n,))
    upper = np.full(n, np.inf) if upper is None else np.broadcast_to(np.asarray(upper, dtype=float), (n,))
    with np.errstate(invalid="ignore"):
        return np.maximum(upper - x, 0.0), np.maximum(x - lower, 0.0)


def finite_difference_jacobian(fun, x: np.ndarray, *, lower=None, upper=None, f0=None) -> np.ndarray:
    """Approximate the Jacobian of ``fun`` at ``x`` by differences that stay inside ``[lower, upper]``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array_like`` of shape (k,) (or a scalar, then k = 1).
    x : ndarray, shape (n,)
        Must lie inside the bounds.
    lower, upper : array_like (n,) or None
        Bounds that no evaluation point may leave (``None``: unbounded).
    f0 : array_like, optional
        ``fun(x)`` if already known (one-sided columns need it).

    Returns
    -------
    ndarray, shape (k, n)
        Central columns cost 2 evaluations, one-sided ones 2 (plus ``fun(x)``
        once); a variable with no room (``lower == upper``) has a NaN column.
    """
    x = np.asarray(x, dtype=float)
    steps = central_difference_step(x)
    up, down = _room(x, lower, upper)
    value_at_x = None if f0 is None else np.atleast_1d(np.asarray(f0, dtype=float)).ravel()

    def at(point):
        return np.atleast_1d(np.asarray(fun(point), dtype=float)).ravel()

    columns = []
    for j, h in enumerate(steps):
        if up[j] >= h and down[j] >= h:
            forward, backward = x.copy(), x.copy()
            forward[j] += h
            backward[j] -= h
            # The step actually taken, after rounding x_j + h, keeps the quotient exact.
            columns.append((at(forward) - at(backward)) / (forward[j] - backward[j]))
            continue
        # One-sided, towards the side with more room; shrink the step to fit.
        sign = 1.0 if up[j] >= down[j] else -1.0
        h = min(h, max(up[j], down[j]) / 2.0)
        if value_at_x is None:
            value_at_x = at(x)
        if not h > 0:
            columns.append(np.full(value_at_x.shape, np.nan))
            continue
        one, two = x.copy(), x.copy()
        one[j] += sign * h
        two[j] += 2 * sign * h
        h_one, h_two = one[j] - x[j], two[j] - x[j]
        f1, f2 = at(one), at(two)
        # Second-order one-sided difference for the steps actually taken (h_two ~ 2 h_one):
        # the derivative of the parabola through (0, f(x)), (h_one, f1), (h_two, f2) at 0.
        columns.append(
            (f1 - value_at_x) * h_two / (h_one * (h_two - h_one)) - (f2 - value_at_x) * h_one / (h_two * (h_two - h_one))
        )
    if not columns:
        return np.zeros((at(x).size if value_at_x is None else value_at_x.size, 0))
    return np.column_stack(columns)


def bounded_direction(x: np.ndarray, v: np.ndarray, h: float, *, lower=None, upper=None):
    """A direction and step for a directional difference that stays inside ``[lower, upper]``.

    Returns ``(v, h, central)``: ``v`` with the components that lack room for a
    step of ``h`` on both sides turned towards the interior (zeroed where there is
    no room at all), and ``central`` telling whether ``x +- h v`` both lie inside
    (a central difference); otherwise ``h`` is shrunk so that ``x + 2 h v`` lies
    inside (a one-sided second-order difference).
    """
    x, v = np.asarray(x, dtype=float), np.array(v, dtype=float)
    up, down = _room(x, lower, upper)
    reach = h * np.abs(v)
    if np.all((up >= reach) & (down >= reach)):
        return v, h, True
    inward = np.where(up >= down, 1.0, -1.0)
    v = np.where(np.maximum(up, down) > 0, inward * np.abs(v), 0.0)
    norm = np.linalg.norm(v)
    if norm == 0:
        return v, 0.0, False
    v /= norm
    room = np.where(v > 0, up, down)
    with np.errstate(divide="ignore"):
        limits = np.where(v != 0, room / (2 * np.abs(v)), np.inf)
    return v, float(min(h, limits.min())), False


class QuasiNewtonHessian:
    """A quasi-Newton model of the Hessian of the Lagrangian.

    Wraps scipy's public update strategies. After a step ``s = x+ - x`` the model
    is updated with ``w = grad_x L(x+, y+) - grad_x L(x, y+)`` (the same new
    multipliers on both sides, so that ``w ~ H s``).

    Parameters
    ----------
    n : int
    method : {"bfgs", "sr1"}
        BFGS keeps the model positive definite (damped update, Powell 1978), so
        it never needs inertia correction; SR1 can model negative curvature.
    """

    def __init__(self, n: int, method: str = "bfgs"):
        if method == "bfgs":
            self._strategy = BFGS(exception_strategy="damp_update")
        elif method == "sr1":
            self._strategy = SR1()
        else:
            raise ValueError(f"quasi_newton: expected 'bfgs' or 'sr1', got {method!r}")
        self.method = method
        self._strategy.initialize(n, "hess")

    def update(self, step: np.ndarray, gradient_change: np.ndarray) -> None:
        if np.any(step):
            self._strategy.update(step, gradient_change)

    def matrix(self) -> np.ndarray:
        return self._strategy.get_matrix()

    def product(self, v: np.ndarray) -> np.ndarray:
        return self.matrix() @ v

    def hessian_parts(self):
        """``(sparse part, low-rank part)`` for the KKT solver: the dense model, and None."""
        return sp.csr_array(self.matrix()), None


class LimitedMemoryBFGS:
    r"""A limited-memory BFGS model of the Hessian in compact form, for large ``n``.

    The last ``memory`` pairs ``s_i = x_{i+1} - x_i`` and ``y_i`` (the change of the
    Lagrangian's gradient, as for :class:`QuasiNewtonHessian`) define the matrix
    that ``k`` BFGS updates make of ``sigma I`` (Byrd, Nocedal & Schnabel 1994,
    Theorem 2.3):

    .. math::

        B = \sigma I - W M W^T, \qquad W = [\sigma S \;\; Y], \qquad
        M^{-1} = \begin{bmatrix} \sigma S^T S & L \\ L^T & -D \end{bmatrix},

    with ``L`` the strictly lower triangle of ``S^T Y`` and ``D`` its diagonal.
    ``B`` is never formed: the KKT solver factors the sparse matrix with
    ``sigma I`` in place of ``B`` and adds the rank-``2k`` term by the
    Sherman-Morrison-Woodbury formula, which needs ``W`` and ``M^{-1}``
    (:meth:`low_rank`). Storage is ``2 k n`` numbers.

    ``sigma = s^T y / s^T s`` of the newest pair (IPOPT's ``scalar1``). Each new
    pair is damped as in Powell (1978): when ``s^T y < 0.2 s^T B s``, ``y`` is
    replaced by ``theta y + (1 - theta) B s`` with ``s^T y = 0.2 s^T B s``, so every
    stored pair has positive curvature and ``B`` stays positive definite; a
    KKT matrix with this ``B`` needs no inertia correction for its Hessian block.

    Parameters
    ----------
    n : int
    memory : int
        Pairs kept (IPOPT's ``limited_memory_max_history`` is 6).
    """

    method = "l-bfgs"

    def __init__(self, n: int, memory: int = 6):
        self.n, self.memory = n, memory
        self.S = np.zeros((n, 0))
        self.Y = np.zeros((n, 0))
        self.sigma = 1.0

    def _middle_inverse(self) -> np.ndarray:
        """``M^{-1} = [[sigma S^T S, L], [L^T, -D]]``."""
        SY = self.S.T @ self.Y
        L = np.tril(SY, -1)
        return np.block([[self.sigma * (self.S.T @ self.S), L], [L.T, -np.diag(np.diag(SY))]])

    def low_rank(self):
        """``(sigma, W, M^{-1})`` with ``B = sigma I - W M W^T``; ``W`` has ``2k`` columns (none before the first update)."""
        return self.sigma, np.hstack([self.sigma * self.S, self.Y]), self._middle_inverse()

    def product(self, v: np.ndarray) -> np.ndarray:
        """``B v``."""
        sigma, W, middle_inverse = self.low_rank()
        if W.shape[1] == 0:
            return sigma * v
        return sigma * v - W @ np.linalg.solve(middle_inverse, W.T @ v)

    def update(self, step: np.ndarray, gradient_change: np.ndarray) -> None:
        s, y = np.asarray(step, dtype=float), np.asarray(gradient_change, dtype=float)
        ss = s @ s
        if not (ss > 0 and np.all(np.isfinite(y))):
            return
        Bs = self.product(s)
        sBs = s @ Bs
        sy = s @ y
        if sy < 0.2 * sBs:
            theta = 0.8 * sBs / (sBs - sy)
            y = theta * y + (1 - theta) * Bs
            sy = s @ y
        if not sy > np.finfo(float).eps * ss:
            return
        self.S = np.column_stack([self.S, s])[:, -self.memory :]
        self.Y = np.column_stack([self.Y, y])[:, -self.memory :]
        self.sigma = float(np.clip(sy / ss, 1e-8, 1e8))

    def matrix(self) -> np.ndarray:
        """``B`` as a dense array (for small ``n`` and for tests)."""
        sigma, W, middle_inverse = self.low_rank()
        B = sigma * np.eye(self.n)
        if W.shape[1]:
            B -= W @ np.linalg.solve(middle_inverse, W.T)
        return B

    def hessian_parts(self):
        """``(sigma I, (W, M^{-1}))`` for the KKT solver (the low-rank part None before the first update)."""
        sigma, W, middle_inverse = self.low_rank()
        return sp.diags_array(np.full(self.n, sigma)).tocsr(), ((W, middle_inverse) if W.shape[1] else None)


def quasi_newton_model(n: int, method: str):
    """The Hessian model a solver keeps when it has no Hessian: ``method`` is ``"bfgs"``, ``"sr1"`` or ``"l-bfgs"``."""
    return LimitedMemoryBFGS(n) if method == "l-bfgs" else QuasiNewtonHessian(n, method)
