"""Active-set polishing: bounds and rows the answer sits on are reached exactly, never at the cost of the KKT residuals."""

import numpy as np
import pytest
from scipy.optimize import LinearConstraint

import lagrangian as lg
from lagrangian.solvers.polish import polish


def test_a_bound_active_with_a_zero_multiplier_is_reached_exactly():
    # min x^2 on [0, 1]: x* = 0 with z* = 0 (weakly active); the barrier alone stops near 5e-5.
    r = lg.minimize(lambda x: np.sum(x**2), [1.0], bounds=[(0, 1)])
    assert r.success and r.x[0] == 0.0 and r.fun == 0.0


def test_a_vertex_is_reached_to_rounding():
    # min -x0 - 2 x1 s.t. x0 + x1 <= 1, x >= 0: the vertex (0, 1), multipliers y = 2, z0 = 1.
    r = lg.minimize(lambda x: -x[0] - 2 * x[1], [0.2, 0.2], jac=lambda x: np.array([-1.0, -2.0]), hess=lambda x: np.zeros((2, 2)),
                    constraints=[LinearConstraint([[1.0, 1.0]], -np.inf, 1.0)], bounds=[(0, None)] * 2)  # fmt: skip
    assert r.success
    np.testing.assert_allclose(r.x, [0.0, 1.0], atol=1e-14)
    np.testing.assert_allclose(r.multipliers[0], [2.0], rtol=1e-12)
    np.testing.assert_allclose(r.bound_multipliers, [-1.0, 0.0], atol=1e-12)


def test_a_candidate_whose_multiplier_has_the_wrong_sign_is_released():
    # min (x - 1e-4)^2 on [0, 1] at x = 1e-4: the bound 0 is within the candidate distance,
    # but held at x = 0 its multiplier would be z = -f'(0) = 2e-4 > 0, the wrong sign for a
    # lower bound (z <= 0): the bound is released and x = 1e-4 is kept, with z = 0.
    p = lg.Problem(lambda x: (x[0] - 1e-4) ** 2, [0.5], gradient=lambda x: 2 * (x - 1e-4), hessian=lambda x, y: np.array([[2.0]]), bounds=([0.0], [1.0]))
    x, y, z = polish(p, np.array([1e-4 + 1e-9]), np.zeros(0), np.array([-1e-9]), 1e-8)
    assert x[0] == pytest.approx(1e-4, abs=1e-15) and z[0] == 0.0


def test_polishing_is_refused_when_it_would_raise_the_residuals():
    # min (x - 0.5)^2 on [0, 0.5005] at its interior minimizer 0.5: the upper bound is within
    # the candidate distance, but held there its multiplier -f'(0.5005) = -1e-3 has the wrong
    # sign for an upper bound: released, and the point keeps its (zero) residuals.
    p = lg.Problem(lambda x: (x[0] - 0.5) ** 2, [0.5], gradient=lambda x: 2 * (x - 0.5), hessian=lambda x, y: np.array([[2.0]]), bounds=([0.0], [0.5005]))
    found = polish(p, np.array([0.5]), np.zeros(0), np.array([1e-12]), 1e-8)
    assert found is None or abs(found[0][0] - 0.5) <= 1e-15


def test_an_equality_written_as_two_opposite_inequalities_solves():
    # x0 + x1 >= 1 and 1 - x0 - x1 >= 0 pin x0 + x1 = 1: the slacks have no interior unless the
    # row bounds are relaxed (by 1e-9, as IPOPT's bound_relax_factor). min (x0 - 2)^2 + x1^2 on
    # that line: x = (1.5, -0.5), f = 0.5; the polish puts the rows back on x0 + x1 = 1.
    r = lg.minimize(lambda x: (x[0] - 2) ** 2 + x[1] ** 2, [0.0, 0.0],
                    constraints=[{"type": "ineq", "fun": lambda x: x[0] + x[1] - 1}, {"type": "ineq", "fun": lambda x: 1 - x[0] - x[1]}])  # fmt: skip
    assert r.success and r.nit < 100
    np.testing.assert_allclose(r.x, [1.5, -0.5], atol=1e-12)
    assert r.x[0] + r.x[1] == pytest.approx(1.0, abs=1e-15)


def test_a_stalled_run_at_a_kkt_point_is_judged_afresh_with_least_squares_multipliers():
    # A run that stalls at the answer with run-away multipliers (here: the answer of
    # min x0 + x1 s.t. x0 + x1 >= 1, x >= 0 at (0.5, 0.5) handed over with y = 1e11) is a
    # SUCCESS once the active set's least-squares multipliers pass the KKT check: y = 1, z = 0.
    import dataclasses

    from lagrangian.solvers.verification import _rechecked

    row = lg.Constraint(lambda x: np.array([x[0] + x[1]]), lower=1.0, jacobian=lambda x: np.ones((1, 2)))
    p = lg.Problem(lambda x: x[0] + x[1], [2.0, 2.0], gradient=lambda x: np.ones(2), hessian=lambda x, y: np.zeros((2, 2)),
                   constraints=[row], bounds=([0.0, 0.0], [np.inf, np.inf]))  # fmt: skip
    s = lg.interior_point(p)
    stalled = dataclasses.replace(s, x=np.array([0.5, 0.5]), y=np.array([-1e11]), z=np.zeros(2), status=lg.Status.LINE_SEARCH_FAILED)
    judged = _rechecked(p, stalled, 1e-8)
    assert judged.status is lg.Status.SUCCESS
    np.testing.assert_allclose(judged.y, [-1.0], atol=1e-12)
    assert judged.kkt_check().max() <= 1e-12
