"""Factorizations of square sparse systems, one class per structure.

Every class factors once and then solves ``A x = b`` or ``A^T x = b`` for as many
right-hand sides as wanted. Every direct solve is followed by a residual check with
up to two steps of iterative refinement against the *reference* matrix (the matrix
the caller wants solved, which may differ from the one factored, for example by a
small regularization); a solution whose residual stays large raises
:class:`~lagrangian.errors.SingularMatrixError` instead of being returned.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dsytrf, dsytrs
from scipy.sparse.linalg import LinearOperator, gmres, minres, splu, spsolve_triangular

from ..errors import ProblemError, SingularMatrixError, SolverError
from ..inputs import real_array
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

_EPS = np.finfo(float).eps
# The normwise backward error ||b - A x|| / (||A|| ||x|| + ||b||) after refinement.
# A backward-stable factorization plus refinement reaches a small multiple of eps on
# any nonsingular matrix; a singular one can still look "solved" at 1e-9 because a
# huge ||x|| inflates the denominator (a zero row answered with x ~ r / shift). So
# anything above 1e-10 is treated as numerically singular and not returned.
_ACCEPT_RESIDUAL = 1e-10
_REFINE_RESIDUAL = 64 * _EPS
_MAX_REFINEMENTS = 10


def _entry_scale(A) -> float:
    data = A.data if sp.issparse(A) and A.format in ("csr", "csc") else sp.csr_array(A).data
    return float(np.abs(data).max()) if data.size else 0.0


def _pivot_ratio(pivots: np.ndarray, scale: float) -> float:
    """Smallest pivot magnitude relative to the largest matrix entry.

    Measured against the matrix, not against the largest pivot: eliminating a
    quasidefinite KKT matrix legitimately produces pivots of size delta next to
    pivots of size 1/delta, and neither means the matrix is singular.
    """
    magnitudes = np.abs(pivots)
    if not magnitudes.size:
        return 1.0
    return float(magnitudes.min() / scale) if scale > 0 else 0.0


def _check_pivots(pivots, scale, pivot_tol, where: str, block=None):
    """Raise when a pivot is zero or negligible next to the matrix's largest entry."""
    ratio = _pivot_ratio(pivots, scale)
    if ratio <= pivot_tol:
        worst = int(np.argmin(np.abs(pivots)))
        detail = "exactly singular" if ratio == 0 else f"numerically singular (pivot ratio {ratio:.2e})"
        raise SingularMatrixError(
            f"{where} is {detail}; smallest pivot at position {worst}"
            + ("" if block is None else f" of block rows {_describe(block)}"),
            block=block,
            pivot=ratio,
        )
    return ratio


def _describe(indices, limit=8) -> str:
    indices = np.asarray(indices)
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return f"[{shown}{', ...' if indices.size > limit else ''}] ({indices.size} rows)"


def _superlu(block, permc_spec: str, where: str, indices=None, **options):
    """``splu`` with SuperLU's 'exactly singular' failure turned into a typed error."""
    try:
        return splu(sp.csc_array(block), permc_spec=permc_spec, **options)
    except RuntimeError as exc:  # SuperLU signals a zero pivot with RuntimeError only
        raise SingularMatrixError(
            f"{where} is exactly singular (SuperLU: {exc})"
            + ("" if indices is None else f"; block rows {_describe(indices)}"),
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


def right_hand_side(b, size: int) -> np.ndarray:
    """``b`` as a float array of shape ``(size,)`` or ``(size, k)``: real, finite, or a ProblemError naming ``b``."""
    b = real_array(b, "b")
    if b.ndim not in (1, 2) or b.shape[0] != size:
        raise ProblemError("b", f"expected shape ({size},) or ({size}, k), got {b.shape}")
    if not np.isfinite(b).all():
        raise ProblemError("b", "contains NaN or infinite entries")
    return b


class Factorization:
    """Base class: validation, residual check and iterative refinement.

    Subclasses implement ``_solve(b, transpose)`` for a 1-D or 2-D ``b``.

    Attributes
    ----------
    kind : str
        Which path was taken ("triangular", "block_triangular", "symmetric",
        "lu", "iterative").
    shape : tuple of int
    pivot_ratio : float or None
        Smallest pivot magnitude over the largest matrix entry: a cheap sign of
        how close to singular the factored matrix is (not a condition number).
    """

    kind = "abstract"

    #: Largest relative residual ``||b - A x|| / (||A|| ||x|| + ||b||)`` a solve may
    #: return; above it the matrix is treated as singular. Callers that know their
    #: matrices are ill-conditioned by construction (interior-point KKT systems near
    #: a solution, whose condition numbers reach 1e12) may loosen it per instance.
    accept_residual = _ACCEPT_RESIDUAL

    def __init__(self, matrix, reference=None):
        self.matrix = matrix
        self.reference = matrix if reference is None else reference
        self.shape = matrix.shape
        self.pivot_ratio = None

    def solve(self, b, *, transpose: bool = False, refine: bool = True) -> np.ndarray:
        """Solve ``A x = b`` (or ``A^T x = b``) for one or several right-hand sides.

        Parameters
        ----------
        b : array_like, shape (n,) or (n, k)
        transpose : bool
            Solve with the transposed matrix, reusing the same factorization.
        refine : bool
            Refine against the reference matrix and check the residual (default).
            ``False`` returns the factored matrix's direct solution unchecked, for
            a caller that refines against a matrix of its own (see
            :class:`lagrangian.linalg.kkt_factorization.ScaledFactorization`).
        """
        b = right_hand_side(b, self.shape[0])
        x = self._solve(b, transpose)
        return self._refine(b, x, transpose) if refine else x

    def direct_solve(self, b, *, transpose: bool = False) -> np.ndarray:
        """The factored matrix's solution of ``A x = b``: no validation, refinement or residual check.

        For a caller that validated ``b`` and refines against a matrix of its own
        (:class:`lagrangian.linalg.kkt_factorization.ScaledFactorization` solves with
        ``S K S`` plus a shift and refines against ``K``), once per refinement step.
        """
        return self._solve(b, transpose)

    def _apply_reference(self, x, transpose):
        M = self.reference
        return M.T @ x if transpose else M @ x

    def _relative_residual(self, b, x, transpose):
        r = b - self._apply_reference(x, transpose)
        scale = self._reference_norm() * np.abs(x).max(initial=0.0) + np.abs(b).max(initial=0.0)
        return r, (np.abs(r).max(initial=0.0) / scale if scale > 0 else 0.0)

    def _reference_norm(self):
        if not hasattr(self, "_norm"):
            self._norm = float(abs(sp.csr_array(self.reference)).sum(axis=1).max()) if self.shape[0] else 0.0
        return self._norm

    def _refine(self, b, x, transpose):
        """Iterative refinement until the residual is at rounding level or stops shrinking.

        Each step solves ``A_factored d = r`` with ``r = b - A_reference x``; it
        contracts the error by about ``||A_factored - A_reference|| ||A^{-1}||``,
        so a slightly perturbed factorization still converges to the reference
        solution.
        """
        r, rel = self._relative_residual(b, x, transpose)
        for _ in range(_MAX_REFINEMENTS):
            if not np.isfinite(rel) or rel <= _REFINE_RESIDUAL:
                break
            candidate = x + self._solve(r, transpose)
            r_new, rel_new = self._relative_residual(b, candidate, transpose)
            if not rel_new < rel:
                break
            x, r, progress, rel = candidate, r_new, rel_new / rel, rel_new
            if progress > 0.5:
                break
        if not np.all(np.isfinite(x)) or not rel <= self.accept_residual:
            raise SingularMatrixError(
                f"{self.kind} solve left a relative residual of {rel:.2e} after refinement: "
                "the matrix is numerically singular or too ill-conditioned for this right-hand side",
                pivot=self.pivot_ratio,
            )
        return x


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
            self.pivot_ratio = _check_pivots(diagonal, _entry_scale(A), pivot_tol, "triangular matrix")
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
        scale = _entry_scale(A)
        ratios = []
        for seg in self._segments:
            block = M[seg.start : seg.stop, seg.start : seg.stop]
            rows = rows_order[seg.start : seg.stop]
            if seg.cyclic:
                lu = _superlu(block, "COLAMD", "cyclic block", rows)
                ratios.append(_check_pivots(lu.U.diagonal(), scale, pivot_tol, "cyclic block", rows))
                self._diagonal.append(("lu", lu))
            else:
                block = sp.csr_array(block)
                block.sort_indices()
                ratios.append(_check_pivots(block.diagonal(), scale, pivot_tol, "triangular block", rows))
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
        scale = _entry_scale(A)
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
        self.pivot_ratio = _pivot_ratio(d, scale)
        if np.array_equal(self._lu.perm_r, self._lu.perm_c):
            small = np.abs(d) <= pivot_tol * scale
            self.inertia = (int(np.sum((d > 0) & ~small)), int(np.sum((d < 0) & ~small)), int(small.sum()))
        else:
            self.inertia = None
        self.singular = self.pivot_ratio <= pivot_tol
        if raise_singular and self.singular:
            _check_pivots(d, scale, pivot_tol, "symmetric matrix")

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


class _OverwrittenFactors:
    """Factors held by a pattern object: a new factorization overwrites the last one.

    Each factorization remembers the pattern's ``generation`` when it was made; a
    solve with an older one is an error rather than a silent answer from another
    matrix's factors.
    """

    generation = 0

    def _check(self, generation):
        if generation != self.generation:
            raise SolverError("this LDL^T factorization was overwritten by a later factorization of the same pattern")


class LDLPattern(_OverwrittenFactors):
    r"""One symmetric sparsity pattern factored as ``P A P^T = L D L^T``, again and again.

    QDLDL (Stellato et al. 2020, the factorization inside OSQP; the ``qdldl``
    package, which cvxpy already installs) computes an approximate minimum degree
    ordering and the elimination tree once, in the first :meth:`factor`; every
    later call with new values only redoes the numeric factorization. It does not
    pivot: the factorization exists for every ordering when ``A`` is
    *quasidefinite*, ``[[E, F^T], [F, -G]]`` with ``E`` and ``G`` positive definite
    (Vanderbei 1995), which is what a KKT matrix with a small shift
    ``diag(dI, -dI)`` is. On the interior-point matrices of the Maros-Meszaros
    set a refactorization takes a tenth of SuperLU's time for the same matrix.

    Parameters
    ----------
    upper : sparse matrix
        The pattern: the upper triangle of ``A`` in canonical CSC (sorted indices,
        no duplicates), with every diagonal entry present.
    """

    def __init__(self, upper):
        upper = sp.csc_array(upper)
        self.shape = upper.shape
        # One matrix object whose values are overwritten for every factorization:
        # QDLDL reads only its values after the first call.
        self._upper = sp.csc_matrix((upper.data.astype(float), upper.indices, upper.indptr), shape=upper.shape)
        self._solver = None
        self.generation = 0

    def factor(self, data, *, pivot_tol: float) -> "LDLFactorization":
        """Factor the matrix whose upper triangle has values ``data`` (in the pattern's order).

        A factorization from an earlier call of the same pattern is overwritten and
        can no longer solve.

        Raises
        ------
        SingularMatrixError
            The first factorization met an exactly zero pivot (no ``L D L^T`` in
            this ordering: the matrix is singular or not quasidefinite). A later
            one reports it only through ``singular`` (QDLDL stops at the zero
            pivot and leaves the rest of the factors stale, so such a solve is
            meaningless): check ``singular``, or refine against the matrix as
            :class:`lagrangian.linalg.kkt_factorization.ScaledFactorization` does, whose residual
            check rejects it.
        """
        import qdldl

        self._upper.data[:] = data
        self.generation += 1
        try:
            if self._solver is None:
                self._solver = qdldl.Solver(self._upper, upper=True)
            else:
                self._solver.update(self._upper, upper=True)
        except RuntimeError as exc:
            raise SingularMatrixError(f"LDL^T factorization met a zero pivot (QDLDL: {exc})", pivot=0.0) from exc
        return LDLFactorization(self, data, pivot_tol=pivot_tol)

    def _solve(self, generation, b):
        self._check(generation)
        return self._solver.solve(b)

    def _factors(self, generation):
        self._check(generation)
        _, pivots, order = self._solver.factors()
        return pivots, order


class LDLFactorization(Factorization):
    """One numeric factorization of an :class:`LDLPattern`, with the inertia from the signs of ``D``.

    ``inertia``, ``singular``, ``pivot_ratio`` and ``ordering`` are read from the
    factors when first asked for (copying ``L`` out of QDLDL costs as much as a
    refactorization of a small matrix). Solves are not refined here (there is no
    reference matrix): the caller refines, as
    :class:`lagrangian.linalg.kkt_factorization.ScaledFactorization` does, and that refinement's
    residual check is what rejects a factorization that met a zero pivot.
    """

    kind = "ldl"

    def __init__(self, pattern, data, *, pivot_tol: float, entry_max: float | None = None):
        self.shape = pattern.shape
        self.matrix = self.reference = None
        self._pattern, self._generation = pattern, pattern.generation
        self._data, self._pivot_tol, self._entry_max = data, pivot_tol, entry_max
        self._read = None

    def _pivots(self):
        if self._read is None:
            # Read once per factorization of every interior-point trial step, so written
            # with few numpy calls: on small matrices each costs more than the arithmetic.
            pivots, order = self._pattern._factors(self._generation)  # (eigenvalues of D, order)
            scale = float(np.abs(self._data).max(initial=0.0)) if self._entry_max is None else self._entry_max
            threshold = self._pivot_tol * scale
            positive = int((pivots > threshold).sum())
            negative = int((pivots < -threshold).sum())
            ratio = _pivot_ratio(pivots, scale)
            # NaN pivots are neither positive nor negative: they count as zero
            inertia = (positive, negative, pivots.size - positive - negative)
            finite = bool(np.isfinite(pivots.sum()))  # an inf or NaN pivot makes the sum non-finite
            self._read = (inertia, not (ratio > self._pivot_tol and finite), ratio, np.asarray(order))
        return self._read

    inertia = property(lambda self: self._pivots()[0], doc="``(n_positive, n_negative, n_zero)`` from the signs of ``D``.")
    singular = property(lambda self: self._pivots()[1], doc="A pivot is negligible next to the largest entry.")
    pivot_ratio = property(lambda self: self._pivots()[2], doc="Smallest ``|D_i|`` over the largest matrix entry.")
    ordering = property(lambda self: self._pivots()[3], doc="The elimination order.")

    def _solve(self, b, transpose):
        # A is symmetric: transpose changes nothing.
        if b.ndim == 1:
            return self._pattern._solve(self._generation, b)
        return np.column_stack([self._pattern._solve(self._generation, column) for column in b.T])

    def solve(self, b, *, transpose: bool = False, refine: bool = False) -> np.ndarray:
        """Solve ``A x = b`` unrefined (``refine`` must be False: there is no reference matrix)."""
        if refine:
            raise ValueError("refine: an LDLFactorization has no reference matrix; refine in the caller")
        return super().solve(b, transpose=transpose, refine=False)


class DenseLDLPattern(_OverwrittenFactors):
    r""":class:`LDLPattern`'s interface for small matrices: LAPACK's Bunch-Kaufman ``P A P^T = U D U^T``.

    Below a few dozen rows a sparse factorization is all overhead: QDLDL's
    symbolic analysis, and above all reading ``D`` back for the inertia, which
    copies ``L`` into a scipy matrix (about 40 us, more than the whole dense
    factorization). ``dsytrf`` (Bunch & Kaufman 1977) factors the dense matrix in
    microseconds with symmetric pivoting, so it needs no quasidefinite shift to
    exist, and ``D``'s 1x1 and 2x2 blocks are right there: by Sylvester's law the
    signs of their eigenvalues are the inertia. Each 2x2 block
    :math:`\begin{pmatrix} a & b \\ b & c \end{pmatrix}` has the eigenvalues
    :math:`(a + c)/2 \pm \sqrt{((a - c)/2)^2 + b^2}`.

    Only :meth:`factor_matrix` is offered: a dense matrix is cheaper to write whole than
    through a sparse pattern's values.
    """

    def __init__(self):
        self.shape = None
        self.generation = 0
        self._factors_now = None

    def factor_matrix(self, A, *, pivot_tol: float) -> "DenseLDLFactorization":
        """Factor the square array ``A``, of which only the upper triangle is read; ``A`` is overwritten.

        ``A`` should be Fortran-ordered (the transpose of a C-ordered symmetric
        array is), or LAPACK works on a copy.
        """
        self.shape = A.shape
        entry_max = float(np.abs(A).max(initial=0.0))
        self.generation += 1
        factors, ipiv, info = dsytrf(A, lower=0, overwrite_a=1)
        self._factors_now = (factors, ipiv)
        return DenseLDLFactorization(self, None, pivot_tol=pivot_tol, entry_max=entry_max)

    def _solve(self, generation, b):
        self._check(generation)
        factors, ipiv = self._factors_now
        x, info = dsytrs(factors, ipiv, b, lower=0)
        return x

    def _factors(self, generation):
        """``(eigenvalues of D, pivot order)``; ``ipiv`` in LAPACK's upper convention:
        ``ipiv[k] = ipiv[k - 1] < 0`` marks the 2x2 block in rows ``k - 1, k``."""
        self._check(generation)
        factors, ipiv = self._factors_now
        eigenvalues = factors.diagonal().copy()
        if ipiv.min(initial=0) < 0:
            paired = np.flatnonzero(ipiv < 0)
            first, second = paired[0::2], paired[1::2]
            a, c, b = eigenvalues[first], eigenvalues[second], factors[first, second]
            mean, radius = 0.5 * (a + c), np.hypot(0.5 * (a - c), b)
            eigenvalues[first], eigenvalues[second] = mean + radius, mean - radius
        return eigenvalues, np.abs(ipiv) - 1


class DenseLDLFactorization(LDLFactorization):
    """One numeric factorization of a :class:`DenseLDLPattern` (the same reading of ``D``)."""

    kind = "dense-ldl"

    def _solve(self, b, transpose):
        return self._pattern._solve(self._generation, b)


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
        self.pivot_ratio = _check_pivots(self._lu.U.diagonal(), _entry_scale(A), pivot_tol, "matrix")

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
