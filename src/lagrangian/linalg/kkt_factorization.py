r"""Factoring quasidefinite KKT matrices: assembly, scaling, refinement and inertia.

The mathematics of the KKT conditions lives in :mod:`lagrangian.kkt`; this module is
the numerics every solver uses to solve with

.. code-block:: text

    K = [ H + diag(d_x)    J^T          ]      n rows
        [ J               -diag(d_c)    ]      m rows

- :class:`KKTPattern` assembles ``K``'s sparsity once and refactors it for new
  diagonals (QDLDL through :class:`~lagrangian.linalg.LDLPattern`, its ordering and
  elimination tree kept); :class:`DenseKKT` is the same for small matrices, stored
  dense and factored by LAPACK's Bunch-Kaufman (:class:`~lagrangian.linalg.DenseLDLPattern`).
  :func:`kkt_pattern` picks one by order (:func:`assembled_dense`).
- Each factorization is of the Ruiz-equilibrated matrix ``S K S`` plus a small
  quasidefinite shift ``dq diag(I, -I)`` (Vanderbei 1995), so that ``L D L^T`` needs no
  pivoting and ``D``'s signs are the inertia; :class:`ScaledFactorization` undoes the
  scaling, refines every solve against the unshifted ``K`` and refuses an answer
  that does not solve it; after a refused answer the next factorization
  equilibrates from scratch instead of carrying the last scaling over.
  :class:`LowRankCorrectedFactorization` adds a limited-memory quasi-Newton term by
  Sherman-Morrison-Woodbury.
- :class:`InertiaCorrection` regularizes (``d_x = dw I``, ``d_c = dc I``) until the
  inertia is ``(n, m, 0)``: Wächter & Biegler (2006), Algorithm IC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import ProblemError, SingularKKTError, SingularMatrixError
from . import DEFAULT_PIVOT_TOL, as_csr
from .scaled_factorization import LowRankCorrectedFactorization, ScaledFactorization
from .factorizations import SymmetricFactorization
from .ldl import DenseLDLPattern, LDLPattern

__all__ = [
    "ScaledFactorization",
    "LowRankCorrectedFactorization",
    "DENSE_KKT_LIMIT",
    "assembled_dense",
    "kkt_pattern",
    "KKTPattern",
    "DenseKKT",
    "factorize_kkt",
    "KKTFactorInfo",
    "InertiaCorrection",
]


#: Up to this order a KKT matrix is assembled and factored dense (:class:`DenseKKT`, LAPACK's
#: Bunch-Kaufman) rather than sparse (:class:`KKTPattern`, QDLDL): at order 10 a
#: factorization, its inertia and a solve take 46 us against 74 us, at order 60 72 us
#: against 95 us, and at order 100 the two are level.
DENSE_KKT_LIMIT = 80


def assembled_dense(order: int) -> bool:
    """Whether a KKT matrix of this order is assembled and factored dense (order at most
    :data:`DENSE_KKT_LIMIT`); solvers ask for dense derivatives exactly then."""
    return order <= DENSE_KKT_LIMIT


def kkt_pattern(H, J):
    """The assembly for ``K = [[H, J^T], [J, 0]]`` plus diagonals: :class:`DenseKKT` when
    :func:`assembled_dense`, else :class:`KKTPattern`. ``H`` and ``J`` may be sparse or
    dense either way."""
    if assembled_dense(H.shape[0] + J.shape[0]):
        return DenseKKT(H, J)
    return KKTPattern(H, J)


class KKTPattern:
    r"""``K = [[H + diag(d_x), J^T], [J, -diag(d_c)]]`` assembled once, refactored for new diagonals.

    Interior-point iterations change only the diagonal of the KKT matrix (barrier
    terms, eliminated inequality rows, regularization). The pattern, with every
    diagonal entry present, is built once; :meth:`factor` then writes the new
    diagonal into a copy of the values and equilibrates and factors that, without
    assembling sparse matrices again. :class:`DenseKKT` is the same for small
    matrices, stored dense.
    """

    def __init__(self, H, J):
        self.n, self.m = H.shape[0], J.shape[0]
        size = self.n + self.m
        # K's triplets straight from H's and J's (J once below the diagonal, once as J^T
        # beside it), plus explicit zeros that make every diagonal entry part of the
        # pattern (a sparse sum would drop them again).
        H, J = as_csr(H), as_csr(J)
        self._structure = (H.shape, J.shape, H.indptr, H.indices, J.indptr, J.indices)
        H_rows = np.repeat(np.arange(self.n), np.diff(H.indptr))
        J_rows = np.repeat(np.arange(self.m), np.diff(J.indptr))
        every = np.arange(size)
        rows = np.concatenate([H_rows, J_rows + self.n, J.indices, every]).astype(np.int64)
        cols = np.concatenate([H.indices, J.indices, J_rows + self.n, every]).astype(np.int64)
        # Column-major keys, unique and sorted, are the CSC pattern; each triplet's
        # position in it is where refill() adds that triplet's value.
        keys = cols * size + rows
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        first = np.empty(ordered.size, dtype=bool)
        first[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        pattern = ordered[first]
        destination = np.empty(keys.size, dtype=np.int64)
        destination[order] = np.cumsum(first) - 1
        self._destination = destination[: H.nnz + 2 * J.nnz]
        self.indices = (pattern % size).astype(np.int32)
        self.columns = pattern // size
        self.indptr = np.searchsorted(self.columns, np.arange(size + 1)).astype(np.int32)
        self.shape = (size, size)
        self.values = np.zeros(pattern.size)
        self._fill(H, J)
        self.diagonal = np.flatnonzero(self.indices == self.columns)
        self.signs = np.concatenate([np.ones(self.n), -np.ones(self.m)])
        # The upper triangle (row <= column) in CSC order is what the LDL^T reads.
        self._upper = np.flatnonzero(self.indices <= self.columns)
        counts = np.bincount(self.columns[self._upper], minlength=size)
        self._ldl = LDLPattern(
            sp.csc_array((self.values[self._upper], self.indices[self._upper], np.concatenate([[0], np.cumsum(counts)])), shape=self.shape)
        )
        self._scale = None
        self._values_matrix = self.matrix(self.values.copy())
        self._magnitude_matrix = self.matrix(np.abs(self.values))

    #: Whether the factorization pivots (and so exists for any nonsingular ``K``
    #: without the quasidefinite shift).
    pivoting = False

    def _fill(self, H, J):
        self.values[:] = np.bincount(self._destination, weights=np.concatenate([H.data, J.data, J.data]), minlength=self.values.size)

    def refill(self, H, J) -> bool:
        """Take ``H``'s and ``J``'s values if their sparsity patterns are this pattern's; say whether they were.

        The comparison is of the coordinates of the stored entries, so a matrix
        that dropped an entry which became zero counts as a new pattern. The
        next :meth:`factor` then reuses the ordering, the elimination tree and the
        last scaling.
        """
        H, J = as_csr(H), as_csr(J)
        shape_H, shape_J, *structure = self._structure
        if H.shape != shape_H or J.shape != shape_J:
            return False
        if not all(np.array_equal(a, b) for a, b in zip(structure, (H.indptr, H.indices, J.indptr, J.indices))):
            return False
        self._fill(H, J)
        return True

    def matrix(self, values) -> sp.csc_array:
        return sp.csc_array((values, self.indices, self.indptr), shape=self.shape)

    # -- the four operations factor() needs, for the sparse storage (DenseKKT overrides them)
    def _column_maxima(self, magnitude, scale):
        """``max_i |K_ij| s_i`` for every column ``j`` (one ``reduceat`` over the CSC columns, none empty)."""
        return np.maximum.reduceat(magnitude * scale[self.indices], self.indptr[:-1])

    def _column_sums(self, magnitude):
        return np.add.reduceat(magnitude, self.indptr[:-1])

    def _congruence(self, values, scale):
        """The values of ``S K S``."""
        return values * scale[self.indices] * scale[self.columns]

    def _factor_values(self, shifted, values, magnitude, entry_max=None):
        """``(factorization of the shifted values, K, |K|)``; ``entry_max`` is ``max |shifted|`` when the caller holds it."""
        try:
            F = self._ldl.factor(shifted[self._upper], pivot_tol=DEFAULT_PIVOT_TOL)
        except SingularMatrixError:
            F = SymmetricFactorization(self.matrix(shifted), pivot_tol=DEFAULT_PIVOT_TOL, raise_singular=False)
            return F, self.matrix(values), self.matrix(magnitude)
        # The L D L^T of the last call can no longer solve, so neither can the
        # ScaledFactorization that refined with this matrix: reuse its storage.
        self._values_matrix.data[:] = values
        self._magnitude_matrix.data[:] = magnitude
        return F, self._values_matrix, self._magnitude_matrix

    def restart_equilibration(self):
        """Make the next :meth:`factor` equilibrate from scratch (five sweeps), not from the last scaling."""
        self._scale = None

    def equilibration(self, values, iterations: int = 5, start=None) -> np.ndarray:
        r"""Ruiz scaling: ``s`` with every row of ``diag(s) K diag(s)`` near unit max-norm.

        Each sweep divides by the square root of the current row maxima (Ruiz 2001);
        ``K`` is symmetric, so its column maxima are its row maxima. ``start``
        continues from an earlier scaling (of a matrix that differs only on its
        diagonal, say).
        """
        return self._equilibrated(np.abs(values), iterations, start)

    def _equilibrated(self, magnitude, iterations, start):
        """:meth:`equilibration` of the matrix whose entries' magnitudes are ``magnitude``."""
        scale = np.ones(self.shape[0]) if start is None else start.copy()
        for _ in range(iterations if self.shape[0] else 0):
            # max_i |K_ij| s_i s_j = s_j max_i |K_ij| s_i: one gather per sweep, not two.
            largest = scale * self._column_maxima(magnitude, scale)
            largest[largest == 0] = 1.0
            scale /= np.sqrt(largest)
        return scale

    def factor(self, primal_diagonal=0.0, dual_diagonal=0.0, *, quasidefinite=1e-8, singular_residual=None) -> "ScaledFactorization":
        r"""Factor ``K`` with ``d_x = primal_diagonal``, ``d_c = dual_diagonal`` (scalars or arrays).

        ``K`` is equilibrated first (``S K S``, Ruiz scaling: a congruence, so the
        inertia is unchanged; interior-point matrices mix entries of 1e-8 and
        1e+10, and both the pivot test and the size of the shift below only mean
        something on a balanced matrix). The factorization then carries a
        quasidefinite shift ``dq max|K_ij| diag(I, -I)`` that makes a convex
        problem's KKT matrix quasidefinite, so that it has an ``L D L^T``
        factorization in any order and the signs of ``D`` give the inertia
        (Vanderbei 1995); iterative refinement against the unshifted ``K``
        removes the shift again, and raises
        :class:`~lagrangian.errors.SingularMatrixError` when ``K`` is singular.
        A factorization that pivots (``pivoting``, :class:`DenseKKT`) factors
        ``S K S`` unshifted first, and shifts only when that meets a singular pivot.

        The factorization is :class:`lagrangian.LDLPattern`'s (QDLDL),
        whose ordering and elimination tree are computed in the first call and
        reused by every later one, or for a :class:`DenseKKT`
        :class:`lagrangian.DenseLDLPattern`'s (LAPACK, dense); either is
        overwritten by the next call. Where QDLDL
        meets an exactly zero pivot (possible only when ``K`` is not
        quasidefinite: a nonconvex Hessian, dependent constraints) SuperLU's
        symmetric mode, with its own minimum-degree order, factors instead.
        ``singular_residual`` loosens the relative residual above which a solve
        counts as singular (default 1e-10, see :mod:`lagrangian.linalg`).
        """
        values = self.values.copy()
        values[self.diagonal[: self.n]] += primal_diagonal
        # (Subtracting a scalar zero changes no entry, not even the sign of a zero: skipped.)
        if not (np.isscalar(dual_diagonal) and dual_diagonal == 0):
            values[self.diagonal[self.n:]] -= dual_diagonal
        if not np.isfinite(values).all():
            raise ProblemError("KKT matrix", "contains NaN or infinite entries")
        # Successive interior-point matrices differ on the diagonal only: one sweep from
        # the last scaling balances the new one about as well as five from scratch (the
        # Maros-Meszaros counts are the same with one sweep or two). Where the carried
        # scaling loses rows, a solve is refused (ScaledFactorization._grossly_wrong) and
        # the retry starts from scratch (restart_equilibration). Equilibrating every
        # matrix from scratch instead cost the interior point 23% more iterations on the
        # random QPs (its unboundedness test ran later, where the Newton direction is no
        # longer a ray), and re-equilibrating whenever a row was 10x off unit size
        # changed paths both ways.
        magnitude = np.abs(values)
        scale = self._equilibrated(magnitude, 5, None) if self._scale is None else self._equilibrated(magnitude, 1, self._scale)
        self._scale = scale
        scaled = self._congruence(values, scale)
        scaled_magnitude = np.abs(scaled)
        F = None
        scaled_max = scaled_magnitude.max(initial=0.0)
        if self.pivoting:
            # Bunch-Kaufman factors any nonsingular K as it is, and then one solve is
            # accurate with no refinement. A singular one (dependent constraint rows)
            # is factored shifted instead: refinement then still solves a consistent
            # system, and fails on an inconsistent one.
            F, matrix, absolute = self._factor_values(scaled.copy(), values, magnitude, float(scaled_max))
            F = None if F.singular else F
        if F is None:
            shifted = scaled.copy()
            shifted[self.diagonal] += quasidefinite * max(scaled_max, 1.0) * self.signs
            F, matrix, absolute = self._factor_values(shifted, values, magnitude)
        if singular_residual is not None:
            F.accept_residual = singular_residual
        # ||S K S||_inf: K is symmetric, so its row sums are its column sums.
        scaled_norm = float(self._column_sums(scaled_magnitude).max(initial=0.0)) if self.shape[0] else 0.0
        return ScaledFactorization(F, scale, matrix, absolute, scaled_norm)


class DenseKKT(KKTPattern):
    r""":class:`KKTPattern` for small matrices: ``K`` held as a dense array, factored by LAPACK.

    Below :data:`DENSE_KKT_LIMIT` rows the sparse bookkeeping (scipy constructors,
    the pattern comparison of :meth:`KKTPattern.refill`, ``reduceat`` over columns)
    costs more than the arithmetic. Here ``values`` is ``K`` row by row (``K`` is
    symmetric, so that is also column by column), ``diagonal`` the flat positions of
    its diagonal, and :meth:`refill` accepts any ``H`` and ``J`` of the same shapes:
    :meth:`KKTPattern.factor` runs unchanged on this storage, with the same Ruiz
    scaling and backward-error check, and
    :meth:`lagrangian.DenseLDLPattern.factor_matrix` (Bunch-Kaufman) factors.
    Bunch-Kaufman pivots, so it factors a nonsingular ``K`` without the
    quasidefinite shift (``pivoting = True``); only a singular ``K`` is shifted.
    """

    pivoting = True

    def __init__(self, H, J):
        self.n, self.m = H.shape[0], J.shape[0]
        size = self.n + self.m
        self.shape = (size, size)
        self._K = np.zeros(self.shape)
        self.values = self._K.ravel()
        self.diagonal = np.arange(size) * (size + 1)
        self.signs = np.concatenate([np.ones(self.n), -np.ones(self.m)])
        self._ldl = DenseLDLPattern()
        self._scale = None
        self.refill(H, J)

    def refill(self, H, J) -> bool:
        """Take ``H``'s and ``J``'s values (dense or sparse); False only when a shape changed."""
        if H.shape != (self.n, self.n) or J.shape != (self.m, self.n):
            return False
        n, K = self.n, self._K
        K[:n, :n] = H.toarray() if sp.issparse(H) else H
        K[n:, :n] = J.toarray() if sp.issparse(J) else J
        K[:n, n:] = K[n:, :n].T
        return True

    def matrix(self, values) -> np.ndarray:
        return values.reshape(self.shape)

    def _column_maxima(self, magnitude, scale):
        return (magnitude.reshape(self.shape) * scale[:, None]).max(axis=0)

    def _column_sums(self, magnitude):
        return magnitude.reshape(self.shape).sum(axis=0)

    def _congruence(self, values, scale):
        return (scale[:, None] * values.reshape(self.shape) * scale).ravel()

    def _factor_values(self, shifted, values, magnitude, entry_max=None):
        # The transpose of the C-ordered symmetric matrix is itself, Fortran-ordered:
        # LAPACK factors it in place, without a copy.
        F = self._ldl.factor_matrix(shifted.reshape(self.shape).T, pivot_tol=DEFAULT_PIVOT_TOL, entry_max=entry_max)
        return F, self.matrix(values), self.matrix(magnitude)


def factorize_kkt(
    H, J, *, primal_regularization=0.0, dual_regularization=0.0, quasidefinite=1e-8, singular_residual=None
) -> ScaledFactorization:
    r"""Factor ``K = [[H + dw I, J^T], [J, -dc I]]`` for solves and its inertia.

    One-off spelling of :meth:`KKTPattern.factor` (see there for the scaling, the
    quasidefinite shift and the refinement); ``dc`` may be an array.
    """
    return kkt_pattern(H, J).factor(
        primal_regularization, dual_regularization, quasidefinite=quasidefinite, singular_residual=singular_residual
    )


@dataclass(frozen=True)
class KKTFactorInfo:
    """What it took to get a KKT matrix with the right inertia."""

    primal_regularization: float
    dual_regularization: float
    inertia: tuple | None
    factorizations: int
    #: The accepted factorization, for further solves with the same matrix
    #: (second-order corrections, sensitivities).
    factorization: object = field(default=None, repr=False, compare=False)


class InertiaCorrection:
    """Solve KKT systems, regularizing until the inertia is ``(n, m, 0)``.

    Wächter & Biegler (2006), Algorithm IC: try ``dw = 0`` first; if a zero
    eigenvalue shows (singular matrix, or a Jacobian found rank-deficient) set
    ``dc = dc_bar``; then raise ``dw`` geometrically from a starting value that
    remembers the last successful one, so that a run of nonconvex iterations
    does not pay for the search every time.

    The matrix is first equilibrated (Ruiz scaling, a congruence that keeps the
    inertia). The factorization then carries a small quasidefinite shift
    ``dq max|K_ij| diag(I, -I)``, which keeps every diagonal entry nonzero, so that
    the ``L D L^T`` factorization needs no pivoting and the inertia can be read
    from ``D`` (Vanderbei 1995); iterative refinement against the unshifted matrix
    removes it again.
    ``dq = 1e-8``, as QDLDL in OSQP: much smaller shifts let the element growth
    ``1/dq`` swamp the digits. A shifted factorization whose refinement fails is
    how a singular matrix (rank-deficient ``J``) shows itself.

    One :class:`KKTPattern` serves every solve whose ``H`` and ``J`` keep the
    sparsity pattern of the previous one, so the ordering and elimination tree
    are computed once per run of a solver, not once per factorization. The
    factorization returned in :class:`KKTFactorInfo` therefore solves only until
    the next call of :meth:`solve` (after that it raises
    :class:`~lagrangian.errors.SolverError`).
    """

    def __init__(
        self,
        *,
        initial: float = 1e-4,
        minimum: float = 1e-20,
        maximum: float = 1e40,
        dual: float = 1e-8,
        quasidefinite: float = 1e-8,
        decrease: float = 1.0 / 3.0,
        increase: float = 8.0,
        first_increase: float = 100.0,
        singular_residual: float | None = None,
    ):
        self.initial, self.minimum, self.maximum = initial, minimum, maximum
        self.dual, self.quasidefinite = dual, quasidefinite
        self.decrease, self.increase, self.first_increase = decrease, increase, first_increase
        self.last = 0.0
        # None keeps linalg's 1e-10; the interior point uses IPOPT's residual_ratio_singular
        # (1e-5): its matrices near a solution reach condition numbers of 1e12.
        self.singular_residual = singular_residual
        self._pattern = None

    def _pattern_for(self, H, J) -> KKTPattern:
        """The last solve's pattern with ``H`` and ``J``'s values when their sparsity is unchanged, else a new one.

        Successive Newton matrices usually keep their pattern: reusing it skips the
        assembly, the AMD ordering, the elimination tree and four of the five Ruiz
        sweeps, and every trial ``dw`` of one solve refactors the same pattern.
        """
        if self._pattern is None or not self._pattern.refill(H, J):
            self._pattern = kkt_pattern(H, J)
        return self._pattern

    def _attempt(self, pattern, rhs, dw, dc, low_rank, diagonal):
        """Factor and solve once; return (solution or None, inertia, zero_eigenvalue, factorization).

        When the inertia is right but refinement against the unshifted matrix
        fails, the shift may simply be too large for the matrix's conditioning
        (interior-point matrices near the solution reach 1e12): one retry with a
        shift 1e6 times smaller tells that apart from a truly singular matrix.
        """
        n, m = pattern.n, pattern.m
        for shift in (self.quasidefinite, self.quasidefinite * 1e-6):
            F = pattern.factor(dw if diagonal is None else diagonal + dw, dc, quasidefinite=shift, singular_residual=self.singular_residual)
            inertia = F.inertia
            if F.singular or inertia is None or inertia[2] > 0:
                return None, inertia, True, None
            if inertia != (n, m, 0):
                return None, inertia, False, None
            try:
                if low_rank is not None:
                    F = LowRankCorrectedFactorization(F, *low_rank)
                return F.solve(rhs), inertia, False, F
            except SingularMatrixError:
                # The equilibration carried over from earlier matrices may be what lost the
                # rows (CUTEst POLAK3): the retry starts from a fresh one.
                pattern.restart_equilibration()
                continue
        # Correct inertia for the shifted matrix, but the unshifted one is singular:
        # J is rank-deficient.
        return None, F.inertia, True, None

    def solve(self, H, J, rhs, *, dual_regularization: float = 0.0, barrier: float | None = None, low_rank=None, diagonal=None):
        """Solve the regularized KKT system for ``rhs``; see the class docstring.

        ``diagonal`` (an array) is added to ``H``'s diagonal, as if it were part of
        ``H`` (an interior point's barrier terms ``Sigma``): no sparse sum is formed.

        ``low_rank = (W, M_inverse)`` stands for a Hessian ``H - W M W^T``
        (``W`` with at most ``H``'s rows, its first ones; a limited-memory BFGS
        model puts ``sigma I`` in ``H``): the sparse matrix is factored and the
        low-rank term added by :class:`LowRankCorrectedFactorization`. The
        inertia search then runs on the sparse matrix, which is right when
        ``H - W M W^T`` is positive semidefinite wherever ``H`` is, as for BFGS.

        ``dual_regularization`` is a ``dc`` the system always carries (a
        least-squares problem's ``-I`` block, say); a zero eigenvalue raises it to
        at least ``dual``, or ``dual * barrier**0.25`` when an interior-point
        method passes its barrier parameter (IPOPT's rule: the perturbation of the
        constraints, ``dc * y``, must vanish as the iterates converge).

        Returns
        -------
        solution : ndarray (n + m,)
        info : KKTFactorInfo

        Raises
        ------
        SingularKKTError
            When ``dw`` would exceed ``maximum``.
        """
        dw, dc, count = 0.0, dual_regularization, 0
        dual = self.dual if barrier is None else self.dual * barrier**0.25
        pattern = self._pattern_for(H, J)
        if low_rank is not None and low_rank[0].shape[1] == 0:
            low_rank = None
        solution, inertia, zero, factor = self._attempt(pattern, rhs, dw, dc, low_rank, diagonal)
        count += 1
        if solution is None and zero and dc < dual:
            dc = dual
            solution, inertia, zero, factor = self._attempt(pattern, rhs, dw, dc, low_rank, diagonal)
            count += 1
        if solution is None:
            dw = self.initial if self.last == 0 else max(self.minimum, self.decrease * self.last)
            while True:
                solution, inertia, zero, factor = self._attempt(pattern, rhs, dw, dc, low_rank, diagonal)
                count += 1
                if solution is not None:
                    break
                if zero and dc < dual:
                    # A zero eigenvalue can show only once H is convexified: J is rank-deficient.
                    dc = dual
                    continue
                dw *= self.first_increase if self.last == 0 else self.increase
                if dw > self.maximum:
                    raise SingularKKTError(
                        f"KKT matrix has inertia {inertia}, not ({H.shape[0]}, {J.shape[0]}, 0), even with "
                        f"Hessian regularization {dw:.1e}: the problem may be unbounded below on the constraint set",
                        pivot=None,
                    )
            self.last = dw
        return solution, KKTFactorInfo(dw, dc, inertia, count, factor)
