"""The structure-aware solver: right path for each structure, right answers, typed errors."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

from lagrangian.linalg import kkt_factorization as lg_kkt
from lagrangian import linalg
from lagrangian.errors import ProblemError, SingularMatrixError, SolverError


def assert_solves_like_dense(F, A, b, *, transpose=True, rtol=1e-10, atol=1e-12):
    """F.solve agrees with numpy.linalg.solve on A (and on A^T when transpose)."""
    dense = A.toarray() if sp.issparse(A) else np.asarray(A)
    np.testing.assert_allclose(F.solve(b), np.linalg.solve(dense, b), rtol=rtol, atol=atol)
    if transpose:
        np.testing.assert_allclose(F.solve(b, transpose=True), np.linalg.solve(dense.T, b), rtol=rtol, atol=atol)


def random_lower(rng, n, per_row=3, unit=True):
    rows = np.repeat(np.arange(1, n), per_row)
    cols = (rows * rng.random(rows.size)).astype(int)
    L = sp.coo_array((rng.uniform(-0.5, 0.5, rows.size), (rows, cols)), shape=(n, n))
    diag = np.ones(n) if unit else rng.uniform(1.0, 2.0, n) * rng.choice([-1, 1], n)
    return (L + sp.diags_array(diag)).tocsr()


def permuted(A, rng):
    p = rng.permutation(A.shape[0])
    q = rng.permutation(A.shape[0])
    return sp.csr_array(A)[p][:, p], sp.csr_array(A)[q][:, :]


@pytest.mark.parametrize("seed", range(4))
def test_triangular_found_whatever_the_symmetric_order(seed):
    rng = np.random.default_rng(seed)
    L = random_lower(rng, 300, unit=seed % 2 == 0)
    for A in (L, sp.csr_array(L.T), permuted(L, rng)[0]):
        F = linalg.factorize(A)
        assert F.kind == "triangular"
        b = rng.standard_normal(300)
        assert_solves_like_dense(F, A, b)


@pytest.mark.parametrize("seed", range(3))
def test_triangular_found_whatever_the_row_order(seed):
    # Equations shuffled independently of the unknowns: a matching of rows to
    # columns restores a nonzero diagonal, then the triangular path applies.
    rng = np.random.default_rng(seed)
    L = random_lower(rng, 200, unit=False)
    A = sp.csr_array(L[rng.permutation(200)][:, rng.permutation(200)])
    F = linalg.factorize(A)
    assert F.kind == "triangular"
    b = rng.standard_normal((200, 2))
    assert_solves_like_dense(F, A, b, rtol=1e-9, atol=1e-11)


def test_block_triangular_found_whatever_the_row_order():
    rng = np.random.default_rng(12)
    A0 = block_lower(rng, [2, 1, 3, 1])
    A = sp.csr_array(A0[rng.permutation(7)])
    F = linalg.factorize(A)
    assert F.kind == "block_triangular"
    b = rng.standard_normal(7)
    assert_solves_like_dense(F, A, b, rtol=1e-10, atol=0)


def test_structurally_singular_matrix_raises():
    A = sp.csr_array(np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 3.0]]))
    with pytest.raises(SingularMatrixError):
        linalg.factorize(A.T)


def block_lower(rng, sizes, coupling=0.3):
    n = sum(sizes)
    A = sp.lil_array((n, n))
    start = 0
    for size in sizes:
        block = rng.standard_normal((size, size)) + 4 * size * np.eye(size)
        if size > 1:
            block[0, -1] = block[-1, 0] = 1.0  # make the block strongly connected
        A[start : start + size, start : start + size] = block
        if start:
            cols = rng.choice(start, size=min(start, 3), replace=False)
            for c in cols:
                A[start, c] = coupling
        start += size
    return A.tocsr()


@pytest.mark.parametrize("seed", range(3))
def test_block_triangular_path(seed):
    rng = np.random.default_rng(seed)
    A0 = block_lower(rng, [1, 3, 1, 1, 4, 2, 1])
    A = permuted(A0, rng)[0]
    found = linalg.analyze(A)
    assert found.kind == "block_triangular"
    assert found.largest_component == 4
    assert sorted(seg.stop - seg.start for seg in found.segments if seg.cyclic) == [2, 3, 4]
    F = linalg.factorize(A)
    assert F.kind == "block_triangular"
    B = rng.standard_normal((A.shape[0], 3))
    assert_solves_like_dense(F, A, B, rtol=1e-10, atol=1e-12)


def test_symmetric_indefinite_reports_inertia():
    rng = np.random.default_rng(3)
    n, m = 40, 15
    H = sp.random_array((n, n), density=0.1, rng=rng)
    H = H + H.T + sp.diags_array(rng.uniform(0.5, 3, n))
    J = sp.random_array((m, n), density=0.3, rng=rng) + sp.eye_array(m, n)
    K = sp.block_array([[H, J.T], [J, -1e-9 * sp.eye_array(m)]]).tocsc()
    F = linalg.factorize(K)
    assert F.kind == "symmetric"
    eig = np.linalg.eigvalsh(K.toarray())
    assert F.inertia == (int((eig > 0).sum()), int((eig < 0).sum()), 0)
    b = rng.standard_normal(n + m)
    np.testing.assert_allclose(F.solve(b), np.linalg.solve(K.toarray(), b), rtol=1e-8, atol=1e-10)


def test_general_irreducible_uses_lu():
    rng = np.random.default_rng(4)
    A = sp.random_array((50, 50), density=0.1, rng=rng) + 5 * sp.eye_array(50)
    A = sp.csr_array(A + sp.diags_array(np.ones(49), offsets=1) + sp.diags_array(np.ones(1), offsets=-49))  # one big cycle
    assert linalg.analyze(A).kind == "general"
    F = linalg.factorize(A)
    assert F.kind == "lu"
    b = rng.standard_normal(50)
    assert_solves_like_dense(F, A, b, rtol=1e-10, atol=0)


def test_linear_operator_uses_krylov_both_ways():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 30)) + 10 * np.eye(30)
    b = rng.standard_normal(30)
    F = linalg.factorize(aslinearoperator(A))
    assert F.kind == "iterative" and F.method == "gmres"
    assert_solves_like_dense(F, A, b, rtol=1e-7, atol=0)
    S = A + A.T
    F = linalg.factorize(aslinearoperator(S), structure="symmetric")
    assert F.method == "minres"
    np.testing.assert_allclose(F.solve(b), np.linalg.solve(S, b), rtol=1e-6)


def test_zero_diagonal_in_triangular_names_the_row():
    A = sp.csr_array(np.array([[1.0, 0, 0], [2.0, 0.0, 0], [0, 1.0, 3.0]]))
    with pytest.raises(SingularMatrixError, match=r"row 1 of the matrix as given") as info:
        linalg.factorize(A)
    assert info.value.block.tolist() == [1]


def test_singular_cyclic_block_names_its_rows():
    A = np.eye(5)
    A[2:4, 2:4] = [[1.0, 2.0], [2.0, 4.0]]  # a 2-cycle of rank one
    A[4, 2] = 1.0
    with pytest.raises(SingularMatrixError, match=r"cyclic block.*\[2, 3\]|\[3, 2\]") as info:
        linalg.factorize(sp.csr_array(A), structure="block_triangular")
    assert sorted(info.value.block.tolist()) == [2, 3]


def test_numerically_singular_lu_raises():
    A = np.ones((3, 3)) + 1e-17 * np.eye(3)
    A[0, 1] += 1e-3  # irreducible, unsymmetric, numerically rank one
    with pytest.raises(SingularMatrixError, match="singular"):
        linalg.factorize(A)


def test_singular_symmetric_reports_zero_inertia_when_asked():
    K = sp.csc_array(np.array([[1.0, 1.0], [1.0, 1.0]]))
    F = linalg.factorize(K, structure="symmetric", raise_singular=False)
    assert F.singular
    assert F.inertia in (None, (1, 0, 1))
    with pytest.raises(SingularMatrixError, match="regularize"):
        F.solve(np.ones(2))
    with pytest.raises(SingularMatrixError):
        linalg.factorize(K, structure="symmetric")


def test_bad_input_is_a_problem_error():
    with pytest.raises(ProblemError, match="A: expected a square matrix"):
        linalg.factorize(np.ones((2, 3)))
    with pytest.raises(ProblemError, match="A: contains NaN"):
        linalg.factorize(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ProblemError, match="structure: expected one of"):
        linalg.factorize(np.eye(2), structure="banded")
    with pytest.raises(ProblemError, match="cycle of 2 unknowns"):
        linalg.factorize(np.array([[1.0, 1.0], [1.0, 3.0]]), structure="triangular")
    with pytest.raises(ValueError, match="b: expected shape"):
        linalg.factorize(np.eye(2)).solve(np.ones(3))


def test_krylov_failure_is_a_solver_error():
    A = np.diag([1.0, 1e-30, 1.0])
    F = linalg.factorize(aslinearoperator(A))
    F.maxiter = 3
    with pytest.raises(SolverError, match="relative residual"):
        F.solve(np.array([1.0, 1.0, 1.0]))


def test_reference_refinement_recovers_the_unperturbed_solution():
    rng = np.random.default_rng(6)
    n, m = 20, 5
    H = sp.diags_array(rng.uniform(1, 2, n))
    J = sp.csr_array(rng.standard_normal((m, n)))
    K = sp.block_array([[H, J.T], [J, None]]).tocsc()
    K_reg = sp.block_array([[H, J.T], [J, -1e-8 * sp.eye_array(m)]]).tocsc()
    b = rng.standard_normal(n + m)
    x = linalg.factorize(K_reg, structure="symmetric", reference=K).solve(b)
    np.testing.assert_allclose(K @ x, b, atol=1e-12)


def test_topological_order_fallback_when_labels_are_not_ordered():
    # Whatever order scipy numbers components in, the permutation must make A
    # block lower triangular: scramble the labels to force the Kahn sort.
    from lagrangian.linalg.structure import _topological_component_order

    rng = np.random.default_rng(8)
    A = permuted(random_lower(rng, 200), rng)[0].tocoo()
    scrambled = rng.permutation(200)
    rank = _topological_component_order(scrambled, 200, A)
    off = A.row != A.col
    assert np.all(rank[A.row[off]] > rank[A.col[off]])


@pytest.mark.parametrize("seed", range(3))
def test_a_reused_elimination_order_gives_the_same_solution_and_inertia(seed):
    rng = np.random.default_rng(seed)
    n, m = 30, 10
    H = sp.random_array((n, n), density=0.1, rng=rng)
    H = H + H.T + sp.eye_array(n)
    J = sp.random_array((m, n), density=0.2, rng=rng) + sp.eye_array(m, n)
    K = sp.csc_array(sp.block_array([[H, J.T], [J, -1e-2 * sp.eye_array(m)]]))
    first = linalg.factorize(K, structure="symmetric")
    # Same pattern, other values: the order found for the first matrix is reused.
    K2 = sp.csc_array(K.copy())
    K2.data = K2.data * (1 + 0.1 * rng.standard_normal(K2.nnz))
    K2 = sp.csc_array(0.5 * (K2 + K2.T))
    again = linalg.factorize(K2, structure="symmetric", ordering=first.ordering)
    fresh = linalg.factorize(K2, structure="symmetric")
    assert again.inertia == fresh.inertia
    eigenvalues = np.linalg.eigvalsh(K2.toarray())
    assert again.inertia == (int((eigenvalues > 0).sum()), int((eigenvalues < 0).sum()), 0)
    assert_solves_like_dense(again, K2, rng.standard_normal(n + m))


def random_quasidefinite(rng, n, m):
    """``[[E, F^T], [F, -G]]`` with E, G positive definite: an L D L^T exists in every order."""
    E = sp.random_array((n, n), density=0.1, rng=rng)
    E = E @ E.T + sp.eye_array(n)
    F = sp.random_array((m, n), density=0.2, rng=rng)
    return sp.csc_array(sp.block_array([[E, F.T], [F, -0.1 * sp.eye_array(m)]]))


@pytest.mark.parametrize("seed", range(3))
def test_ldl_refactorizations_of_one_pattern_solve_and_report_inertia(seed):
    rng = np.random.default_rng(seed)
    n, m = 30, 12
    K = random_quasidefinite(rng, n, m)
    pattern = linalg.LDLPattern(sp.triu(K, format="csc"))
    for scale in (1.0, 3.0):  # new values, same pattern: the symbolic analysis is reused
        K_now = sp.csc_array(K * scale)
        F = pattern.factor(sp.triu(K_now, format="csc").data, pivot_tol=1e-14)
        assert F.inertia == (n, m, 0) and not F.singular
        assert_solves_like_dense(F, K_now, rng.standard_normal(n + m), rtol=1e-9)
    assert sorted(F.ordering) == list(range(n + m))


def test_an_overwritten_ldl_factorization_refuses_to_solve():
    K = random_quasidefinite(np.random.default_rng(0), 6, 2)
    upper = sp.triu(K, format="csc")
    pattern = linalg.LDLPattern(upper)
    first = pattern.factor(upper.data, pivot_tol=1e-14)
    pattern.factor(2 * upper.data, pivot_tol=1e-14)
    with pytest.raises(SolverError, match="overwritten"):
        first.solve(np.ones(8))


def test_ldl_zero_pivot_raises_on_the_first_factorization_and_shows_later():
    # [[0, 1], [1, 0]] has no L D L^T without pivoting: the first pivot is zero.
    upper = sp.csc_array((np.array([0.0, 1.0, 0.0]), np.array([0, 0, 1]), np.array([0, 1, 3])), shape=(2, 2))
    pattern = linalg.LDLPattern(upper)
    with pytest.raises(SingularMatrixError, match="zero pivot"):
        pattern.factor(upper.data, pivot_tol=1e-14)
    pattern.factor(np.array([1.0, 1.0, -1.0]), pivot_tol=1e-14)  # nonsingular, indefinite
    later = pattern.factor(np.array([0.0, 1.0, 0.0]), pivot_tol=1e-14)
    assert later.singular


@pytest.mark.parametrize("seed", range(4))
def test_dense_ldl_reads_the_inertia_from_its_1x1_and_2x2_pivots(seed):
    # Zero diagonal entries force Bunch-Kaufman into 2x2 pivots.
    rng = np.random.default_rng(seed)
    size = 9 + seed
    A = rng.standard_normal((size, size))
    A = A + A.T
    A[np.diag_indices(size)[0][::2], np.diag_indices(size)[1][::2]] = 0.0
    pattern = linalg.DenseLDLPattern()
    F = pattern.factor_matrix(np.asfortranarray(A), pivot_tol=1e-14)
    eigenvalues = np.linalg.eigvalsh(A)
    assert F.inertia == (int((eigenvalues > 0).sum()), int((eigenvalues < 0).sum()), 0) and not F.singular
    assert np.any(pattern._factors_now[1] < 0)  # some 2x2 pivot was met
    b = rng.standard_normal(size)
    np.testing.assert_allclose(F.solve(b), np.linalg.solve(A, b), rtol=1e-9, atol=1e-11)


def test_dense_ldl_reports_a_singular_matrix_and_retires_old_factorizations():
    A = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, -3.0]])  # rank 2
    pattern = linalg.DenseLDLPattern()
    singular = pattern.factor_matrix(np.asfortranarray(A), pivot_tol=1e-14)
    assert singular.singular and singular.inertia == (1, 1, 1)
    A[1, 1] = 5.0
    regular = pattern.factor_matrix(np.asfortranarray(A), pivot_tol=1e-14)
    assert not regular.singular and regular.inertia == (2, 1, 0)
    with pytest.raises(SolverError, match="overwritten"):
        singular.solve(np.ones(3))


@pytest.mark.parametrize("limit", [0, 10_000])
def test_kkt_factorizations_agree_sparse_and_dense(limit, monkeypatch):
    # The same nonconvex KKT system through QDLDL (limit 0) and through LAPACK
    monkeypatch.setattr(lg_kkt, "DENSE_KKT_LIMIT", limit)
    rng = np.random.default_rng(5)
    n, m = 14, 5
    H = sp.random_array((n, n), density=0.3, rng=rng)
    H = sp.csr_array(H + H.T - 0.5 * sp.eye_array(n))
    J = sp.csr_array(sp.random_array((m, n), density=0.4, rng=rng) + sp.eye_array(m, n))
    pattern = lg_kkt.kkt_pattern(H, J)
    assert isinstance(pattern, lg_kkt.DenseKKT) == (limit > 0)
    K = np.block([[H.toarray() + 3.0 * np.eye(n), J.toarray().T], [J.toarray(), -1e-3 * np.eye(m)]])
    F = pattern.factor(3.0, 1e-3)
    eigenvalues = np.linalg.eigvalsh(K)
    assert F.inertia == (int((eigenvalues > 0).sum()), int((eigenvalues < 0).sum()), 0)
    b = rng.standard_normal(n + m)
    np.testing.assert_allclose(F.solve(b), np.linalg.solve(K, b), rtol=1e-10, atol=1e-12)


def test_scaled_kkt_factorization_rejects_a_singular_matrix():
    # J has two equal rows: K is singular whatever the shift does to the factorization.
    H = sp.eye_array(3)
    J = sp.csr_array(np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]]))
    F = lg_kkt.factorize_kkt(H, J)
    with pytest.raises(SingularMatrixError):
        F.solve(np.array([0.0, 0.0, 0.0, 1.0, 2.0]))


def _polak3_newton_matrix():
    """CUTEst POLAK3's Newton matrix at the interior point's 158th solve (tests/data): ``H``, ``J``,
    the barrier diagonal (entries from 5e-5 to 1e17), the right-hand side, and the equilibration
    the run had carried over from the matrices before it."""
    data = np.load(Path(__file__).parent / "data" / "polak3_newton_matrix.npz")
    H, J, diagonal = data["H"], data["J"], data["diagonal"]
    K = np.block([[H + np.diag(diagonal), J.T], [J, np.zeros((J.shape[0],) * 2)]])
    return sp.csr_array(H), sp.csr_array(J), diagonal, data["rhs"], data["scale"], float(data["barrier"]), K


def test_a_solve_whose_scaled_test_hides_a_wrong_row_is_refused():
    # With the carried-over scaling the factorization reported inertia (22, 10, 0) and a
    # "solution" leaving |r| = 29 against |b| = 1, which the scaled normwise test passed: the
    # interior point then took 700 steps of 6e-10. K's true inertia is (18, 14, 0).
    H, J, diagonal, rhs, carried, _, K = _polak3_newton_matrix()
    eigenvalues = np.linalg.eigvalsh(K)
    assert (int((eigenvalues > 0).sum()), int((eigenvalues < 0).sum())) == (18, 14)
    pattern = lg_kkt.kkt_pattern(H, J)
    pattern._scale = carried.copy()  # the state the run had reached
    F = pattern.factor(diagonal, 0.0, singular_residual=1e-5)
    try:
        x = F.solve(rhs)
    except SingularMatrixError:
        return
    np.testing.assert_allclose(x, np.linalg.solve(K, rhs), rtol=1e-6, atol=1e-8)


def test_the_regularized_solve_is_right_after_a_very_different_matrix():
    # Through the interior point's regularizing solve, after a matrix on the same pattern whose
    # barrier terms are 1e10 times larger (its scaling is carried over): the inertia is
    # corrected and the answer solves the regularized system.
    H, J, diagonal, rhs, _, barrier, K = _polak3_newton_matrix()
    alone, info = lg_kkt.InertiaCorrection(singular_residual=1e-5).solve(H, J, rhs, barrier=barrier, diagonal=diagonal)
    correction = lg_kkt.InertiaCorrection(singular_residual=1e-5)
    correction.solve(H, J, rhs, barrier=barrier, diagonal=1e10 * diagonal + 1e-6)
    after, info_after = correction.solve(H, J, rhs, barrier=barrier, diagonal=diagonal)
    assert info.primal_regularization > 0 and info.inertia == (H.shape[0], J.shape[0], 0)
    n = H.shape[0]
    shifted = K + np.diag(np.concatenate([np.full(n, info.primal_regularization), np.zeros(J.shape[0])]))
    np.testing.assert_allclose(alone, np.linalg.solve(shifted, rhs), rtol=1e-8, atol=1e-10)
    assert info_after.primal_regularization > 0
    np.testing.assert_allclose(after[: n], np.linalg.solve(K + np.diag(np.concatenate([np.full(n, info_after.primal_regularization), np.zeros(J.shape[0])])), rhs)[: n], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("form", ["csr", "csr-int64", "csc", "dense"])
def test_transpose_times_is_a_transposed_product(form):
    rng = np.random.default_rng(7)
    A = sp.random_array((7, 5), density=0.4, rng=rng, format="csr")
    y = rng.standard_normal(7)
    expected = A.toarray().T @ y
    if form == "csr-int64":
        A = sp.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)), shape=A.shape)
    elif form == "csc":
        A = sp.csc_array(A)
    elif form == "dense":
        A = A.toarray()
    np.testing.assert_allclose(linalg.transpose_times(A, y), expected, rtol=1e-14, atol=1e-15)
