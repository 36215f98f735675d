"""The JAX layers: jax.test_util.check_grads in reverse mode (against central differences
of re-solves), under jax.jit, and agreement with the PyTorch layer's numbers."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

from lagrangian.interfaces.jax_layer import nonlinear_layer, qp_layer  # noqa: E402
from lagrangian.layers import solve_qp_batch  # noqa: E402


def qp_arrays(seed, batch, n=4, m=3):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((batch, n, n))
    P = M @ M.transpose(0, 2, 1) / n + np.eye(n)
    return P, rng.standard_normal((batch, n)), rng.standard_normal((m, n)), rng.uniform(-0.15, 0.15, (batch, m))


def test_qp_layer_passes_check_grads_in_reverse_mode():
    P, q, A, u = qp_arrays(0, batch=2)
    l, lb = np.full(A.shape[0], -np.inf), np.full(q.shape[1], -0.2)
    layer = qp_layer(tol=1e-12)
    x, y, z, _ = layer(P, q, A, l, u, lb)
    assert (np.abs(y) > 1e-3).any() and (np.abs(y) < 1e-9).any() and (np.abs(z) > 1e-3).any()
    check_grads(lambda P, q, A, u, lb: layer(P, q, A, l, u, lb), (P, q, A, u, lb), order=1, modes=["rev"], eps=1e-6)


def test_qp_layer_under_jit_equals_the_numpy_batch_solve():
    P, q, A, u = qp_arrays(1, batch=3)
    l = np.full(A.shape[0], -np.inf)
    layer = qp_layer(tol=1e-12)
    x = jax.jit(lambda q: layer(P, q, A, l, u)[0])(q)
    np.testing.assert_allclose(np.asarray(x), solve_qp_batch(P, q, A, l, u, tol=1e-12).x, rtol=1e-12, atol=1e-14)
    grad = jax.jit(jax.grad(lambda q: jnp.sum(layer(P, q, A, l, u)[0] ** 2)))(q)
    assert grad.shape == q.shape and np.isfinite(np.asarray(grad)).all()


def test_nonlinear_layer_passes_check_grads_in_reverse_mode():
    def objective(x, p):
        return jnp.sum((x - p[:2]) ** 2) + jnp.sin(x[0] * x[1]) + 0.1 * x[0] ** 4

    def constraints(x, p):
        return jnp.stack([x[0] ** 2 + x[1] ** 2 - p[2], x[0] - x[1]])

    layer = nonlinear_layer(objective, np.zeros(2), constraints=constraints, cl=[-np.inf, -0.5], cu=[0.0, np.inf],
                            bounds=([-2.0, -2.0], [2.0, 2.0]), tol=1e-12)
    p = jnp.array([[1.0, 2.0, 1.0], [0.2, 0.1, 1.0]])
    assert layer(p)[1][0, 0] > 1e-3  # the disc is active in the first item
    check_grads(layer, (p,), order=1, modes=["rev"], eps=1e-6)
