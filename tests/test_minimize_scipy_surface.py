"""``lagrangian.minimize`` as a drop-in for scipy: arguments scipy accepts, per-method results,
evaluations that stay inside the bounds, fixed variables, branching objectives, QPs.

Each answer is checked against an independent truth: a closed form, scipy's own
solver on the same call, or the KKT conditions recomputed from the user's functions.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint, OptimizeWarning, rosen
from scipy.optimize import minimize as scipy_minimize

import lagrangian as lg
from lagrangian.derivatives import finite_difference_jacobian


class Recorder:
    """An objective that records every point it is called at."""

    def __init__(self, fun):
        self.fun, self.points, self.calls = fun, [], 0

    def __call__(self, x, *args):
        self.calls += 1  # a trace calls with traced values, which are not points
        if np.asarray(x).dtype != object:
            self.points.append(np.array(x, dtype=float))
        return self.fun(x, *args)

    def assert_inside(self, lb, ub):
        points = np.array(self.points)
        outside = np.any((points < lb) | (points > ub), axis=1)
        assert not outside.any(), f"{outside.sum()} of {len(points)} evaluations outside the bounds, e.g. {points[outside][0]}"


def test_scalar_bounds_broadcast_portfolio():
    # min risk x' S x - r'x, sum x = 1, x >= 0 written with scipy's scalar Bounds(0, inf).
    S = np.array([[0.1, 0.02, 0.0], [0.02, 0.2, 0.01], [0.0, 0.01, 0.3]])
    r = np.array([0.05, 0.1, 0.02])
    args = dict(bounds=Bounds(0, np.inf), constraints=LinearConstraint(np.ones((1, 3)), 1, 1))
    ours = lg.minimize(lambda x: x @ S @ x - r @ x, np.full(3, 1 / 3), **args)
    theirs = scipy_minimize(lambda x: x @ S @ x - r @ x, np.full(3, 1 / 3), method="SLSQP", options={"ftol": 1e-12}, **args)
    assert ours.success
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)


@pytest.mark.parametrize("jac", [None, False, "2-point", "3-point"])
def test_evaluations_stay_inside_bounds_with_x0_outside_and_a_fixed_variable(jac):
    # sqrt and log are undefined below 0: the objective may only be called inside [lb, ub].
    lb, ub = np.array([0.0, 1.0, 0.0]), np.array([4.0, 1.0, 3.0])
    fun = Recorder(lambda x: (math.sqrt(x[0]) - 1.5) ** 2 + x[1] * math.log(1 + x[2]) + (x[2] - 0.2) ** 2)
    with pytest.warns(OptimizeWarning, match="Initial guess is not within the specified bounds"):
        res = lg.minimize(fun, [-1.0, 3.0, 5.0], jac=jac, bounds=Bounds(lb, ub))
    fun.assert_inside(lb, ub)
    # x0 = 2.25 (sqrt = 1.5); x2 solves 1/(1 + x2) + 2 (x2 - 0.2) = 0, x2 < 0: the bound 0 is active.
    np.testing.assert_allclose(res.x, [2.25, 1.0, 0.0], atol=1e-5)
    assert res.success and res.nfev == fun.calls


def test_branching_objective_falls_back_to_differences_instead_of_crashing():
    def f(x):  # the example: math.exp cannot take a traced value
        return (x[0] - 0.2) ** 2 + x[1] ** 2 if x[0] > 0.5 else math.exp(x[0] - 0.5) * 0.09 + x[1] ** 2

    res = lg.minimize(f, [1.0, 1.0], bounds=[(-1, 2), (-1, 2)])
    # On x0 <= .5 the minimum is at the bound x0 = -1 (0.09 e^-1.5 = 0.0201 < 0.09 on the other branch).
    np.testing.assert_allclose(res.x, [-1.0, 0.0], atol=1e-5)
    assert res.fun == pytest.approx(0.09 * math.exp(-1.5), rel=1e-6)
    assert "finite differences" in res.derivatives["gradient"]


def test_arguments_scipy_accepts():
    quadratic = lambda x: (x[0] - 1) ** 2 + (x[1] - 2.5) ** 2  # noqa: E731
    # constraints=None, jac=False, positional args, a size-1 array objective, hessp.
    res = lg.minimize(lambda x, a: np.array([quadratic(x) + a]), [2.0, 0.0], (1.0,), None, False, constraints=None, bounds=[(0, None), (0, 2)])
    np.testing.assert_allclose(res.x, [1.0, 2.0], atol=1e-6)
    assert res.fun == pytest.approx(1.25, rel=1e-8)
    res = lg.minimize(
        quadratic, [2.0, 0.0], jac=lambda x: np.array([2 * (x[0] - 1), 2 * (x[1] - 2.5)]),
        hessp=lambda x, p: 2 * p, bounds=Bounds([0, 0], [np.inf, 2]), method="trust-constr",
    )  # fmt: skip
    np.testing.assert_allclose(res.x, [1.0, 2.0], atol=1e-6)
    assert res.derivatives["hessian"] == "exact"

    def custom(fun, x0, args=(), **kwargs):
        return {"x": np.asarray(x0), "called_with": sorted(kwargs)}

    out = lg.minimize(quadratic, [0.0, 0.0], method=custom, bounds=[(0, 1), (0, 1)])
    assert out["called_with"] == ["bounds", "callback", "constraints", "hess", "hessp", "jac"]


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr"])
def test_args_that_is_not_a_tuple_is_one_argument_as_in_scipy(method):
    # scipy: ``if not isinstance(args, tuple): args = (args,)``; a list was unpacked (target 3, scale 4)
    def objective(x, target, scale=1.0):
        return scale * float(np.sum((x - np.asarray(target)) ** 2))

    ours = lg.minimize(objective, [0.0, 0.0], args=[3.0, 4.0], method=method, bounds=[(0, 10)] * 2)
    theirs = scipy_minimize(objective, [0.0, 0.0], args=[3.0, 4.0], method=method, bounds=[(0, 10)] * 2)
    np.testing.assert_allclose(ours.x, [3.0, 4.0], atol=1e-7)
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-5)


def test_nfev_counts_every_call_of_fun():
    fun = Recorder(lambda x: (x[0] - 3) ** 2 + math.sin(x[1]))  # math.sin: not traceable, differences
    res = lg.minimize(fun, [0.0, 0.0], bounds=[(-1, 1), (-2, 2)], method="SLSQP")
    assert res.nfev == fun.calls > res.nit


HS71_OBJECTIVE = lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]  # noqa: E731
HS71 = dict(
    bounds=Bounds(1, 5),
    constraints=[
        NonlinearConstraint(lambda x: x[0] * x[1] * x[2] * x[3], 25, np.inf),
        NonlinearConstraint(lambda x: x @ x, 40, 40),
    ],
)


def test_trust_constr_status_and_fields_agree_with_scipy_trust_constr():
    x0 = np.array([1.0, 5.0, 5.0, 1.0])
    ours = lg.minimize(HS71_OBJECTIVE, x0, method="trust-constr", **HS71)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        theirs = scipy_minimize(HS71_OBJECTIVE, x0, method="trust-constr", options={"gtol": 1e-10, "xtol": 1e-12}, **HS71)
    assert ours.status in (1, 2) and ours.success and ours.optimality <= 1e-8
    assert ours.method in ("tr_interior_point", "equality_constrained_sqp")
    assert len(ours.v) == len(theirs.v) == 3 and len(ours.constr) == 3 and len(ours.jac) == 3
    for mine, scipys in zip(ours.v, theirs.v):
        np.testing.assert_allclose(mine, scipys, atol=1e-5)
    for mine, scipys in zip(ours.constr, theirs.constr):
        np.testing.assert_allclose(mine, scipys, atol=1e-6)
    assert ours.constr_violation <= 1e-8
    np.testing.assert_allclose(ours.lagrangian_grad, theirs.lagrangian_grad, atol=1e-6)
    # the Jacobians as scipy gives a dense Jacobian's: arrays that np.allclose and np.vstack take
    # (before: CSR arrays; np.vstack made an object array of them)
    for mine, scipys in zip(ours.jac, theirs.jac):
        assert type(mine) is type(scipys) is np.ndarray
        np.testing.assert_allclose(mine, scipys, atol=1e-5)
    assert np.vstack(ours.jac).dtype == float


def test_slsqp_codes_and_maxcv():
    x0 = np.array([1.0, 5.0, 5.0, 1.0])
    res = lg.minimize(HS71_OBJECTIVE, x0, method="SLSQP", **HS71)
    assert res.status == 0 and res.maxcv <= 1e-8
    res = lg.minimize(HS71_OBJECTIVE, x0, method="SLSQP", options={"maxiter": 2}, **HS71)
    assert (res.status, res.message, res.status_name) == (9, "Iteration limit reached", "MAX_ITERATIONS")
    res = lg.minimize(HS71_OBJECTIVE, x0, method="trust-constr", options={"maxiter": 2}, **HS71)
    assert res.status == 0 and not res.success


def test_fixed_variables_are_removed_and_get_the_multiplier_that_closes_stationarity():
    # rosen with x1 = 2 and x3 = -1 fixed (scipy's own test_equal_bounds problem).
    from scipy.optimize import rosen, rosen_der

    lb, ub = [0.0, 2.0, -np.inf, -1.0], [1.0, 2.0, np.inf, -1.0]
    fun = Recorder(rosen)
    res = lg.minimize(fun, [0.5, 2.0, 1.0, -1.0], jac=rosen_der, bounds=Bounds(lb, ub))
    theirs = scipy_minimize(rosen, [0.5, 2.0, 1.0, -1.0], jac=rosen_der, bounds=Bounds(lb, ub), method="L-BFGS-B")
    fun.assert_inside(lb, ub)
    np.testing.assert_allclose(res.x, theirs.x, atol=1e-5)
    g = rosen_der(res.x)
    np.testing.assert_allclose(res.bound_multipliers[[1, 3]], -g[[1, 3]], rtol=1e-10)
    lg.testing.assert_kkt(res.solution._problem, res.solution, tol=1e-6)


@pytest.mark.parametrize("method", ["SLSQP", "L-BFGS-B", "TNC", "trust-constr", None])
@pytest.mark.parametrize("derivatives", ["exact", "objective by differences", "constraint by differences"])
def test_res_jac_at_fixed_variables_follows_the_named_scipy_method(method, derivatives):
    # scipy's TNC, SLSQP and L-BFGS-B take the fixed variables out whenever a derivative is
    # left to differences (TNC always) and report NaN for them in res.jac; the truth here is
    # scipy's own result on the same call. Other methods, ours included, report the gradient.
    from scipy.optimize import rosen, rosen_der

    lb, ub = np.array([0.0, 2.0, -np.inf, -1.0]), np.array([1.0, 2.0, np.inf, -1.0])
    x0 = np.array([0.5, 2.0, 0.0, -1.0])
    jac = False if derivatives == "objective by differences" else rosen_der
    con_jac = "2-point" if derivatives == "constraint by differences" else (lambda x: np.array([[0.0, 0.0, 1.0, 0.0]]))
    constraints = [NonlinearConstraint(lambda x: x[2:3] - 0.5, -np.inf, 0.0, jac=con_jac)] if method in ("SLSQP", "trust-constr", None) else []
    call = dict(jac=jac, bounds=Bounds(lb, ub), constraints=constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = lg.minimize(rosen, x0, method=method, **call)
        own = lg.minimize(rosen, x0, method="interior-point", **call)
    assert ours.success
    jac = ours.grad if method == "trust-constr" else ours.jac  # trust-constr's jac lists the constraints'
    if method in ("SLSQP", "L-BFGS-B", "TNC"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = scipy_minimize(rosen, x0, method=method, **call)
        np.testing.assert_array_equal(np.isnan(jac), np.isnan(theirs.jac))
        np.testing.assert_allclose(ours.x, theirs.x, atol=1e-4)
    # Otherwise a partial derivative is unknown only where it cannot be known: a difference
    # in a variable without room would leave the bounds.
    for res in ([ours] if method in ("trust-constr", None) else []) + [own]:
        reported = res.grad if res is ours and method == "trust-constr" else res.jac
        unknown = lb == ub if res.derivatives["gradient"] == "finite differences" else np.zeros(4, bool)
        np.testing.assert_array_equal(np.isnan(reported), unknown)
    # Where a number is reported, it is the gradient.
    g = rosen_der(ours.x)
    np.testing.assert_allclose(jac[~np.isnan(jac)], g[~np.isnan(jac)], rtol=1e-5, atol=1e-5)


def test_every_variable_fixed_is_a_feasibility_check():
    res = lg.minimize(lambda x: np.linalg.norm(x), [1.0, 3.0], bounds=[(1, 1), (2, 2)], constraints=NonlinearConstraint(np.sum, -np.inf, 0.0))
    assert not res.success and res.status_name == "INFEASIBLE" and res.fun == pytest.approx(math.sqrt(5))
    res = lg.minimize(lambda x: np.linalg.norm(x), [1.0, 3.0], bounds=[(1, 1), (2, 2)], constraints=NonlinearConstraint(np.sum, -np.inf, 4.0))
    assert res.success and np.array_equal(res.x, [1.0, 2.0])


# upper: no constraint, sum x <= 0 (violated at lb) or sum x <= 4 (satisfied); scipy's
# L-BFGS-B and TNC take no constraints.
_EVERY_FIXED_CASES = [(m, None) for m in ("L-BFGS-B", "TNC")] + [(m, u) for m in ("SLSQP", "trust-constr", None) for u in (None, 0.0, 4.0)]


@pytest.mark.parametrize(("method", "upper"), _EVERY_FIXED_CASES)
@pytest.mark.parametrize("jac", [None, lambda x: x / np.linalg.norm(x)])
def test_every_variable_fixed_returns_after_one_evaluation_of_fun(method, upper, jac):
    # Nothing to optimize: x = lb after one call of fun (no trace, no difference), as scipy's
    # TNC, SLSQP and L-BFGS-B do; under those names scipy's own message, the truth being scipy's result.
    constraints = [] if upper is None else [NonlinearConstraint(np.sum, -np.inf, upper)]
    fun = Recorder(lambda x: np.linalg.norm(x) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        res = lg.minimize(fun, [1.0, 3.0], method=method, jac=jac, bounds=[(1, 1), (2, 2)], constraints=constraints)
    assert fun.calls == res.nfev == 1 and res.nit == 0
    assert np.array_equal(res.x, [1.0, 2.0]) and res.fun == math.sqrt(5) + 1
    assert res.success == (upper != 0.0)
    if method in ("SLSQP", "L-BFGS-B", "TNC"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            theirs = scipy_minimize(fun.fun, [1.0, 3.0], method=method, jac=jac, bounds=[(1, 1), (2, 2)], constraints=constraints)
        assert (res.message, res.success, res.nfev) == (theirs.message, theirs.success, theirs.nfev)
    else:
        assert res.message.startswith("every variable is fixed by its bounds")
    if upper == 0.0:
        assert res.status_name == "INFEASIBLE" and res.kkt["primal"] == 3.0
    elif callable(jac):
        # y = 0 and z closes the stationarity rows: z = -grad f.
        np.testing.assert_allclose(res.bound_multipliers, -jac(res.x), rtol=1e-15)


def test_one_sided_differences_at_a_bound_are_second_order():
    fun = lambda x: np.array([np.sqrt(x[0]) * x[1], np.log(x[1]) + x[0] ** 3])  # noqa: E731
    exact = lambda x: np.array([[0.5 / np.sqrt(x[0]) * x[1], np.sqrt(x[0])], [3 * x[0] ** 2, 1 / x[1]]])  # noqa: E731
    x = np.array([0.25, 1.0])
    for lower, upper in (([0.25, 0.5], [1, 2]), ([0, 0.5], [0.25, 1.0]), ([0.25, 1.0], [0.25 + 1e-7, 1.0 + 3e-6])):
        seen = Recorder(fun)
        J = finite_difference_jacobian(seen, x, lower=lower, upper=upper)
        seen.assert_inside(lower, upper)
        np.testing.assert_allclose(J, exact(x), rtol=1e-7)
    J = finite_difference_jacobian(fun, x, lower=[0.25, 0.5], upper=[0.25, 2])
    assert np.isnan(J[:, 0]).all() and np.allclose(J[:, 1], exact(x)[:, 1])  # no room: unknown, not zero


def test_a_qp_through_minimize_goes_to_the_convex_method_and_agrees_with_solve_qp():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((6, 6))
    P, q = M @ M.T + np.eye(6), rng.standard_normal(6)
    A = rng.standard_normal((3, 6))
    qp = lg.QuadraticProgram(P, q, A, -np.ones(3), np.ones(3), bounds=(-0.5 * np.ones(6), np.ones(6)))
    reference = lg.solve(qp)  # dispatches to solve_qp
    assert reference.solver == lg.solve_qp(qp).solver and reference.success
    res = lg.minimize(
        lambda x: 0.5 * x @ P @ x + q @ x, np.zeros(6), jac=lambda x: P @ x + q, hess=lambda x: P,
        constraints=LinearConstraint(A, -1, 1), bounds=Bounds(-0.5, 1),
    )  # fmt: skip
    assert res.success and res.solution.solver == reference.solver
    np.testing.assert_allclose(res.x, reference.x, atol=1e-7)
    np.testing.assert_allclose(res.multipliers[0], reference.y, atol=1e-6)
    # A nonconvex quadratic is not handed to the convex method.
    res = lg.minimize(lambda x: -(x @ x), np.full(6, 0.1), hess=lambda x: -2 * np.eye(6), bounds=Bounds(-0.5, 1))
    assert res.solution.solver != reference.solver
    np.testing.assert_allclose(np.abs(res.x), 1.0 * (res.x > 0) + 0.5 * (res.x < 0), atol=1e-6)


def test_solve_removes_fixed_variables_and_closes_their_stationarity_rows():
    # min (x0 - 1)^2 + (x1 - 2)^2 + x0 x1  with x1 fixed at 3: x0 = 1 - 3/2 = -0.5.
    seen = Recorder(lambda x: (x[0] - 1) ** 2 + (x[1] - 2) ** 2 + x[0] * x[1])
    problem = lg.Problem(
        seen, [0.0, 3.0], gradient=lambda x: np.array([2 * (x[0] - 1) + x[1], 2 * (x[1] - 2) + x[0]]),
        constraints=[lg.Inequality(lambda x: x[0] + x[1], upper=10.0, jacobian=lambda x: [[1.0, 1.0]], name="sum")],
        bounds=([-5.0, 3.0], [5.0, 3.0]),
    )  # fmt: skip
    solution = lg.solve(problem)
    assert solution.success
    np.testing.assert_allclose(solution.x, [-0.5, 3.0], atol=1e-7)
    # z_1 = -(df/dx1 + y) with y = 0 (the row is inactive): -(2 (3 - 2) - 0.5) = -1.5.
    np.testing.assert_allclose(solution.z, [0.0, -1.5], atol=1e-6)
    lg.testing.assert_kkt(problem, solution, tol=1e-7)
    seen.assert_inside([-5.0, 3.0], [5.0, 3.0])


def test_hessp_above_the_dense_limit_takes_the_matrix_free_path():
    # min sum (x - c)^2 + 0.5 sum x^4 - ... a separable convex objective, n = 1200, sum x = 1.
    n = 1200
    c = np.linspace(-1, 1, n)
    fun = lambda x: np.sum((x - c) ** 2) + 0.25 * np.sum(x**4)  # noqa: E731
    jac = lambda x: 2 * (x - c) + x**3  # noqa: E731
    hessp = lambda x, p: (2 + 3 * x**2) * p  # noqa: E731
    res = lg.minimize(fun, np.zeros(n), jac=jac, hessp=hessp, constraints=LinearConstraint(np.ones((1, n)), 1, 1))
    assert res.success and res.derivatives["hessian"] == "exact product"
    # Stationarity: 2 (x - c) + x^3 + y = 0 for every i, with one multiplier y.
    np.testing.assert_allclose(jac(res.x) + res.multipliers[0][0], 0.0, atol=1e-6)
    assert res.x.sum() == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(
    "options, iterations",
    [({"maxiter": np.inf}, None), ({"maxiter": -1}, 0), ({"maxiter": 0}, 0), ({"maxfev": np.inf}, None)],
)
def test_iteration_and_evaluation_limits_read_as_scipy_reads_them(options, iterations):
    # before: int(inf) raised OverflowError, and -1 was refused; scipy reads inf as no limit, -1 as 0
    res = lg.minimize(rosen, [-1.2, 1.0], bounds=[(-2, 2)] * 2, method="trust-constr", options=options)
    if iterations is None:
        assert res.success
        np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    else:
        assert res.nit == iterations and not res.success
        np.testing.assert_array_equal(res.x, [-1.2, 1.0])


@pytest.mark.parametrize("kwargs", [dict(tol=0), dict(options={"gtol": 0.0})])
def test_tol_zero_asks_for_the_tightest_tolerance(kwargs):
    # before: ProblemError "tol: expected a positive number"; scipy runs to its own limits
    res = lg.minimize(rosen, [-1.2, 1.0], bounds=[(-2, 2)] * 2, method="trust-constr", **kwargs)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)
    assert res.kkt["stationarity"] <= 1e-8 or not res.success


@pytest.mark.parametrize(
    "options, iterations",
    [({"maxiter": -np.inf}, 0), ({"maxiter": None}, None), ({"maxiter": 1e30}, None), ({"max_time": np.inf}, None)],
)
def test_more_limits_read_as_scipy_reads_them(options, iterations):
    # before: OverflowError (-inf), TypeError (None, 1e30), ProblemError (max_time=inf)
    res = lg.minimize(rosen, [-1.2, 1.0], bounds=[(-2, 2)] * 2, options=options)
    assert res.nit == iterations if iterations is not None else res.success


def test_a_nan_limit_is_refused_by_name():
    with pytest.raises(lg.ProblemError, match="maxiter: expected a number, got NaN"):
        lg.minimize(rosen, [-1.2, 1.0], options={"maxiter": np.nan})


def test_one_variable_hessians_of_shape_one_are_read_as_scipy_reads_them():
    # hess returning shape (1,) at n = 1 (scipy's trust-constr and Newton-CG take it), and a
    # constraint hess 2 v: refused by the first version of the shape check
    res = lg.minimize(lambda x: float((x[0] - 1) ** 4 + x[0] ** 2), [3.0], jac=lambda x: 4 * (x - 1) ** 3 + 2 * x,
                      hess=lambda x: 12 * (x - 1) ** 2 + 2, method="trust-constr",
                      constraints=[NonlinearConstraint(lambda x: x**2, 0.0, 0.25, jac=lambda x: np.atleast_2d(2 * x), hess=lambda x, v: 2 * v)])  # fmt: skip
    assert res.success and res.derivatives["hessian"] == "exact"
    # the minimizer of (x - 1)^4 + x^2 is inside |x| <= 0.5: 4 (x - 1)^3 + 2 x = 0
    assert 4 * (res.x[0] - 1) ** 3 + 2 * res.x[0] == pytest.approx(0.0, abs=1e-7)


def test_a_trust_radius_callback_does_not_stop_at_x0():
    # scipy's idiom: stop when the trust radius collapses; at x0 there is no step yet (scipy: radius 1)
    res = lg.minimize(rosen, [-1.2, 1.0], method="trust-constr", callback=lambda xk, state: state.tr_radius < 1e-10)
    assert res.nit > 0 and res.success


def test_trust_constr_jac_is_sparse_where_the_constraint_jacobian_is():
    ball = lambda jac: NonlinearConstraint(lambda x: [x @ x], -np.inf, 1.0, jac=jac)  # noqa: E731
    res = lg.minimize(lambda x: float((x - 2) @ (x - 2)), [0.1, 0.2], method="trust-constr",
                      constraints=[ball(lambda x: [2 * x]), ball(lambda x: sp.csr_array(np.atleast_2d(2 * x)))])  # fmt: skip
    assert res.success and type(res.jac[0]) is np.ndarray and sp.issparse(res.jac[1])
    np.testing.assert_allclose(res.jac[1].toarray(), res.jac[0], rtol=1e-12)


def test_a_custom_method_gets_args_as_scipy_passes_them():
    def custom(fun, x0, args=(), **kwargs):
        return {"args": args}

    assert lg.minimize(lambda x, a: 0.0, [1.0], args=[1, 2], method=custom)["args"] == ([1, 2],)
