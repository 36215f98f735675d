"""The trust invariant's second-order half: SUCCESS never at a saddle or a maximum where the curvature is known."""

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.solvers.second_order import NEGATIVE, POSITIVE_DEFINITE, second_order_check


def saddle_problem(**options):
    # f = -x0^2 + x0^4 + x1^2: a saddle at 0 (Hessian diag(-2, 2)), minima at (+-1/sqrt 2, 0), f = -1/4.
    return lg.Problem(lambda x: -x[0] ** 2 + x[0] ** 4 + x[1] ** 2, [0.0, 0.0], gradient=lambda x: np.array([-2 * x[0] + 4 * x[0] ** 3, 2 * x[1]]),
                      hessian=lambda x, y: np.diag([-2 + 12 * x[0] ** 2, 2.0]), **options)  # fmt: skip


def test_the_check_reads_the_reduced_hessian_against_its_eigenvalues():
    p = saddle_problem()
    check = second_order_check(p, np.zeros(2), np.zeros(0), np.zeros(2))
    assert check.negative and check.smallest == pytest.approx(-2.0) and check.description == NEGATIVE
    np.testing.assert_allclose(np.abs(check.direction), [1.0, 0.0], atol=1e-12)
    check = second_order_check(p, np.array([2**-0.5, 0.0]), np.zeros(0), np.zeros(2))
    assert not check.negative and check.smallest == pytest.approx(2.0) and check.description == POSITIVE_DEFINITE


def test_at_a_vertex_the_check_needs_no_hessian():
    # The saddle problem with both variables held at bounds: no direction stays on the active
    # set, so the answer holds whatever the curvature, and the Hessian is not evaluated.
    p = saddle_problem(bounds=([0.0, 0.0], [1.0, 1.0]))
    before = p.counts["hessian"]
    check = second_order_check(p, np.zeros(2), np.zeros(0), np.array([-1.0, -1.0]))
    assert check.description == POSITIVE_DEFINITE and p.counts["hessian"] == before
    # One variable free (x1 at its bound, x0 inside): one Hessian, and the negative curvature along x0 found.
    check = second_order_check(p, np.array([0.2, 0.0]), np.zeros(0), np.array([0.0, -1.0]))
    assert p.counts["hessian"] == before + 1
    assert check.negative and check.smallest == pytest.approx(-2 + 12 * 0.2**2)


def test_minimize_escapes_the_saddle_at_the_starting_point_like_trust_constr():
    r = lg.minimize(lambda x: -x[0] ** 2 + x[0] ** 4 + x[1] ** 2, [0.0, 0.0])
    assert r.success
    np.testing.assert_allclose(np.abs(r.x), [2**-0.5, 0.0], atol=1e-7)
    assert r.fun == pytest.approx(-0.25, abs=1e-12)


@pytest.mark.parametrize("solver", [lg.interior_point, lg.solve])
def test_the_solvers_say_which_second_order_information_they_checked(solver):
    s = solver(saddle_problem())
    assert s.success and s.second_order == POSITIVE_DEFINITE and s.fun == pytest.approx(-0.25)
    quasi_newton = lg.Problem(lambda x: (x[0] - 1) ** 2, [0.0], gradient=lambda x: 2 * (x - 1))
    assert solver(quasi_newton).second_order.startswith("not checked: quasi-Newton")


def test_a_maximum_inside_a_box_is_left_for_the_bound():
    # -x^2 on [-1, 1] from 0: x = 0 is a KKT point (a maximum); the minima are the bounds, f = -1.
    p = lg.Problem(lambda x: -x[0] ** 2, [0.0], gradient=lambda x: -2 * x, hessian=lambda x, y: np.array([[-2.0]]), bounds=([-1.0], [1.0]))
    s = lg.interior_point(p)
    assert s.success and s.fun == pytest.approx(-1.0, abs=1e-7) and abs(s.x[0]) == pytest.approx(1.0, abs=1e-7)
    assert s.second_order == POSITIVE_DEFINITE  # no free direction left at a vertex


def test_the_maximum_of_minus_norm_squared_on_a_line_is_left_for_unboundedness():
    # -||x||^2 on x0 + x1 = 1: x0 = (1/2, 1/2) is a KKT point with curvature -2 along (1, -1);
    # newton_kkt stops there at once, the check steps off, and f falls without bound.
    line = lg.Constraint(lambda x: x[0] + x[1], lower=1.0, upper=1.0, jacobian=lambda x: np.array([[1.0, 1.0]]))
    p = lg.Problem(lambda x: -x @ x, [0.5, 0.5], gradient=lambda x: -2 * x, hessian=lambda x, y: -2 * np.eye(2), constraints=[line])
    s = lg.solve(p)  # newton_kkt
    assert not s.success and s.fun < -1e20 and s.status is lg.Status.UNBOUNDED


def test_negative_curvature_status_when_no_step_lowers_f():
    # A Hessian that says -2 at the stationary point 0 of f = x^4, where no step lowers f.
    p = lg.Problem(lambda x: x[0] ** 4, [0.0], gradient=lambda x: 4 * x**3, hessian=lambda x, y: np.array([[-2.0]]))
    s = lg.solve(p, method="interior_point")
    assert s.status is lg.Status.NEGATIVE_CURVATURE and not s.success and s.second_order == NEGATIVE


def test_negative_curvature_behind_a_weakly_active_bound_is_found_and_left_inward():
    # f = -x0^2 + x1^2 on x0 in [0, 1] at (0, 0): the bound x0 >= 0 is active with z0 = 0. On the
    # null space of the active set (x0 fixed) the curvature is +2, but the critical cone lets
    # x0 grow, where it is -2: the check finds the direction with the bound released, and the
    # escape moves inward (x0 > 0), where f falls.
    from lagrangian.solvers.second_order import WEAKLY_NEGATIVE, escape_along_negative_curvature

    p = lg.Problem(lambda x: -x[0] ** 2 + x[1] ** 2, [0.5, 0.5], gradient=lambda x: np.array([-2 * x[0], 2 * x[1]]),
                   hessian=lambda x, y: np.diag([-2.0, 2.0]), bounds=([0.0, -np.inf], [1.0, np.inf]))  # fmt: skip
    x = np.zeros(2)
    check = second_order_check(p, x, np.zeros(0), np.zeros(2))
    assert check.negative and not check.conclusive and check.description == WEAKLY_NEGATIVE
    assert check.smallest == pytest.approx(-2.0)
    start = escape_along_negative_curvature(p, x, np.zeros(0), check)
    assert start[0] > 0 and p.objective(start) < 0
    s = lg.interior_point(p, x0=[1e-3, 0.5])
    assert s.success and s.fun == pytest.approx(-1.0, abs=1e-8)


def test_an_active_constraint_with_a_non_finite_jacobian_is_reported_not_checked():
    # x0 + sqrt(x1) = 1 is active at (1, 0), where d sqrt(x1)/dx1 is infinite: the null space of
    # the active rows is not defined, so the check says so (it raised scipy's ValueError before).
    def jacobian(x):
        with np.errstate(divide="ignore"):
            return np.array([[1.0, 0.5 / np.sqrt(x[1])]])

    p = lg.Problem(lambda x: x[0] ** 2 + x[1] ** 2, [0.5, 0.25], gradient=lambda x: 2 * x,
                   constraints=[lg.Equality(lambda x: x[0] + np.sqrt(x[1]), 1.0, jacobian=jacobian)],
                   hessian=lambda x, y: 2 * np.eye(2), bounds=([-np.inf, 0.0], [np.inf, np.inf]))  # fmt: skip
    check = second_order_check(p, np.array([1.0, 0.0]), np.array([-2.0]), np.zeros(2))
    assert not check.negative and check.description.startswith("not checked") and "Jacobian" in check.description


def _stalled_first(problem):
    """A solver for ``verified`` whose first run stalls where it starts (ACCEPTABLE, as a line search
    that fails near a KKT point ends) and whose later runs are the interior point's."""
    import dataclasses

    starts = []

    def run(start):
        starts.append(np.array(start, dtype=float))
        if len(starts) == 1:
            stalled = lg.interior_point(problem, x0=start, max_iterations=0)
            return dataclasses.replace(stalled, status=lg.Status.ACCEPTABLE, message=lg.Status.ACCEPTABLE.advice)
        return lg.interior_point(problem, x0=start)

    return run, starts


def _saddle_on_a_plane():
    # f = -x0^2 + x0^4 + x1^2 + x2^2 on the plane x2 = 0: a saddle at 0 (the polish has no
    # bound or inequality to land on), minima at (+-1/sqrt 2, 0, 0) with f = -1/4.
    return lg.Problem(lambda x: -x[0] ** 2 + x[0] ** 4 + x[1] ** 2 + x[2] ** 2, [0.0, 0.0, 0.0],
                      gradient=lambda x: np.array([-2 * x[0] + 4 * x[0] ** 3, 2 * x[1], 2 * x[2]]),
                      constraints=[lg.Equality(lambda x: np.array([x[2]]), 0.0, jacobian=lambda x: np.array([[0.0, 0.0, 1.0]]))],
                      hessian=lambda x, y: np.diag([-2 + 12 * x[0] ** 2, 2.0, 2.0]))  # fmt: skip


def test_a_run_stalled_at_a_saddle_restarts_along_the_negative_curvature():
    # CUTEst EIGENBCO: the interior point regularizes an indefinite Hessian all the way into
    # the saddle at f = 1 and stalls there (ACCEPTABLE); the minimum is f = 0.
    from lagrangian.solvers.verification import verified

    problem = _saddle_on_a_plane()
    run, starts = _stalled_first(problem)
    result = verified(run, problem, np.array([1e-6, 0.0, 0.0]), tol=1e-8)  # (KKT error 2e-6: not rechecked to SUCCESS)
    assert len(starts) == 2 and abs(starts[1][0]) >= 0.1 and np.all(starts[1][1:] == 0.0)  # left the saddle along x0
    assert result.status is lg.Status.SUCCESS
    assert result.fun == pytest.approx(-0.25, abs=1e-12) and abs(result.x[0]) == pytest.approx(2**-0.5, abs=1e-8)


def test_a_run_stalled_at_a_minimum_is_not_restarted():
    from lagrangian.solvers.verification import verified

    problem = _saddle_on_a_plane()
    run, starts = _stalled_first(problem)
    result = verified(run, problem, np.array([2**-0.5 + 1e-6, 0.0, 0.0]), tol=1e-8)
    assert len(starts) == 1 and result.status is lg.Status.ACCEPTABLE
    assert result.second_order == POSITIVE_DEFINITE
