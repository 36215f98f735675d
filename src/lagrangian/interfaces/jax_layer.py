r"""JAX functions whose value is the solution of a constrained problem.

``pip install "lagrangian[jax]"``. Two constructors, each returning a function with a
``jax.custom_vjp`` rule:

- :func:`qp_layer`: ``(P, q, A, l, u, lb, ub) -> (x, y, z, f*)`` of the convex QP
  ``min 1/2 x'Px + q'x s.t. l <= Ax <= u, lb <= x <= ub`` (the OptNet layer), data
  batched along a leading axis or shared;
- :func:`nonlinear_layer`: ``p -> (x, y, z, f*)`` of ``min f(x, p) s.t. cl <= c(x, p)
  <= cu, lb <= x <= ub`` for ``f`` and ``c`` written with ``jax.numpy``, their
  derivatives taken by ``jax.grad`` / ``jax.jacrev`` / ``jax.hessian`` (jitted).

The solve runs on the host through ``jax.pure_callback`` (so the functions work under
``jax.jit``); the backward pass is reverse mode through the solution
(:mod:`lagrangian.reverse_mode`), again a host callback: one solve with the active-set KKT
matrix per item. ``vmap`` is not supported (batch along the leading axis instead).
Work in float64 (``jax.config.update("jax_enable_x64", True)``): a solution is only
as accurate as its arithmetic. A failed solve raises
:class:`~lagrangian.errors.SolverError` from the callback.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..layers import (
    AutodiffTransforms,
    BatchSolution,
    autodiff_parametric,
    parametric_cotangents,
    qp_cotangents,
    solve_parametric_batch,
    solve_qp_batch,
)

__all__ = ["qp_layer", "nonlinear_layer"]

_QP_DIMS = (2, 1, 2, 1, 1, 1, 1)
_QP_NAMES = ("P", "q", "A", "l", "u", "lb", "ub")


def _host(*arrays):
    return [np.asarray(a, dtype=float) for a in arrays]


def _outputs(batch, n, m, dtype):
    return (
        jax.ShapeDtypeStruct((batch, n), dtype),
        jax.ShapeDtypeStruct((batch, m), dtype),
        jax.ShapeDtypeStruct((batch, n), dtype),
        jax.ShapeDtypeStruct((batch,), dtype),
    )


def _cast(arrays, dtype):
    return tuple(np.asarray(a, dtype=dtype) for a in arrays)


def qp_layer(*, executor="serial", active_tol: float = 1e-6, **options):
    r"""A JAX function ``(P, q, A, l, u, lb=None, ub=None) -> (x, y, z, fun)`` solving the QP.

    Parameters
    ----------
    executor, active_tol
        As for :class:`lagrangian.interfaces.torch_layer.QPLayer`.
    **options
        Passed to :func:`lagrangian.solve_qp` (``tol`` defaults to ``1e-10``).

    The outputs have a leading batch axis when any input has one. ``P`` is used
    symmetrized; its cotangent is symmetric.
    """
    options.setdefault("tol", 1e-10)

    def shapes(args):
        n, m = args[1].shape[-1], args[2].shape[-2]
        batched = [a.ndim == d + 1 for a, d in zip(args, _QP_DIMS)]
        batch = max([a.shape[0] for a, b in zip(args, batched) if b], default=1)
        return n, m, batched, batch

    def host_solve(*args):
        s = solve_qp_batch(*_host(*args), executor=executor, **options)
        return _cast((s.x, s.y, s.z, s.fun), args[1].dtype)

    def host_cotangents(*args):
        data, (x, y, z, fun), bars = _host(*args[:7]), _host(*args[7:11]), _host(*args[11:])
        out = qp_cotangents(*data, BatchSolution(x, y, z, fun, []), *bars, active_tol=active_tol)
        return tuple(
            np.asarray(out[name] if a.ndim == d + 1 else out[name].sum(axis=0), dtype=a.dtype)
            for name, a, d in zip(_QP_NAMES, args[:7], _QP_DIMS)
        )

    @jax.custom_vjp
    def solve(*args):
        return forward(*args)[0]

    def forward(*args):
        n, m, _, batch = shapes(args)
        out = jax.pure_callback(host_solve, _outputs(batch, n, m, args[1].dtype), *args, vmap_method="sequential")
        return tuple(out), (args, tuple(out))

    def backward(residual, cotangents):
        args, out = residual
        specs = tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args)
        return tuple(jax.pure_callback(host_cotangents, specs, *args, *out, *cotangents, vmap_method="sequential"))

    solve.defvjp(forward, backward)

    def layer(P, q, A, l, u, lb=None, ub=None):
        q = jnp.asarray(q)
        n = q.shape[-1]
        lb = jnp.full(n, -jnp.inf, dtype=q.dtype) if lb is None else jnp.asarray(lb, dtype=q.dtype)
        ub = jnp.full(n, jnp.inf, dtype=q.dtype) if ub is None else jnp.asarray(ub, dtype=q.dtype)
        args = tuple(jnp.asarray(a, dtype=q.dtype) for a in (P, q, A, l, u)) + (lb, ub)
        x, y, z, fun = solve(*args)
        if not any(shapes(args)[2]):
            return x[0], y[0], z[0], fun[0]
        return x, y, z, fun

    return layer


def nonlinear_layer(objective, x0, *, constraints=None, cl=None, cu=None, bounds=None, executor="serial",
                    active_tol: float = 1e-6, **options):
    r"""A JAX function ``p -> (x, y, z, fun)`` solving ``min f(x, p) s.t. cl <= c(x, p) <= cu``.

    Parameters
    ----------
    objective : callable
        ``objective(x, p) -> scalar``, written with ``jax.numpy``.
    x0 : array_like (n,)
    constraints : callable, optional
        ``constraints(x, p) -> (m,)``.
    cl, cu, bounds, executor, active_tol
        As for :class:`lagrangian.interfaces.torch_layer.NonlinearLayer`.
    **options
        Passed to :func:`lagrangian.solve` (``tol`` defaults to ``1e-10``).

    ``p`` is ``(k,)`` or a batch ``(B, k)``.
    """
    options.setdefault("tol", 1e-10)
    transforms = AutodiffTransforms(
        grad=jax.grad, jacobian=jax.jacrev, hessian=jax.hessian,
        array=lambda a: jnp.asarray(a, dtype=jnp.float64), numpy=lambda a: np.asarray(a, dtype=float), compile=jax.jit,
    )
    parametric = autodiff_parametric(objective, x0, transforms, constraints=constraints, cl=cl, cu=cu, bounds=bounds)
    n = np.size(x0)

    def host_solve(p):
        s = solve_parametric_batch(parametric, np.asarray(p, dtype=float), executor=executor, **options)
        return _cast((s.x, s.y, s.z, s.fun), p.dtype)

    def host_cotangents(p, x, y, z, fun, x_bar, y_bar, z_bar, fun_bar):
        solution = BatchSolution(*_host(x, y, z, fun), [])
        out = parametric_cotangents(parametric, np.asarray(p, dtype=float), solution, *_host(x_bar, y_bar, z_bar, fun_bar), active_tol=active_tol)
        return np.asarray(out, dtype=p.dtype)

    def rows(p):
        """``m``, from the shape ``constraints`` returns (traced abstractly, not evaluated)."""
        if constraints is None:
            return 0
        shape = jax.eval_shape(constraints, jax.ShapeDtypeStruct((n,), p.dtype), jax.ShapeDtypeStruct(p.shape[1:], p.dtype)).shape
        return int(np.prod(shape))

    @jax.custom_vjp
    def solve(p):
        return forward(p)[0]

    def forward(p):
        out = jax.pure_callback(host_solve, _outputs(p.shape[0], n, rows(p), p.dtype), p, vmap_method="sequential")
        return tuple(out), (p, tuple(out))

    def backward(residual, cotangents):
        p, out = residual
        return (jax.pure_callback(host_cotangents, jax.ShapeDtypeStruct(p.shape, p.dtype), p, *out, *cotangents, vmap_method="sequential"),)

    solve.defvjp(forward, backward)

    def layer(p):
        p = jnp.asarray(p)
        x, y, z, fun = solve(jnp.atleast_2d(p))
        if p.ndim == 1:
            return x[0], y[0], z[0], fun[0]
        return x, y, z, fun

    return layer
