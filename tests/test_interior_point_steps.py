"""The interior point's named steps (Wächter & Biegler 2006, Algorithm A), each against its formula."""

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.solvers.filter_line_search import Acceptance, Filter, minimum_step_length
from lagrangian.solvers.slack_form import SlackForm, fraction_to_boundary, push_inside


def test_fraction_to_the_boundary_stops_short_of_the_nearest_bound_by_tau():
    # distances (1, 2), steps (-2, -1): the first hits at 0.5, tau = 0.99 gives 0.495.
    assert fraction_to_boundary(np.array([1.0, 2.0]), np.array([-2.0, -1.0]), 0.99) == pytest.approx(0.495)
    assert fraction_to_boundary(np.array([1.0]), np.array([3.0]), 0.99) == 1.0


def test_push_inside_moves_by_bound_push_relative_or_a_fraction_of_a_narrow_interval():
    lower, upper = np.array([0.0, 100.0, 0.0]), np.array([np.inf, np.inf, 1e-3])
    pushed = push_inside(np.array([0.0, 100.0, 0.0]), lower, upper)
    np.testing.assert_allclose(pushed, [1e-2, 101.0, 1e-5])


def test_the_filter_rejects_dominated_pairs_and_keeps_only_undominated_entries():
    f = Filter(theta_max=10.0)
    f.add(1.0, 5.0)
    assert f.rejects(1.0, 5.0) and f.rejects(2.0, 6.0) and f.rejects(11.0, -1e9)
    assert not f.rejects(0.5, 6.0) and not f.rejects(2.0, 4.0)
    f.add(0.5, 4.0)  # dominates (1, 5)
    assert f.entries == [(0.5, 4.0)]


def test_acceptance_uses_armijo_when_switching_and_sufficient_decrease_otherwise():
    # theta = 1e-6 <= theta_min, slope -1: the switching condition holds, so Armijo decides.
    accept = Acceptance(Filter(1.0), theta=1e-6, phi=1.0, slope=-1.0, theta_min=1e-4)
    assert accept(1e-6, 1.0 - 1e-3, 1.0) == (True, True)
    assert accept(1e-6, 1.0, 1.0) == (False, True)  # no decrease of phi
    # Far from feasible: a cut in theta by the margin suffices, an h-type step.
    accept = Acceptance(Filter(1e3), theta=1.0, phi=1.0, slope=-1.0, theta_min=1e-4)
    assert accept(0.5, 2.0, 1.0) == (True, False)
    assert accept(1.0, 1.0, 1.0) == (False, False)


def test_minimum_step_length_follows_eq_23():
    assert minimum_step_length(1.0, 1.0, 1e-4) == pytest.approx(0.05 * 1e-5)
    assert minimum_step_length(-1.0, 1.0, 1e-4) == pytest.approx(0.05 * min(1e-5, 1e-8))


def test_slack_form_residual_and_jacobian_put_each_inequality_row_on_its_slack():
    p = lg.Problem(lambda x: x[0] + x[1], [0.5, 0.5], gradient=lambda x: np.ones(2), constraints=[lg.Constraint(lambda x: x[0] * x[1], lower=0.1, upper=1.0, jacobian=lambda x: [[x[1], x[0]]])])
    form = SlackForm(p, p.x0)
    w = np.array([0.5, 0.5, 0.2])
    c = p.constraint_values(w[:2])
    np.testing.assert_allclose(form.residual(w, c), form.row_scale * c - 0.2)
    A = np.asarray(form.jacobian(p.jacobian(w[:2], dense=True)))
    np.testing.assert_allclose(A, [[form.row_scale[0] * 0.5, form.row_scale[0] * 0.5, -1.0]])


def test_a_trial_that_raises_the_barrier_function_by_more_than_five_orders_is_rejected():
    # IPOPT's obj_max_inc: log10(phi_t - phi) > 5 + log10 max(10, |phi|) rejects, whatever theta does.
    accept = Acceptance(Filter(1e3), theta=1.0, phi=1.0, slope=-1.0, theta_min=1e-4)
    assert accept(0.1, 1.0 + 0.9e6, 1.0) == (True, False)  # rise 9e5 < 1e6: an h-type step
    assert accept(0.1, 1.0 + 2e6, 1.0) == (False, False)  # rise 2e6 > 10^(5 + 1)
    accept = Acceptance(Filter(1e3), theta=1.0, phi=1e3, slope=-1.0, theta_min=1e-4)
    assert accept(0.1, 1e3 + 0.9e8, 1.0)[0] and not accept(0.1, 1e3 + 2e8, 1.0)[0]  # 10^(5 + 3)


def test_barrier_values_are_compared_with_ipopts_rounding_allowance():
    # At |phi| = 5e12 a decrease below 10 eps |phi| (about 0.011) is rounding: the Armijo test
    # accepts a trial within that allowance instead of rejecting every step near the answer.
    phi = -5e12
    accept = Acceptance(Filter(1.0), theta=0.0, phi=phi, slope=-1e-6, theta_min=1e-4)
    assert accept(0.0, phi + 0.005, 1.0) == (True, True)
    assert accept(0.0, phi + 0.05, 1.0) == (False, True)


def test_the_barrier_gradient_is_the_gradient_of_the_damped_barrier_function():
    # phi = f - mu sum ln(distance) + kappa_d mu sum(distance over one-sided bounds): x0 in [0, 2]
    # (two-sided, no damping), x1 >= 1 (one-sided, damped). Central differences of phi agree.
    p = lg.Problem(lambda x: x[0] ** 2 + 3 * x[1], [0.5, 2.0], gradient=lambda x: np.array([2 * x[0], 3.0]), bounds=(np.array([0.0, 1.0]), np.array([2.0, np.inf])))
    form = SlackForm(p, p.x0)
    w, mu = np.array([0.7, 1.5]), 0.3
    grad = form.barrier_gradient(p.gradient(w), w, mu)
    h = 1e-6
    fd = [(form.barrier(p.objective(w + h * e), w + h * e, mu) - form.barrier(p.objective(w - h * e), w - h * e, mu)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-7)
    assert form.one_sided.tolist() == [False, True, False]  # bounds listed lower first: x0 >= 0, x1 >= 1, x0 <= 2


def test_the_filter_is_reset_after_five_iterations_whose_last_rejection_was_the_filters():
    # IPOPT's filter reset heuristic (filter_reset_trigger = 5, max_filter_resets = 5): an
    # iteration counts when the trial point rejected just before the accepted one was rejected
    # by the filter, not by the sufficient-decrease test.
    filt = Filter(1e3)
    filt.add(1.0, 0.0)  # dominates every trial below with theta >= 1 and phi >= 0
    accept = Acceptance(filt, theta=10.0, phi=1.0, slope=1.0, theta_min=1e-4)
    for iteration in range(5):
        assert accept(5.0, 0.5, 1.0) == (False, False)  # decrease enough, but dominated by (1, 0)
        assert accept(0.5, 0.5, 0.5) == (True, False)  # below the entry: accepted
        assert len(filt.entries) == (1 if iteration < 4 else 0)
    # a rejection by the sufficient-decrease test in between restarts the count
    filt.add(1.0, 0.0)
    for _ in range(6):
        assert accept(5.0, 0.5, 1.0) == (False, False)
        assert accept(10.0, 2.0, 1.0) == (False, False)  # neither theta nor phi decreases
        assert accept(0.5, 0.5, 0.5) == (True, False)
    assert len(filt.entries) == 1
    # at most five resets in a run
    filt.resets = 5
    for _ in range(6):
        accept(5.0, 0.5, 1.0)
        accept(0.5, 0.5, 0.5)
    assert len(filt.entries) == 1
