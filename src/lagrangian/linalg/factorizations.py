"""Factorizations of square sparse systems, one class per structure: triangular, block
triangular over strongly connected components, symmetric (SuperLU with diagonal
pivoting, for the inertia), general LU and Krylov.

Each factors once and then solves ``A x = b`` or ``A^T x = b`` for as many
right-hand sides as wanted, with the residual check and refinement of
:class:`~lagrangian.linalg.factorization_base.Factorization`; the ``L D L^T``
patterns that are refactored again and again are in :mod:`lagrangian.linalg.ldl`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, gmres, minres, splu, spsolve_triangular

from ..errors import SingularMatrixError, SolverError
from .factorization_base import Factorization, check_pivots, describe_indices, entry_scale, pivot_ratio, right_hand_side
from .ldl import DenseLDLFactorization, DenseLDLPattern, LDLFactorization, LDLPattern
from .structure import Structure

__all__ = [
    "right_hand_side",
    "Factorization",
    "TriangularFactorization",
    "BlockTriangularFactorization",
    "SymmetricFactorization",
    "LDLPattern",
    "LDLFactorization",
    "DenseLDLPattern",
    "DenseLDLFactorization",
    "LUFactorization",
    "IterativeSolver",
]
def _superlu(block, permc_spec: str, where: str, indices=None, **options):
    """``splu`` with SuperLU's 'exactly singular' failure turned into a typed error."""
    try:
        return splu(sp.csc_array(block), permc_spec=permc_spec, **options)
    except RuntimeError as exc:  # SuperLU signals a zero pivot with RuntimeError only
        raise SingularMatrixError(
            f"{where} is exactly singular (SuperLU: {exc})"
            + ("" if indices is None else f"; block rows {describe_indices(indices)}"),
            block=indices,
            pivot=0.0,
        ) from exc


#: Up to this order, the inertia of a symmetric matrix on which SuperLU met an exactly
#: zero pivot is read from a dense Bunch-Kaufman factorization (about 0.3 GFlop at the limit).
DENSE_INERTIA_LIMIT = 1000


def _dense_inertia(A, pivot_tol: float):
    """``(n_positive, n_negative, n_zero)`` of a symmetric ``A`` by LAPACK's ``dsytrf``, or None above the limit.

    Bunch-Kaufman pivoting (1x1 and 2x2 blocks) completes on a singular matrix, so
    Sylvester's law reads the inertia off ``D``, zero pivots included: those with
    ``|d| <= pivot_tol * max |A_ij|``, the threshold SuperLU's pivots are counted with.
    """
    if A.shape[0] > DENSE_INERTIA_LIMIT:
        return None
    dense = np.asfortranarray(sp.csr_array(A).toarray())
    return DenseLDLPattern().factor_matrix(dense, pivot_tol=pivot_tol).inertia


class TriangularFactorization(Factorization):
    """Substitution after permuting to lower triangular form.

    With ``r, c = structure.rows, structure.columns`` from
    :func:`~lagrangian.linalg.analyze`, ``L = A[r][:, c]`` is lower triangular, so
    ``A x = b`` is ``L x[c] = b[r]`` (forward substitution) and ``A^T x = b`` is
    ``L^T x[r] = b[c]`` (back substitution). Cost: O(nnz), no fill.
    """

    kind = "triangular"

    def __init__(self, A, structure: Structure, *, pivot_tol: float, reference=None):
        super().__init__(A, reference)
        rows, columns = structure.rows, structure.columns
        identity = np.arange(rows.size)
        # Already in triangular order (every computation-graph tape is): no copy.
        self._orders = None if np.array_equal(rows, identity) and np.array_equal(columns, identity) else (rows, columns)
        self._lower = sp.csr_array(A) if self._orders is None else sp.csr_array(A)[rows][:, columns]
        self._lower.sort_indices()
        self._upper = None
        diagonal = self._lower.diagonal()
        try:
            self.pivot_ratio = check_pivots(diagonal, entry_scale(A), pivot_tol, "triangular matrix")
        except SingularMatrixError as exc:
            worst = int(rows[np.argmin(np.abs(diagonal))])
            raise SingularMatrixError(
                f"{exc} (row {worst} of the matrix as given has a zero or negligible diagonal)",
                block=np.array([worst]),
                pivot=exc.pivot,
            ) from None

    def _solve(self, b, transpose):
        if self._orders is None:
            rhs, unknowns = b, None
        else:
            rows, columns = self._orders
            rhs, unknowns = (b[columns], rows) if transpose else (b[rows], columns)
        if transpose:
            if self._upper is None:
                self._upper = sp.csr_array(self._lower.T)
                self._upper.sort_indices()
            y = spsolve_triangular(self._upper, rhs, lower=False)
        else:
            y = spsolve_triangular(self._lower, rhs, lower=True)
        if unknowns is None:
            return y
        x = np.empty_like(y)
        x[unknowns] = y
        return x


class BlockTriangularFactorization(Factorization):
    """Block substitution over strongly connected components.

    With ``M = A[rows][:, columns]`` block lower triangular (see
    :func:`~lagrangian.linalg.analyze`), forward substitution solves, block after
    block,

        M_kk x_k = b_k - sum_{j<k} M_kj x_j,

    by triangular substitution on runs of acyclic unknowns and by a sparse LU
    factored once on each cyclic block. The transposed system runs the same blocks
    backwards. Only the cyclic blocks are ever factored, so fill stays inside them.
    """

    kind = "block_triangular"

    def __init__(self, A, structure: Structure, *, pivot_tol: float, reference=None):
        super().__init__(A, reference)
        rows_order, columns_order = structure.rows, structure.columns
        self._orders = (rows_order, columns_order)
        M = sp.csr_array(A)[rows_order][:, columns_order]
        self._segments = structure.segments
        self._diagonal = []  # per segment: ("tri", L) or ("lu", SuperLU)
        self._below = []  # per segment: M[s:e, :s] (CSR)
        self._right = None  # per segment: M[e:, s:e]^T, built on the first transposed solve
        self._M = M
        scale = entry_scale(A)
        ratios = []
        for seg in self._segments:
            block = M[seg.start : seg.stop, seg.start : seg.stop]
            rows = rows_order[seg.start : seg.stop]
            if seg.cyclic:
                lu = _superlu(block, "COLAMD", "cyclic block", rows)
                ratios.append(check_pivots(lu.U.diagonal(), scale, pivot_tol, "cyclic block", rows))
                self._diagonal.append(("lu", lu))
            else:
                block = sp.csr_array(block)
                block.sort_indices()
                ratios.append(check_pivots(block.diagonal(), scale, pivot_tol, "triangular block", rows))
                self._diagonal.append(("tri", block))
            self._below.append(M[seg.start : seg.stop, : seg.start])
        self.pivot_ratio = min(ratios) if ratios else None

    @staticmethod
    def _solve_diagonal(entry, rhs, transpose):
        how, factor = entry
        if how == "lu":
            return factor.solve(rhs, trans="T" if transpose else "N")
        if transpose:
            return spsolve_triangular(sp.csr_array(factor.T), rhs, lower=False)
        return spsolve_triangular(factor, rhs, lower=True)

    def _solve(self, b, transpose):
        rows, columns = self._orders
        rhs, unknowns = (b[columns], rows) if transpose else (b[rows], columns)
        y = np.zeros_like(rhs)
        if not transpose:
            for seg, entry, below in zip(self._segments, self._diagonal, self._below):
                r = rhs[seg.start : seg.stop] - below @ y[: seg.start]
                y[seg.start : seg.stop] = self._solve_diagonal(entry, r, False)
        else:
            if self._right is None:
                self._right = [sp.csr_array(self._M[seg.stop :, seg.start : seg.stop].T) for seg in self._segments]
            for seg, entry, right in zip(
                reversed(self._segments), reversed(self._diagonal), reversed(self._right)
            ):
                r = rhs[seg.start : seg.stop] - right @ y[seg.stop :]
                y[seg.start : seg.stop] = self._solve_diagonal(entry, r, True)
        x = np.empty_like(y)
        x[unknowns] = y
        return x


class SymmetricFactorization(Factorization):
    """Symmetric indefinite factorization ``P A P^T = L D L^T`` that reports inertia.

    SuperLU runs in symmetric mode (a minimum-degree ordering of ``A + A^T``
    applied to rows and columns alike, diagonal pivots preferred), which yields
    ``P A P^T = L U`` with ``U = D L^T``. By Sylvester's law of inertia the signs of
    ``D = diag(U)`` count the positive, negative and zero eigenvalues of ``A``.
    If SuperLU had to pivot off the diagonal (a zero diagonal met during
    elimination, as in an unregularized KKT matrix), the factorization is still a
    valid LU but the inertia cannot be read from it, and ``inertia`` is ``None``.
    A quasidefinite shift ``-delta I`` on a KKT matrix's constraint block avoids
    that (Vanderbei 1995).

    Attributes
    ----------
    inertia : tuple (n_positive, n_negative, n_zero) or None
        Pivots with ``|d| <= pivot_tol * max |A_ij|`` count as zero. ``None`` when
        the factorization pivoted off the diagonal. When SuperLU met an exactly
        zero pivot (``singular`` is True; only with ``raise_singular=False``), the
        inertia comes from a dense Bunch-Kaufman factorization, zero count included,
        up to order :data:`DENSE_INERTIA_LIMIT` (``None`` above it).
    singular : bool
    ordering : ndarray or None
        The symmetric elimination order used (``A[q][:, q]`` was factored in its
        natural order), to pass as ``ordering=`` to the next factorization of a
        matrix with the same pattern: the minimum-degree ordering is the most
        expensive part of the analysis (4x the numeric factorization on a 5e4
        interior-point KKT matrix) and depends on the pattern only.
    """

    kind = "symmetric"

    def __init__(self, A, *, pivot_tol: float, raise_singular: bool = True, reference=None, ordering=None):
        super().__init__(A, reference)
        scale = entry_scale(A)
        self._q = None if ordering is None else np.asarray(ordering)
        try:
            if self._q is None:
                self._lu = _superlu(
                    A, "MMD_AT_PLUS_A", "symmetric matrix", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True)
                )
            else:
                permuted = sp.csc_array(sp.csr_array(A)[self._q][:, self._q])
                self._lu = _superlu(
                    permuted, "NATURAL", "symmetric matrix", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True)
                )
        except SingularMatrixError:
            if raise_singular:
                raise
            self._lu, self.singular, self.pivot_ratio, self.ordering = None, True, 0.0, self._q
            self.inertia = _dense_inertia(A, pivot_tol)
            return
        self.ordering = np.argsort(self._lu.perm_c) if self._q is None else self._q
        d = self._lu.U.diagonal()
        self.pivot_ratio = pivot_ratio(d, scale)
        if np.array_equal(self._lu.perm_r, self._lu.perm_c):
            small = np.abs(d) <= pivot_tol * scale
            self.inertia = (int(np.sum((d > 0) & ~small)), int(np.sum((d < 0) & ~small)), int(small.sum()))
        else:
            self.inertia = None
        self.singular = self.pivot_ratio <= pivot_tol
        if raise_singular and self.singular:
            check_pivots(d, scale, pivot_tol, "symmetric matrix")

    def _solve(self, b, transpose):
        if self.singular:
            raise SingularMatrixError(
                f"symmetric matrix is singular (pivot ratio {self.pivot_ratio:.2e}, inertia {self.inertia}); "
                "regularize it before solving",
                pivot=self.pivot_ratio,
            )
        if self._q is None:
            return self._lu.solve(b)  # A^T = A
        x = np.empty_like(b)
        x[self._q] = self._lu.solve(b[self._q])
        return x


class LUFactorization(Factorization):
    """Sparse LU (SuperLU) with the column ordering chosen from the pattern.

    A structurally symmetric pattern gets a minimum-degree ordering of
    ``A^T + A``; an unsymmetric one gets COLAMD. Used for strongly connected
    (irreducible) unsymmetric matrices, where no permutation gives triangular blocks.
    """

    kind = "lu"

    def __init__(self, A, *, pivot_tol: float, reference=None):
        super().__init__(A, reference)
        A = sp.csc_array(A)
        pattern = A.copy()
        pattern.data[:] = 1.0
        symmetric_pattern = (pattern - pattern.T).count_nonzero() == 0
        self.ordering = "MMD_AT_PLUS_A" if symmetric_pattern else "COLAMD"
        self._lu = _superlu(A, self.ordering, "matrix")
        self.pivot_ratio = check_pivots(self._lu.U.diagonal(), entry_scale(A), pivot_tol, "matrix")

    def _solve(self, b, transpose):
        return self._lu.solve(b, trans="T" if transpose else "N")


class IterativeSolver(Factorization):
    """Krylov solve for matrix-free or very large systems.

    MINRES for symmetric operators (it needs no definiteness, so it serves KKT
    matrices), restarted GMRES otherwise. The transposed system needs the
    operator's ``rmatvec``. Nothing is factored; each solve iterates to ``rtol``
    and raises :class:`~lagrangian.errors.SolverError` if it does not get there.
    """

    kind = "iterative"

    def __init__(self, A, *, symmetric: bool, rtol: float = 1e-10, maxiter: int | None = None):
        super().__init__(A)
        self._operator = A if isinstance(A, LinearOperator) else sp.csr_array(A)
        self.symmetric = symmetric
        self.rtol = rtol
        self.maxiter = maxiter
        self.method = "minres" if symmetric else "gmres"

    def solve(self, b, *, transpose: bool = False) -> np.ndarray:
        b = right_hand_side(b, self.shape[0])
        if b.ndim == 2:
            return np.column_stack([self.solve(col, transpose=transpose) for col in b.T])
        A = self._operator
        if transpose and not self.symmetric:
            A = A.T
        maxiter = self.maxiter or 10 * self.shape[0]
        if self.symmetric:
            x, info = minres(A, b, rtol=self.rtol, maxiter=maxiter)
        else:
            x, info = gmres(A, b, rtol=self.rtol, restart=min(100, self.shape[0]), maxiter=maxiter)
        r = b - A @ x
        bnorm = np.linalg.norm(b)
        rel = np.linalg.norm(r) / bnorm if bnorm > 0 else np.linalg.norm(r)
        if info != 0 and not rel <= 10 * self.rtol:
            raise SolverError(
                f"{self.method} stopped after {maxiter if info > 0 else 'a breakdown at'} iterations with "
                f"relative residual {rel:.2e} > rtol={self.rtol:.1e}; the operator may be singular or "
                "badly conditioned: pass a preconditioned operator or use a direct factorization"
            )
        return x
