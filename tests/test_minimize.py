"""lagrangian.minimize speaks scipy.optimize.minimize's language and returns multipliers in ours."""

import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeWarning
import scipy.sparse as sp
from scipy.optimize import SR1, Bounds, LinearConstraint, NonlinearConstraint
from scipy.optimize import minimize as scipy_minimize

import lagrangian as lg
from lagrangian.testing import assert_kkt


def hs71_objective(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


HS71 = dict(
    bounds=Bounds(np.ones(4), 5 * np.ones(4)),
    constraints=[
        NonlinearConstraint(lambda x: x[0] * x[1] * x[2] * x[3], 25, np.inf),
        NonlinearConstraint(lambda x: x @ x, 40, 40),
    ],
)
HS71_X0 = np.array([1.0, 5.0, 5.0, 1.0])
HS71_F = 17.0140172891519


def test_a_trust_constr_call_runs_unchanged_and_agrees_with_scipy():
    ours = lg.minimize(hs71_objective, HS71_X0, method="trust-constr", **HS71)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        theirs = scipy_minimize(hs71_objective, HS71_X0, method="trust-constr", options={"gtol": 1e-10, "xtol": 1e-12}, **HS71)
    assert ours.success and ours.status == 1 and ours.status_name == "SUCCESS"  # trust-constr: 1 is "gtol satisfied"
    assert ours.fun == pytest.approx(HS71_F, rel=1e-9)  # tol=1e-8 leaves a barrier bias of ~mu per bound
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)
    for mine, scipys in zip(ours.multipliers, theirs.v[:2]):
        np.testing.assert_allclose(mine, scipys, rtol=1e-5)  # same sign convention as trust-constr's v
    np.testing.assert_allclose(ours.bound_multipliers, theirs.v[2], atol=1e-5)
    assert set(ours.kkt) == {"stationarity", "primal", "complementarity"} and max(ours.kkt.values()) < 1e-7
    for field in ("nit", "nfev", "njev", "nhev", "message", "jac"):
        assert field in ours
    # Tracing found exact first and second derivatives.
    assert ours.derivatives["gradient"] == "computation graph"
    assert ours.derivatives["jacobian"] == ["computation graph", "computation graph"]
    assert ours.derivatives["hessian"] == "computation graph"


def test_old_dict_constraints_ineq_means_nonnegative_and_multipliers_follow_our_convention():
    # min x^T x s.t. x1 + x2 - 2 >= 0: x = (1, 1); grad f = (2, 2) = -J^T y with y = -2 (<= 0 at a lower bound).
    res = lg.minimize(lambda x: x @ x, [2.0, 2.0], constraints=[{"type": "ineq", "fun": lambda x: x[0] + x[1] - 2}])
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)
    np.testing.assert_allclose(res.multipliers[0], [-2.0], atol=1e-7)
    # The same problem as x1 + x2 - 2 = 0 through "eq" has the same multiplier.
    res_eq = lg.minimize(lambda x: x @ x, [2.0, 2.0], constraints={"type": "eq", "fun": lambda x: x[0] + x[1] - 2})
    np.testing.assert_allclose(res_eq.multipliers[0], [-2.0], atol=1e-7)


def test_exact_jacobians_and_hessians_of_every_form_give_an_exact_lagrangian_hessian():
    calls = {"hess": 0}

    def objective_hessian(x):
        calls["hess"] += 1
        return 2 * np.eye(3)

    A = sp.csr_array(np.array([[1.0, 1.0, 1.0]]))
    constraints = [
        LinearConstraint(A, 1.0, 1.0),
        NonlinearConstraint(lambda x: x[0] ** 2 + x[1] ** 2, -np.inf, 0.25, jac=lambda x: [[2 * x[0], 2 * x[1], 0.0]], hess=lambda x, v: v[0] * np.diag([2.0, 2.0, 0.0])),
    ]
    res = lg.minimize(
        lambda x: float((x - 1) @ (x - 1)), np.zeros(3), jac=lambda x: 2 * (x - 1), hess=objective_hessian, constraints=constraints
    )
    assert res.success and calls["hess"] > 0
    assert res.derivatives["hessian"] == "exact"
    # Independent check: the KKT conditions of the problem rebuilt by hand.
    problem = lg.Problem(
        lambda x: float((x - 1) @ (x - 1)),
        np.zeros(3),
        gradient=lambda x: 2 * (x - 1),
        constraints=[
            lg.Equality(lambda x: A @ x, 1.0, jacobian=lambda x: A),
            lg.Inequality(lambda x: x[0] ** 2 + x[1] ** 2, upper=0.25, jacobian=lambda x: np.array([[2 * x[0], 2 * x[1], 0.0]])),
        ],
    )
    res.y = np.concatenate(res.multipliers)
    res.z = res.bound_multipliers
    assert_kkt(problem, res, tol=1e-7)
    # The minimizer on the plane, (1/3, 1/3, 1/3), has x1^2 + x2^2 = 2/9 < 0.25: the row is inactive.
    np.testing.assert_allclose(res.x, [1 / 3] * 3, atol=1e-9)
    assert res.multipliers[1][0] == 0.0


def test_jac_true_args_and_bounds_as_pairs():
    def fun_and_grad(x, shift):
        return float((x - shift) @ (x - shift)), 2 * (x - shift)

    res = lg.minimize(fun_and_grad, np.zeros(3), args=(3.0,), jac=True, bounds=[(0, 1), (None, 2), (None, None)])
    np.testing.assert_allclose(res.x, [1.0, 2.0, 3.0], atol=1e-8)
    np.testing.assert_allclose(res.bound_multipliers, [4.0, 2.0, 0.0], atol=1e-7)
    assert res.derivatives["gradient"] == "exact"


def test_an_untraceable_function_falls_back_to_differences():
    # float() on a traced node is not a graph operation: tracing gives up, differences take over.
    with pytest.warns(lg.ApproximateDerivativeWarning):
        res = lg.minimize(lambda x: float(np.sum((np.asarray(x, dtype=float) - 2.0) ** 2)), np.zeros(2), bounds=Bounds([0, 0], [1, 5]))
    assert res.derivatives["gradient"] == "finite differences"
    np.testing.assert_allclose(res.x, [1.0, 2.0], atol=1e-6)


def test_hessian_update_strategies_select_quasi_newton():
    res = lg.minimize(hs71_objective, HS71_X0, hess=SR1(), **HS71)
    assert res.success and res.derivatives["hessian"] == "quasi-Newton (sr1)"
    assert res.fun == pytest.approx(HS71_F, rel=1e-8)


def stopping_callback(seen, after):
    """A scipy callback that records ``fun`` in ``seen`` and asks to stop at its ``after``-th call."""

    def callback(intermediate_result):
        seen.append(intermediate_result.fun)
        if len(seen) == after:
            raise StopIteration

    return callback


def test_options_callback_and_stop():
    seen = []
    res = lg.minimize(hs71_objective, HS71_X0, callback=stopping_callback(seen, 3), options={"maxiter": 50}, **HS71)
    assert res.status_name == "STOPPED" and not res.success and len(seen) == 3
    # Without a method name scipy would run SLSQP here, whose 9 is "Iteration limit reached";
    # with the package's own method name the code is the package's.
    res = lg.minimize(hs71_objective, HS71_X0, options={"maxiter": 2}, **HS71)
    assert res.status_name == "MAX_ITERATIONS" and res.nit == 2 and res.status == 9
    res = lg.minimize(hs71_objective, HS71_X0, method="interior-point", options={"maxiter": 2}, **HS71)
    assert res.status == lg.interfaces.STATUS_CODES[lg.Status.MAX_ITERATIONS]
    with pytest.warns(OptimizeWarning, match="Unknown solver options: colour"):
        lg.minimize(hs71_objective, HS71_X0, options={"colour": "red"}, **HS71)


def test_a_trust_constr_callback_reads_its_progress_fields():
    # a callback written for scipy's trust-constr reads state.constr_violation and state.optimality
    # (before: AttributeError, the state had x, fun, nit and niter only)
    seen = []

    def callback(xk, state):
        seen.append((state.nit, state.constr_violation, state.optimality, state.barrier_parameter))
        return False

    res = lg.minimize(hs71_objective, HS71_X0, method="trust-constr", callback=callback, **HS71)
    assert res.success and [s[0] for s in seen] == list(range(res.nit + 1))
    # HS71 starts 11 away from its equality (x0 pushed inside the bounds); the last iterate is feasible to 1e-5 before the polish
    assert seen[0][1] > 10 and seen[-1][1] <= 1e-5
    assert seen[-1][2] < 1e-3 * seen[0][2] and seen[0][3] > seen[-1][3] > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "simplex"}, "method: expected 'interior-point'"),
        ({"constraints": [{"type": "le", "fun": abs}]}, r"constraints\[0\]: a dict constraint needs"),
        ({"constraints": [42]}, r"constraints\[0\]: expected a dict"),
        ({"bounds": [(0, 1)] * 3}, "bounds: got 3 entries"),
        ({"jac": "5-point"}, "jac: expected a callable"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(lg.ProblemError, match=match):
        lg.minimize(lambda x: x @ x, [1.0, 1.0], **kwargs)


def test_the_traced_lagrangian_hessian_matches_differences():
    hessian = lg.graph.lagrangian_hessian(hs71_objective, [c.fun for c in HS71["constraints"]])
    x, y = np.array([1.2, 4.5, 3.9, 1.4]), np.array([0.3, -0.7])
    H = hessian(x, y)

    def lagrangian_gradient(z):
        return lg.graph.grad(lambda v: hs71_objective(v) + y[0] * (v[0] * v[1] * v[2] * v[3]) + y[1] * (v @ v))(z)

    columns = [(lagrangian_gradient(x + 1e-6 * e) - lagrangian_gradient(x - 1e-6 * e)) / 2e-6 for e in np.eye(4)]
    np.testing.assert_allclose(H, np.column_stack(columns), rtol=1e-7, atol=1e-7)


def test_bfgs_request_above_the_dense_limit_gets_the_limited_memory_model():
    # scipy's BFGS() would store a dense 2,000 x 2,000 matrix; lagrangian answers the
    # same request with limited-memory BFGS and says so.
    from scipy.optimize import BFGS

    n = 2000
    target = np.linspace(-1.0, 1.0, n)
    res = lg.minimize(lambda x: 0.5 * np.sum((x - target) ** 2) + 0.25 * np.sum(x**4), np.zeros(n),
                      jac=lambda x: x - target + x**3, hess=BFGS(), bounds=[(-0.5, None)] * n)
    assert res.success and res.derivatives["hessian"] == "quasi-Newton (l-bfgs)"
    # Separable and convex: each x_i is the real root of x - t_i + x^3 = 0 (by Newton
    # from t_i, monotone), projected onto x >= -0.5.
    root = target.copy()
    for _ in range(50):
        root -= (root - target + root**3) / (1 + 3 * root**2)
    # (1e-5: two coordinates sit where the root meets the bound, with no strict
    # complementarity, and there an interior point is accurate to sqrt(mu) only)
    np.testing.assert_allclose(res.x, np.maximum(root, -0.5), atol=1e-5)


def test_a_vectorized_objective_is_traced_at_any_size():
    # n = 50,000 without jac: the objective traces on array nodes (a few nodes, whatever
    # n), so the gradient is exact and costs no 2n evaluations; the Hessian is L-BFGS.
    n = 50_000
    target = np.sin(np.arange(n))
    res = lg.minimize(lambda x: np.sum((x - target) ** 2) + 0.1 * np.sum(x**4), np.zeros(n), bounds=[(-0.5, 0.5)] * n)
    assert res.success
    assert res.derivatives["gradient"] == "computation graph"
    assert res.derivatives["hessian"] == "quasi-Newton (l-bfgs)"
    assert res.nfev < 200
    # separable: x_i minimizes (x - t_i)^2 + 0.1 x^4 on [-0.5, 0.5]; 2 (x - t) + 0.4 x^3 = 0
    root = target.copy()
    for _ in range(50):
        root -= (2 * (root - target) + 0.4 * root**3) / (2 + 1.2 * root**2)
    expected = np.clip(root, -0.5, 0.5)
    interior = np.abs(expected) < 0.49  # away from a bound, where the barrier costs no accuracy
    np.testing.assert_allclose(res.x[interior], expected[interior], atol=1e-7)
    # (where the root nearly meets a bound, complementarity is nearly degenerate and an
    # interior point is accurate to about sqrt(mu) = 3e-5)
    np.testing.assert_allclose(res.x, expected, atol=1e-4)


def test_issue_5_scaling_problem_runs_from_plain_numpy_code_without_derivatives():
    # n = 20,000, no jac and no hess: the objective's gradient and the constraint's
    # sparse Jacobian are traced on array nodes, the Hessian is L-BFGS; f* = n/2.
    n = 20_000
    x0 = 1.0 + 0.2 * np.sin(np.arange(n))
    res = lg.minimize(
        lambda x: np.sum(x**2) + np.sum((x[1:] - x[:-1]) ** 2), x0,
        constraints=[NonlinearConstraint(lambda x: x[0::2] ** 2 + x[1::2] ** 2, 1.0, 1.0)],
    )
    assert res.success
    assert res.derivatives == {"gradient": "computation graph", "jacobian": ["computation graph"], "hessian": "quasi-Newton (l-bfgs)"}
    assert res.fun == pytest.approx(n / 2, rel=1e-10)
    np.testing.assert_allclose(np.abs(res.x), np.sqrt(0.5), atol=1e-6)


# Shekel (m = 10, on [0, 10]^4) and Goldstein-Price (on [-2, 2]^2), the global-optimization
# test functions on which difference gradients once ran 3,000 iterations at the answer.
_SHEKEL_A = np.array([[4, 4, 4, 4], [1, 1, 1, 1], [8, 8, 8, 8], [6, 6, 6, 6], [3, 7, 3, 7],
                      [2, 9, 2, 9], [5, 5, 3, 3], [8, 1, 8, 1], [6, 2, 6, 2], [7, 3.6, 7, 3.6]])  # fmt: skip
_SHEKEL_C = np.array([0.1, 0.2, 0.2, 0.4, 0.4, 0.6, 0.3, 0.7, 0.5, 0.5])


def _shekel(x):
    return -np.sum(1 / (np.sum((x - _SHEKEL_A) ** 2, axis=1) + _SHEKEL_C))


def _goldstein_price(x):
    a, b = x[0], x[1]
    return (1 + (a + b + 1) ** 2 * (19 - 14 * a + 3 * a * a - 14 * b + 6 * a * b + 3 * b * b)) * (
        30 + (2 * a - 3 * b) ** 2 * (18 - 32 * a + 12 * a * a + 48 * b - 36 * a * b + 27 * b * b)
    )


@pytest.mark.parametrize("jac", ["2-point", "3-point"])
@pytest.mark.parametrize(("fun", "box"), [(_shekel, (0.0, 10.0, 4)), (_goldstein_price, (-2.0, 2.0, 2))])
def test_difference_gradients_end_at_the_answer_without_grinding(fun, box, jac):
    # With a gradient by differences, stationarity cannot be measured far below the
    # differences' error; the run must end there (SUCCESS or ACCEPTABLE), not run to the
    # iteration limit. The truth is the complex-step gradient (exact to rounding): the
    # projected gradient at the answer is at the differences' accuracy, relative to |f|.
    lo, hi, n = box
    rng = np.random.default_rng(7)
    for x0 in rng.uniform(lo, hi, size=(6, n)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lg.errors.ApproximateDerivativeWarning)
            res = lg.minimize(fun, x0, jac=jac, bounds=[(lo, hi)] * n)
        assert res.derivatives["gradient"] == "finite differences"
        assert res.status_name in ("SUCCESS", "ACCEPTABLE") and res.nit <= 100, (x0, res.status_name, res.nit)
        g = np.array([fun(res.x + 1e-30j * e).imag / 1e-30 for e in np.eye(n)])
        projected = res.x - np.clip(res.x - g, lo, hi)
        assert np.abs(projected).max() <= 1e-4 * max(1.0, abs(res.fun)), (x0, projected)


@pytest.mark.parametrize(("fun", "box"), [(_shekel, (0.0, 10.0, 4)), (_goldstein_price, (-2.0, 2.0, 2))])
def test_a_tolerance_below_the_differences_accuracy_ends_acceptable_not_grinding(fun, box):
    # tol = 1e-12 is below what difference gradients can measure (eps^(2/3) ~ 4e-11): the
    # solver is asked for that accuracy instead (Shekel once ran up to 270 iterations at the
    # answer), and the ending says the caller's tol is not verified unless the residuals are below it.
    from lagrangian.interfaces.scipy_minimize import DIFFERENCE_ACCURACY

    lo, hi, n = box
    rng = np.random.default_rng(3)
    for x0 in rng.uniform(lo, hi, size=(6, n)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lg.errors.ApproximateDerivativeWarning)
            res = lg.minimize(fun, x0, jac="2-point", bounds=[(lo, hi)] * n, tol=1e-12, method="interior-point")
        assert res.nit <= 100, (x0, res.nit)
        if res.status_name == "SUCCESS":
            assert max(res.kkt.values()) <= 1e-12
        else:
            assert res.status_name == "ACCEPTABLE" and "what the difference derivatives can measure" in res.message
            assert max(res.kkt.values()) > 1e-12
    # With the exact gradient (the graph's trace) the same tolerance is reached and verified.
    res = lg.minimize(fun, x0, bounds=[(lo, hi)] * n, tol=1e-12)
    assert res.derivatives["gradient"] == "computation graph" and res.success
    assert DIFFERENCE_ACCURACY == pytest.approx(np.finfo(float).eps ** (2 / 3))


def test_a_convex_qp_through_minimize_calls_the_callback_and_stops_on_request():
    # a convex QP goes to Mehrotra's method: it too calls the callback at every iterate and
    # stops when it raises StopIteration (before: never called, the solve ran to the end)
    seen = []
    callback = stopping_callback(seen, 2)
    quadratic = dict(fun=lambda x: float(x @ x - x[0]), x0=[0.3, 0.3], jac=lambda x: 2 * x - np.array([1.0, 0.0]), hess=lambda x: 2 * np.eye(2),
                     constraints=LinearConstraint([[1.0, 1.0]], 1.0, np.inf))  # fmt: skip
    res = lg.minimize(**quadratic, callback=callback)
    assert res.status_name == "STOPPED" and not res.success and len(seen) == 2
    full = lg.minimize(**quadratic, callback=lambda xk: seen.append(xk))
    assert full.success and len(seen) - 2 >= full.nit >= 1
    np.testing.assert_allclose(full.x, [0.75, 0.25], atol=1e-9)


def test_a_stop_asked_for_while_a_qp_is_tried_ends_the_solve():
    # f is x^T x - x0 near x0 and at the QP test's second point, but not where the QP's answer
    # lands (x0 > 0.6): that answer is dropped and the interior point runs. A StopIteration
    # raised during the QP phase must still end the solve (before: ignored, status SUCCESS).
    def fun(x):
        return float(x @ x - x[0] + (10 * (x[0] - 0.6) ** 2 if x[0] > 0.6 else 0.0))

    def jac(x):
        return 2 * x - np.array([1.0, 0.0]) + (np.array([20 * (x[0] - 0.6), 0.0]) if x[0] > 0.6 else 0.0)

    def hess(x):
        return 2 * np.eye(2) + (np.diag([20.0, 0.0]) if x[0] > 0.6 else 0.0)

    common = dict(jac=jac, hess=hess, constraints=LinearConstraint([[1.0, 1.0]], 1.0, np.inf))
    unstopped = lg.minimize(fun, [0.3, 0.3], **common)
    assert unstopped.success and unstopped.x[0] > 0.6  # the kink is active at the answer: the QP's was dropped
    seen = []
    res = lg.minimize(fun, [0.3, 0.3], callback=stopping_callback(seen, 2), **common)
    assert res.status_name == "STOPPED" and not res.success and len(seen) == 2
