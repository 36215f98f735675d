"""Each user function is called once per point within a solve, and afresh in the next solve.

The reuse is keyed by the point's bytes (lagrangian.last_point); these tests record
every point each callable is called at and check that none repeats, and that a
function whose meaning changes between solves (a parameter in a closure, a buffer
refilled in place) gives the answer of its new meaning.
"""

from __future__ import annotations

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.problems import hock_schittkowski as hs


class Calls:
    """A callable that records the bytes of every point it is called at."""

    def __init__(self, fn):
        self.fn, self.points = fn, []

    def __call__(self, x, *rest):
        self.points.append(np.asarray(x, dtype=float).tobytes())
        return self.fn(x, *rest)

    def repeats(self) -> int:
        return len(self.points) - len(set(self.points))


def _recorded(case):
    """HS ``case`` rebuilt with every callable recorded (objective, gradient, constraints, Jacobian)."""
    p = case.problem
    calls = {"objective": Calls(p.objective), "gradient": Calls(p.gradient), "constraints": Calls(p.constraint_values), "jacobian": Calls(lambda x: p.jacobian(x, dense=True))}
    constraints = [lg.Constraint(calls["constraints"], p.cl, p.cu, jacobian=calls["jacobian"], name="c")] if p.m else []
    problem = lg.Problem(calls["objective"], p.x0, gradient=calls["gradient"], constraints=constraints, bounds=(p.lb, p.ub), hessian=lambda x, y: p.hessian(x, y))
    for c in calls.values():
        c.points.clear()  # the problem's own checks at x_start
    return problem, calls


@pytest.mark.parametrize("name", ["HS71", "HS41", "HS104", "HS107", "HS113"])  # bounds and rows of every kind
def test_no_point_is_evaluated_twice_in_a_solve(name):
    problem, calls = _recorded(hs.load(name))
    result = lg.solve(problem, method="interior_point", max_iterations=500)
    assert result.success
    # Without reuse the first iterate and the polish repeat x_start and x*: 2 gradients and 2 Jacobians at least.
    assert {kind: c.repeats() for kind, c in calls.items()} == dict.fromkeys(calls, 0)
    assert result.evaluations["gradient"] == len(calls["gradient"].points)


def test_a_parameter_changed_between_solves_is_read_afresh():
    # min (x - p)^2 + (y - 2p)^2 s.t. x + y <= 1: for p = 0 the minimum is the center, for p = 1 the projection.
    p = np.array([0.0])
    problem = lg.Problem(
        lambda v: (v[0] - p[0]) ** 2 + (v[1] - 2 * p[0]) ** 2, [0.2, 0.3],
        gradient=lambda v: np.array([2 * (v[0] - p[0]), 2 * (v[1] - 2 * p[0])]),
        constraints=[lg.Inequality(lambda v: np.array([v[0] + v[1]]), upper=1.0, jacobian=lambda v: np.array([[1.0, 1.0]]))],
        hessian=lambda v, y: 2 * np.eye(2),
    )  # fmt: skip
    first = lg.solve(problem)
    np.testing.assert_allclose(first.x, [0.0, 0.0], atol=1e-7)
    p[0] = 1.0  # the closure's meaning changes; the problem's start values were computed for p = 0
    second = lg.solve(problem)
    # Projection of (1, 2) onto x + y <= 1: (1, 2) - (2/2) (1, 1) = (0, 1).
    np.testing.assert_allclose(second.x, [0.0, 1.0], atol=1e-7)
    assert second.kkt.max() <= 1e-8


def test_a_buffer_refilled_in_place_is_not_mistaken_for_the_old_value():
    # The joint objective-and-gradient pattern: the gradient lives in one array that every objective call refills.
    target = np.array([3.0, -1.0, 0.5])
    buffer = np.zeros(3)

    def objective(x):
        buffer[:] = 2 * (x - target)
        return float((x - target) @ (x - target))

    def gradient(x):
        objective(x)
        return buffer

    bounds = (np.zeros(3), np.full(3, 2.0))
    result = lg.solve(lg.Problem(objective, np.ones(3), gradient=gradient, bounds=bounds, hessian=lambda x, y: 2 * np.eye(3)))
    np.testing.assert_allclose(result.x, [2.0, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(result.z, [2.0, -2.0, 0.0], atol=1e-6)  # grad f + z = 0 at the active bounds


def test_minimize_calls_fun_once_at_x0_and_returns_a_jac_the_caller_may_change():
    calls = Calls(lambda x: float((x[0] - 1) ** 2 + (x[1] - 2) ** 2 + x[0] * x[1]))
    grad = Calls(lambda x: np.array([2 * (x[0] - 1) + x[1], 2 * (x[1] - 2) + x[0]]))
    x0 = np.array([0.5, 0.5])
    res = lg.minimize(calls, x0, jac=grad, bounds=[(0, 3), (0, 3)], constraints=[{"type": "ineq", "fun": lambda x: 2.5 - x[0] - x[1]}])
    assert res.success
    assert calls.points.count(x0.tobytes()) == 1 and grad.points.count(x0.tobytes()) == 1
    # (The gradient is called again at the stencil points of the Hessian by differences,
    # once per multiplier vector asked for at a point; only fun never repeats.)
    assert calls.repeats() == 0
    res.jac[:] = 0.0  # the caller's array: no error, and the next solve is unaffected
    again = lg.minimize(calls, x0, jac=grad, bounds=[(0, 3), (0, 3)], constraints=[{"type": "ineq", "fun": lambda x: 2.5 - x[0] - x[1]}])
    np.testing.assert_allclose(again.x, res.x, atol=1e-10)


def _hs71_through_minimize(constraint_hess):
    """HS71 stated through ``minimize``'s arguments, with ``constraint_hess(x, v)`` as each row's Hessian of ``v c``."""
    from scipy.optimize import NonlinearConstraint

    p = hs.load("HS71").problem
    rows = [NonlinearConstraint(lambda x, i=i: p.constraint_values(x)[i : i + 1], p.cl[i], p.cu[i],
                                jac=lambda x, i=i: p.jacobian(x, dense=True)[i : i + 1],
                                hess=lambda x, v, i=i: constraint_hess(x, v, i))
            for i in range(p.m)]  # fmt: skip
    hess = Calls(lambda x: p.hessian(x, np.zeros(p.m), dense=True))
    return p, dict(jac=p.gradient, hess=hess, constraints=rows, bounds=list(zip(p.lb, p.ub))), hess


def test_minimize_checks_the_hessian_at_x0_by_its_first_hessian():
    # The Hessian of each row i is d2(y_i c_i) = p.hessian(x, e_i y_i) - p.hessian(x, 0).
    multipliers = []

    def row_hess(x, v, i):
        multipliers.append(float(v[0]))
        e = np.zeros(2)
        e[i] = v[0]
        return p.hessian(x, e, dense=True) - p.hessian(x, np.zeros(2), dense=True)

    p, arguments, hess = _hs71_through_minimize(row_hess)
    res = lg.minimize(p.objective, p.x0, **arguments)
    assert res.success and abs(res.fun - 17.0140172891563) < 1e-8
    # No Hessian with every multiplier 1 (the check a Problem built by the user makes):
    # the first one, at x_start with the solve's nonzero multipliers, is the check.
    assert 1.0 not in multipliers and 0.0 not in multipliers[:2]
    assert res.nhev == len(hess.points) == hess.repeats() + len(set(hess.points))
    # A Problem the user builds checks its Hessian when built: one call more, the same iterations.
    counted = Calls(p.hessian)
    on_its_own = lg.solve(lg.Problem(p.objective, p.x0, gradient=p.gradient, constraints=p.constraints, bounds=(p.lb, p.ub), hessian=counted))
    assert len(counted.points) == res.nhev + 1 and on_its_own.nit == res.nit


@pytest.mark.parametrize("nan_in", ["constraint curvature", "objective curvature", "objective curvature, linear rows"])
def test_minimize_still_names_a_nan_in_the_curvature_at_x0(nan_in):
    # With linear rows only, minimize first asks for the objective's Hessian at a second
    # point (the QP test), which catches value errors: the check is still owed after it,
    # and the solve's first Hessian raises.
    from scipy.optimize import LinearConstraint

    def row_hess(x, v, i):
        return v[0] * np.diag([np.nan, 0.0, 0.0, 0.0]) if nan_in == "constraint curvature" else np.zeros((4, 4))

    p, arguments, _ = _hs71_through_minimize(row_hess)
    if nan_in != "constraint curvature":
        arguments["hess"] = lambda x: np.full((4, 4), np.nan)
    if nan_in.endswith("linear rows"):
        arguments["constraints"] = [LinearConstraint(np.ones((1, 4)), -np.inf, 100.0)]
    with pytest.raises(lg.ProblemError, match=r"^hessian: has NaN entries at x0 .*with (every multiplier 1|the multipliers the solve started from)"):
        lg.minimize(p.objective, p.x0, **arguments)


@pytest.mark.parametrize("case", ["x0 on a bound", "a NaN in one entry", "no iteration"])
def test_minimize_never_hands_out_a_hessian_that_failed_its_check(case):
    # No rows and x0 on a bound: the QP test asks first at x0 (not x_start), the check
    # with every multiplier 1 fails there and is caught; that Hessian must not be served
    # to the solve from its memory (it was: an SVD failure in the polish, or a hang in
    # LAPACK with one NaN entry). With maxiter=0 the solve asks for no Hessian at all.
    def hess(x):
        H = np.diag([2.0, 4.0, 2.0])
        if case == "a NaN in one entry":
            H[1, 1] = np.nan if x[2] > 0.9 else 4.0  # only near x_start
            return H
        return np.full((3, 3), np.nan)

    x0 = np.array([0.5, 0.5, 1.0])
    options = {"maxiter": 0} if case == "no iteration" else {}
    with pytest.raises(lg.ProblemError, match=r"^hessian: has NaN entries at x0"):
        lg.minimize(lambda x: float(x @ x), x0, jac=lambda x: 2 * x, hess=hess, bounds=[(-5, 5), (-5, 5), (-5, 1.0)], options=options)


def _hs71_near_its_answer():
    """HS71, solved, and an interior point ``1e-9`` inside its active bound, as an interior point ends: (problem, x, y, z)."""
    problem = hs.load("HS71").problem
    answer = lg.solve(problem, method="interior_point")
    assert answer.success and answer.x[0] == 1.0  # x0 at its lower bound, polished onto it
    x = answer.x.copy()
    x[0] += 1e-9
    return problem, x, answer.y, answer.z


def test_the_polish_starts_from_the_derivatives_the_solve_has_at_its_answer():
    from lagrangian.solvers.polish import polish_with_residuals

    problem, x, y, z = _hs71_near_its_answer()
    with problem.reusing_evaluations():
        unpolished = lg.kkt_residuals(problem, x, y, z)  # what the last iterate evaluated, and a result carries
        before = dict(problem.counts)
        xp, yp, zp, residuals = polish_with_residuals(problem, x, y, z, 1e-8, before=unpolished)
        calls = {kind: problem.counts[kind] - before[kind] for kind in before}
    # One Newton step from x (its derivatives already paid for) lands at rounding level; only
    # the landing point is evaluated. Snapping first and evaluating there cost two of each.
    assert calls == {"objective": 0, "gradient": 1, "constraints": 1, "jacobian": 1, "hessian": 1}
    assert xp[0] == 1.0 and residuals.max() <= 1e-14
    # The residuals it reports are those of a fresh evaluation at the point.
    assert lg.kkt_residuals(problem, xp, yp, zp).max() == pytest.approx(residuals.max(), abs=1e-15)


def test_the_second_order_check_reads_the_polishs_hessian_and_evaluates_one_where_it_is_not_close():
    from lagrangian.solvers.polish import polish_with_residuals
    from lagrangian.solvers.second_order import POSITIVE_DEFINITE, second_order_check

    problem, x, y, z = _hs71_near_its_answer()
    with problem.reusing_evaluations():
        xp, yp, zp, _ = polish_with_residuals(problem, x, y, z, 1e-8)
        before = problem.counts["hessian"]
        check = second_order_check(problem, xp, yp, zp)
        assert problem.counts["hessian"] == before  # the polish's Hessian, 1e-9 away
        # The same verdict and smallest eigenvalue as the Hessian at the point itself gives.
        fresh = second_order_check(lg.Problem(problem.objective, xp, gradient=problem.gradient, constraints=problem.constraints,
                                              bounds=(problem.lb, problem.ub), hessian=lambda v, w: problem.hessian(v, w)), xp, yp, zp)  # fmt: skip
        assert check.description == fresh.description == POSITIVE_DEFINITE
        assert check.smallest == pytest.approx(fresh.smallest, rel=1e-7)
        moved = xp + 1e-6 * np.array([0.0, 1.0, -1.0, 0.0])
        before = problem.counts["hessian"]
        problem.hessian_near(moved, yp, 1e-8)
        assert problem.counts["hessian"] == before + 1  # 1e-6 away: evaluated there
    before = problem.counts["hessian"]
    problem.hessian_near(xp, yp, 1.0)
    assert problem.counts["hessian"] == before + 1  # outside a solve nothing is kept
