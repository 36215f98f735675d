"""Limited-memory BFGS: the compact form against the BFGS recursion, the low-rank KKT solve
against a dense solve, and both solvers on problems too large for a dense model."""

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import lagrangian as lg
from lagrangian.derivatives import LimitedMemoryBFGS
from lagrangian.linalg.kkt_factorization import KKTPattern
from lagrangian.linalg.scaled_factorization import LowRankCorrectedFactorization
from lagrangian.problems import hock_schittkowski as hs
from lagrangian.testing import assert_kkt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from scaling import Discs  # noqa: E402  (issue 5's scaling problem, with a closed-form f*)


def bfgs_recursion(sigma, pairs):
    """``B <- B - B s s^T B / s^T B s + y y^T / y^T s`` from ``sigma I``, one pair at a time."""
    B = sigma * np.eye(pairs[0][0].size)
    for s, y in pairs:
        Bs = B @ s
        B = B - np.outer(Bs, Bs) / (s @ Bs) + np.outer(y, y) / (y @ s)
    return B


def test_compact_form_is_the_bfgs_recursion_over_the_last_pairs():
    rng = np.random.default_rng(0)
    n, memory = 9, 4
    A = rng.normal(size=(n, n))
    curvature = A @ A.T + np.eye(n)
    model = LimitedMemoryBFGS(n, memory=memory)
    pairs = []
    for _ in range(7):
        s = rng.normal(size=n)
        model.update(s, curvature @ s)
        pairs.append((s, curvature @ s))
    assert model.S.shape == (n, memory)
    s, y = pairs[-1]
    assert model.sigma == pytest.approx(s @ y / (s @ s))
    np.testing.assert_allclose(model.matrix(), bfgs_recursion(model.sigma, pairs[-memory:]), rtol=1e-12, atol=1e-12)
    v = rng.normal(size=n)
    np.testing.assert_allclose(model.product(v), model.matrix() @ v, rtol=1e-12, atol=1e-12)


def test_negative_curvature_is_damped_and_the_model_stays_positive_definite():
    model = LimitedMemoryBFGS(3)
    model.update(np.array([1.0, 0.0, 0.0]), np.array([2.0, 1.0, 0.0]))
    s = np.array([0.0, 1.0, 1.0])
    sBs = s @ model.product(s)
    model.update(s, -s)  # s^T y < 0: Powell's damping replaces y
    assert s @ model.Y[:, -1] == pytest.approx(0.2 * sBs)
    assert np.linalg.eigvalsh(model.matrix()).min() > 0
    model.update(np.zeros(3), np.ones(3))  # no step: no update
    assert model.S.shape[1] == 2


def test_low_rank_corrected_kkt_solve_matches_a_dense_solve():
    rng = np.random.default_rng(3)
    n, m, r = 10, 4, 6
    J = sp.csr_array(rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.5) + np.eye(m, n))
    model = LimitedMemoryBFGS(n)
    for _ in range(3):
        s = rng.normal(size=n)
        model.update(s, 2 * s + rng.normal(size=n) * 0.1)
    sigma, W, middle_inverse = model.low_rank()
    assert W.shape == (n, r)
    D = sp.diags_array(rng.uniform(0.1, 5.0, n))
    F = LowRankCorrectedFactorization(
        KKTPattern(sigma * sp.eye_array(n) + D, J).factor(), W, middle_inverse
    )
    K = np.block([[model.matrix() + D.toarray(), J.toarray().T], [J.toarray(), np.zeros((m, m))]])
    b = rng.normal(size=n + m)
    np.testing.assert_allclose(F.solve(b), np.linalg.solve(K, b), rtol=1e-10, atol=1e-12)
    B = rng.normal(size=(n + m, 3))  # several right-hand sides as columns
    np.testing.assert_allclose(F.solve(B), np.linalg.solve(K, B), rtol=1e-10, atol=1e-12)
    assert F.inertia == (n, m, 0)


@pytest.mark.parametrize("bounded", [False, True])
def test_limited_memory_model_solves_issue_5_scaling_problem(bounded):
    # n = 2,000 is above the dense limit: "auto" picks the limited-memory model, whose
    # storage is 2 * 6 * n numbers instead of n^2.
    case = Discs(2000, bounded=bounded)
    problem = lg.Problem(
        case.f, case.x0, gradient=case.grad,
        constraints=[lg.Equality(case.c, 1.0, jacobian=case.c_jacobian, name="discs")],
        bounds=(None, case.upper) if bounded else None,
    )
    s = lg.solve(problem)
    assert s.success and s.derivatives["hessian"] == "quasi-Newton (l-bfgs)"
    assert s.solver == ("interior_point" if bounded else "newton_kkt")
    assert s.fun == pytest.approx(case.optimum, rel=1e-8)
    assert_kkt(problem, s, tol=1e-6)


def test_limited_memory_model_solves_hs71_with_either_solver():
    case = hs.load("HS71", hessian=None)
    p = case.problem
    problem = lg.Problem(p._objective, p.x0, gradient=p._gradient, constraints=p.constraints, bounds=(p.lb, p.ub), quasi_newton="l-bfgs")
    s = lg.interior_point(problem)
    assert s.success and hs.passes(case, s.x, s.fun)[0]
    equality = hs.load("HS77", hessian=None).problem
    problem = lg.Problem(equality._objective, equality.x0, gradient=equality._gradient, constraints=equality.constraints, quasi_newton="l-bfgs")
    s = lg.newton_kkt(problem, max_iterations=200)
    assert s.success and hs.passes(hs.load("HS77"), s.x, s.fun)[0]
