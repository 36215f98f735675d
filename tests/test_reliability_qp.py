"""Trust on the convex-QP side: no SUCCESS that is not a solution, and every failure says what happened.

Every claim is checked against an independent truth: closed forms, programs built
around a known KKT point (lagrangian.problems.random_qps), Clarabel, and
certificates and KKT residuals recomputed from the data (lagrangian.qp.check_*).
"""

import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import lagrangian as lg
from lagrangian.convexity import curvature
from lagrangian.problems.random_qps import KINDS, random_qp
from lagrangian.qp import check_certificate, check_solution

DETERMINISTIC = settings(derandomize=True, max_examples=25, deadline=None)
NOT_CONVEX = "P: is not positive semidefinite"


def clarabel_objective(qp):
    """Clarabel's status and objective through cvxpy, at tight tolerances (the referee)."""
    import cvxpy as cp

    bridge = lg.to_cvxpy(qp)
    bridge.problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return bridge.problem.status, bridge.problem.value


# -- 1. non-convex QPs are refused, with a direction that proves it --------------------------


NONCONVEX = {
    # the three: a saddle on a box (minimum -0.5 at (0, +-1)), the same unbounded, a maximum on a line
    "indefinite on a box": lambda: lg.QuadraticProgram(np.diag([1.0, -1.0]), [0, 0], bounds=([-1, -1], [1, 1])),
    "indefinite, free": lambda: lg.QuadraticProgram(np.diag([1.0, -1.0]), [0, 0]),
    "concave on a line": lambda: lg.QuadraticProgram(-np.eye(2), [1, 1], [[1.0, 1.0]], [1], [1]),
    "tiny negative diagonal": lambda: lg.QuadraticProgram(np.diag([1.0, -1e-6]), [0, 0], bounds=([-1, -1], [1, 1])),
    "zero diagonal, coupling": lambda: lg.QuadraticProgram([[0.0, 1.0], [1.0, 0.0]], [0, 0], bounds=([-1, -1], [1, 1])),
    "badly scaled": lambda: lg.QuadraticProgram(np.array([[1e6, 2e3], [2e3, 1.0]]), [0, 0], bounds=([-1, -1], [1, 1])),
}


@pytest.mark.parametrize("name", NONCONVEX)
def test_non_convex_qp_is_refused_by_name_with_a_negative_curvature_direction(name):
    qp = NONCONVEX[name]()
    with pytest.raises(lg.ProblemError, match=NOT_CONVEX) as error:
        lg.solve_qp(qp)
    assert error.value.argument == "P" and "method='interior_point'" in str(error.value)
    verdict = qp.convexity()
    d = verdict.direction
    equalities = qp.A[qp.l == qp.u]
    assert verdict.convex is False and d @ (qp.P @ d) < 0 and np.abs(equalities @ d).max(initial=0.0) <= 1e-12
    assert d @ (qp.P @ d) == pytest.approx(verdict.value)


def test_non_convex_qp_is_not_stated_to_cvxpy_or_crosschecked():
    qp = NONCONVEX["indefinite on a box"]()
    with pytest.raises(lg.ProblemError, match=NOT_CONVEX):
        lg.to_cvxpy(qp)
    with pytest.raises(lg.ProblemError, match=NOT_CONVEX):
        lg.crosscheck(qp)
    # convex only on the equality's null space: our method solves it, cvxpy's quad_form cannot state it
    line = lg.QuadraticProgram(np.diag([1.0, -1.0]), [1, 1], [[0.0, 1.0]], [1], [1])
    with pytest.raises(lg.ProblemError, match="P: is indefinite"):
        lg.to_cvxpy(line)


def test_indefinite_p_that_is_convex_on_the_equality_null_space_is_solved():
    # min 1/2 (x0^2 - x1^2) + x0 + x1 on x1 = 1: x0 = -1, f = 1/2 - 1/2 - 1 + 1 = 0
    qp = lg.QuadraticProgram(np.diag([1.0, -1.0]), [1, 1], [[0.0, 1.0]], [1], [1])
    assert qp.convexity().convex and qp.convexity().on_null_space
    s = lg.solve_qp(qp)
    assert s.success
    np.testing.assert_allclose(s.x, [-1.0, 1.0], atol=1e-8)
    assert s.fun == pytest.approx(0.0, abs=1e-9)
    # a fixed variable is an equality too: the same problem with x1 fixed by its bounds
    fixed = lg.QuadraticProgram(np.diag([1.0, -1.0]), [1, 1], bounds=([-np.inf, 1], [np.inf, 1]))
    np.testing.assert_allclose(lg.solve_qp(fixed).x, [-1.0, 1.0], atol=1e-8)


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e8])
def test_psd_but_singular_p_is_convex_at_any_scale(scale):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 8))  # rank 3 of 8
    D = np.diag(10.0 ** rng.uniform(-4, 4, 8))  # units of the variables
    P = scale * D @ X.T @ X @ D
    P = 0.5 * (P + P.T)
    assert curvature(P).convex
    assert curvature(np.zeros((5, 5))).convex  # an LP
    # the same matrix with one eigenvalue pushed negative by 1e-3 of the largest, in the same units
    w, V = np.linalg.eigh(X.T @ X)
    bent = scale * D @ (X.T @ X - 1e-3 * w[-1] * np.outer(V[:, 0], V[:, 0])) @ D
    verdict = curvature(0.5 * (bent + bent.T))
    assert verdict.convex is False and verdict.direction @ bent @ verdict.direction < 0


def test_large_sparse_laplacian_is_checked_quickly():
    n = 20_000
    laplacian = sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1], format="csr")
    laplacian[0, 0] = laplacian[n - 1, n - 1] = 1.0  # PSD, singular (constants are its null space)
    started = time.perf_counter()
    assert curvature(laplacian).convex
    assert time.perf_counter() - started < 2.0
    bent = laplacian - 1e-3 * sp.eye_array(n)
    verdict = curvature(bent)
    assert verdict.convex is False and verdict.direction @ (bent @ verdict.direction) < 0


def test_nearly_convex_data_is_solved_when_the_point_is_a_local_minimum_and_refused_otherwise():
    # A Gaussian kernel rounded to 5 decimals (Maros-Meszaros VALUES is one rounded to 6): slightly indefinite
    t = np.arange(30.0)
    K = np.round(np.exp(-0.05 * (t[:, None] - t[None, :]) ** 2), 5)
    assert np.linalg.eigvalsh(K)[0] < -1e-6
    q = np.cos(t)
    qp = lg.QuadraticProgram(K, q, bounds=(np.zeros(30), np.full(30, 10.0)))
    s = lg.solve_qp(qp, tol=1e-9)
    assert s.success and check_solution(qp, s.x, s.y, s.z)["ok"]
    assert abs(s.fun - clarabel_objective_unwrapped(qp)) <= 1e-6 * max(1.0, abs(s.fun))
    # slightly indefinite along (1, -1) with nothing to stop it: x = 0 is a KKT point, not a minimizer
    saddle = lg.QuadraticProgram(np.array([[1.0, 1.0], [1.0, 1.0]]) - 5e-7 * np.array([[1.0, -1.0], [-1.0, 1.0]]), [0, 0])
    with pytest.raises(lg.ProblemError, match="not a minimizer"):
        lg.solve_qp(saddle)


def clarabel_objective_unwrapped(qp):
    """Clarabel's objective on its own API (it does not check P): the referee for a nearly convex P."""
    import clarabel

    A = sp.vstack([sp.eye_array(qp.n), -sp.eye_array(qp.n)], format="csc")
    b = np.concatenate([qp.ub, -qp.lb])
    settings_ = clarabel.DefaultSettings()
    settings_.verbose = False
    settings_.tol_gap_abs = settings_.tol_gap_rel = settings_.tol_feas = 1e-10
    solution = clarabel.DefaultSolver(sp.triu(qp.P, format="csc"), qp.q, A, b, [clarabel.NonnegativeConeT(2 * qp.n)], settings_).solve()
    return solution.obj_val


# -- 2. crosscheck: statuses, accuracy, options, certificates -------------------------------


def test_every_cvxpy_status_is_classified():
    from cvxpy import settings as s

    from lagrangian.interfaces.cvxpy_bridge import _CVXPY_CLASSIFICATION

    assert set(s.SOLUTION_PRESENT + s.INF_OR_UNB + s.ERROR) <= set(_CVXPY_CLASSIFICATION)
    assert _CVXPY_CLASSIFICATION["unbounded_inaccurate"] == "unbounded"
    assert _CVXPY_CLASSIFICATION["infeasible_inaccurate"] == "infeasible"


def test_crosscheck_compares_certificates_on_infeasible_and_unbounded_problems():
    infeasible = lg.QuadraticProgram(np.eye(2), [0, 0], [[1.0, 1.0]], [3], [np.inf], bounds=(None, [1, 1]))
    report = lg.crosscheck(infeasible)
    assert report.passed and report.certificate_valid and report.referee_certificate_valid
    assert "INFEASIBLE" in str(report) and "infeasible" in str(report) and "nan" not in str(report)
    unbounded = lg.QuadraticProgram(np.zeros((2, 2)), [-1, 0], [[0.0, 1.0]], [0], [1])
    report = lg.crosscheck(unbounded)
    assert report.passed and report.certificate_valid
    assert "UNBOUNDED" in str(report) and "nan" not in str(report)


def test_crosscheck_asks_clarabel_for_the_accuracy_it_compares_at():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((6, 6))
    qp = lg.QuadraticProgram(M @ M.T + 0.1 * np.eye(6), 3 * rng.standard_normal(6), rng.standard_normal((4, 6)), -np.ones(4), np.ones(4))
    report = lg.crosscheck(qp, x_tol=1e-9, multiplier_tol=1e-9)
    assert report.passed, str(report)
    assert "lagrangian SUCCESS" in str(report) and "CLARABEL optimal" in str(report)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")  # cvxpy's, after the one iteration asked for
def test_crosscheck_passes_cvxpy_options_to_cvxpy_and_refuses_unknown_solvers():
    rng = np.random.default_rng(4)
    M = rng.standard_normal((5, 5))
    qp = lg.QuadraticProgram(M @ M.T, rng.standard_normal(5), rng.standard_normal((3, 5)), -np.ones(3), np.ones(3))
    report = lg.crosscheck(qp, max_iter=1, verbose=False, max_iterations=100)  # Clarabel's max_iter, our max_iterations
    assert report.theirs["status"] != "optimal" and report.ours.success and not report.passed
    with pytest.raises(lg.ProblemError, match="solver: cvxpy has no installed solver 'NOPE'"):
        lg.crosscheck(qp, solver="NOPE")


# -- 3. QuadraticProgram validation and the cvxpy bridge's input -------------------------------


BAD_DATA = [
    (dict(P=np.eye(3), q=[0.0, 0.0]), r"P: expected shape \(2, 2\)"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=np.ones((1, 3))), r"A: expected shape \(1, 2\)"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=np.ones((2, 2)), l=[0.0, 0.0, 0.0]), r"l: expected 2 entries"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=np.ones((2, 2)), u=[1.0]), r"u: expected 2 entries"),
    (dict(P=np.eye(2), q=[0.0, 0.0], bounds=([0.0, 0.0, 0.0], None)), r"bounds: got 2 entries \(3 numbers, None\)"),
    (dict(P=np.eye(2), q=[0.0, 0.0], bounds=(None, [1.0])), r"bounds: got 2 entries \(None, 1 numbers\)"),
    (dict(P=np.eye(2), q=[0.0, 0.0], x0=[1.0, 2.0, 3.0]), r"x0: expected 2 entries"),
    (dict(P=np.eye(2), q=[0.0, 1j]), "q: has complex entries"),
    (dict(P=np.eye(2) * (1 + 1j), q=[0.0, 0.0]), "P: has complex entries"),
    (dict(P=sp.eye_array(2, dtype=complex), q=[0.0, 0.0]), "P: has complex entries"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=[[1j, 0.0]], l=[0.0]), "A: has complex entries"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=[[1.0, 0.0]], l=[1j]), "l: has complex entries"),
    (dict(P=np.eye(2), q=[0.0, 0.0], x0=[1j, 0.0]), "x0: has complex entries"),
    (dict(P=np.eye(2), q=["a", "b"]), "q: expected real numbers"),
    (dict(P=np.eye(2), q=["1", "2"]), "q: expected real numbers"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=[[1.0, 0.0]], l=["low"]), "l: expected real numbers"),
    (dict(P=np.eye(2), q=[0.0, 0.0], x0=[None, 0.0]), "x0: expected real numbers"),
    (dict(P=[[1.0, 1.0], [0.0, 1.0]], q=[0.0, 0.0]), r"P: is not symmetric .*a triangle"),
    (dict(P=np.eye(2), q=[0.0, 0.0], l=[0.0]), "l: row bounds were given without the constraint matrix A"),
    (dict(P=np.eye(2), q=[0.0, 0.0], A=[[1.0, 0.0]], l=[np.inf]), r"l: is inf at position 0"),
    (dict(P=np.eye(2), q=[0.0, 0.0], bounds=(None, [1.0, -np.inf])), r"bounds: an upper bound of -inf \(variable 1\) admits no point"),
    (dict(P=np.eye(2), q=[0.0, 0.0], bounds=[(0, 1), (2, 3)]), "bounds: .* reads two ways"),
    (dict(P=np.eye(2), q=[0.0, 0.0], r=1j), "r: has complex entries"),
    (dict(P=np.eye(2), q=[0.0, 0.0], bounds=(np.array([1.0, 0.0]), np.array([0.0, 1.0]))), "bounds: An upper bound is less than the corresponding lower bound: variable 0 has lower"),
]


@pytest.mark.parametrize("data, match", BAD_DATA, ids=[m for _, m in BAD_DATA])
def test_bad_quadratic_program_data_is_a_problem_error_naming_the_argument(data, match):
    with pytest.raises(lg.ProblemError, match=match):
        lg.QuadraticProgram(**data)


def test_none_in_a_bound_list_is_no_bound_as_problem_reads_it():
    qp = lg.QuadraticProgram(np.eye(2), [1.0, -1.0], [[1.0, 1.0]], [None], [0.5], bounds=([0.0, None], [None, 0.2]))
    assert np.array_equal(qp.l, [-np.inf]) and np.array_equal(qp.lb, [0.0, -np.inf]) and np.array_equal(qp.ub, [np.inf, 0.2])
    problem = lg.Problem(lambda x: x @ x, [0.0, 0.0], gradient=lambda x: 2 * x, bounds=([0.0, None], [None, 0.2]))
    assert np.array_equal(problem.lb, qp.lb) and np.array_equal(problem.ub, qp.ub)


def test_empty_qp_solves_like_an_empty_problem():
    qp = lg.QuadraticProgram(np.zeros((0, 0)), [], r=2.5)
    s = lg.solve_qp(qp)
    assert s.success and s.x.shape == (0,) and s.fun == 2.5
    assert lg.solve(qp.problem()).success
    # rows of an n = 0 program read l <= 0 <= u: consistent, then one that is not
    assert lg.solve_qp(lg.QuadraticProgram(np.zeros((0, 0)), [], np.zeros((2, 0)), [-1, 0], [1, 0])).success
    infeasible = lg.QuadraticProgram(np.zeros((0, 0)), [], np.zeros((2, 0)), [-1, 0.5], [1, 2])
    s = lg.solve_qp(infeasible)
    assert s.status is lg.Status.INFEASIBLE and check_certificate(infeasible, s.certificate)
    with pytest.raises(lg.ProblemError, match="qp: has no variables"):
        lg.to_cvxpy(qp)


def test_cvxpy_problems_with_integer_variables_or_unset_parameters_are_refused_by_name():
    import cvxpy as cp

    x = cp.Variable(2, integer=True, name="k")
    with pytest.raises(lg.ProblemError, match=r"problem: has integer or boolean variables \(k\)"):
        lg.from_cvxpy(cp.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 0]))
    b = cp.Variable(name="on", boolean=True)
    with pytest.raises(lg.ProblemError, match=r"integer or boolean variables \(on\)"):
        lg.from_cvxpy(cp.Problem(cp.Minimize(b)))
    y = cp.Variable(2)
    weight = cp.Parameter(2, name="weight")
    problem = cp.Problem(cp.Minimize(cp.sum_squares(y) + weight @ y))
    with pytest.raises(lg.ProblemError, match="parameter weight has no value"):
        lg.from_cvxpy(problem)
    weight.value = np.array([2.0, -2.0])  # set: the minimizer is -weight / 2
    imported = lg.from_cvxpy(problem)
    assert imported.solve().success
    np.testing.assert_allclose(y.value, [-1.0, 1.0], atol=1e-8)


# -- 4. unbounded and infeasible through the convex method ----------------------------------


UNBOUNDED = {
    "LP": lambda: lg.QuadraticProgram(np.zeros((2, 2)), [-1, 0], [[0.0, 1.0]], [0], [1]),
    "rank-deficient P": lambda: lg.QuadraticProgram(np.diag([1.0, 0.0]), [0, -1], bounds=(np.array([-1, 0]), np.array([1, np.inf]))),
    "ray along a face": lambda: lg.QuadraticProgram(np.zeros((2, 2)), [-1, -1], [[1.0, -1.0], [1.0, -1.0]], [0, -np.inf], [0, 0]),
    "degenerate LP": lambda: lg.QuadraticProgram(np.zeros((3, 3)), [-1, 0, 0], [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], [0, 0], [np.inf, np.inf], bounds=([-np.inf, -np.inf, 0], [np.inf, np.inf, 0])),
    "free LP": lambda: lg.QuadraticProgram(np.zeros((1, 1)), [1.0]),
}


@pytest.mark.parametrize("name", UNBOUNDED)
def test_unbounded_qps_end_unbounded_with_a_valid_ray(name):
    qp = UNBOUNDED[name]()
    s = lg.solve_qp(qp)
    assert s.status is lg.Status.UNBOUNDED and check_certificate(qp, s.certificate)
    d = s.certificate.d
    assert qp.q @ d < 0 and np.abs(qp.P @ d).max() <= 1e-9


def test_an_infeasible_problem_with_a_ray_is_infeasible_not_unbounded():
    # x0 >= 2 and x0 <= 1 admit no point, and with x1 free below d = (0, -1) has
    # q'd = -1 < 0 in the recession cone: a ray, but of an empty set
    qp = lg.QuadraticProgram(np.zeros((2, 2)), [0.0, 1.0], [[1.0, 0.0], [1.0, 0.0]], [2.0, -np.inf], [np.inf, 1.0])
    s = lg.solve_qp(qp)
    assert s.status is lg.Status.INFEASIBLE and check_certificate(qp, s.certificate)


# -- 5. the invariant over random programs of every kind ------------------------------------


@DETERMINISTIC
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 100_000))
def test_every_answer_is_a_verified_solution_a_valid_certificate_or_a_refusal(kind, seed):
    case = random_qp(kind, seed)
    qp = case.qp
    try:
        s = lg.solve_qp(qp)
    except lg.ProblemError as error:
        assert not case.convex, f"a convex program was refused: {error}"
        assert error.argument == "P"
        return
    assert case.convex, f"a non-convex program was solved: {s.status.name}"
    if s.status is lg.Status.SUCCESS:
        assert case.truth == "optimal"
        assert check_solution(qp, s.x, s.y, s.z)["ok"], check_solution(qp, s.x, s.y, s.z)
        assert s.fun == pytest.approx(case.f_star, rel=1e-6, abs=1e-6)
        status, value = clarabel_objective(qp)
        assert status == "optimal" and value == pytest.approx(case.f_star, rel=1e-6, abs=1e-6)
    elif s.status in (lg.Status.INFEASIBLE, lg.Status.UNBOUNDED):
        assert s.status.name.lower() == case.truth and check_certificate(qp, s.certificate)
    else:  # an honest failure is allowed by the invariant; on these programs none is expected
        pytest.fail(f"{kind} seed {seed}: {s.status.name}")


@pytest.mark.parametrize("kind, seed", [("infeasible", 65), ("infeasible", 71), ("unbounded", 23)])
def test_badly_scaled_programs_get_their_certificate_in_balanced_units(kind, seed):
    # rows and variables in units up to 1e6 apart; as given, the iterations stall on some of these
    case = random_qp(kind, seed)
    s = lg.solve_qp(case.qp)
    assert s.status.name.lower() == case.truth and check_certificate(case.qp, s.certificate)
    balanced = lg.solve_qp(case.qp, equilibrate=True)
    assert balanced.status is s.status and check_certificate(case.qp, balanced.certificate)
    with pytest.raises(lg.ProblemError, match="equilibrate: expected 'auto', True or False"):
        lg.solve_qp(case.qp, equilibrate="yes")


def test_certificate_programs_run_only_for_a_run_that_ends_away_from_an_answer(monkeypatch):
    # Cut short near its answer (best relative error below 1e-4), a run ends ACCEPTABLE or with
    # its limit and no certificate search: the two LPs are for diverging iterates. Cut short at
    # its start, far from any answer, it still searches.
    from lagrangian.solvers import mehrotra

    calls = []
    original = mehrotra._certificate_programs
    monkeypatch.setattr(mehrotra, "_certificate_programs", lambda *a: calls.append(1) or original(*a))
    rng = np.random.default_rng(7)
    n, m = 30, 20
    M = rng.standard_normal((n, n))
    A = rng.standard_normal((m, n))
    qp = lg.QuadraticProgram(M @ M.T + np.eye(n), rng.standard_normal(n), A, -1.0 - rng.random(m), 1.0 + rng.random(m),
                             bounds=(-1, 1))  # fmt: skip
    exact = lg.solve_qp(qp, tol=1e-12)
    assert exact.success and not calls
    near = 0
    for iterations in range(1, 40):
        s = mehrotra.convex_qp(qp, tol=1e-12, max_iterations=iterations, equilibrate=False, polish=False)
        error = max(check_solution(qp, s.x, s.y, s.z)[key] for key in ("primal", "dual", "complementarity"))
        if s.status is lg.Status.SUCCESS:
            break
        searched, calls[:] = bool(calls), []
        assert s.certificate is None
        near += error <= 1e-7
        if error <= 1e-7:  # well inside "near an answer" by the solver's own measure too
            assert not searched, (iterations, error, s.status)
    assert near >= 2  # the check above ran
    assert lg.solve_qp(qp, max_iterations=1).status is lg.Status.MAX_ITERATIONS
    assert calls  # one iteration from the start is far from the answer: the LPs looked for a proof
