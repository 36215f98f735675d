"""Unbounded and infeasible problems get the verdict the evidence supports, from every entry point and Hessian source."""

import numpy as np
import pytest
from scipy.optimize import LinearConstraint

import lagrangian as lg


def assert_unbounded(result):
    assert result.status is lg.Status.UNBOUNDED
    ray = result.certificate
    assert ray is not None and ray.kind == "unbounded" and ray.value < 0
    assert result.fun < -1e20


@pytest.mark.filterwarnings("ignore:delta_grad == 0.0")
def test_minus_x_on_x_ge_0_is_unbounded_with_a_quasi_newton_model():
    # A BFGS model sees no curvature: the steps grow linearly, yet the ray x + t e is found early.
    p = lg.Problem(lambda x: -x[0], [1.0], gradient=lambda x: np.array([-1.0]), bounds=([0.0], [np.inf]))
    s = lg.interior_point(p)
    assert_unbounded(s)
    assert s.certificate.d[0] > 0 and s.nit < 50


def test_an_unbounded_lp_through_minimize_is_unbounded():
    # min -x0 - x1 s.t. -1 <= x0 - x1 <= 1, x >= 0: the ray (1, 1) keeps every constraint.
    r = lg.minimize(lambda x: -x[0] - x[1], [0.0, 0.0], constraints=[LinearConstraint([[1.0, -1.0]], -1, 1)], bounds=[(0, None)] * 2)
    # A linear objective with linear constraints goes to the convex method: its ray is the proof.
    assert r.status_name == "UNBOUNDED" and r.nit < 50
    d = r.certificate.d
    assert d @ np.array([-1.0, -1.0]) < 0 and abs(d[0] - d[1]) < 1e-8 and np.all(d >= 0)


@pytest.mark.filterwarnings("ignore:delta_grad == 0.0")
def test_unconstrained_linear_objective_through_newton_kkt_is_unbounded():
    s = lg.newton_kkt(lg.Problem(lambda x: x[0], [0.0], gradient=lambda x: np.array([1.0])))
    assert_unbounded(s)
    np.testing.assert_allclose(s.certificate.d, [-1.0])


def test_a_large_but_bounded_minimum_is_not_called_unbounded():
    # f = -|x0 + x1 + x2|^10 on [-1e6, 1e6]^3: the minimum is -(3e6)^10 = -5.9e64 at a corner,
    # far below -1e20, and no ray of descent stays inside the box.
    r = lg.minimize(lambda x: -abs(np.sum(x)) ** 10, [1.0, 1.0, 1.0], bounds=[(-1e6, 1e6)] * 3)
    assert r.status_name != "UNBOUNDED"


def test_inconsistent_equalities_are_infeasible_through_every_entry_point():
    # x0 + x1 = 1, x0 - x1 = 0, x0 = 3 (3 rows, 2 unknowns): the least-squares point of the
    # violation is (4/3, 1/2), where J^T r = 0 and r = (5/6, 5/6, -5/3) != 0.
    def problem():
        rows = lg.Constraint(lambda x: np.array([x[0] + x[1], x[0] - x[1], x[0]]), lower=[1, 0, 3], upper=[1, 0, 3],
                             jacobian=lambda x: np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 0.0]]))  # fmt: skip
        return lg.Problem(lambda x: x @ x, [0.0, 0.0], gradient=lambda x: 2 * x, hessian=lambda x, y: 2 * np.eye(2), constraints=[rows])

    for solver in (lg.solve, lg.interior_point, lg.newton_kkt):
        s = solver(problem())
        assert s.status is lg.Status.INFEASIBLE, solver
        np.testing.assert_allclose(s.x, [4 / 3, 0.5], atol=1e-6)


@pytest.mark.parametrize("solver", [lg.interior_point, lg.newton_kkt])
def test_a_nan_in_the_hessian_mid_solve_is_a_status_at_the_best_point_not_an_error(solver):
    # f = (x - 3)^4 from 0 (Newton steps x <- x + (3 - x)/3) with a Hessian that turns NaN
    # past x = 0.5: the KKT matrix there cannot be formed. The solve ends NONFINITE at the
    # best point seen.
    p = lg.Problem(lambda x: (x[0] - 3.0) ** 4, [0.0], gradient=lambda x: 4 * (x - 3.0) ** 3,
                   hessian=lambda x, y: np.array([[12 * (x[0] - 3.0) ** 2 if x[0] < 0.5 else np.nan]]))  # fmt: skip
    s = solver(p)
    assert s.status is lg.Status.NONFINITE
    assert s.fun == min(r.objective for r in s.history)  # the best iterate is the one returned


def test_no_kkt_point_is_a_status_not_an_error():
    # min x0 + x1^2 s.t. x0^2 = 0: the minimizer (0, 0) has no multiplier (grad c = 0 there).
    p = lg.Problem(lambda x: x[0] + x[1] ** 2, [1.0, 1.0], gradient=lambda x: np.array([1.0, 2 * x[1]]),
                   hessian=lambda x, y: np.diag([2 * y[0], 2.0]),
                   constraints=[lg.Constraint(lambda x: x[0] ** 2, lower=0, upper=0, jacobian=lambda x: np.array([[2 * x[0], 0.0]]))])  # fmt: skip
    for solver in (lg.solve, lg.interior_point):
        s = solver(p, max_iterations=100)
        assert isinstance(s.status, lg.Status)
        if s.success:  # only where an independent check agrees
            assert s.kkt_check().max() <= 1e-8


def test_negative_curvature_at_feasible_points_finds_the_ray_of_an_unbounded_problem():
    # f = x1^2 - x0^2 on x0 >= 0: the exact Hessian needs a regularization at every iterate,
    # and f falls like -t^2 along x0; the ray is found although it is tested only as |x| doubles.
    p = lg.Problem(lambda x: x[1] ** 2 - x[0] ** 2, [0.5, 0.3], gradient=lambda x: np.array([-2 * x[0], 2 * x[1]]),
                   bounds=([0.0, -np.inf], [np.inf, np.inf]), hessian=lambda x, y: np.diag([-2.0, 2.0]))  # fmt: skip
    s = lg.interior_point(p)
    assert_unbounded(s)
    d = s.certificate.d  # f(x + t d) falls like -(d0^2 - d1^2) t^2: a ray of descent needs |d1| < d0
    assert d[0] > 0 and abs(d[1]) < 1e-3 * d[0] and s.nit < 60


def test_a_bounded_nonconvex_qp_is_not_tested_for_a_ray_at_every_iteration(monkeypatch):
    # HS44: a nonconvex QP on a bounded polytope; its Hessian is regularized at most iterations.
    # A ray test that failed is repeated only once the iterates have doubled in size.
    import importlib

    from lagrangian.problems import hock_schittkowski as hs

    module = importlib.import_module("lagrangian.solvers.interior_point")

    tests = []
    original = module.unbounded_ray

    def counted(*args, **kwargs):
        tests.append(args[1].copy())
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "unbounded_ray", counted)
    case = hs.load("HS44")
    s = lg.interior_point(case.problem)
    assert s.success and s.fun <= -13.0 + 1e-8  # a vertex: -13 (the one reached from x0) or the global -15
    sizes = [np.abs(x).max() for x in tests]
    assert 1 <= len(tests) <= 3, len(tests)  # one test per doubling of |x| (it was one per regularized iteration)
    assert all(b >= 2 * max(1.0, a) for a, b in zip(sizes, sizes[1:]))
