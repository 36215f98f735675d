"""Convex problems against their referee (cvxpy/Clarabel), ridge as a multiplier, and sensitivities."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lagrangian as lg
from lagrangian.models import (
    ridge_constrained,
    ridge_leave_one_out,
    ridge_leave_one_out_choice,
    ridge_norm,
    ridge_penalized,
    ridge_validation_choice,
)
from lagrangian.problems import hock_schittkowski as hs
from lagrangian.qp import read_stacked_mat
from lagrangian.sensitivity import sensitivity
from lagrangian.testing import assert_kkt

DETERMINISTIC = settings(derandomize=True, max_examples=30, deadline=None)


def random_qp(seed, n, m, kind, strictly_convex=True):
    """A feasible convex QP around a known interior point x0 (so it is feasible by construction)."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n if strictly_convex else max(1, n // 2)))
    P = M @ M.T + (0.1 * np.eye(n) if strictly_convex else 0)
    q = 3 * rng.standard_normal(n)
    x0 = 0.3 * rng.standard_normal(n)
    A = rng.standard_normal((m, n))
    l = A @ x0 - rng.uniform(0.1, 1, m)
    u = A @ x0 + rng.uniform(0.1, 1, m)
    bounds = None
    if kind == "equality":
        l = u = A @ x0
    elif kind == "inequality":
        l[::2] = -np.inf
    elif kind == "bounds":
        A, l, u = np.zeros((0, n)), None, None
        bounds = (x0 - rng.uniform(0.1, 0.5, n), x0 + rng.uniform(0.1, 0.5, n))
    elif kind == "mixed":
        l[0] = u[0]
        bounds = (x0 - 1, x0 + 1)
    elif kind == "degenerate":  # a repeated row: multipliers are not unique; the box keeps a singular P bounded
        A = np.vstack([A, A[:1]])
        l, u = np.append(l, l[0]), np.append(u, u[0])
        bounds = (x0 - 1, x0 + 1)
    return lg.QuadraticProgram(P, q, A, l, u, bounds=bounds)


@DETERMINISTIC
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 12),
    m=st.integers(1, 8),
    kind=st.sampled_from(["equality", "inequality", "bounds", "mixed", "two-sided"]),
)
def test_random_strictly_convex_qps_agree_with_clarabel(seed, n, m, kind):
    m = min(m, n) if kind == "equality" else m
    report = lg.crosscheck(random_qp(seed, n, m, kind), multiplier_tol=1e-6, objective_tol=1e-8)
    assert report.passed, str(report)


@DETERMINISTIC
@given(seed=st.integers(0, 10_000), n=st.integers(3, 10), m=st.integers(1, 6))
def test_degenerate_and_rank_deficient_qps_agree_in_objective(seed, n, m):
    # Repeated constraint rows and a singular P: x and y need not be unique, the optimum is.
    qp = random_qp(seed, n, m, "degenerate", strictly_convex=False)
    report = lg.crosscheck(qp)
    assert report.ours.success
    assert report.objective_difference <= 1e-8, str(report)
    assert_kkt(qp.problem(), report.ours, tol=1e-7)


def test_infeasible_and_unbounded_qps_are_classified_like_clarabel():
    # x1 + x2 >= 3, x1 <= 1, x2 <= 1: infeasible.
    infeasible = lg.QuadraticProgram(np.eye(2), [0.0, 0.0], [[1.0, 1.0]], [3.0], [np.inf], bounds=([-np.inf] * 2, [1.0, 1.0]))
    report = lg.crosscheck(infeasible)
    assert report.ours.status is lg.Status.INFEASIBLE and report.theirs["status"] == "infeasible" and report.passed
    # min -x1 with P = diag(0, 1), x1 unbounded above: unbounded.
    unbounded = lg.QuadraticProgram(np.diag([0.0, 1.0]), [-1.0, 0.0], [[0.0, 1.0]], [-1.0], [1.0], bounds=([0.0, -np.inf], [np.inf, np.inf]))
    report = lg.crosscheck(unbounded)
    assert report.ours.status is lg.Status.UNBOUNDED and report.theirs["status"] == "unbounded" and report.passed


def random_infeasible_qp(seed, n, m):
    """Feasible rows around x0 plus one row that a non-negative combination of them contradicts."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x0 = rng.standard_normal(n)
    u = A @ x0 + rng.uniform(0.1, 1, m)
    l = np.where(rng.random(m) < 0.5, -np.inf, A @ x0 - 1)
    weights = rng.uniform(0.5, 2, m)
    A_bad = np.vstack([A, weights @ A])
    l_bad = np.append(l, weights @ u + rng.uniform(0.1, 1))  # a'x >= more than the rows allow
    u_bad = np.append(u, np.inf)
    return lg.QuadraticProgram(np.eye(n), rng.standard_normal(n), A_bad, l_bad, u_bad)


def random_unbounded_qp(seed, n, m):
    """P singular along d, q'd < 0, and every row's finite side in d's recession cone."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal(n)
    basis = np.linalg.qr(np.column_stack([d, rng.standard_normal((n, n - 1))]))[0][:, 1:]
    B = basis @ rng.standard_normal((n - 1, n - 1))
    P = B @ B.T  # P d = 0
    q = -d + basis @ rng.standard_normal(n - 1)  # q'd = -|d|^2
    A = rng.standard_normal((m, n))
    slope = A @ d
    u = np.where(slope <= 0, rng.uniform(1, 2, m), np.inf)  # upper sides only where a'd <= 0
    l = np.where(slope >= 0, -rng.uniform(1, 2, m), -np.inf)
    return lg.QuadraticProgram(P, q, A, l, u)


def check_farkas(qp, certificate):
    """The certificate's own inequalities, recomputed from the QP data."""
    y, z = certificate.y, certificate.z
    assert np.all(np.isfinite(qp.u[y > 0])) and np.all(np.isfinite(qp.l[y < 0]))
    assert np.all(np.isfinite(qp.ub[z > 0])) and np.all(np.isfinite(qp.lb[z < 0]))
    sigma = sum(np.sum(np.where(v > 0, hi * v, 0.0) + np.where(v < 0, lo * v, 0.0))
                for v, lo, hi in ((y, np.nan_to_num(qp.l), np.nan_to_num(qp.u)), (z, np.nan_to_num(qp.lb), np.nan_to_num(qp.ub))))
    residual = np.abs(qp.A.T @ y + z).sum()
    assert sigma < 0 and np.isclose(sigma, certificate.value, rtol=1e-9)
    assert abs(sigma) >= 1e8 * residual  # no feasible point within that max-norm radius (residual may be 0)


@DETERMINISTIC
@given(seed=st.integers(0, 10_000), n=st.integers(2, 8), m=st.integers(1, 6))
def test_random_infeasible_qps_carry_a_farkas_certificate_and_clarabel_agrees(seed, n, m):
    qp = random_infeasible_qp(seed, n, m)
    report = lg.crosscheck(qp)
    assert report.ours.status is lg.Status.INFEASIBLE and report.theirs["status"] == "infeasible"
    check_farkas(qp, report.ours.certificate)


@DETERMINISTIC
@given(seed=st.integers(0, 10_000), n=st.integers(2, 8), m=st.integers(1, 6))
def test_random_unbounded_qps_carry_a_ray_and_clarabel_agrees(seed, n, m):
    qp = random_unbounded_qp(seed, n, m)
    report = lg.crosscheck(qp)
    assert report.ours.status is lg.Status.UNBOUNDED and report.theirs["status"] == "unbounded"
    d = report.ours.certificate.d
    assert qp.q @ d < 0 and np.abs(d).max() == pytest.approx(1.0)
    violation = max(np.abs(qp.P @ d).max(), np.max(np.where(np.isfinite(qp.u), qp.A @ d, -np.inf)),
                    np.max(np.where(np.isfinite(qp.l), -(qp.A @ d), -np.inf)), 0.0)
    assert violation <= 1e-8 * abs(qp.q @ d)


def test_a_feasible_bounded_qp_has_no_certificate():
    qp = random_qp(3, 6, 4, "mixed")
    solution = lg.solve_qp(qp)
    assert solution.success and solution.certificate is None


def test_the_sign_mapping_on_the_worked_example():
    # min x^2 s.t. x >= 1: cvxpy's dual is +2 (L = x^2 + lambda (1 - x)); ours is y = -2.
    qp = lg.QuadraticProgram([[2.0]], [0.0], [[1.0]], [1.0], [np.inf])
    report = lg.crosscheck(qp)
    bridge = lg.to_cvxpy(qp)
    bridge.problem.solve()
    (constraint, _, sign), = bridge.constraints.values()
    assert constraint.dual_value == pytest.approx(2.0, rel=1e-6) and sign == -1.0
    assert report.ours.y == pytest.approx([-2.0], rel=1e-8) and report.passed


def test_stacked_maros_meszaros_layout_turns_identity_rows_into_bounds():
    # rows: x1 + x2 <= 1 and the identity (bounds 0 <= x <= 0.8)
    A = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    qp = lg.QuadraticProgram.from_stacked(np.eye(2), [-1.0, -1.0], A, [-1e20, 0, 0], [1.0, 0.8, 0.8])
    assert qp.A.shape == (1, 2) and np.array_equal(qp.ub, [0.8, 0.8]) and np.array_equal(qp.lb, [0, 0])
    s = lg.solve_qp(qp)
    np.testing.assert_allclose(s.x, [0.5, 0.5], atol=1e-8)


@pytest.mark.parametrize(
    "args, match",
    [
        (([[1.0, 2.0], [0.0, 1.0]], [0.0, 0.0]), "P: is not symmetric"),
        ((np.eye(2), [0.0, np.nan]), "q: contains NaN"),
        ((np.eye(2), [0.0, 0.0], [[1.0, 1.0]], [2.0], [1.0]), "l/u: lower bound exceeds upper bound at row 0"),
        ((np.eye(2), [0.0, 0.0], [[1.0, 1.0, 1.0]]), r"A: expected shape \(1, 2\)"),
    ],
)
def test_bad_qp_data_is_named(args, match):
    with pytest.raises(lg.ProblemError, match=match):
        lg.QuadraticProgram(*args)


def ridge_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 6))
    W = rng.standard_normal((6, 2))
    return X, X @ W + 0.5 * rng.standard_normal((40, 2)), rng, W


def test_ridge_multiplier_is_the_closed_form_penalty_along_the_path():
    X, Y, _, _ = ridge_data()
    for lam in np.logspace(-2, 3, 50):
        result = ridge_constrained(X, Y, ridge_norm(X, Y, lam))
        assert result.lam == pytest.approx(lam, rel=1e-8)
        np.testing.assert_allclose(result.W, ridge_penalized(X, Y, lam), atol=1e-9)


def test_ridge_agrees_with_cvxpy_in_w_objective_and_multiplier():
    import cvxpy as cp

    X, Y, _, _ = ridge_data(1)
    t = ridge_norm(X, Y, 3.0)
    ours = ridge_constrained(X, Y, t)
    W = cp.Variable((X.shape[1], Y.shape[1]))
    budget = cp.sum_squares(W) <= t
    problem = cp.Problem(cp.Minimize(cp.sum_squares(X @ W - Y)), [budget])
    problem.solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(ours.W, W.value, atol=1e-6)
    assert ours.solution.fun == pytest.approx(problem.value, rel=1e-8)
    assert ours.lam == pytest.approx(budget.dual_value, rel=1e-6)  # upper bound: cvxpy's sign is ours


def test_ridge_inactive_budget_has_zero_multiplier():
    X, Y, _, _ = ridge_data(2)
    result = ridge_constrained(X, Y, 2 * ridge_norm(X, Y, 0.0))
    assert abs(result.lam) <= 1e-9
    np.testing.assert_allclose(result.W, ridge_penalized(X, Y, 0.0), atol=1e-8)


def test_choosing_lambda_by_hypergradient_matches_a_fine_grid_and_finite_differences():
    # 25 noisy samples of 15 features: some shrinkage helps (the optimum is near lambda = 13).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25, 15))
    W = 0.3 * rng.standard_normal((15, 2))
    Y = X @ W + rng.standard_normal((25, 2))
    Xv = rng.standard_normal((30, 15))
    Yv = Xv @ W + rng.standard_normal((30, 2))
    lam, history = ridge_validation_choice(X, Y, Xv, Yv)
    assert 1.0 < lam < 100.0 and len(history) <= 10  # a handful of solves, not a grid
    validation = lambda l: float(np.sum((Xv @ ridge_penalized(X, Y, l) - Yv) ** 2))  # noqa: E731
    # the hypergradient against a central difference at every visited lambda
    for visited, _, hypergradient in history[:5]:
        h = 1e-6 * visited
        assert hypergradient == pytest.approx((validation(visited + h) - validation(visited - h)) / (2 * h), rel=1e-5, abs=1e-9)
    grid = np.logspace(np.log10(lam) - 1, np.log10(lam) + 1, 2001)
    assert validation(lam) <= min(validation(g) for g in grid) + 1e-10


def hs71_solved():
    case = hs.load("HS71", hessian="finite-differences")
    return case, lg.interior_point(case.problem, tol=1e-12)


def test_sensitivity_of_hs71_to_its_equality_level_matches_re_solving():
    case, s = hs71_solved()
    # sum x_i^2 = 40 + p: the row is c(x) - p = 40, so dc/dp = -1 on row 1.
    S = sensitivity(s, constraints_p=[[0.0], [-1.0]], objective_p=[0.0])
    h = 1e-5
    moved = []
    for p in (h, -h):
        problem = hs.load("HS71", hessian="finite-differences").problem
        problem.cl[1] += p
        problem.cu[1] += p
        moved.append(lg.interior_point(problem, tol=1e-12))
    np.testing.assert_allclose(S.dx[:, 0], (moved[0].x - moved[1].x) / (2 * h), atol=1e-6)
    np.testing.assert_allclose(S.dy[:, 0], (moved[0].y - moved[1].y) / (2 * h), atol=1e-6)
    # the envelope theorem: d f*/d p = y^T dc/dp = -y_1 (the multiplier is minus the shadow price)
    assert S.value[0] == pytest.approx(-s.y[1], rel=1e-12)
    assert S.value[0] == pytest.approx((moved[0].fun - moved[1].fun) / (2 * h), rel=1e-6)
    assert list(S.active_rows) == [0, 1] and list(S.active_bounds) == [0]


def test_sensitivity_of_a_qp_with_active_inequalities_matches_finite_differences():
    qp = random_qp(7, 6, 4, "mixed")
    s = lg.solve_qp(qp, tol=1e-12)
    # p shifts the linear term: f = 1/2 x'Px + (q + p e_0)'x, so d(grad L)/dp = e_0.
    direction = np.zeros((6, 1))
    direction[0] = 1.0
    S = sensitivity(s, lagrangian_gradient_p=direction)
    h = 1e-6
    shifted = []
    for p in (h, -h):
        qp_p = lg.QuadraticProgram(qp.P, qp.q + p * direction[:, 0], qp.A, qp.l, qp.u, bounds=(qp.lb, qp.ub))
        shifted.append(lg.solve_qp(qp_p, tol=1e-12))
    assert S.active_rows.size + S.active_bounds.size > 0
    np.testing.assert_allclose(S.dx[:, 0], (shifted[0].x - shifted[1].x) / (2 * h), atol=1e-5)


def test_sensitivity_needs_a_hessian():
    case = hs.load("HS71", hessian=None)  # quasi-Newton only
    s = lg.interior_point(case.problem)
    with pytest.raises(lg.ProblemError, match="sensitivities need the Hessian"):
        sensitivity(s, constraints_p=[[0.0], [-1.0]])


MAROS_MESZAROS = Path(__file__).parent / "data" / "maros_meszaros"


@pytest.mark.parametrize("record", json.loads((MAROS_MESZAROS / "index.json").read_text())["problems"], ids=lambda r: r["name"])
def test_maros_meszaros_subset_reaches_the_tabulated_optimum(record):
    P, q, A, l, u, r = read_stacked_mat(MAROS_MESZAROS / f"{record['name']}.mat")
    qp = lg.QuadraticProgram.from_stacked(P, q, A, l, u, r=r)
    s = lg.solve_qp(qp, tol=1e-9)
    # QAFIRO is a degenerate LP-like QP: the step stalls at a scaled KKT error of ~1e-8,
    # which the solver reports as ACCEPTABLE (not SUCCESS) with that point.
    assert s.status in (lg.Status.SUCCESS, lg.Status.ACCEPTABLE)
    assert abs(s.fun - record["f_star"]) <= 1e-6 * max(1.0, abs(record["f_star"]))


def test_from_cvxpy_fills_in_the_cvxpy_problem_as_clarabel_would():
    import cvxpy as cp

    rng = np.random.default_rng(0)
    x, Y = cp.Variable(3), cp.Variable((2, 2))
    A = rng.standard_normal((2, 3))
    constraints = [A @ x <= 1, x >= -2, cp.sum(x) == 0.5, Y >= 0, Y <= 1, cp.trace(Y) <= 1.5]
    cost = np.array([[-1.0, -1.0], [-2.0, 0.5]])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - 1) + 2 + cp.sum(cp.multiply(Y, cost))), constraints)
    imported = lg.from_cvxpy(problem)
    ours = imported.solve(tol=1e-10)
    assert ours.success and problem.status == "optimal"
    value, x_ours, duals = problem.value, x.value.copy(), [np.copy(c.dual_value) for c in constraints]
    assert value == pytest.approx(ours.fun, abs=1e-12)  # the constant 2 is carried as qp.r
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert abs(problem.value - value) <= 1e-8
    assert np.abs(x.value - x_ours).max() <= 1e-7
    for constraint, dual in zip(constraints, duals):
        assert np.abs(np.asarray(constraint.dual_value) - dual).max() <= 1e-6


@DETERMINISTIC
@given(seed=st.integers(0, 10_000), n=st.integers(2, 8), m=st.integers(1, 5), kind=st.sampled_from(["inequality", "mixed", "bounds"]))
def test_from_cvxpy_of_to_cvxpy_is_the_same_program(seed, n, m, kind):
    qp = random_qp(seed, n, m, kind)
    direct = lg.solve_qp(qp, tol=1e-10)
    round_trip = lg.from_cvxpy(lg.to_cvxpy(qp).problem).solve(tol=1e-10)
    assert direct.success and round_trip.success
    assert round_trip.fun == pytest.approx(direct.fun, rel=1e-8, abs=1e-8)


def test_from_cvxpy_reports_infeasibility_to_cvxpy_and_refuses_cones():
    import cvxpy as cp

    x = cp.Variable(2)
    infeasible = cp.Problem(cp.Minimize(cp.sum_squares(x)), [x[0] + x[1] >= 3, x <= 1])
    ours = lg.from_cvxpy(infeasible).solve()
    assert ours.status is lg.Status.INFEASIBLE and infeasible.status == "infeasible"
    with pytest.raises(lg.ProblemError, match="second-order"):
        lg.from_cvxpy(cp.Problem(cp.Minimize(cp.norm(x, 2)), [x >= 1]))
    with pytest.raises(lg.ProblemError, match="cvxpy.Problem"):
        lg.from_cvxpy("min x")


def test_closed_form_leave_one_out_equals_refitting_without_each_sample():
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((25, 6)), rng.standard_normal((25, 2))
    lams = np.array([0.0, 0.3, 4.0])
    brute = [
        sum(np.sum((Y[i] - X[i] @ ridge_penalized(np.delete(X, i, 0), np.delete(Y, i, 0), lam)) ** 2) for i in range(25))
        for lam in lams
    ]
    np.testing.assert_allclose(ridge_leave_one_out(X, Y, lams), brute, rtol=1e-10)
    assert ridge_leave_one_out_choice(X, Y, lams) == lams[np.argmin(brute)]
    with pytest.raises(lg.ProblemError, match="lams"):
        ridge_leave_one_out(X, Y, [-1.0])
