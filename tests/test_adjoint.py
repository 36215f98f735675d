"""Reverse mode through a solution (lagrangian.reverse_mode) against central differences of
re-solves, and against forward sensitivities by the dot-product test.

Each kind of problem is drawn at random from a seeded family; a draw is kept only when
its solution is regular (strict complementarity by a margin: every active multiplier
above 1e-3 and every inactive constraint at least 1e-3 from its side), the conditions
under which the solution map is differentiable; the tests ask for 20 kept draws of
each kind.
"""

from __future__ import annotations

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.active_kkt import ActiveKKT, DegenerateSolutionWarning
from lagrangian.reverse_mode import adjoint
from lagrangian.layers import qp_cotangents, solve_qp_batch
from lagrangian.sensitivity import sensitivity

DRAWS = 20
TOL = 1e-12
H = 1e-5  # central-difference step of the re-solves
RELATIVE = 1e-6


class Family:
    r"""``min 1/2 x'Qx + (g + Bp)'x + 0.05 sum x^4  s.t.  rows a_i'x + 0.1 x'D_i x + (Ep)_i in [cl, cu]``.

    Convex objective, convex quadratic rows (``D_i`` positive semidefinite), ``k``
    parameters entering the objective's linear term and the rows' levels. Exact
    derivatives in ``x`` and ``p``: ``d(grad_x L)/dp = B``, ``dc/dp = E``,
    ``df/dp = B'x``.
    """

    def __init__(self, rng, kind, n=5, k=3):
        self.kind, self.n, self.k = kind, n, k
        M = rng.standard_normal((n, n))
        self.Q = M @ M.T / n + np.eye(n)
        self.g = rng.standard_normal(n)
        self.B = rng.standard_normal((n, k))
        m = {"equality": 2, "inequality": 4, "bounds": 1, "mixed": 3}[kind]
        self.A = rng.standard_normal((m, n))
        D = rng.standard_normal((m, n, 2))
        self.D = np.einsum("mia,mja->mij", D, D)
        self.E = rng.standard_normal((m, k))
        self.p0 = rng.standard_normal(k)
        # the unconstrained minimizer tells where the sides go: some active, some not
        free = lg.solve(self.problem(self.p0, np.full(m, -np.inf), np.full(m, np.inf), None), tol=TOL).x
        level = self.rows(free, self.p0)
        if kind == "equality":
            self.cl = self.cu = level + rng.uniform(-1.0, 1.0, m)
        else:
            offset = rng.uniform(-0.6, 0.6, m)
            self.cl, self.cu = np.full(m, -np.inf), level + offset
            if kind == "mixed":
                self.cl[0], self.cu[0] = self.cu[0], self.cu[0]  # one equality row
        self.bounds = None
        if kind in ("bounds", "mixed"):
            spread = rng.uniform(-0.5, 0.8, n)
            self.bounds = (np.where(spread > 0, free - spread, -np.inf), np.where(spread < 0, free - spread + 1.0, np.inf))
            self.bounds = (np.minimum(self.bounds[0], self.bounds[1] - 0.5), self.bounds[1])

    def rows(self, x, p):
        return self.A @ x + 0.1 * np.einsum("i,mij,j->m", x, self.D, x) + self.E @ p

    def problem(self, p, cl, cu, bounds):
        Q, g, B, A, D = self.Q, self.g, self.B, self.A, self.D
        constraint = lg.Constraint(
            lambda x: self.rows(x, p), cl, cu, jacobian=lambda x: A + 0.2 * np.einsum("mij,j->mi", D, x), name="rows"
        )
        return lg.Problem(
            lambda x: 0.5 * x @ Q @ x + (g + B @ p) @ x + 0.05 * np.sum(x**4),
            np.zeros(self.n) if bounds is None else np.clip(np.zeros(self.n), bounds[0] + 0.1, bounds[1] - 0.1),
            gradient=lambda x: Q @ x + g + B @ p + 0.2 * x**3,
            constraints=[constraint],
            bounds=bounds,
            hessian=lambda x, y: Q + np.diag(0.6 * x**2) + 0.2 * np.einsum("m,mij->ij", y, D),
        )

    def solve(self, p=None, cl=None, cu=None, bounds=None):
        p = self.p0 if p is None else p
        return lg.solve(
            self.problem(p, self.cl if cl is None else cl, self.cu if cu is None else cu, self.bounds if bounds is None else bounds),
            tol=TOL,
        )


def regular(solution, problem, margin=1e-3) -> bool:
    """Strict complementarity by ``margin`` (and a successful solve)."""
    if not solution.success:
        return False
    c = problem.constraint_values(solution.x)
    for value, lower, upper, multiplier in ((c, problem.cl, problem.cu, solution.y), (solution.x, problem.lb, problem.ub, solution.z)):
        gap = np.minimum(np.abs(value - lower), np.abs(upper - value))
        equality = lower == upper
        if np.any(~equality & (np.abs(multiplier) < margin) & (gap < margin)):
            return False
        if np.any(equality & (np.abs(multiplier) < margin)):
            return False
    return True


def regular_draws(kind, seed):
    rng = np.random.default_rng(seed)
    drawn = 0
    while drawn < DRAWS:
        family = Family(rng, kind)
        solution = family.solve()
        if regular(solution, solution._problem):
            drawn += 1
            yield family, solution


def central_difference(loss, point, step=H):
    point = np.asarray(point, dtype=float)
    out = np.zeros_like(point)
    for i in range(point.size):
        e = np.zeros_like(point)
        e.flat[i] = step
        out.flat[i] = (loss(point + e) - loss(point - e)) / (2 * step)
    return out


def assert_relative(actual, expected, what):
    # Relative to the gradient's size; a gradient that is zero (no active side moves) is
    # checked to 1e-8 absolute instead, about what the re-solves' rounding leaves in a
    # central difference of step 1e-5.
    scale = max(np.linalg.norm(expected), 1e-2)
    error = np.linalg.norm(actual - expected) / scale
    assert error <= RELATIVE, f"{what}: relative error {error:.2e} (reverse {actual}, central differences {expected})"


@pytest.mark.parametrize("kind,seed", [("equality", 1), ("inequality", 2), ("bounds", 3), ("mixed", 4)])
def test_parameter_gradients_equal_central_differences_of_re_solves(kind, seed):
    active_seen = inactive_seen = 0
    for family, solution in regular_draws(kind, seed):
        rng = np.random.default_rng(seed + 100)
        x_bar, y_bar, f_bar = rng.standard_normal(family.n), rng.standard_normal(family.A.shape[0]), rng.standard_normal()
        cot = adjoint(solution, x_bar, y_bar=y_bar, fun_bar=f_bar, lagrangian_gradient_p=family.B,
                      constraints_p=family.E, objective_p=family.B.T @ solution.x)

        def loss(p):
            s = family.solve(p)
            return x_bar @ s.x + y_bar @ s.y + f_bar * s.fun

        assert_relative(cot.p, central_difference(loss, family.p0), f"{kind} p")
        active = cot.kkt.rows.size + cot.kkt.bounds.size
        active_seen += active > 0
        inactive_seen += (family.A.shape[0] + family.n - active) > 0 if kind != "equality" else 0
    if kind != "equality":
        assert active_seen and inactive_seen


@pytest.mark.parametrize("kind,seed", [("inequality", 5), ("mixed", 6)])
def test_side_cotangents_equal_central_differences_along_a_random_direction(kind, seed):
    for family, solution in regular_draws(kind, seed):
        rng = np.random.default_rng(seed)
        m, n = family.A.shape
        x_bar, f_bar = rng.standard_normal(n), rng.standard_normal()
        cot = adjoint(solution, x_bar, fun_bar=f_bar)
        lb, ub = (np.full(n, -np.inf), np.full(n, np.inf)) if family.bounds is None else family.bounds
        direction = [rng.standard_normal(m), rng.standard_normal(m), rng.standard_normal(n), rng.standard_normal(n)]
        finite = [np.isfinite(v) for v in (family.cl, family.cu, lb, ub)]
        direction = [np.where(f, d, 0.0) for d, f in zip(direction, finite)]
        if family.kind == "mixed":  # the equality row's sides move together
            direction[0][0] = direction[1][0]

        def loss(t):
            moved = [np.where(f, v + t * d, v) for v, d, f in zip((family.cl, family.cu, lb, ub), direction, finite)]
            s = family.solve(cl=moved[0], cu=moved[1], bounds=(moved[2], moved[3]))
            return x_bar @ s.x + f_bar * s.fun

        predicted = sum(c @ d for c, d in zip((cot.cl, cot.cu, cot.lb, cot.ub), direction))
        assert_relative(np.array([predicted]), central_difference(lambda t: loss(t[0]), [0.0]), f"{kind} sides")


@pytest.mark.parametrize("kind", ["equality", "inequality", "bounds", "mixed"])
def test_forward_and_reverse_mode_agree_in_the_dot_product_test(kind):
    rng = np.random.default_rng(7)
    for _ in range(5):
        family = Family(rng, kind)
        solution = family.solve()
        kkt = ActiveKKT.from_solution(solution)
        m, n = family.A.shape
        v = rng.standard_normal(family.k)
        u_x, u_y, u_z = rng.standard_normal(n), rng.standard_normal(m), rng.standard_normal(n)
        forward = sensitivity(kkt, lagrangian_gradient_p=family.B, constraints_p=family.E)
        Jv = (forward.dx @ v, forward.dy @ v, forward.dz @ v)
        JTu = adjoint(kkt, u_x, y_bar=u_y, z_bar=u_z, lagrangian_gradient_p=family.B, constraints_p=family.E).p
        left = u_x @ Jv[0] + u_y @ Jv[1] + u_z @ Jv[2]
        assert JTu @ v == pytest.approx(left, rel=1e-12, abs=1e-12 * (1 + abs(left))), (
            f"<u, J v> = {left!r} but <J^T u, v> = {JTu @ v!r}"
        )


def test_vector_jacobian_products_may_be_callables():
    family, solution = next(regular_draws("inequality", 8))
    x_bar = np.arange(family.n, dtype=float)
    by_matrix = adjoint(solution, x_bar, lagrangian_gradient_p=family.B, constraints_p=family.E).p
    by_callable = adjoint(solution, x_bar, lagrangian_gradient_p=lambda w: family.B.T @ w, constraints_p=lambda w: family.E.T @ w).p
    np.testing.assert_allclose(by_callable, by_matrix, rtol=1e-14)


def random_qp(rng, n, m, kind):
    if kind == "lp":
        P = np.zeros((n, n))
    else:
        M = rng.standard_normal((n, n))
        P = M @ M.T / n + 0.1 * np.eye(n)
    return P, rng.standard_normal(n), rng.standard_normal((m, n)), rng.uniform(-1.0, -0.1, m), rng.uniform(0.1, 1.0, m)


def qp_regular(solution, A, l, u, lb, ub) -> bool:
    if not solution.solutions[0].success:
        return False
    c = A @ solution.x[0]
    for value, lower, upper, multiplier in ((c, l, u, solution.y[0]), (solution.x[0], lb, ub, solution.z[0])):
        gap = np.minimum(np.abs(value - lower), np.abs(upper - value))
        if np.any((np.abs(multiplier) < 1e-3) & (gap < 1e-3)):
            return False
    return True


@pytest.mark.parametrize("kind", ["qp", "lp"])
def test_qp_data_gradients_equal_central_differences_of_re_solves(kind):
    rng = np.random.default_rng(11 if kind == "qp" else 12)
    n, m = 4, 3
    kept = 0
    while kept < DRAWS:
        P, q, A, l, u = random_qp(rng, n, m, kind)
        lb, ub = np.full(n, -1.0), np.full(n, 1.0)  # keeps every LP bounded
        s = solve_qp_batch(P, q, A, l, u, lb, ub, tol=TOL)
        if not qp_regular(s, A, l, u, lb, ub):
            continue
        kept += 1
        x_bar, y_bar, f_bar = rng.standard_normal(n), rng.standard_normal(m), rng.standard_normal()
        cot = qp_cotangents(P, q, A, l, u, lb, ub, s, x_bar, y_bar, None, f_bar)
        data = {"P": P, "q": q, "A": A, "l": l, "u": u, "lb": lb, "ub": ub}

        def loss(name, value):
            moved = dict(data, **{name: value})
            r = solve_qp_batch(*(moved[k] for k in ("P", "q", "A", "l", "u", "lb", "ub")), tol=TOL)
            return x_bar @ r.x[0] + y_bar @ r.y[0] + f_bar * r.fun[0]

        # every entry of q; the rest along a random direction each (every entry of every
        # array would be 45 pairs of re-solves per draw, at about 15 ms a solve)
        assert_relative(cot["q"][0], central_difference(lambda v: loss("q", v), q), f"{kind} q")
        for name in ("P", "A", "l", "u", "lb", "ub"):
            if kind == "lp" and name == "P":
                continue  # P = 0 is on the boundary of the convex QPs: a one-sided perturbation only
            d = rng.standard_normal(data[name].shape)
            expected = central_difference(lambda t: loss(name, data[name] + t[0] * d), [0.0])
            assert_relative(np.array([np.sum(cot[name][0] * d)]), expected, f"{kind} {name}")


def test_a_weakly_active_constraint_is_held_active_with_a_warning():
    # min 1/2 |x - a|^2  s.t.  x_0 <= a_0: the constraint is active with a zero multiplier.
    a = np.array([0.5, -0.3])
    x, y = a.copy(), np.zeros(1)
    with pytest.warns(DegenerateSolutionWarning, match="weakly active"):
        kkt = ActiveKKT(np.eye(2), np.array([[1.0, 0.0]]), x[:1], x, y, np.zeros(2), [-np.inf], [a[0]], [-np.inf] * 2, [np.inf] * 2)
    # a enters grad L = x - a: d(grad L)/da = -I, so a_bar = w_x; held active, x_0 does not move.
    cot = adjoint(kkt, np.array([1.0, 2.0]), lagrangian_gradient_p=-np.eye(2))
    np.testing.assert_allclose(cot.p, [0.0, 2.0], atol=1e-14)
    assert np.isfinite(cot.cu).all()


def test_dependent_active_constraints_give_the_minimum_norm_answer_with_a_warning():
    # min 1/2 |x - a|^2  s.t.  x_0 + x_1 = 1 twice: x* = a - (1'a - 1)/2 * 1, dx*/da = I - 11'/2.
    a = np.array([0.7, 0.9, -0.2])
    ones = np.array([1.0, 1.0, 0.0])
    x = a - (ones @ a - 1.0) / 2 * ones
    t = -(ones @ a - 1.0) / 2  # grad f + J'y = x - a + (y_0 + y_1) 1 = 0
    y = np.array([-t / 2, -t / 2])
    J = np.vstack([ones, ones])
    with pytest.warns(DegenerateSolutionWarning, match="linearly dependent"):
        kkt = ActiveKKT(np.eye(3), J, J @ x, x, y, np.zeros(3), [1.0, 1.0], [1.0, 1.0], [-np.inf] * 3, [np.inf] * 3)
    x_bar = np.array([1.0, -2.0, 0.5])
    cot = adjoint(kkt, x_bar, y_bar=np.array([1.0, 0.0]), lagrangian_gradient_p=-np.eye(3))
    # with the minimum-norm multipliers y_0 = y_1 = (1'a - 1)/4, y_bar = (1, 0) adds (1, 1, 0)/4
    np.testing.assert_allclose(cot.p, (np.eye(3) - np.outer(ones, ones) / 2) @ x_bar + ones / 4, atol=1e-12)
    assert np.isfinite(cot.adjoint_y).all() and np.isfinite(cot.cl).all()
    # the minimum-norm choice splits the multipliers' change evenly
    S = sensitivity(kkt, constraints_p=np.array([[-1.0], [-1.0]]))
    assert S.dy[0, 0] == pytest.approx(S.dy[1, 0], abs=1e-12)


def test_adjoint_refuses_a_cotangent_of_the_wrong_shape():
    family, solution = next(regular_draws("inequality", 9))
    with pytest.raises(lg.ProblemError, match="x_bar"):
        adjoint(solution, np.zeros(family.n + 1))


def test_complementarity_decides_activity_not_the_multiplier_alone():
    # rows x_i <= 1 at x = (1 - 1e-9, 1 - 1e-3, 0.5): an interior point at tolerance 1e-8
    # leaves y = 1e-5 on the first (active, tiny gap) and 2e-6 on the second (inactive,
    # gap 1e-3); the third is far and its multiplier is rounding noise.
    x = np.array([1 - 1e-9, 1 - 1e-3, 0.5])
    y = np.array([1e-5, 2e-6, 1e-12])
    kkt = ActiveKKT(np.eye(3), np.eye(3), x, x, y, np.zeros(3), [-np.inf] * 3, [1.0] * 3, [-np.inf] * 3, [np.inf] * 3)
    assert kkt.rows.tolist() == [0] and kkt.rows_at_upper.tolist() == [True] and kkt.weak_rows.size == 0
