"""Square systems (as many equality rows as free variables) and the best point a failing run returns."""

import numpy as np
import pytest

import lagrangian as lg


def circle_and(line_row, line_jacobian, objective, gradient, x0, bounds=None):
    rows = lg.Constraint(lambda x: np.array([x[0] ** 2 + x[1] ** 2, line_row(x)]), lower=[2.0, 0.0], upper=[2.0, 0.0],
                         jacobian=lambda x: np.array([[2 * x[0], 2 * x[1]], line_jacobian(x)]))  # fmt: skip
    return lg.Problem(objective, x0, gradient=gradient, constraints=[rows], bounds=bounds,
                      hessian=lambda x, y: 2 * y[0] * np.eye(2))  # fmt: skip


def test_a_square_system_with_a_nonsingular_jacobian_is_solved_with_least_squares_multipliers():
    # x0^2 + x1^2 = 2, x0 - x1 = 0 in the box [0, 3]^2: the one feasible point (1, 1) is the
    # minimizer of any f, here x0 + 2 x1; J = [[2, 2], [1, -1]] gives y = -J^-T grad f = (-3/4, 1/2).
    p = circle_and(lambda x: x[0] - x[1], lambda x: [1.0, -1.0], lambda x: x[0] + 2 * x[1], lambda x: np.array([1.0, 2.0]),
                   [2.0, 0.5], bounds=([0.0, 0.0], [3.0, 3.0]))  # fmt: skip
    s = lg.interior_point(p)
    assert s.success
    np.testing.assert_allclose(s.x, [1.0, 1.0], atol=1e-10)
    np.testing.assert_allclose(s.y, [-0.75, 0.5], atol=1e-9)
    assert s.kkt_check().max() <= 1e-9


def test_a_square_system_tangent_at_its_solution_ends_feasible_and_checked():
    # x0^2 + x1^2 = 2 and x0 = sqrt 2 touch at (sqrt 2, 0), where J = [[2 sqrt 2, 0], [1, 0]] is
    # singular: f = x1 has gradient (0, 1), outside the range of J^T, so no multipliers exist
    # there. Before square systems were recognized the multipliers grew 30-100x per iteration
    # and the solve ended LINE_SEARCH_FAILED after 124 iterations with stationarity 0.38. Now
    # Newton's method on the rows converges (linearly, as at a singular root) to feasibility;
    # the verdict is SUCCESS only where least-squares multipliers pass the independent check,
    # else FEASIBLE_POINT.
    p = circle_and(lambda x: x[0] - np.sqrt(2.0), lambda x: [1.0, 0.0], lambda x: x[1], lambda x: np.array([0.0, 1.0]),
                   [1.0, 0.5], bounds=([-3.0, -3.0], [3.0, 3.0]))  # fmt: skip
    s = lg.interior_point(p)
    assert s.status in (lg.Status.SUCCESS, lg.Status.FEASIBLE_POINT) and s.nit < 50
    assert s.kkt.primal <= 1e-8 and abs(s.x[0] - np.sqrt(2.0)) <= 1e-8
    if s.success:
        assert s.kkt_check().max() <= 1e-8


def test_the_best_point_returned_is_a_feasible_one():
    # A run cut short after reaching feasibility returns a feasible point, whatever the dual error.
    p = lg.Problem(lambda x: x[0] + x[1], [3.0, 0.5], gradient=lambda x: np.ones(2), hessian=lambda x, y: 2 * y[0] * np.eye(2),
                   constraints=[lg.Constraint(lambda x: np.array([x @ x]), lower=2.0, upper=2.0, jacobian=lambda x: 2 * x[None, :])])  # fmt: skip
    full = lg.interior_point(p)
    assert full.success and full.fun == pytest.approx(-2.0)
    for limit in range(1, full.nit):
        s = lg.interior_point(p, max_iterations=limit)
        violations = [r.primal for r in s.history]
        if min(violations) <= 1e-6:
            assert s.kkt.primal <= 1e-6


def test_fixed_variables_are_parameters_with_the_multiplier_stationarity_leaves():
    # min x0^2 + x1^2 + x2^2 s.t. x0 + x1 + x2 = 3, x2 fixed at 2 (lb == ub): x0 = x1 = 1/2,
    # y = -1 (2 x0 + y = 0), and the fixed bound's multiplier z2 = -(2 x2 + y) = -3.
    row = lg.Constraint(lambda x: np.array([x.sum()]), lower=3.0, upper=3.0, jacobian=lambda x: np.ones((1, 3)))
    p = lg.Problem(lambda x: x @ x, [0.0, 0.0, 2.0], gradient=lambda x: 2 * x, hessian=lambda x, y: 2 * np.eye(3), constraints=[row],
                   bounds=([-np.inf, -np.inf, 2.0], [np.inf, np.inf, 2.0]))  # fmt: skip
    s = lg.interior_point(p)
    assert s.success and s.nit <= 5 and s.x[2] == 2.0
    np.testing.assert_allclose(s.x, [0.5, 0.5, 2.0], atol=1e-12)
    np.testing.assert_allclose(s.y, [-1.0], atol=1e-10)
    np.testing.assert_allclose(s.z, [0.0, 0.0, -3.0], atol=1e-10)


def test_a_square_system_once_its_fixed_variables_are_set_is_solved():
    # x0 x2 + x1 = 2, x0 - x1 x2 = 0 with x2 fixed at 1 (three variables, two free, two rows, as
    # CUTEst's ARTIF): x = (1, 1, 1). The fixed variable used to get a relaxed interior of width
    # 2e-10 that cut every step to ~1e-9.
    rows = lg.Constraint(lambda x: np.array([x[0] * x[2] + x[1], x[0] - x[1] * x[2]]), lower=[2.0, 0.0], upper=[2.0, 0.0],
                         jacobian=lambda x: np.array([[x[2], 1.0, x[0]], [1.0, -x[2], -x[1]]]))  # fmt: skip
    def hessian(x, y):  # of y0 (x0 x2 + x1) + y1 (x0 - x1 x2)
        return np.array([[0.0, 0.0, y[0]], [0.0, 0.0, -y[1]], [y[0], -y[1], 0.0]])

    p = lg.Problem(lambda x: 0.0, [3.0, -1.0, 1.0], gradient=lambda x: np.zeros(3), hessian=hessian,
                   constraints=[rows], bounds=([-np.inf, -np.inf, 1.0], [np.inf, np.inf, 1.0]))  # fmt: skip
    s = lg.interior_point(p)
    assert s.success and s.nit < 20
    np.testing.assert_allclose(s.x, [1.0, 1.0, 1.0], atol=1e-10)
