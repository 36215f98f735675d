"""Newton-KKT against closed forms, on nonconvex and degenerate problems, and its failure modes."""

import io

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.testing import assert_kkt


def equality_least_squares(seed, n=8, rows=12, m=3):
    """minimize ||A x - b||^2 s.t. C x = d, with its KKT solution from a dense solve.

    Stationarity in the package's convention, 2 A^T (A x - b) + C^T y = 0, and C x = d
    form one linear system whose solution is the exact (x*, y*).
    """
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((rows, n)), rng.standard_normal(rows)
    C, d = rng.standard_normal((m, n)), rng.standard_normal(m)
    K = np.block([[2 * A.T @ A, C.T], [C, np.zeros((m, m))]])
    exact = np.linalg.solve(K, np.concatenate([2 * A.T @ b, d]))
    problem = lg.Problem(
        lambda x: float(np.sum((A @ x - b) ** 2)),
        np.zeros(n),
        gradient=lambda x: 2 * A.T @ (A @ x - b),
        constraints=[lg.Equality(lambda x: C @ x, d, jacobian=lambda x: C, name="linear")],
        hessian=lambda x, y: 2 * A.T @ A,
    )
    return problem, exact[:n], exact[n:], A, b, C, d


@pytest.mark.parametrize("seed", range(5))
def test_equality_constrained_least_squares_matches_closed_form(seed):
    problem, x_star, y_star, *_ = equality_least_squares(seed)
    s = lg.solve(problem)
    assert s.success
    assert s.nit <= 2  # a quadratic program: one Newton step is exact
    np.testing.assert_allclose(s.x, x_star, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.multipliers["linear"], y_star, rtol=1e-9, atol=1e-12)
    assert_kkt(problem, s, tol=1e-9)


def test_quasi_newton_and_hessian_product_paths_reach_the_same_point():
    problem, x_star, y_star, A, b, C, d = equality_least_squares(11)
    no_hessian = lg.Problem(problem._objective, np.zeros(8), gradient=problem._gradient, constraints=problem.constraints)
    product = lg.Problem(
        problem._objective,
        np.zeros(8),
        gradient=problem._gradient,
        constraints=problem.constraints,
        hessian_product=lambda x, y, v: 2 * A.T @ (A @ v),
    )
    for p, source in ((no_hessian, "quasi-Newton (bfgs)"), (product, "exact product")):
        s = lg.solve(p)
        assert s.success, s
        assert s.derivatives["hessian"] == source
        np.testing.assert_allclose(s.x, x_star, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(s.y, y_star, rtol=1e-6, atol=1e-9)


def test_nonconvex_start_needs_inertia_correction():
    # f = x1^4 - 2 x1^2 + x2^2 on x1 = x2: the reduced objective t^4 - t^2 is concave
    # near 0, so the first KKT matrix has the wrong inertia. Minima: t = +-1/sqrt(2), f = -1/4.
    problem = lg.Problem(
        lambda x: x[0] ** 4 - 2 * x[0] ** 2 + x[1] ** 2,
        [0.1, 0.1],
        gradient=lambda x: np.array([4 * x[0] ** 3 - 4 * x[0], 2 * x[1]]),
        constraints=[lg.Equality(lambda x: x[0] - x[1], jacobian=lambda x: np.array([[1.0, -1.0]]))],
        hessian=lambda x, y: np.diag([12 * x[0] ** 2 - 4, 2.0]),
    )
    s = lg.solve(problem)
    assert s.success
    assert s.history[1].regularization > 0
    assert s.fun == pytest.approx(-0.25, abs=1e-12)
    np.testing.assert_allclose(np.abs(s.x), [2**-0.5] * 2, rtol=1e-10)
    assert_kkt(problem, s, tol=1e-9)


def test_rank_deficient_jacobian_is_regularized():
    # The same row twice: J has rank 1. The minimum-norm question has many multipliers
    # (any y1 + y2 = y*), but x* is unique and stationarity must hold.
    row = lambda x: x[0] + 2 * x[1]  # noqa: E731
    jac = lambda x: np.array([[1.0, 2.0]])  # noqa: E731
    problem = lg.Problem(
        lambda x: x @ x,
        [3.0, -1.0],
        gradient=lambda x: 2 * x,
        constraints=[lg.Equality(row, 5.0, jacobian=jac, name="a"), lg.Equality(row, 5.0, jacobian=jac, name="b")],
        hessian=lambda x, y: 2 * np.eye(2),
    )
    s = lg.solve(problem)
    assert s.success
    np.testing.assert_allclose(s.x, [1.0, 2.0], atol=1e-9)
    assert s.multipliers["a"][0] + s.multipliers["b"][0] == pytest.approx(-2.0, abs=1e-8)
    assert_kkt(problem, s, tol=1e-8)


def test_inconsistent_constraints_fail_with_a_status_or_raise_on_request():
    problem = lg.Problem(
        lambda x: x @ x,
        [0.5, 0.5],
        gradient=lambda x: 2 * x,
        constraints=[
            lg.Equality(lambda x: x[0], 0.0, jacobian=lambda x: np.array([[1.0, 0.0]]), name="zero"),
            lg.Equality(lambda x: x[0], 1.0, jacobian=lambda x: np.array([[1.0, 0.0]]), name="one"),
        ],
        hessian=lambda x, y: 2 * np.eye(2),
    )
    s = lg.solve(problem, max_iterations=30)
    assert not s.success
    assert s.kkt.primal >= 0.5 - 1e-9  # the two rows cannot both hold
    with pytest.raises(lg.ConvergenceError) as info:
        lg.solve(problem, max_iterations=30, raise_on_failure=True)
    assert info.value.result.status is s.status


def test_iteration_limit_is_a_status_with_advice():
    problem, *_ = equality_least_squares(2)
    rosen = lg.Problem(
        lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2,
        [-1.2, 1.0],
        gradient=lambda x: np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)]),
    )
    s = lg.solve(rosen, max_iterations=3)
    assert s.status is lg.Status.MAX_ITERATIONS and s.nit == 3
    assert "raise max_iterations" in s.message
    full = lg.solve(rosen)
    assert full.success
    np.testing.assert_allclose(full.x, [1.0, 1.0], atol=1e-8)


def test_log_prints_one_line_per_iteration_and_callback_sees_each():
    problem, *_ = equality_least_squares(3)
    stream, seen = io.StringIO(), []
    s = lg.solve(problem, log=stream, callback=lambda record, x: seen.append(record.iteration))
    lines = stream.getvalue().splitlines()
    assert lines[0].split() == ["iter", "objective", "inf_pr", "inf_du", "alpha", "lg(rg)"]
    assert len(lines) == 1 + (s.nit + 1) + 1
    assert lines[-1].startswith("SUCCESS")
    assert seen == list(range(s.nit + 1))


def test_solution_is_frozen_and_rechecks_itself():
    problem, *_ = equality_least_squares(4)
    s = lg.solve(problem)
    with pytest.raises(AttributeError):
        s.fun = 0.0
    with pytest.raises(ValueError):
        s.x[0] = 1.0
    assert s.kkt_check().max() <= 1e-9
    assert set(s.evaluations) == {"objective", "gradient", "constraints", "jacobian", "hessian"}


def test_inequalities_go_to_the_interior_point_solver_and_newton_kkt_refuses_them():
    p = lg.Problem(lambda x: x @ x, [1.0], gradient=lambda x: 2 * x, bounds=([0.0], [2.0]))
    with pytest.raises(lg.ProblemError, match="newton_kkt solves equality-constrained problems"):
        lg.newton_kkt(p)
    assert lg.solve(p).solver == "interior_point"
    with pytest.raises(lg.ProblemError, match="method: expected 'auto' or one of"):
        lg.solve(p, method="simplex")
    with pytest.raises(lg.ProblemError, match="tol: expected a positive number"):
        lg.newton_kkt(equality_least_squares(0)[0], tol=-1)


@pytest.mark.parametrize("hessian", ["exact", None])
def test_an_objective_unbounded_below_is_reported_as_such(hessian):
    # HS255 as stated has no constraints and f = -99 x1^2 + ...: unbounded below.
    # Newton-KKT stops once f < -1e20 at a feasible point, as the interior point does.
    from lagrangian.problems import hock_schittkowski as hs

    case = hs.load("HS255") if hessian == "exact" else hs.load("HS255", hessian=None)
    s = lg.solve(case.problem)
    assert s.solver == "newton_kkt"
    assert s.status is lg.Status.UNBOUNDED and s.fun < -1e20
