"""scipy's per-method ``status`` codes and messages, and the result fields each method adds.

Code written for ``scipy.optimize.minimize(method=...)`` reads ``res.status`` with
that method's meaning: with ``"trust-constr"`` 1 and 2 mean converged and 0 means
the iteration limit, with ``"SLSQP"`` 0 means converged and 9 the iteration
limit, and so on. :func:`scipy_status` maps the package's :class:`~lagrangian.Status`
to the code and message of the method named (for ``method=None``, the method scipy
itself would pick: SLSQP with constraints, L-BFGS-B with bounds only), and
:func:`method_fields` adds the fields that method's result carries.
``success`` and ``status_name`` stay the package's own: ``success`` is True only for
``Status.SUCCESS``, where an independent KKT check agrees.

Without a scipy method name (``"interior-point"``, ``"newton-kkt"``) ``status`` is
the package's code, :data:`STATUS_CODES`.
"""

from __future__ import annotations

import time

import numpy as np

from ..result import Status

__all__ = ["STATUS_CODES", "scipy_method", "scipy_status", "method_fields", "reports_fixed_gradient_unknown", "every_variable_fixed_message"]

#: The package's own ``result.status`` integers (``method="interior-point"``): 0 is success.
STATUS_CODES = {status: code for code, status in enumerate(Status)}

_LIMITS = {Status.MAX_ITERATIONS, Status.EVALUATION_LIMIT, Status.TIME_LIMIT}
_STALLED = {Status.LINE_SEARCH_FAILED, Status.ACCEPTABLE, Status.STALLED, Status.RESTORATION_FAILED}
_STOPPED = (99, "`callback` raised `StopIteration`.")

# (code, message) per package status, for each scipy method; None is the fallback
# for every status the table does not name.
_TRUST_CONSTR = {
    Status.SUCCESS: (1, "`gtol` termination condition is satisfied."),
    Status.MAX_ITERATIONS: (0, "The maximum number of function evaluations is exceeded."),
    Status.STOPPED: (3, "`callback` raised `StopIteration`."),
    "infeasible": (4, "Constraint violation exceeds 'gtol'"),
    None: (2, "`xtol` termination condition is satisfied."),
}
_SLSQP = {
    Status.SUCCESS: (0, "Optimization terminated successfully"),
    Status.MAX_ITERATIONS: (9, "Iteration limit reached"),
    Status.INFEASIBLE: (4, "Inequality constraints incompatible"),
    Status.SINGULAR_KKT: (6, "Singular matrix C in LSQ subproblem"),
    Status.STOPPED: _STOPPED,
    None: (8, "Positive directional derivative for linesearch"),
}
_LBFGSB = {
    Status.SUCCESS: (0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"),
    Status.MAX_ITERATIONS: (1, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"),
    Status.EVALUATION_LIMIT: (1, "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT"),
    Status.STOPPED: _STOPPED,
    None: (2, "ABNORMAL: "),
}
_TNC = {
    Status.SUCCESS: (0, "Local minimum reached (|pg| ~= 0)"),
    Status.INFEASIBLE: (-1, "Infeasible (lower bound > upper bound)"),
    Status.MAX_ITERATIONS: (3, "Max. number of function evaluations reached"),
    Status.EVALUATION_LIMIT: (3, "Max. number of function evaluations reached"),
    Status.STOPPED: _STOPPED,
    None: (4, "Linear search failed"),
}
_COBYLA = {  # PRIMA's exit flags
    Status.SUCCESS: (0, "Return from COBYLA because the trust region radius reaches its lower bound."),
    Status.MAX_ITERATIONS: (20, "Return from COBYLA because the maximal number of trust region iterations has been reached."),
    Status.EVALUATION_LIMIT: (3, "Return from COBYLA because the objective function has been evaluated MAXFUN times."),
    Status.NONFINITE: (-2, "Return from COBYLA because the objective function returns NaN/+Inf."),
    Status.STOPPED: (30, "Return from COBYLA because the callback function requested termination"),
    "infeasible": (0, "Did not converge to a solution satisfying the constraints. See `maxcv` for the magnitude of the violation."),
    None: (2, "Return from COBYLA because a trust region step has failed to reduce the quadratic model."),
}
_COBYQA = {
    Status.SUCCESS: (0, "The lower bound for the trust-region radius has been reached"),
    Status.MAX_ITERATIONS: (6, "The maximum number of iterations has been exceeded."),
    Status.EVALUATION_LIMIT: (5, "The maximum number of function evaluations has been exceeded."),
    Status.STOPPED: (3, "The callback requested to stop the optimization procedure."),
    "infeasible": (-1, "The bound constraints are infeasible."),
    None: (-2, "A linear algebra error occurred."),
}
_DIRECT_SEARCH = {  # Nelder-Mead and Powell
    Status.SUCCESS: (0, "Optimization terminated successfully."),
    Status.EVALUATION_LIMIT: (1, "Maximum number of function evaluations has been exceeded."),
    Status.MAX_ITERATIONS: (2, "Maximum number of iterations has been exceeded."),
    Status.STOPPED: _STOPPED,
    None: (3, "NaN result encountered."),
}
_GRADIENT_METHODS = {  # BFGS, CG, Newton-CG and the trust-region family
    Status.SUCCESS: (0, "Optimization terminated successfully."),
    Status.MAX_ITERATIONS: (1, "Maximum number of iterations has been exceeded."),
    Status.EVALUATION_LIMIT: (1, "Maximum number of iterations has been exceeded."),
    Status.STOPPED: _STOPPED,
    None: (2, "Desired error not necessarily achieved due to precision loss."),
}
_TABLES = {
    "trust-constr": _TRUST_CONSTR, "slsqp": _SLSQP, "l-bfgs-b": _LBFGSB, "tnc": _TNC, "cobyla": _COBYLA,
    "cobyqa": _COBYQA, "nelder-mead": _DIRECT_SEARCH, "powell": _DIRECT_SEARCH, "bfgs": _GRADIENT_METHODS,
    "cg": _GRADIENT_METHODS, "newton-cg": _GRADIENT_METHODS, "trust-ncg": _GRADIENT_METHODS,
    "trust-krylov": _GRADIENT_METHODS, "trust-exact": _GRADIENT_METHODS, "dogleg": _GRADIENT_METHODS,
}  # fmt: skip

#: The scipy method names whose codes :func:`scipy_status` knows.
SCIPY_METHODS = frozenset(_TABLES)


def scipy_method(method, has_constraints: bool, has_bounds: bool):
    """The scipy method whose codes apply: ``method`` itself, or scipy's own default choice for ``None``."""
    if method is None:
        return "slsqp" if has_constraints else ("l-bfgs-b" if has_bounds else "bfgs")
    return method if method in _TABLES else None


def scipy_status(method, status: Status, primal: float, tol: float, *, optimality=None, gtol: float = 1e-8):
    """``(code, message)`` of ``status`` in the numbering of scipy's ``method`` (None: the package's own).

    ``primal`` (the largest constraint violation) decides the methods that
    report an infeasible end apart from a stall. trust-constr's 1 ("`gtol`
    termination condition is satisfied") further needs ``optimality`` (the
    unscaled ``||grad_x L||_inf``) and ``primal`` at most ``gtol``.
    """
    if method is None:
        return STATUS_CODES[status], status.advice
    table = _TABLES[method]
    if method == "trust-constr" and status is Status.SUCCESS and optimality is not None and max(optimality, primal) > gtol:
        # Converged by the package's scaled KKT test but not to trust-constr's unscaled
        # gtol: report the small-step ending (2), whose tr_radius is the last step.
        return table[None]
    if status in table:
        return table[status]
    if status in _LIMITS and Status.MAX_ITERATIONS in table:
        return table[Status.MAX_ITERATIONS]
    if "infeasible" in table and (status is Status.INFEASIBLE or (status in _STALLED and primal > tol)):
        return table["infeasible"]
    return table[None]


#: scipy's methods that take variables fixed by their bounds (lb == ub) out of the problem
#: whenever a derivative is left to differences (TNC always: gh-14565), and then report
#: ``res.jac`` as NaN at those variables (scipy.optimize._minimize, gh-12502).
_REMOVES_FIXED = frozenset({"tnc", "slsqp", "l-bfgs-b"})


def _callable_jacobian(constraint) -> bool:
    """scipy's reading: a LinearConstraint's Jacobian is its matrix; a NonlinearConstraint
    or a dict has one only when ``jac`` is a callable (a scheme name means differences)."""
    if isinstance(constraint, dict):
        return callable(constraint.get("jac"))
    return callable(getattr(constraint, "jac", None)) or not hasattr(constraint, "jac")


def reports_fixed_gradient_unknown(method, jac, constraints) -> bool:
    """True when scipy's ``method`` (as the caller named it) reports NaN in ``res.jac`` at fixed variables.

    scipy solves such a problem in the free variables only, so the objective's
    partial derivatives in the fixed ones are never computed; its rule, kept here
    so that code reading ``res.jac`` sees the same array: the method is TNC, or it
    is SLSQP or L-BFGS-B and the objective's ``jac`` is not a callable (``True``,
    ``fun`` returning the gradient too, counts as one) or some constraint's is
    not. Any other method, the package's own included, reports the gradient it has.
    """
    if method not in _REMOVES_FIXED:
        return False
    return method == "tnc" or not (callable(jac) or jac is True) or not all(map(_callable_jacobian, constraints))


def every_variable_fixed_message(method, status: Status, primal: float, *, has_constraints: bool) -> str:
    """The message when every variable is fixed by its bounds (``lb == ub``): ``x = lb``, nothing to optimize.

    scipy's TNC, SLSQP and L-BFGS-B return at once in that case, with ``fun``
    evaluated once and messages of their own; under those names the message is
    scipy's, under any other it says the same in the package's words.
    ``primal`` is the largest constraint violation at ``lb``.
    """
    feasible = status is Status.SUCCESS
    if method in _REMOVES_FIXED:
        if not has_constraints:
            return "All independent variables were fixed by bounds."
        if feasible:
            return "All independent variables were fixed by bounds at values that satisfy the constraints."
        return (
            "All independent variables were fixed by bounds, but the independent variables do not "
            f"satisfy the constraints exactly. (Maximum violation: {primal})."
        )
    if feasible:
        return "every variable is fixed by its bounds (lb == ub): x = lb" + (", which satisfies the constraints" if has_constraints else "")
    return (
        f"every variable is fixed by its bounds (lb == ub), and x = lb violates the constraints by {primal:.3g}: "
        "the problem is infeasible as stated; check the bounds and the constraints"
    )


def _violation(values, lower, upper) -> float:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return 0.0
    return float(max(np.max(lower - values), np.max(values - upper), 0.0))


#: Above this many entries trust-constr's ``res.jac`` holds sparse (CSR) Jacobians.
_DENSE_JACOBIAN_ENTRIES = 10**6


def method_fields(method, solution, problem, *, gradient, lower, upper, started) -> dict:
    """The fields scipy's ``method`` puts on its result, computed at ``solution`` of ``problem``.

    ``lower``/``upper`` are the variable bounds (or None). trust-constr's
    constraint lists (``constr``, ``jac``, ``v``) have one entry per constraint
    and, when bounds were given, one more for the bounds (Jacobian ``I``,
    multipliers ``z``), as trust-constr orders them; ``v`` follows the package
    convention, which is trust-constr's (``grad f + sum J_k^T v_k = 0``).
    """
    x = solution.x
    values = problem.constraint_values(x) if problem.m else np.zeros(0)
    violation = _violation(values, problem.cl, problem.cu)
    if lower is not None:
        violation = max(violation, _violation(x, lower, upper))
    fields = {"maxcv": violation} if method in ("slsqp", "cobyla", "cobyqa") else {}
    if method != "trust-constr":
        return fields
    constr, jac, v = [], [], []
    J = problem.jacobian(x) if problem.m else None
    for name, rows in problem.slices.items():
        constr.append(values[rows])
        # as trust-constr gives them back: sparse when the constraint's jac returned a sparse
        # matrix, else dense (np.allclose and np.vstack work on those), unless that is large
        sparse = problem.sparse_jacobian.get(name, False) or (rows.stop - rows.start) * problem.n > _DENSE_JACOBIAN_ENTRIES
        jac.append(None if J is None else J[rows] if sparse else J[rows].toarray())
        v.append(np.array(solution.multipliers[name]))
    if lower is not None:
        constr.append(np.array(x))
        jac.append(np.eye(x.size))
        v.append(np.array(solution.z))
    lagrangian_grad = gradient + np.asarray(J.T @ solution.y).ravel() if J is not None else np.array(gradient)
    lagrangian_grad = lagrangian_grad + solution.z
    barrier = [r.barrier for r in solution.history if getattr(r, "barrier", None) is not None]
    steps = [r.step_norm for r in solution.history if getattr(r, "step_norm", None) is not None]
    inequalities = lower is not None or bool(np.any(problem.cl != problem.cu))
    fields.update(
        grad=np.array(gradient),
        lagrangian_grad=lagrangian_grad,
        optimality=float(np.linalg.norm(lagrangian_grad, np.inf)) if x.size else 0.0,
        constr_violation=violation,
        constr=constr,
        jac=jac,
        v=v,
        niter=solution.nit,
        cg_niter=0,  # the steps are direct KKT solves, no conjugate gradients
        cg_stop_cond=0,
        execution_time=time.perf_counter() - started,
        tr_radius=float(steps[-1]) if steps else 0.0,  # the last step's length (a line search, no trust region)
        barrier_parameter=float(barrier[-1]) if barrier else 0.0,
        barrier_tolerance=float(barrier[-1]) if barrier else 0.0,
        constr_penalty=1.0,
        method="tr_interior_point" if inequalities else "equality_constrained_sqp",
        constr_nfev=[solution.evaluations.get("constraints", 0)] * len(constr),
        constr_njev=[solution.evaluations.get("jacobian", 0)] * len(constr),
        constr_nhev=[solution.evaluations.get("hessian", 0)] * len(constr),
    )
    return fields
