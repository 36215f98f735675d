"""Derivatives the user did not give: central differences and quasi-Newton Hessians.

One finite-difference routine serves gradients and Jacobians alike (a gradient is
the Jacobian of a scalar function). Each column ``j`` uses the central difference

    J[:, j] ~ (F(x + h_j e_j) - F(x - h_j e_j)) / (2 h_j),   h_j = eps^(1/3) max(1, |x_j|),

whose truncation error O(h^2) and rounding error O(eps / h) balance at that
scale-aware step, leaving about 10 correct digits on well-scaled functions
(Nocedal & Wright 2006, section 8.1).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import BFGS, SR1

__all__ = ["central_difference_jacobian", "central_difference_step", "QuasiNewtonHessian"]

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
