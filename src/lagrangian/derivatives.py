"""Derivatives the user did not give: central differences and quasi-Newton Hessians.

One finite-difference routine serves gradients and Jacobians alike (a gradient is
the Jacobian of a scalar function). Each column ``j`` uses the central difference::

    J[:, j] ~ (F(x + h_j e_j) - F(x - h_j e_j)) / (2 h_j),   h_j = eps^(1/3) max(1, |x_j|),

whose truncation error O(h^2) and rounding error O(eps / h) balance at that
scale-aware step, leaving about 10 correct digits on well-scaled functions
(Nocedal & Wright 2006, section 8.1).

Without a Hessian, the solvers keep a quasi-Newton model of the Hessian of the
Lagrangian (``Problem(quasi_newton=...)``): :class:`QuasiNewtonHessian`, a dense
BFGS or SR1 matrix, for up to :data:`DENSE_QUASI_NEWTON_LIMIT` variables, and
:class:`LimitedMemoryBFGS` above, whose low-rank form the KKT solver adds to a
sparse factorization (:class:`lagrangian.linalg.kkt_factorization.LowRankCorrectedFactorization`).
Every model offers ``update(s, y)``, ``product(v)`` and ``hessian_parts()``, the
``(sparse matrix, low-rank part or None)`` pair the solvers factor.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import BFGS, SR1

__all__ = [
    "central_difference_jacobian", "central_difference_step", "QuasiNewtonHessian", "LimitedMemoryBFGS",
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
    """Approximate the Jacobian of ``fun`` at ``x`` by central differences.

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
    x = np.asarray(x, dtype=float)
    steps = central_difference_step(x)
    columns = []
    for j, h in enumerate(steps):
        forward, backward = x.copy(), x.copy()
        forward[j] += h
        backward[j] -= h
        # The step actually taken, after rounding x_j + h, keeps the quotient exact.
        width = forward[j] - backward[j]
        columns.append((np.atleast_1d(fun(forward)) - np.atleast_1d(fun(backward))) / width)
    if not columns:
        return np.zeros((np.atleast_1d(fun(x)).size, 0))
    return np.column_stack(columns)


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
