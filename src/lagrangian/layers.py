r"""Optimization layers without a framework: batched solves and their reverse mode in NumPy.

The PyTorch and JAX layers (:mod:`lagrangian.interfaces.torch_layer`,
:mod:`lagrangian.interfaces.jax_layer`) are thin wrappers around the two batched
operations here, so that the numerics are written (and tested) once:

**Quadratic programs** (the OptNet case), with every piece of data a parameter,

.. math::

    \min_x \tfrac12 x^T P x + q^T x \quad\text{s.t.}\quad l \le A x \le u, \quad lb \le x \le ub .

``P`` enters symmetrized, ``(P + P^T)/2``, so that every square matrix is a valid
parameter and its cotangent is the symmetric one. With ``w`` the adjoint solution of
:mod:`lagrangian.reverse_mode` (``K w = (x_bar, y_bar_A, z_bar_B)``) and ``f_bar`` the
cotangent of the optimal value, ``d(grad_x L) = dP x + dq + dA^T y`` and
``dc = dA x`` give

.. math::

    \bar P = -\tfrac12 (w_x x^T + x w_x^T) + \tfrac12 \bar f\, x x^T, \quad
    \bar q = -w_x + \bar f x, \quad
    \bar A = -(y w_x^T + w_y x^T) + \bar f\, y x^T ,

and the sides' cotangents of :meth:`~lagrangian.active_kkt.ActiveKKT.side_cotangents`
(``u_bar_i = w_{y,i} - f_bar y_i`` on a row active at ``u_i``, and so on).

**Parametric nonlinear programs** (:class:`ParametricProblem`): ``f(x, p)``,
``c(x, p)`` with the sides fixed, and a function ``parameter_vjp(x, y, p, w_x, w_y,
f_bar)`` returning

.. math::

    \bar p = \nabla_p \big[ -w_x^T \nabla_x L(x, y, p) - w_y^T c(x, p) + \bar f\, L(x, y, p) \big],

which a framework computes by its own automatic differentiation (the last term is
the envelope theorem ``d f*/dp = dL/dp``).

Forward passes go through :func:`lagrangian.parallel.solve_many`, so that a batch
can run on a process pool or a Dask cluster. A batch item whose solve fails raises
:class:`~lagrangian.errors.SolverError` naming it: a layer has no output to give for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .active_kkt import ActiveKKT
from .errors import ProblemError, SolverError
from .parallel import FailedSolve, solve_many
from .problem import Constraint, Problem

__all__ = [
    "AutodiffTransforms",
    "autodiff_parametric",
    "BatchSolution", "solve_qp_batch", "qp_cotangents", "ParametricProblem", "solve_parametric_batch", "parametric_cotangents"]


@dataclass(frozen=True)
class BatchSolution:
    """Stacked solutions of a batch: ``x (B, n)``, ``y (B, m)``, ``z (B, n)``, ``fun (B,)``,
    and the :class:`~lagrangian.Solution` objects themselves (status, KKT residuals)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    fun: np.ndarray
    solutions: list


def _stack(results, n, m) -> BatchSolution:
    for i, r in enumerate(results):
        if isinstance(r, FailedSolve) and r.error == "ProblemError":
            # bad input stays bad input, whichever process found it
            raise ProblemError(f"batch item {i}", r.message)
    failed = [(i, r) for i, r in enumerate(results) if isinstance(r, FailedSolve) or not r.success]
    if failed:
        described = ", ".join(f"{i}: {r.error if isinstance(r, FailedSolve) else r.status.name}" for i, r in failed[:8])
        raise SolverError(f"{len(failed)} of {len(results)} solves in the batch failed ({described}); a layer needs every solution")
    return BatchSolution(
        np.array([r.x for r in results]).reshape(len(results), n),
        np.array([r.y for r in results]).reshape(len(results), m),
        np.array([r.z for r in results]).reshape(len(results), n),
        np.array([r.fun for r in results]),
        list(results),
    )


# -- quadratic programs -------------------------------------------------------------
def _broadcast(batch, **arrays):
    """Each array with a leading batch axis of length ``batch`` (unbatched ones repeated by view)."""
    out = {}
    for name, (array, ndim) in arrays.items():
        array = np.asarray(array, dtype=float)
        if array.ndim == ndim:
            array = np.broadcast_to(array, (batch,) + array.shape)
        elif array.ndim != ndim + 1 or array.shape[0] != batch:
            raise ProblemError(name, f"expected {ndim} or {ndim + 1} dimensions with batch size {batch}, got shape {array.shape}")
        out[name] = array
    return out


def qp_data(P, q, A, l, u, lb=None, ub=None):
    """The batch size and the QP data broadcast to it (``None`` sides become infinite)."""
    q = np.asarray(q, dtype=float)
    A = np.asarray(A, dtype=float)
    sizes = [np.shape(a)[0] for a, d in ((P, 2), (q, 1), (A, 2), (l, 1), (u, 1), (lb, 1), (ub, 1)) if a is not None and np.ndim(a) == d + 1]
    B = max(sizes) if sizes else 1
    n, m = q.shape[-1], A.shape[-2]
    lb = np.full(n, -np.inf) if lb is None else lb
    ub = np.full(n, np.inf) if ub is None else ub
    data = _broadcast(B, P=(P, 2), q=(q, 1), A=(A, 2), l=(l, 1), u=(u, 1), lb=(lb, 1), ub=(ub, 1))
    return B, n, m, data


def _qp(P, q, A, l, u, lb, ub):
    from .qp import QuadraticProgram

    return QuadraticProgram(0.5 * (P + P.T), q, A, l, u, bounds=(lb, ub))


def solve_qp_batch(P, q, A, l, u, lb=None, ub=None, *, executor="serial", **options) -> BatchSolution:
    """Solve a batch of QPs (leading axis; unbatched data is shared) with :func:`lagrangian.solve_qp`.

    ``executor`` as in :func:`lagrangian.parallel.solve_many` (default: in this process).
    """
    B, n, m, d = qp_data(P, q, A, l, u, lb, ub)
    qps = [_qp(d["P"][i], d["q"][i], d["A"][i], d["l"][i], d["u"][i], d["lb"][i], d["ub"][i]) for i in range(B)]
    return _stack(solve_many(qps, executor=executor, keep_problems=False, **options), n, m)


def qp_cotangents(P, q, A, l, u, lb, ub, solution: BatchSolution, x_bar, y_bar=None, z_bar=None, fun_bar=None, *, active_tol: float = 1e-6):
    """Cotangents of ``(P, q, A, l, u, lb, ub)``, each batched ``(B, ...)``, from those of ``(x, y, z, f*)``.

    The formulas are in the module docstring; one :class:`~lagrangian.active_kkt.ActiveKKT`
    (one factorization, one solve) per batch item.
    """
    B, n, m, d = qp_data(P, q, A, l, u, lb, ub)
    x, y, z = solution.x, solution.y, solution.z
    x_bar = np.broadcast_to(np.asarray(x_bar, dtype=float), (B, n))
    y_bar = np.zeros((B, m)) if y_bar is None else np.broadcast_to(np.asarray(y_bar, dtype=float), (B, m))
    z_bar = np.zeros((B, n)) if z_bar is None else np.broadcast_to(np.asarray(z_bar, dtype=float), (B, n))
    fun_bar = np.zeros(B) if fun_bar is None else np.broadcast_to(np.asarray(fun_bar, dtype=float), (B,))
    out = {name: np.zeros((B,) + d[name].shape[1:]) for name in ("P", "q", "A", "l", "u", "lb", "ub")}
    for i in range(B):
        Ai, xi, yi, fb = d["A"][i], x[i], y[i], fun_bar[i]
        kkt = ActiveKKT(0.5 * (d["P"][i] + d["P"][i].T), Ai, Ai @ xi, xi, yi, z[i], d["l"][i], d["u"][i], d["lb"][i], d["ub"][i], active_tol=active_tol)
        wx, wy, wz = kkt.solve(x_bar[i], y_bar[i], z_bar[i])
        outer = np.outer(wx, xi)
        out["P"][i] = -0.5 * (outer + outer.T) + 0.5 * fb * np.outer(xi, xi)
        out["q"][i] = -wx + fb * xi
        out["A"][i] = -(np.outer(yi, wx) + np.outer(wy, xi)) + fb * np.outer(yi, xi)
        out["l"][i], out["u"][i], out["lb"][i], out["ub"][i] = kkt.side_cotangents(wy, wz, fb)
    return out


# -- parametric nonlinear programs ------------------------------------------------------
class ParametricProblem:
    r"""``min f(x, p) s.t. cl <= c(x, p) <= cu, lb <= x <= ub`` for a parameter vector ``p``.

    Parameters
    ----------
    objective, gradient : callable
        ``f(x, p) -> float`` and ``grad_x f(x, p) -> (n,)``.
    x0 : (n,) array
        Starting point of every solve.
    hessian : callable
        ``hessian(x, y, p) -> (n, n)``: the Hessian in ``x`` of ``f + y^T c``.
    parameter_vjp : callable
        ``parameter_vjp(x, y, p, w_x, w_y, fun_bar) -> p_bar`` (see the module
        docstring).
    constraints, jacobian : callable, optional
        ``c(x, p) -> (m,)`` and ``dc/dx (x, p) -> (m, n)``.
    cl, cu : arrays, optional
        Sides of the rows.
    bounds : (lb, ub), optional
    """

    def __init__(self, objective, x0, *, gradient, hessian, parameter_vjp, constraints=None, jacobian=None, cl=None, cu=None, bounds=None):
        for label, fn in (("objective", objective), ("gradient", gradient), ("hessian", hessian), ("parameter_vjp", parameter_vjp)):
            if not callable(fn):
                raise ProblemError(label, f"expected a callable, got {type(fn).__name__}")
        if (constraints is None) != (jacobian is None):
            raise ProblemError("constraints/jacobian", "give both or neither")
        self.objective, self.gradient, self.hessian, self.parameter_vjp = objective, gradient, hessian, parameter_vjp
        self.constraints, self.jacobian = constraints, jacobian
        self.x0 = np.asarray(x0, dtype=float)
        self.cl, self.cu, self.bounds = cl, cu, bounds

    def problem(self, p) -> Problem:
        """The :class:`~lagrangian.Problem` at one parameter value."""
        p = np.asarray(p, dtype=float)
        constraints = ()
        if self.constraints is not None:
            c, J = self.constraints, self.jacobian
            lower = -np.inf if self.cl is None else self.cl
            upper = np.inf if self.cu is None else self.cu
            constraints = (Constraint(lambda x: c(x, p), lower, upper, jacobian=lambda x: J(x, p), name="c"),)
        f, g, H = self.objective, self.gradient, self.hessian
        return Problem(
            lambda x: f(x, p), self.x0, gradient=lambda x: g(x, p), constraints=constraints, bounds=self.bounds,
            hessian=lambda x, y: H(x, y, p), name="parametric problem",
        )


@dataclass(frozen=True)
class AutodiffTransforms:
    """A framework's function transforms, all with the signature of ``jax.grad`` /
    ``torch.func.grad`` (``transform(fn, argnums=0)``), and its array conversions."""

    grad: object
    jacobian: object
    hessian: object
    array: object  #: NumPy array -> framework array (float64)
    numpy: object  #: framework array -> NumPy array
    compile: object = None  #: e.g. ``jax.jit``; applied to every derivative function


def autodiff_parametric(objective, x0, transforms: AutodiffTransforms, *, constraints=None, cl=None, cu=None, bounds=None) -> ParametricProblem:
    r"""A :class:`ParametricProblem` from ``objective(x, p)`` and ``constraints(x, p)`` written
    in an autodiff framework: gradient, Jacobian and Hessian of the Lagrangian in ``x`` and
    the parameter pullback

    .. math::

        \bar p = \nabla_p \big[ -w_x^T \nabla_x L(x, y, p) - w_y^T c(x, p) + \bar f L(x, y, p) \big]

    by the framework's transforms. One definition serves the PyTorch and the JAX layers.
    """
    t, numpy = transforms.array, transforms.numpy
    compile_ = transforms.compile or (lambda fn: fn)

    def lagrangian(x, y, p):
        value = objective(x, p)
        return value if constraints is None else value + y @ constraints(x, p)

    gradient_x_lagrangian = transforms.grad(lagrangian, argnums=0)

    def pulled_back(p, x, y, wx, wy, fun_bar):
        value = -(wx @ gradient_x_lagrangian(x, y, p)) + fun_bar * lagrangian(x, y, p)
        if constraints is not None:
            value = value - wy @ constraints(x, p)
        return value

    value_f = compile_(objective)
    gradient_x = compile_(transforms.grad(objective, argnums=0))
    hessian_x = compile_(transforms.hessian(lagrangian, argnums=0))
    parameter_gradient = compile_(transforms.grad(pulled_back, argnums=0))
    kwargs = {}
    if constraints is not None:
        values_c = compile_(constraints)
        jacobian_c = compile_(transforms.jacobian(constraints, argnums=0))
        kwargs = dict(
            constraints=lambda x, p: numpy(values_c(t(x), t(p))),
            jacobian=lambda x, p: numpy(jacobian_c(t(x), t(p))),
            cl=cl,
            cu=cu,
        )
    return ParametricProblem(
        lambda x, p: float(value_f(t(x), t(p))),
        x0,
        gradient=lambda x, p: numpy(gradient_x(t(x), t(p))),
        hessian=lambda x, y, p: numpy(hessian_x(t(x), t(y), t(p))),
        parameter_vjp=lambda x, y, p, wx, wy, fun_bar: numpy(parameter_gradient(t(p), t(x), t(y), t(wx), t(wy), t(fun_bar))),
        bounds=bounds,
        **kwargs,
    )


def solve_parametric_batch(parametric: ParametricProblem, parameters, *, executor="serial", **options) -> BatchSolution:
    """Solve ``parametric`` at each row of ``parameters`` (B, k) with :func:`lagrangian.solve`."""
    parameters = np.atleast_2d(np.asarray(parameters, dtype=float))
    results = solve_many(parametric.problem, list(parameters), executor=executor, keep_problems=False, **options)
    n = parametric.x0.size
    m = results[0].y.size if results and not isinstance(results[0], FailedSolve) else 0
    return _stack(results, n, m)


def parametric_cotangents(parametric: ParametricProblem, parameters, solution: BatchSolution, x_bar, y_bar=None, z_bar=None, fun_bar=None, *, active_tol: float = 1e-6):
    """``p_bar`` (B, k) from the cotangents of ``(x, y, z, f*)``: one ActiveKKT per item."""
    parameters = np.atleast_2d(np.asarray(parameters, dtype=float))
    B, n = solution.x.shape
    m = solution.y.shape[1]
    x_bar = np.asarray(x_bar, dtype=float).reshape(B, n)
    y_bar = np.zeros((B, m)) if y_bar is None else np.asarray(y_bar, dtype=float)
    z_bar = np.zeros((B, n)) if z_bar is None else np.asarray(z_bar, dtype=float)
    fun_bar = np.zeros(B) if fun_bar is None else np.asarray(fun_bar, dtype=float).reshape(B)
    out = np.zeros_like(parameters)
    for i in range(B):
        p, x, y, z = parameters[i], solution.x[i], solution.y[i], solution.z[i]
        problem = parametric.problem(p)
        kkt = ActiveKKT(
            problem.hessian(x, y), problem.jacobian(x), problem.constraint_values(x), x, y, z,
            problem.cl, problem.cu, problem.lb, problem.ub, active_tol=active_tol,
        )
        wx, wy, _ = kkt.solve(x_bar[i], y_bar[i], z_bar[i])
        out[i] = parametric.parameter_vjp(x, y, p, wx, wy, float(fun_bar[i]))
    return out
