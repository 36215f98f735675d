r"""Checks that do not trust the code they check.

:func:`check_derivative` is the dot-product test for a Jacobian (or its transpose,
a vector-Jacobian product): for random ``u`` and ``v``,

.. math::

    \langle u, J v \rangle = \langle J^T u, v \rangle ,

where the left side is computed by a central difference of ``fun`` along ``v``
and the right side by the derivative under test. One scalar comparison checks the
whole Jacobian in a random direction (Claerbout's dot-product test; autograd's
``check_vjp``).

:func:`assert_kkt` recomputes a solution's KKT residuals from the problem's own
callables and checks them, and the multipliers' signs, against a tolerance.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .derivatives import bounded_direction, central_difference_step
from .kkt import kkt_residuals

__all__ = ["check_derivative", "assert_kkt"]


def check_derivative(
    fun, x, *, jacobian=None, vjp=None, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-9, lower=None, upper=None
):
    """Dot-product test of a Jacobian or vector-Jacobian product against central differences.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array (k,)`` or scalar.
    x : array_like (n,)
    jacobian : callable, optional
        ``jacobian(x) -> (k, n)`` dense or sparse.
    vjp : callable, optional
        ``vjp(x, u) -> J(x)^T u`` of shape (n,). Give exactly one of the two.
    seed : int
        Seeds the random directions ``u`` and ``v``.
    rtol, atol : float
        Pass when ``|<u, Jv>_fd - <J^T u, v>| <= atol + rtol * max(|.|, |.|)``.
    lower, upper : array_like (n,), optional
        Bounds the difference must not leave: where ``x`` lacks room for the
        central difference, the direction turns into the box and the
        one-sided second-order difference is used
        (:func:`lagrangian.derivatives.bounded_direction`). With no room at all
        (every variable fixed) there is nothing to compare and the test passes.

    Returns
    -------
    tuple (float, float)
        ``(<u, J v> by differences, <J^T u, v> by the derivative)``.

    Raises
    ------
    AssertionError
        With both numbers, their difference and the step used.
    """
    if (jacobian is None) == (vjp is None):
        raise TypeError("check_derivative: give exactly one of jacobian= or vjp=")
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    k = np.atleast_1d(fun(x)).size
    u = rng.standard_normal(k)
    v = rng.standard_normal(x.size)
    v /= np.linalg.norm(v) or 1.0
    # A step along the unit direction v, scaled to the size of x, kept inside the bounds.
    h = float(central_difference_step(np.array([np.linalg.norm(x, np.inf)]))[0])
    v, h, central = bounded_direction(x, v, h, lower=lower, upper=upper)
    if h == 0:
        return 0.0, 0.0
    if central:
        jv = (np.atleast_1d(fun(x + h * v)) - np.atleast_1d(fun(x - h * v))) / (2 * h)
    else:
        f0, f1, f2 = (np.atleast_1d(fun(x + t * h * v)) for t in (0.0, 1.0, 2.0))
        jv = (-3 * f0 + 4 * f1 - f2) / (2 * h)
    by_differences = float(u @ jv)
    if vjp is not None:
        jtu = np.asarray(vjp(x, u), dtype=float).reshape(-1)
    else:
        J = jacobian(x)
        J = J if sp.issparse(J) else np.atleast_2d(np.asarray(J, dtype=float))
        jtu = np.asarray(J.T @ u).reshape(-1)
    if jtu.shape != (x.size,):
        raise AssertionError(f"the derivative returned J^T u of shape {jtu.shape}, expected ({x.size},)")
    by_derivative = float(jtu @ v)
    gap = abs(by_differences - by_derivative)
    if not gap <= atol + rtol * max(abs(by_differences), abs(by_derivative)):
        raise AssertionError(
            "dot-product test failed: <u, J v> by central differences = "
            f"{by_differences:.12g}, <J^T u, v> by the derivative = {by_derivative:.12g}, "
            f"difference {gap:.3g} (rtol={rtol:g}, atol={atol:g}, step {h:.3g}, seed {seed})"
        )
    return by_differences, by_derivative


def assert_kkt(problem, solution, *, tol: float = 1e-8):
    """Assert that ``solution`` satisfies the KKT conditions of ``problem``.

    The residuals are recomputed from the problem's callables at the solution's
    ``(x, y, z)``; nothing the solver reported is trusted. ``solution`` may be a
    :class:`~lagrangian.Solution` or any object with ``x``, ``y`` (or a sequence
    ``multipliers``) and optionally ``z``.

    Raises
    ------
    AssertionError
        Naming every residual above ``tol``.
    """
    y = getattr(solution, "y", None)
    if y is None:
        y = np.concatenate([np.atleast_1d(v) for v in solution.multipliers]) if problem.m else np.zeros(0)
    z = getattr(solution, "z", None)
    residuals = kkt_residuals(problem, solution.x, y, z)
    failed = {name: value for name, value in residuals.as_dict().items() if not value <= tol}
    if failed:
        detail = ", ".join(f"{name} {value:.3e}" for name, value in failed.items())
        raise AssertionError(f"KKT conditions not met to tol={tol:g}: {detail} (at x={np.asarray(solution.x)})")
    return residuals
