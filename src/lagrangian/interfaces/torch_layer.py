r"""PyTorch layers whose output is the solution of a constrained problem.

``pip install "lagrangian[torch]"``. Two layers, each a :class:`torch.nn.Module` over a
:class:`torch.autograd.Function`:

- :class:`QPLayer`: ``x*(P, q, A, l, u, lb, ub)`` of the convex QP
  ``min 1/2 x'Px + q'x s.t. l <= Ax <= u, lb <= x <= ub`` (the OptNet layer), every
  argument a tensor, batched along a leading dimension or shared;
- :class:`NonlinearLayer`: ``x*(p)`` of ``min f(x, p) s.t. cl <= c(x, p) <= cu,
  lb <= x <= ub`` for any ``f`` and ``c`` written with torch operations (nonconvex
  objectives and nonlinear inequalities included), its derivatives taken by
  ``torch.func``.

The forward pass solves the batch with :func:`lagrangian.parallel.solve_many`
(``executor=`` picks where: in this process by default, or a process pool, or a Dask
cluster). The backward pass is reverse mode through the solution
(:mod:`lagrangian.reverse_mode`): one solve with the active-set KKT matrix per item,
whatever the number of parameters. Both layers can also return the multipliers
``y`` (rows) and ``z`` (bounds) and the optimal value, in the sign convention of
:mod:`lagrangian.convention`, and differentiate through them.

Computation is in float64 NumPy; outputs come back in the parameters' dtype and
device. A failed solve raises :class:`~lagrangian.errors.SolverError`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..layers import (
    AutodiffTransforms,
    ParametricProblem,
    autodiff_parametric,
    parametric_cotangents,
    qp_cotangents,
    solve_parametric_batch,
    solve_qp_batch,
)

__all__ = ["QPLayer", "NonlinearLayer"]

_QP_NAMES = ("P", "q", "A", "l", "u", "lb", "ub")
_QP_DIMS = (2, 1, 2, 1, 1, 1, 1)


def _numpy(t):
    return None if t is None else t.detach().cpu().numpy().astype(float)


def _like(array, reference):
    return torch.as_tensor(np.ascontiguousarray(array), dtype=reference.dtype, device=reference.device)


def _cotangents(grads):
    """The cotangents of the four outputs as float64 arrays (None where unused)."""
    return [None if g is None else _numpy(g) for g in grads]


class _QPFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, settings, P, q, A, l, u, lb, ub):
        data = [_numpy(t) for t in (P, q, A, l, u, lb, ub)]
        solution = solve_qp_batch(*data, executor=settings["executor"], **settings["options"])
        ctx.settings, ctx.data, ctx.solution = settings, data, solution
        ctx.batched = [t is not None and t.dim() == d + 1 for t, d in zip((P, q, A, l, u, lb, ub), _QP_DIMS)]
        ctx.none = [t is None for t in (P, q, A, l, u, lb, ub)]
        ctx.references = [q if t is None else t for t in (P, q, A, l, u, lb, ub)]
        return tuple(_like(a, q) for a in (solution.x, solution.y, solution.z, solution.fun))

    @staticmethod
    def backward(ctx, x_bar, y_bar, z_bar, fun_bar):
        x_bar, y_bar, z_bar, fun_bar = _cotangents((x_bar, y_bar, z_bar, fun_bar))
        out = qp_cotangents(*ctx.data, ctx.solution, x_bar, y_bar, z_bar, fun_bar, active_tol=ctx.settings["active_tol"])
        grads = []
        inputs = zip(_QP_NAMES, ctx.batched, ctx.none, ctx.needs_input_grad[1:], ctx.references)
        for name, batched, missing, need, reference in inputs:
            if missing or not need:
                grads.append(None)
                continue
            grads.append(_like(out[name] if batched else out[name].sum(axis=0), reference))
        return (None, *grads)


class QPLayer(torch.nn.Module):
    r"""``x* = argmin 1/2 x'Px + q'x  s.t.  l <= A x <= u,  lb <= x <= ub`` as a layer.

    Call it as ``layer(P, q, A, l, u, lb=None, ub=None)``: ``P`` of shape ``(B, n, n)``
    or ``(n, n)``, ``q`` of shape ``(B, n)`` or ``(n,)``, ``A`` of shape ``(B, m, n)`` or
    ``(m, n)``, the sides of shape ``(B, m)`` or ``(B, n)``, or unbatched; ``+-inf`` drops
    a side. ``P`` is used symmetrized and should be positive semidefinite. The output
    has a batch axis when any input has one.

    Parameters
    ----------
    executor : "serial", Executor or None
        Where the batch is solved (see :func:`lagrangian.parallel.solve_many`);
        default in this process.
    active_tol : float
        Active-set threshold of the backward pass (:mod:`lagrangian.active_kkt`).
    multipliers : bool
        Return ``(x, y, z, f*)`` instead of ``x``.
    **options
        Passed to :func:`lagrangian.solve_qp` (``tol`` defaults to ``1e-10``).

    """

    def __init__(self, *, executor="serial", active_tol: float = 1e-6, multipliers: bool = False, **options):
        super().__init__()
        options.setdefault("tol", 1e-10)
        self.settings = {"executor": executor, "active_tol": active_tol, "options": options}
        self.multipliers = multipliers

    def forward(self, P, q, A, l, u, lb=None, ub=None):
        batched = any(t is not None and t.dim() == d + 1 for t, d in zip((P, q, A, l, u, lb, ub), _QP_DIMS))
        x, y, z, fun = _QPFunction.apply(self.settings, P, q, A, l, u, lb, ub)
        if not batched:
            x, y, z, fun = x[0], y[0], z[0], fun[0]
        return (x, y, z, fun) if self.multipliers else x


# -- nonlinear problems -----------------------------------------------------------------
def _torch_parametric(objective, constraints, x0, cl, cu, bounds) -> ParametricProblem:
    """A :class:`~lagrangian.layers.ParametricProblem` whose derivatives are ``torch.func``'s."""
    from torch.func import grad, hessian, jacrev

    transforms = AutodiffTransforms(
        grad=grad, jacobian=jacrev, hessian=hessian,
        array=lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=torch.float64),
        numpy=lambda t: t.detach().numpy(),
    )
    return autodiff_parametric(objective, x0, transforms, constraints=constraints, cl=cl, cu=cu, bounds=bounds)


class _NonlinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, layer, p):
        parameters = _numpy(p).reshape(-1, p.shape[-1])
        solution = solve_parametric_batch(layer.parametric, parameters, executor=layer.executor, **layer.options)
        ctx.layer, ctx.parameters, ctx.solution, ctx.reference = layer, parameters, solution, p
        return tuple(_like(a, p) for a in (solution.x, solution.y, solution.z, solution.fun))

    @staticmethod
    def backward(ctx, x_bar, y_bar, z_bar, fun_bar):
        x_bar, y_bar, z_bar, fun_bar = _cotangents((x_bar, y_bar, z_bar, fun_bar))
        p_bar = parametric_cotangents(
            ctx.layer.parametric, ctx.parameters, ctx.solution, x_bar, y_bar, z_bar, fun_bar, active_tol=ctx.layer.active_tol
        )
        return None, _like(p_bar.reshape(ctx.reference.shape), ctx.reference)


class NonlinearLayer(torch.nn.Module):
    r"""``x*(p) = argmin f(x, p)  s.t.  cl <= c(x, p) <= cu,  lb <= x <= ub`` as a layer.

    Call it as ``layer(p)`` with ``p`` of shape ``(k,)``, or a batch of shape ``(B, k)``.

    Parameters
    ----------
    objective : callable
        ``objective(x, p) -> scalar tensor``, torch operations only (float64
        tensors in, differentiated by ``torch.func``).
    x0 : array_like (n,)
        Starting point of every solve.
    constraints : callable, optional
        ``constraints(x, p) -> (m,) tensor``.
    cl, cu : array_like, optional
        Its sides (``-inf`` or ``inf`` for one-sided rows; equal for equalities).
    bounds : (lb, ub), optional
    executor, active_tol, multipliers
        As for :class:`QPLayer`.
    **options
        Passed to :func:`lagrangian.solve` (``tol`` defaults to ``1e-10``).
    """

    def __init__(self, objective, x0, *, constraints=None, cl=None, cu=None, bounds=None, executor="serial",
                 active_tol: float = 1e-6, multipliers: bool = False, **options):
        super().__init__()
        options.setdefault("tol", 1e-10)
        self.parametric = _torch_parametric(objective, constraints, x0, cl, cu, bounds)
        self.executor, self.active_tol, self.options, self.multipliers = executor, active_tol, options, multipliers

    def forward(self, p):
        x, y, z, fun = _NonlinearFunction.apply(self, p)
        if p.dim() == 1:
            x, y, z, fun = x[0], y[0], z[0], fun[0]
        return (x, y, z, fun) if self.multipliers else x
