r"""``lagrangian.minimize``: scipy.optimize.minimize's constrained interface, solved as a Lagrangian.

A call written for ``scipy.optimize.minimize(fun, x0, method="trust-constr", ...)``
runs unchanged with ``lagrangian.minimize``: the same ``jac``, ``hess``,
``bounds`` and ``constraints`` (``Bounds``, ``LinearConstraint``,
``NonlinearConstraint``, and the old dicts, where ``"ineq"`` means
``fun(x) >= 0``), and a ``scipy.optimize.OptimizeResult`` back.

The multipliers are in the package convention (:mod:`lagrangian.convention`):
``grad f + sum_k J_k^T multipliers[k] + bound_multipliers = 0``, with a
multiplier ``>= 0`` where a row sits at its upper bound and ``<= 0`` at its lower
bound. So for ``{"type": "ineq", "fun": g}`` (``g(x) >= 0``, a lower bound of 0)
an active constraint has a multiplier ``<= 0``; for ``g(x) <= 0`` written as
``NonlinearConstraint(g, -inf, 0)`` it is the textbook ``>= 0``. Example::

    >>> import numpy as np, lagrangian
    >>> res = lagrangian.minimize(lambda x: x @ x, [2.0, 2.0],
    ...     constraints=[{"type": "ineq", "fun": lambda x: x[0] + x[1] - 2}])
    >>> np.round(res.x, 6), np.round(res.multipliers[0], 6)   # x = (1, 1), y = -2
    (array([1., 1.]), array([-2.]))

Here ``grad f = (2, 2)`` and ``J = (1, 1)``, so ``y = -2`` makes the
Lagrangian stationary; relaxing the bound 0 to ``-eps`` lowers ``f*`` by ``2 eps``.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import SR1, Bounds, HessianUpdateStrategy, LinearConstraint, NonlinearConstraint, OptimizeResult

from .. import graph as G
from ..derivatives import DENSE_QUASI_NEWTON_LIMIT
from ..errors import ProblemError
from ..problem import Constraint, Problem
from ..result import Status
from ..testing import check_derivative
from ..solvers import interior_point, newton_kkt

__all__ = ["minimize", "STATUS_CODES"]

#: ``result.status`` integers: 0 is success, as in SLSQP; the name is in ``result.status_name``.
STATUS_CODES = {status: code for code, status in enumerate(Status)}

_FINITE_DIFFERENCE_NAMES = ("2-point", "3-point", "cs")
_SCIPY_METHODS = {
    None, "trust-constr", "slsqp", "cobyla", "cobyqa", "l-bfgs-b", "tnc", "bfgs", "newton-cg",
    "trust-ncg", "trust-krylov", "trust-exact", "cg", "powell", "nelder-mead", "dogleg",
}  # fmt: skip
_OWN_METHODS = {"interior-point": interior_point, "newton-kkt": newton_kkt}
_OPTIONS = {
    "maxiter": "max_iterations",
    "max_iterations": "max_iterations",
    "max_time": "max_time",
    "max_evaluations": "max_evaluations",
    "maxfev": "max_evaluations",
    "mu_init": "mu_init",
    "gtol": "tol",
    "disp": "log",
    "verbose": "log",
}
# Up to this many variables, constraint Jacobians and the Lagrangian's Hessian are
# traced on scalar tapes (one node per entry, one multiplier solve per row, exact
# Hessians). Above, a constraint's Jacobian is accumulated sparse on array nodes
# (graph.value_and_sparse_jacobian) and the Hessian is a quasi-Newton model. The
# objective's gradient is traced on array nodes at every size: its cost follows the
# objective's own (a vectorized sum is a handful of nodes at any n).
_TRACE_LIMIT = 2000


def _with_args(fn, args):
    return (lambda x: fn(x, *args)) if args else fn


def _traced(fn, x0, *, vector):
    """``fn``'s exact derivative through the package's computation graphs, or None if it cannot be traced.

    The trace must reproduce ``fn(x0)`` to 1e-12 relative; functions that call
    into compiled code, branch on values or return other types fall back to
    finite differences.
    """
    x0 = np.asarray(x0, dtype=float)
    if vector:
        derivative = G.value_and_jacobian(fn) if x0.size <= _TRACE_LIMIT else G.value_and_sparse_jacobian(fn)
    else:
        derivative = G.value_and_grad(fn)
    try:
        with np.errstate(all="ignore"):
            traced_value, _ = derivative(x0)
            plain = np.atleast_1d(np.asarray(fn(x0), dtype=float)).ravel()
    except Exception:  # noqa: BLE001 - any failure to trace means "not traceable"
        return None
    traced_value = np.atleast_1d(np.asarray(traced_value, dtype=float)).ravel()
    if traced_value.shape != plain.shape or not np.allclose(traced_value, plain, rtol=1e-12, atol=1e-300):
        return None
    # One directional difference guards against a trace that ran but lost part of the
    # graph (a value taken out through a C routine and put back as a constant, say).
    try:
        check_derivative(fn, x0, jacobian=lambda x: derivative(x)[1], rtol=1e-5, atol=1e-8)
    except (AssertionError, ArithmeticError, ValueError, TypeError):
        return None
    if vector:
        return lambda x: derivative(x)[1]
    return lambda x: np.asarray(derivative(x)[1], dtype=float)


def _objective(fun, jac, args, x0):
    """(objective, gradient or None, source) from scipy's ``fun`` / ``jac``."""
    fun = _with_args(fun, args)
    if jac is True:
        cache = {}

        def evaluate(x):
            key = np.asarray(x, dtype=float).tobytes()
            if key not in cache:
                cache.clear()
                value, gradient = fun(x)
                cache[key] = (float(value), np.asarray(gradient, dtype=float))
            return cache[key]

        return (lambda x: evaluate(x)[0]), (lambda x: evaluate(x)[1]), "exact"
    if callable(jac):
        return fun, _with_args(jac, args), "exact"
    if jac is None or (isinstance(jac, str) and jac in _FINITE_DIFFERENCE_NAMES):
        traced = _traced(fun, x0, vector=False) if jac is None else None
        return fun, traced, "computation graph" if traced is not None else "finite differences"
    raise ProblemError("jac", f"expected a callable, True, None or one of {_FINITE_DIFFERENCE_NAMES}, got {jac!r}")


def _traced_program(objective, gradient, blocks, sizes, x0):
    """The objective and constraints traced together (:class:`lagrangian.graph.TracedProgram`), or None.

    Accepted only if its Hessian of ``f + y^T c`` passes a directional check
    against differences of the (exact) Lagrangian gradient at ``x0`` with all
    multipliers 1.
    """
    x0 = np.asarray(x0, dtype=float)
    if x0.size > _TRACE_LIMIT:
        return None
    program = G.TracedProgram(objective, [block.fun for block in blocks])
    hessian = program.hessian
    y = np.ones(sum(sizes))
    jacobians = [block.jacobian for block in blocks]
    if any(j is None for j in jacobians):
        return None

    def lagrangian_gradient(x):
        # all multipliers are 1: grad f + sum of the Jacobians' column sums
        g = np.asarray(gradient(x), dtype=float)
        for jacobian in jacobians:
            J = jacobian(x)
            J = J if sp.issparse(J) else np.atleast_2d(np.asarray(J, dtype=float))
            g = g + np.asarray(J.sum(axis=0)).ravel()
        return g

    try:
        with np.errstate(all="ignore"):
            check_derivative(lagrangian_gradient, x0, jacobian=lambda x: hessian(x, y), rtol=1e-5, atol=1e-8)
    except (AssertionError, ArithmeticError, ValueError, TypeError):
        return None
    return program


def _share_trace(program, blocks, sources, sizes):
    """The traced blocks with their Jacobians read from ``program``'s one trace per point.

    Separately traced, the objective and each constraint block would be traced
    again at every point, and once more for the Hessian.
    """
    starts = np.cumsum([0, *sizes])
    shared = []
    for block, source, start, stop in zip(blocks, sources, starts[:-1], starts[1:]):
        if source == "computation graph":
            jacobian = lambda x, rows=slice(int(start), int(stop)): program.jacobian(x)[rows]  # noqa: E731
            block = Constraint(block.fun, block.lower, block.upper, jacobian=jacobian, name=block.name)
        shared.append(block)
    return shared


def _bounds(bounds, n):
    if bounds is None or isinstance(bounds, Bounds):
        return bounds
    pairs = list(bounds)
    if len(pairs) != n or not all(np.ndim(pair) == 1 and len(pair) == 2 for pair in pairs):
        raise ProblemError("bounds", f"expected scipy.optimize.Bounds or a sequence of {n} (min, max) pairs")
    lower = [-np.inf if low is None else low for low, _ in pairs]
    upper = [np.inf if up is None else up for _, up in pairs]
    return (lower, upper)


def _constraint_jacobian(fun, jac, x0):
    """(jacobian callable or None, source) for one constraint block."""
    if callable(jac):
        return jac, "exact"
    traced = _traced(fun, x0, vector=True)
    return traced, "computation graph" if traced is not None else "finite differences"


def _constraints(constraints, x0):
    """Our Constraint blocks, each block's Hessian term ``(x, y) -> sum y_i nabla^2 c_i`` (None if
    unknown), and where each block's Jacobian comes from."""
    if isinstance(constraints, (dict, LinearConstraint, NonlinearConstraint)):
        constraints = [constraints]
    blocks, hessians, sources = [], [], []
    for k, con in enumerate(constraints):
        name = f"constraint {k}"
        if isinstance(con, dict):
            kind = con.get("type")
            if kind not in ("eq", "ineq") or not callable(con.get("fun")):
                raise ProblemError(f"constraints[{k}]", "a dict constraint needs 'type' ('eq' or 'ineq') and a callable 'fun'")
            args = tuple(con.get("args", ()))
            fun = _with_args(con["fun"], args)
            jac = con.get("jac")
            jac, source = _constraint_jacobian(fun, _with_args(jac, args) if callable(jac) else None, x0)
            blocks.append(Constraint(fun, 0.0, 0.0 if kind == "eq" else np.inf, jacobian=jac, name=name))
            hessians.append(None)
        elif isinstance(con, LinearConstraint):
            A = sp.csr_array(con.A) if sp.issparse(con.A) else np.atleast_2d(np.asarray(con.A, dtype=float))
            blocks.append(Constraint(lambda x, A=A: A @ x, con.lb, con.ub, jacobian=lambda x, A=A: A, name=name))
            hessians.append(lambda x, y: 0.0)
            source = "exact"
        elif isinstance(con, NonlinearConstraint):
            jac, source = _constraint_jacobian(con.fun, con.jac, x0)
            blocks.append(Constraint(con.fun, con.lb, con.ub, jacobian=jac, name=name))
            hessians.append(con.hess if callable(con.hess) else None)
        else:
            raise ProblemError(f"constraints[{k}]", f"expected a dict, LinearConstraint or NonlinearConstraint, got {type(con).__name__}")
        sources.append(source)
    return blocks, hessians, sources


def _hessian(hess, args, sizes, hessians, exact_first_derivatives, n):
    """The Problem's ``(hessian=, quasi_newton=)`` from scipy's ``hess`` and the constraints' ``hess``.

    scipy's constraint ``hess(x, v)`` is ``sum_i v_i nabla^2 c_i``; with ``v`` our
    ``y`` of that block, the sum over blocks plus ``nabla^2 f`` is the Hessian of
    ``L = f + y^T c``.
    """
    if isinstance(hess, HessianUpdateStrategy):
        # scipy's BFGS() is dense; at a size where a dense model does not fit, the
        # limited-memory one answers the same request ("auto").
        return None, "sr1" if isinstance(hess, SR1) else "auto"
    if callable(hess) and all(h is not None for h in hessians):
        hess = _with_args(hess, args)
        bounds = np.cumsum([0, *sizes])
        pieces = [(h, slice(start, stop)) for h, start, stop in zip(hessians, bounds[:-1], bounds[1:])]

        def lagrangian_hessian(x, y):
            H = hess(x)
            H = sp.csr_array(H) if sp.issparse(H) else np.atleast_2d(np.asarray(H, dtype=float))
            for h, rows in pieces:
                term = h(x, y[rows])
                H = H + (sp.csr_array(term) if sp.issparse(term) else term)
            return H

        return lagrangian_hessian, "auto"
    if hess is None or callable(hess) or (isinstance(hess, str) and hess in _FINITE_DIFFERENCE_NAMES):
        # No exact Hessian of the Lagrangian: differences of exact gradients when the
        # first derivatives are exact and n is small (2n gradient calls and a dense
        # n x n matrix per iteration), else a quasi-Newton model (limited-memory above
        # DENSE_QUASI_NEWTON_LIMIT).
        differences = exact_first_derivatives and n <= DENSE_QUASI_NEWTON_LIMIT
        return ("finite-differences" if differences else None), "auto"
    raise ProblemError("hess", f"expected a callable, a HessianUpdateStrategy, None or one of {_FINITE_DIFFERENCE_NAMES}, got {hess!r}")


def _callback(callback):
    """Adapt scipy's ``callback(xk)`` or ``callback(intermediate_result)`` to the solvers' ``(record, x)``."""
    if callback is None:
        return None
    try:
        parameters = list(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        parameters = []
    if parameters == ["intermediate_result"]:
        return lambda record, x: callback(intermediate_result=OptimizeResult(x=x, fun=record.objective, nit=record.iteration))
    return lambda record, x: callback(x)


def minimize(
    fun,
    x0,
    *,
    args=(),
    method=None,
    jac=None,
    hess=None,
    bounds=None,
    constraints=(),
    tol=None,
    options=None,
    callback=None,
) -> OptimizeResult:
    """Minimize a function subject to constraints and bounds, with scipy's calling convention.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``.
    x0 : array_like (n,)
    args : tuple
        Extra arguments for ``fun``, ``jac`` and ``hess``.
    method : str, optional
        ``"interior-point"`` (the default for any problem) or ``"newton-kkt"``
        (equality constraints only). scipy's method names (``"trust-constr"``,
        ``"SLSQP"``, ...) are accepted so that calls port unchanged; they run the
        interior-point method.
    jac : callable, True, None or "2-point"/"3-point"/"cs"
        The gradient. ``None`` first tries to trace ``fun`` through
        :mod:`lagrangian.graph` (exact, ``result.derivatives["gradient"] ==
        "computation graph"``) and falls back to central differences.
    hess : callable, HessianUpdateStrategy, None or a difference scheme name
        The objective's Hessian ``hess(x, *args)``. The Lagrangian's Hessian is
        exact when every nonlinear constraint has ``hess`` too, or when ``fun``
        and the constraints trace through :mod:`lagrangian.graph`; otherwise it
        is formed by differences of exact gradients (when the first derivatives
        are exact and n is at most 1,000) or by a BFGS model: dense up to 1,000
        variables, limited-memory above (``BFGS()`` asks for the same; ``SR1()``
        selects a dense SR1 model). ``result.derivatives["hessian"]`` says which.
    bounds : scipy.optimize.Bounds or sequence of (min, max) pairs, optional
    constraints : dict, LinearConstraint, NonlinearConstraint or a sequence of them
    tol : float, optional
        Tolerance on the scaled KKT error (default 1e-8).
    options : dict, optional
        ``maxiter``, ``disp``/``verbose`` (print the iteration log), ``gtol``
        (same as ``tol``), ``max_time`` (seconds), ``max_evaluations``/``maxfev``,
        ``mu_init``. Unknown keys warn, as in scipy.
    callback : callable, optional
        ``callback(xk)`` or ``callback(intermediate_result)`` each iteration;
        raising ``StopIteration`` stops the solve (status ``STOPPED``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x, fun, success, status`` (0 on success; see :data:`STATUS_CODES`),
        ``status_name, message, nit, nfev, njev, nhev``, ``multipliers`` (one
        array per constraint, in the order given), ``bound_multipliers`` (``z``,
        length n), ``kkt`` (stationarity, primal, complementarity),
        ``derivatives`` (where each derivative came from) and ``solution`` (the
        package's :class:`~lagrangian.Solution`).
    """
    method_key = method.lower() if isinstance(method, str) else method
    if method_key not in _SCIPY_METHODS and method_key not in _OWN_METHODS:
        raise ProblemError("method", f"expected 'interior-point', 'newton-kkt' or a scipy method name, got {method!r}")
    solver = _OWN_METHODS.get(method_key, interior_point)
    x0 = np.atleast_1d(np.asarray(x0, dtype=float))
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)

    solver_options = {}
    for key, value in dict(options or {}).items():
        if key not in _OPTIONS:
            warnings.warn(f"Unknown solver options: {key}", RuntimeWarning, stacklevel=2)
            continue
        if key == "verbose":
            value = value >= 2
        solver_options[_OPTIONS[key]] = value
    if tol is not None:
        solver_options["tol"] = tol

    objective, gradient, gradient_source = _objective(fun, jac, args, x0)
    blocks, hessians, jacobian_sources = _constraints(constraints, x0)
    exact_first = gradient is not None and "finite differences" not in jacobian_sources
    sizes = [np.atleast_1d(block.fun(x0)).size for block in blocks]  # rows per block, read once at x0
    hessian, quasi_newton = _hessian(hess, args, sizes, hessians, exact_first, np.size(x0))
    hessian_source = None
    if hess is None and gradient_source == "computation graph":
        program = _traced_program(objective, gradient, blocks, sizes, x0)
        if program is not None:
            hessian, hessian_source = program.hessian, "computation graph"
            gradient, blocks = program.gradient, _share_trace(program, blocks, jacobian_sources, sizes)
    problem = Problem(
        objective,
        x0,
        gradient=gradient,
        constraints=blocks,
        bounds=_bounds(bounds, x0.size),
        hessian=hessian,
        quasi_newton=quasi_newton,
    )
    result = solver(problem, callback=_callback(callback), **solver_options)

    derivatives = dict(problem.derivative_sources)
    derivatives["gradient"] = gradient_source
    derivatives["jacobian"] = jacobian_sources
    if hessian_source is not None:
        derivatives["hessian"] = hessian_source
    g = problem.gradient(result.x)
    return OptimizeResult(
        x=np.array(result.x),
        fun=result.fun,
        jac=g,
        success=result.success,
        status=STATUS_CODES[result.status],
        status_name=result.status.name,
        message=result.message,
        nit=result.nit,
        nfev=result.evaluations["objective"],
        njev=result.evaluations["gradient"],
        nhev=result.evaluations["hessian"],
        multipliers=[np.array(result.multipliers[con.name]) for con in problem.constraints],
        bound_multipliers=np.array(result.z),
        kkt=result.kkt.as_dict(),
        derivatives=derivatives,
        method=solver.__name__,
        solution=result,
    )
