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

import dataclasses
import inspect
import math
import time
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint, OptimizeResult, OptimizeWarning

from ..bounds import read_bounds
from ..errors import ApproximateDerivativeWarning, ProblemError
from ..fixed_variables import solve_without_fixed
from ..inputs import real_array, real_vector
from ..problem import Constraint, Problem
from ..result import Status
from ..solvers import interior_point, newton_kkt
from .scipy_derivatives import (
    CountedObjective,
    HessianProduct,
    TracedOrDifferences,
    difference_hessian,
    differences,
    hessian_term,
    lagrangian_hessian,
    objective_derivative,
    traced_derivative,
    traced_program,
)
from .scipy_qp import solve_if_quadratic
from .scipy_status import (
    SCIPY_METHODS,
    STATUS_CODES,
    every_variable_fixed_message,
    method_fields,
    reports_fixed_gradient_unknown,
    scipy_method,
    scipy_status,
)

__all__ = ["minimize", "STATUS_CODES"]

_OWN_METHODS = {"interior-point": interior_point, "newton-kkt": newton_kkt}
_OPTIONS = {
    "maxiter": "max_iterations",
    "max_iterations": "max_iterations",
    "max_time": "max_time",
    "max_evaluations": "max_evaluations",
    "maxfev": "max_evaluations",
    "maxfun": "max_evaluations",
    "mu_init": "mu_init",
    "gtol": "tol",
    "tol": "tol",
    "disp": "log",
    "verbose": "log",
}
# scipy options that have no counterpart here (tolerances of other algorithms, their
# trust-region and barrier settings, difference steps): accepted and ignored, as a
# port from scipy passes them.
_IGNORED_OPTIONS = frozenset({
    "xtol", "ftol", "barrier_tol", "eps", "finite_diff_rel_step", "initial_tr_radius", "initial_constr_penalty",
    "initial_barrier_parameter", "initial_barrier_tolerance", "factorization_method", "sparse_jacobian", "iprint",
    "rhobeg", "rhoend", "catol", "f_target", "maxls", "maxcor", "return_all", "adaptive", "xatol", "fatol",
    "direc", "scale", "offset", "mesg_num", "stepmx", "accuracy", "minfev", "rescale", "norm", "c1", "c2",
    "workers", "feasibility_tol", "final_tr_radius", "scale_init",
})  # fmt: skip


def _check_bounds_length(bounds, n):
    """A ``Bounds`` whose sides are neither one number nor ``n`` long: scipy's sentence, then ours.

    Code written for scipy matches the sentence (its tests do); the rest of the
    message says which side and how long it is.
    """
    if not (hasattr(bounds, "lb") and hasattr(bounds, "ub")):
        return
    for side in ("lb", "ub"):
        size = np.size(getattr(bounds, side))
        if size not in (1, n):
            raise ProblemError(
                "bounds",
                f"The number of bounds is not compatible with the length of `x0`: {side} has {size} entries, x0 has {n}",
            )


def _inside(x0, box):
    """``x0`` moved inside the bounds (scipy clips too, and warns)."""
    if box is None:
        return x0
    lb, ub = box
    if np.any(x0 < lb) or np.any(x0 > ub):
        warnings.warn("Initial guess is not within the specified bounds", OptimizeWarning, stacklevel=3)
        x0 = np.clip(x0, lb, ub)
    return x0


def _as_list(constraints):
    if constraints is None:
        return []
    if isinstance(constraints, (dict, LinearConstraint, NonlinearConstraint)):
        return [constraints]
    return list(constraints)


def _constraints(constraints, x0, *, lower, upper, sources, trace=True):
    """Our Constraint blocks and, per block, ``(kind, Hessian term, exact Jacobian?)`` for the Hessian.

    ``sources`` receives, per block, where its Jacobian comes from; ``trace=False``
    leaves a Jacobian that is not given to differences without trying a trace.
    """
    blocks, terms = [], []
    for k, con in enumerate(constraints):
        name = f"constraint {k}"
        if isinstance(con, dict):
            kind = con.get("type")
            if kind not in ("eq", "ineq") or not callable(con.get("fun")):
                raise ProblemError(f"constraints[{k}]", "a dict constraint needs 'type' ('eq' or 'ineq') and a callable 'fun'")
            args = tuple(con.get("args", ()))
            fun = (lambda x, f=con["fun"], a=args: f(x, *a)) if args else con["fun"]
            jac = con.get("jac")
            jac = (lambda x, j=jac, a=args: j(x, *a)) if callable(jac) else None
            lo, up, hessian = 0.0, (0.0 if kind == "eq" else np.inf), ("unknown", None)
        elif isinstance(con, LinearConstraint):
            A = sp.csr_array(con.A) if sp.issparse(con.A) else np.atleast_2d(np.asarray(con.A, dtype=float))
            if A.ndim != 2 or A.shape[1] != x0.size:
                raise ProblemError(f"constraints[{k}]", f"LinearConstraint's A has shape {A.shape}, expected (rows, {x0.size}) for x0 of {x0.size} entries")
            fun, jac, lo, up, hessian = (lambda x, A=A: A @ x), (lambda x, A=A: A), con.lb, con.ub, ("linear", None)
        elif isinstance(con, NonlinearConstraint):
            fun, jac, lo, up = con.fun, (con.jac if callable(con.jac) else None), con.lb, con.ub
            if callable(con.hess):
                label = f"constraints[{k}].hess"
                hessian = ("exact", lambda x, v, h=con.hess, label=label: hessian_term(h(x, v), x.size, label))
            elif con.hess is not None and not isinstance(con.hess, str):
                hessian = ("strategy", con.hess)
            else:
                hessian = ("unknown", None)
        else:
            raise ProblemError(f"constraints[{k}]", f"expected a dict, LinearConstraint or NonlinearConstraint, got {type(con).__name__}")
        if np.any(getattr(con, "keep_feasible", False)):
            # The interior point keeps the bounds, never general rows, feasible along the way.
            warnings.warn(
                f"constraints[{k}]: keep_feasible is honoured for bounds only; "
                "state the constraint as a bound, or expect iterates that violate it",
                OptimizeWarning,
                stacklevel=3,
            )
        if jac is not None:
            source = "exact"
        else:
            by_differences = differences(lambda x, f=fun: np.atleast_1d(real_array(f(x), "constraints: fun")).ravel(), lower, upper)
            traced = traced_derivative(fun, x0, vector=True, lower=lower, upper=upper) if trace else None
            if traced is not None:
                jac, source = TracedOrDifferences(traced, by_differences, sources, name), "computation graph"
            else:
                jac, source = by_differences, "finite differences"
        sources[name] = source
        blocks.append(Constraint(fun, lo, up, jacobian=jac, name=name))
        terms.append((hessian[0], hessian[1], source != "finite differences"))
    return blocks, terms


def _callback(callback):
    """Adapt scipy's ``callback(xk)``, ``callback(intermediate_result)`` or trust-constr's
    ``callback(xk, state)`` to the solvers' ``(record, x)``."""
    if callback is None:
        return None
    try:
        parameters = [p for p in inspect.signature(callback).parameters.values() if p.default is p.empty]
    except (TypeError, ValueError):
        parameters = []

    def state(record, x):
        """The iterate as scipy's callbacks see it, with trust-constr's progress fields a callback reads."""
        return OptimizeResult(
            x=x, fun=record.objective, nit=record.iteration, niter=record.iteration,
            # (no step yet at iteration 0: scipy's initial trust radius, 1)
            constr_violation=record.primal, optimality=record.dual, tr_radius=record.step_norm if record.iteration and record.step_norm is not None else 1.0,
            barrier_parameter=record.barrier, method="tr_interior_point",
        )  # fmt: skip

    if [p.name for p in parameters] == ["intermediate_result"]:
        return lambda record, x: callback(intermediate_result=state(record, x))
    if len(parameters) == 2:
        def two_arguments(record, x):
            if callback(x, state(record, x)):
                raise StopIteration  # trust-constr's old protocol: returning True stops
        return two_arguments
    return lambda record, x: callback(x)


#: The relative accuracy of the package's difference derivatives (central, or one-sided of
#: second order at a bound, with the step eps^(1/3) max(1, |x|): truncation and rounding
#: errors balance at eps^(2/3), about 4e-11). A KKT residual below it cannot be measured
#: with such derivatives, so the solver is not asked for one.
DIFFERENCE_ACCURACY = float(np.finfo(float).eps ** (2 / 3))


def _measurable_tolerance(solver_options, sources, jacobian_sources):
    """``(options, requested)``: the options with ``tol`` raised to :data:`DIFFERENCE_ACCURACY` when a
    first derivative is by differences, and the caller's tolerance (None when no derivative is).

    Below that accuracy the residual measured with difference derivatives is noise: a
    solve asked for less runs on at the answer with steps at rounding level (Shekel by
    differences at ``tol=1e-12``: up to 270 iterations; 55 at this tolerance).
    """
    requested = solver_options.get("tol", 1e-8)
    if not any(source.startswith("finite differences") for source in (sources["gradient"], *jacobian_sources.values())):
        return solver_options, None
    return dict(solver_options, tol=max(requested, DIFFERENCE_ACCURACY)), requested


def _at_requested_tolerance(result, requested):
    """The ending of a solve with difference derivatives, judged at the caller's tolerance ``requested``.

    A SUCCESS at the differences' accuracy is a SUCCESS at ``requested`` only if its
    residuals are below it, else ACCEPTABLE; an ACCEPTABLE (a stall at a small KKT
    error) names the differences as the likely limit rather than a degenerate problem.
    """
    if requested is None or result.status not in (Status.SUCCESS, Status.ACCEPTABLE):
        return result
    if result.status is Status.SUCCESS and (requested >= DIFFERENCE_ACCURACY or result.kkt.max() <= requested):
        return result  # the solver's own test ran at the caller's tolerance, or its residuals meet it
    message = (
        f"the KKT residuals ({result.kkt.max():.1e}) are above tol = {requested:g}, probably at what the difference "
        f"derivatives can measure (their relative accuracy is {DIFFERENCE_ACCURACY:.0e}, times the scale of the functions); "
        "pass exact derivatives (jac, the constraints' jac) for a tighter answer, or loosen tol"
    )
    return dataclasses.replace(result, status=Status.ACCEPTABLE, message=message)


# The iteration limits scipy's methods default to, kept when their name is given: a port
# from scipy expects the same bound on its running time (the interior point's own
# default, 3000, is for problems stated to this package).
_DEFAULT_MAXITER = {"trust-constr": 1000, "slsqp": 100}


def _limit(key, value, *, count: bool):
    """An iteration, evaluation or time limit as scipy reads one: None or inf is no limit, a
    negative count is 0, a count is rounded down; NaN and non-numbers are refused."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ProblemError(key, f"expected a number, got {value!r}") from None
    if math.isnan(number):
        raise ProblemError(key, "expected a number, got NaN")
    if number == math.inf:
        return None
    return min(int(max(number, 0.0)), 2**53) if count else number  # (a time limit <= 0 is the solver's to refuse)


def _solver_options(options, tol, method_key=None):
    solver_options = {}
    if method_key in _DEFAULT_MAXITER:
        solver_options["max_iterations"] = _DEFAULT_MAXITER[method_key]
    for key, value in dict(options or {}).items():
        if key in _OPTIONS:
            if key == "verbose":
                value = value >= 2
            if _OPTIONS[key] in ("max_iterations", "max_evaluations", "max_time"):
                value = _limit(key, value, count=_OPTIONS[key] != "max_time")
                if value is None:
                    continue
            if _OPTIONS[key] == "log":
                value = bool(value)
            solver_options[_OPTIONS[key]] = value
        elif key not in _IGNORED_OPTIONS:
            warnings.warn(f"Unknown solver options: {key}", OptimizeWarning, stacklevel=3)
    if tol is not None:
        solver_options["tol"] = tol
    if solver_options.get("tol") == 0:
        # scipy runs tol=0 to its own limits; here it is the tightest tolerance there is
        solver_options["tol"] = np.finfo(float).eps
    return solver_options


def minimize(
    fun,
    x0,
    args=(),
    method=None,
    jac=None,
    hess=None,
    hessp=None,
    bounds=None,
    constraints=(),
    tol=None,
    callback=None,
    options=None,
) -> OptimizeResult:
    """Minimize a function subject to constraints and bounds, with scipy's calling convention.

    The arguments are scipy's, in scipy's order.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float`` (an array of size 1 is taken as its number).
    x0 : array_like (n,)
        Moved inside the bounds if outside (with scipy's ``OptimizeWarning``).
    args : tuple
        Extra arguments for ``fun``, ``jac``, ``hess`` and ``hessp``.
    method : str or callable, optional
        ``"interior-point"`` (the default for any problem) or ``"newton-kkt"``
        (equality constraints only). scipy's method names (``"trust-constr"``,
        ``"SLSQP"``, ...) are accepted so that calls port unchanged; they run the
        interior-point method, and ``status``/``message`` then follow that
        method's codes (:mod:`lagrangian.interfaces.scipy_status`). A callable is
        a custom minimizer and is called as scipy calls it.
    jac : callable, True, False, None or "2-point"/"3-point"/"cs"
        The gradient. ``None``/``False`` first try to trace ``fun`` through
        :mod:`lagrangian.graph` (exact, ``result.derivatives["gradient"] ==
        "computation graph"``) and fall back to differences. Differences never
        leave the bounds (one-sided at a bound).
    hess, hessp : callable, HessianUpdateStrategy, None or a difference scheme name
        The objective's Hessian ``hess(x, *args)`` or its product
        ``hessp(x, p, *args)``. The Lagrangian's Hessian is exact when every
        nonlinear constraint has ``hess`` too, or when ``fun`` and the
        constraints trace through :mod:`lagrangian.graph`; otherwise missing
        terms come from differences of exact gradients (n at most 1,000) or the
        whole Hessian from a BFGS model (``SR1()`` selects SR1).
        ``result.derivatives["hessian"]`` says which.
    bounds : scipy.optimize.Bounds or sequence of (min, max) pairs, optional
        Scalars broadcast. Variables with ``lb == ub`` are fixed and removed from
        the problem (:mod:`lagrangian.fixed_variables`); ``fun`` is never
        evaluated outside the bounds (``keep_feasible`` holds for every bound).
    constraints : dict, LinearConstraint, NonlinearConstraint, a sequence of them, or None
    tol : float, optional
        Tolerance on the scaled KKT error (default 1e-8); 0 asks for the tightest
        there is (machine epsilon: the solve then usually ends ACCEPTABLE, its
        residuals at rounding level but not below it).
    options : dict, optional
        ``maxiter`` (default: the interior point's 3000, or scipy's default for
        the method named: 1000 for trust-constr, 100 for SLSQP; as in scipy,
        ``np.inf`` is no limit and a negative count is 0),
        ``disp``/``verbose`` (print the iteration log), ``gtol``
        (same as ``tol``), ``max_time`` (seconds), ``max_evaluations``/``maxfev``/
        ``maxfun``, ``mu_init``. Other scipy options are accepted and ignored;
        unknown keys warn (``OptimizeWarning``), as in scipy.
    callback : callable, optional
        ``callback(xk)``, ``callback(intermediate_result)`` or trust-constr's
        ``callback(xk, state)`` each iteration; raising ``StopIteration`` stops the
        solve (status ``STOPPED``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x, fun, jac, success, status, message, nit, nfev`` (every call of
        ``fun``), ``njev, nhev``, ``multipliers`` (one array per constraint, in
        the order given), ``bound_multipliers`` (``z``, length n), ``kkt``
        (stationarity, primal, complementarity), ``status_name`` (the package's
        :class:`~lagrangian.Status`), ``derivatives`` (where each derivative came
        from), ``solution`` (the package's :class:`~lagrangian.Solution`), and the
        fields of the scipy method named: trust-constr's ``constr_violation``,
        ``optimality``, ``v``, ``constr``, ``jac``, ``grad``, ``lagrangian_grad``,
        ... and SLSQP's/COBYLA's ``maxcv``.
    """
    started = time.perf_counter()
    # scipy: anything but a tuple is one argument (a list is not unpacked)
    args = args if isinstance(args, tuple) else (args,)
    if callable(method):
        return method(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, bounds=bounds, constraints=constraints,
                      callback=callback, **dict(options or {}))  # fmt: skip
    method_key = method.lower() if isinstance(method, str) else method
    if method_key is not None and method_key not in SCIPY_METHODS and method_key not in _OWN_METHODS:
        raise ProblemError("method", f"expected 'interior-point', 'newton-kkt', a scipy method name or a callable, got {method!r}")
    solver = _OWN_METHODS.get(method_key, interior_point)
    x0 = real_vector(x0, "x0", at_least_1d=True)
    n = x0.size
    constraints = _as_list(constraints)
    # scipy's reading: a sequence of two-entry sequences is only ever (min, max) pairs.
    _check_bounds_length(bounds, n)
    box = None if bounds is None else read_bounds(bounds, n, pairs=True)
    x0 = _inside(x0, box)
    solver_options = _solver_options(options, tol, method_key)

    objective = CountedObjective(fun, args, returns_gradient=jac is True)
    sources, jacobian_sources = {}, {}
    every_fixed = box is not None and bool(np.all(box[0] == box[1]))
    problem, terms, program = _problem(
        objective, x0, jac=jac, hess=hess, hessp=hessp, args=args, box=box, constraints=constraints,
        sources=sources, jacobian_sources=jacobian_sources, every_fixed=every_fixed,
    )  # fmt: skip

    # Built here and solved at once: the solve may start from the values the problem's
    # checks computed at x0 (no code of the caller's runs in between to change them).
    with problem.reusing_evaluations(construction=True):
        adapted = _callback(callback)
        result = None if every_fixed else solve_if_quadratic(problem, hess=hess, hessp=hessp, terms=terms, program=program, options=dict(solver_options, callback=adapted))
        if result is None:
            solver_options, requested_tol = _measurable_tolerance(solver_options, sources, jacobian_sources)
            result = solve_without_fixed(solver, problem, callback=adapted, **solver_options)
            if method_key == "trust-constr":
                result = _to_unscaled_tolerance(result, solver, problem, callback, solver_options)
            result = _at_requested_tolerance(result, requested_tol)
        problem._settle_hessian_check()  # owed where the solve stopped before its first Hessian
        out = _result(result, problem, objective, method_key, sources, jacobian_sources, box, started, solver_options)
    if box is not None and reports_fixed_gradient_unknown(method_key, jac, constraints):
        # scipy's TNC, SLSQP and L-BFGS-B report these partial derivatives as unknown (NaN).
        out.jac = np.where(box[0] == box[1], np.nan, out.jac)
    if every_fixed:
        out.message = every_variable_fixed_message(method_key, result.status, result.kkt.primal, has_constraints=problem.m > 0)
    return out


def _problem(objective, x0, *, jac, hess, hessp, args, box, constraints, sources, jacobian_sources, every_fixed=False):
    """The :class:`~lagrangian.Problem` for scipy's arguments, every derivative a callable made here.

    Returns ``(problem, terms, program)``: the blocks' Hessian kinds (for the QP
    test) and the traced program, if the objective and constraints traced
    together. ``sources``/``jacobian_sources`` receive where each derivative comes from.
    With ``every_fixed`` (every variable fixed by its bounds) nothing is traced:
    there is no direction to differentiate in, and ``fun`` is called once, at ``lb``.
    """
    n = x0.size
    lower, upper = box if box is not None else (None, None)
    gradient = objective_derivative(objective, jac, x0, lower=lower, upper=upper, sources=sources, trace=not every_fixed)
    blocks, terms = _constraints(constraints, x0, lower=lower, upper=upper, sources=jacobian_sources, trace=not every_fixed)
    exact = lambda source: source != "finite differences"  # noqa: E731
    program = None
    if hess is None and hessp is None and sources["gradient"] == "computation graph" and all(
        kind == "linear" or exact(jacobian_sources[block.name]) for block, (kind, _, _) in zip(blocks, terms)
    ):
        program = traced_program(objective.raw, gradient, blocks, x0, lower=lower, upper=upper)
    if program is not None:
        program, sizes = program
        gradient = TracedOrDifferences(program.gradient, gradient.differences, sources, "gradient")
        blocks = _share_trace(program, blocks, jacobian_sources, sizes)
        differenced = difference_hessian(gradient, [block.jacobian for block in blocks], sizes, lower=lower, upper=upper)
        hessian, quasi_newton, sources["hessian"] = TracedOrDifferences(program.hessian, differenced, sources, "hessian"), "auto", "computation graph"
    else:
        sizes = [np.atleast_1d(block.fun(x0)).size for block in blocks]
        starts = np.cumsum([0, *sizes])
        hessian_blocks = [
            (slice(int(a), int(b)), kind, term, block.jacobian, ok)
            for (kind, term, ok), block, a, b in zip(terms, blocks, starts[:-1], starts[1:])
        ]
        hessian, quasi_newton, hessian_source = lagrangian_hessian(
            hess=hess, hessp=hessp, args=args, gradient=gradient, exact_gradient=exact(sources["gradient"]),
            blocks=hessian_blocks, n=n, lower=lower, upper=upper,
        )  # fmt: skip
        if hessian_source is not None:
            sources["hessian"] = hessian_source
    if not every_fixed:
        _warn_if_approximated(sources, jacobian_sources)
    product = hessian.product if isinstance(hessian, HessianProduct) else None
    hessian = None if product is not None else hessian
    problem = Problem._solved_at_once(
        objective, x0, gradient=gradient, constraints=blocks, bounds=box, hessian=hessian, hessian_product=product, quasi_newton=quasi_newton
    )
    return problem, terms, program



def _to_unscaled_tolerance(result, solver, problem, callback, solver_options, rounds=2):
    """trust-constr's promise, ``||grad_x L||_inf <= gtol`` unscaled: tighten the scaled tolerance and warm-start.

    The package stops on a KKT error scaled by the size of the multipliers
    (IPOPT's ``s_d``); with large multipliers the unscaled residual can be above
    ``gtol`` at a SUCCESS. Up to ``rounds`` more solves from ``(x, y, z)`` with the
    tolerance cut by the ratio (and a factor 10) close that gap where the
    arithmetic allows; the result keeps whichever solve ended better.
    """
    gtol = solver_options.get("tol", 1e-8)
    tol = gtol
    for _ in range(rounds):
        stationarity = result.kkt.stationarity
        if not (result.success and max(stationarity, result.kkt.primal) > gtol):
            return result
        tol = max(tol * gtol / max(stationarity, result.kkt.primal) / 10, 1e-15)
        options = dict(solver_options, tol=tol, x0=result.x, y0=result.y, z0=result.z)
        polished = solve_without_fixed(solver, problem, callback=_callback(callback), **options)
        if not (polished.success and polished.kkt.max() < result.kkt.max()):
            return result
        result = polished
    return result


def _warn_if_approximated(sources, jacobian_sources):
    approximated = [f"jacobian of {name!r}" for name, source in jacobian_sources.items() if source == "finite differences"]
    if sources["gradient"] == "finite differences":
        approximated.insert(0, "gradient")
    if approximated:
        warnings.warn(
            f"approximating the {', '.join(approximated)} by finite differences inside the bounds "
            "(about 10 correct digits); pass exact derivatives for tighter KKT residuals",
            ApproximateDerivativeWarning,
            stacklevel=3,
        )


def _share_trace(program, blocks, sources, sizes):
    """The traced blocks with their Jacobians read from ``program``'s one trace per point."""
    starts = np.cumsum([0, *sizes])
    shared = []
    for block, start, stop in zip(blocks, starts[:-1], starts[1:]):
        if sources[block.name] == "computation graph":
            rows = slice(int(start), int(stop))
            jacobian = TracedOrDifferences(lambda x, rows=rows: program.jacobian(x)[rows], block.jacobian.differences, sources, block.name)
            block = Constraint(block.fun, block.lower, block.upper, jacobian=jacobian, name=block.name)
        shared.append(block)
    return shared


def _result(result, problem, objective, method_key, sources, jacobian_sources, box, started, solver_options):
    derivatives = dict(problem.derivative_sources)
    derivatives.update(sources)
    derivatives["jacobian"] = [jacobian_sources[name] for name in problem.slices]
    g = problem.gradient(result.x)
    tol = solver_options.get("tol", 1e-8)
    named = None if method_key in _OWN_METHODS else scipy_method(method_key, problem.m > 0, box is not None)
    lower, upper = box if box is not None else (None, None)
    fields = method_fields(named, result, problem, gradient=g, lower=lower, upper=upper, started=started)
    code, message = scipy_status(named, result.status, result.kkt.primal, tol, optimality=fields.get("optimality"), gtol=tol)
    if named is None:
        message = result.message  # the package's own words, which may say more than the status's advice
    elif result.status in (Status.ACCEPTABLE, Status.STALLED, Status.LINE_SEARCH_FAILED, Status.RESTORATION_FAILED):
        # scipy's text for a stop it has no name for is a stand-in ("Positive directional
        # derivative..."): the package's own words say why the run stopped.
        message = f"{message} (lagrangian: {result.message})"
    out = OptimizeResult(
        x=np.array(result.x),
        fun=result.fun,
        jac=g,
        success=result.success,
        status=code,
        status_name=result.status.name,
        message=message,
        nit=result.nit,
        nfev=objective.calls,
        njev=result.evaluations["gradient"],
        nhev=result.evaluations["hessian"],
        multipliers=[np.array(result.multipliers[name]) for name in problem.slices],
        bound_multipliers=np.array(result.z),
        kkt=result.kkt.as_dict(),
        derivatives=derivatives,
        certificate=result.certificate,
        second_order=result.second_order,
        solution=result,
        method=result.solver,
    )
    out.update(fields)  # trust-constr's own "method" and "jac" replace ours
    return out
