"""KKT residuals in the package's sign convention, KKT assembly, and one Newton-KKT step."""

import numpy as np
import pytest
import scipy.sparse as sp

import lagrangian as lg
from lagrangian.testing import assert_kkt, check_derivative


def box_problem():
    """minimize (x1 - 2)^2 + (x2 - 2)^2 s.t. x1 + x2 <= 2, 0 <= x <= 5.

    Solution x* = (1, 1) with the row at its upper bound: grad f + y grad c = 0
    gives (-2, -2) + y (1, 1) = 0, so y* = +2 (>= 0 at an upper bound).
    """
    return lg.Problem(
        lambda x: float(np.sum((x - 2) ** 2)),
        [0.0, 0.0],
        gradient=lambda x: 2 * (x - 2),
        constraints=[lg.Inequality(lambda x: x[0] + x[1], upper=2.0, jacobian=lambda x: np.array([[1.0, 1.0]]), name="budget")],
        bounds=([0.0, 0.0], [5.0, 5.0]),
    )


def test_residuals_follow_the_sign_convention():
    p = box_problem()
    x = np.array([1.0, 1.0])
    good = lg.kkt_residuals(p, x, [2.0], np.zeros(2))
    assert good.max() == pytest.approx(0.0, abs=1e-15)
    wrong_sign = lg.kkt_residuals(p, x, [-2.0], np.zeros(2))
    assert wrong_sign.stationarity == pytest.approx(4.0)
    # -2 would belong to the lower bound, which is -inf: counted in full.
    assert wrong_sign.complementarity == pytest.approx(2.0)
    infeasible = lg.kkt_residuals(p, np.array([2.0, 1.0]), [2.0])
    assert infeasible.primal == pytest.approx(1.0)
    assert infeasible.complementarity == pytest.approx(2.0)  # y = 2 at distance 1 from cu


def test_bound_multiplier_signs():
    # minimize x s.t. 1 <= x <= 3: x* = 1 at its lower bound, z* = -1 (<= 0 at lb).
    p = lg.Problem(lambda x: x[0], [2.0], gradient=lambda x: np.ones(1), bounds=([1.0], [3.0]))
    assert lg.kkt_residuals(p, [1.0], [], [-1.0]).max() == 0.0
    assert lg.kkt_residuals(p, [1.0], [], [1.0]).complementarity == pytest.approx(2.0)


def test_kkt_matrix_blocks_and_active_rows():
    H = np.diag([1.0, 2.0, 3.0])
    J = np.array([[1.0, 0, 1], [0, 1, 0]])
    K = lg.kkt_matrix(H, J, primal_regularization=0.5, dual_regularization=0.25)
    expected = np.block([[H + 0.5 * np.eye(3), J.T], [J, -0.25 * np.eye(2)]])
    assert sp.issparse(K)
    np.testing.assert_array_equal(K.toarray(), expected)
    reduced = lg.kkt_matrix(H, J, active=[False, True]).toarray()
    np.testing.assert_array_equal(reduced, np.block([[H, J[1:].T], [J[1:], np.zeros((1, 1))]]))


def test_one_newton_step_solves_a_qp_from_anywhere():
    rng = np.random.default_rng(0)
    n, m = 6, 2
    M = rng.standard_normal((n, n))
    P = M @ M.T + np.eye(n)
    q = rng.standard_normal(n)
    A, b = rng.standard_normal((m, n)), rng.standard_normal(m)
    p = lg.Problem(
        lambda x: 0.5 * x @ P @ x + q @ x,
        rng.standard_normal(n),
        gradient=lambda x: P @ x + q,
        constraints=[lg.Equality(lambda x: A @ x, b, jacobian=lambda x: A)],
        hessian=lambda x, y: P,
    )
    system = lg.KKTSystem(p, p.x0, np.zeros(m))
    np.testing.assert_array_equal(system.matrix.toarray(), np.block([[P, A.T], [A, np.zeros((m, m))]]))
    step = system.newton_step()
    assert step.info.inertia == (n, m, 0)
    x = p.x0 + step.dx
    assert_kkt(p, type("Point", (), {"x": x, "y": step.y, "z": None})(), tol=1e-10)
    assert lg.KKTSystem(p, x, step.y).residuals.max() <= 1e-10


def test_active_set_system_for_inequalities():
    p = box_problem()
    system = lg.KKTSystem(p, [0.0, 0.0], [0.0], active=[True], hessian=2 * np.eye(2))
    step = system.newton_step()
    np.testing.assert_allclose(step.dx, [1.0, 1.0])
    np.testing.assert_allclose(step.y, [2.0])
    with pytest.raises(ValueError, match="pass active="):
        lg.KKTSystem(p, [0.0, 0.0], hessian=np.eye(2))


def test_check_derivative_catches_a_wrong_jacobian():
    fun = lambda x: np.array([np.sin(x[0]) * x[1], x[0] ** 3])  # noqa: E731
    good = lambda x: np.array([[np.cos(x[0]) * x[1], np.sin(x[0])], [3 * x[0] ** 2, 0.0]])  # noqa: E731
    bad = lambda x: np.array([[np.cos(x[0]) * x[1], np.sin(x[0])], [2 * x[0] ** 2, 0.0]])  # noqa: E731
    x = np.array([0.7, -1.3])
    check_derivative(fun, x, jacobian=good)
    check_derivative(fun, x, vjp=lambda x, u: good(x).T @ u)
    with pytest.raises(AssertionError, match="dot-product test failed"):
        check_derivative(fun, x, jacobian=bad)
    with pytest.raises(TypeError, match="exactly one"):
        check_derivative(fun, x)


def test_assert_kkt_rejects_a_perturbed_solution():
    p = box_problem()
    point = type("Point", (), {"x": np.array([1.0, 1.0]), "y": np.array([2.0]), "z": np.zeros(2)})()
    assert_kkt(p, point)
    point.y = np.array([2.1])
    with pytest.raises(AssertionError, match=r"stationarity 1\.000e-01"):
        assert_kkt(p, point)


def random_kkt_blocks(seed, n=12, m=5):
    """A symmetric indefinite H with duplicate-free random sparsity and a full-rank J."""
    rng = np.random.default_rng(seed)
    B = sp.random_array((n, n), density=0.3, rng=rng)
    H = sp.csr_array(B + B.T + sp.diags_array(rng.uniform(-1, 3, n)))
    J = sp.csr_array(sp.random_array((m, n), density=0.4, rng=rng) + sp.eye_array(m, n))
    return H, J


def test_refilled_pattern_solves_like_a_fresh_one():
    from lagrangian.linalg.kkt_factorization import KKTPattern

    H, J = random_kkt_blocks(0)
    pattern = KKTPattern(H, J)
    pattern.factor(2.0, 1e-3)
    # New values on the same pattern: the pattern is reused, and its solves match
    # a dense solve of the new matrix.
    H2, J2 = H.copy(), J.copy()
    H2.data *= 1.7
    J2.data += 0.5
    assert pattern.refill(H2, J2)
    b = np.arange(17.0)
    K = np.block([[H2.toarray() + 2.0 * np.eye(12), J2.toarray().T], [J2.toarray(), -1e-3 * np.eye(5)]])
    np.testing.assert_allclose(pattern.factor(2.0, 1e-3).solve(b), np.linalg.solve(K, b), rtol=1e-10, atol=1e-12)
    # A different sparsity pattern is refused and leaves the pattern as it was.
    i, j = np.argwhere(H2.toarray() == 0)[0]
    H3 = H2.tolil()
    H3[i, j] = H3[j, i] = 1.0
    assert not pattern.refill(sp.csr_array(H3), J2)
    assert not pattern.refill(H2, J2[:4])
    np.testing.assert_allclose(pattern.factor(2.0, 1e-3).solve(b), np.linalg.solve(K, b), rtol=1e-10, atol=1e-12)


def test_inertia_correction_reuses_its_pattern_and_retires_old_factorizations():
    H, J = random_kkt_blocks(1)
    correction = lg.InertiaCorrection()
    rhs = np.ones(17)
    first, info = correction.solve(H, J, rhs)
    pattern = correction._pattern
    H2 = H.copy()
    H2.data *= -1.0  # negative curvature: the second solve needs dw > 0
    second, info2 = correction.solve(H2, J, rhs)
    assert correction._pattern is pattern
    assert info2.primal_regularization > 0 and info2.inertia == (12, 5, 0)
    K = np.block([[H2.toarray() + info2.primal_regularization * np.eye(12), J.toarray().T], [J.toarray(), np.zeros((5, 5))]])
    np.testing.assert_allclose(K @ second, rhs, atol=1e-9)
    with pytest.raises(lg.errors.SolverError):
        info.factorization.solve(rhs)
