r"""Symmetric ``L D L^T`` factorizations whose pattern is kept between factorizations, and their inertia.

:class:`LDLPattern` (QDLDL, sparse, for quasidefinite matrices) and
:class:`DenseLDLPattern` (LAPACK's Bunch-Kaufman, dense, for small ones) factor a
matrix again and again; each factorization they return (:class:`LDLFactorization`,
:class:`DenseLDLFactorization`) reads the inertia from the signs of ``D`` (Sylvester's
law of inertia) and is retired when its pattern factors the next matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dsytrf, dsytrs

from ..errors import SingularMatrixError, SolverError
from .factorization_base import Factorization, pivot_ratio

__all__ = ["LDLPattern", "LDLFactorization", "DenseLDLPattern", "DenseLDLFactorization"]


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
            :class:`lagrangian.linalg.scaled_factorization.ScaledFactorization` does, whose residual
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
    :class:`lagrangian.linalg.scaled_factorization.ScaledFactorization` does, and that refinement's
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
            positive = int(np.count_nonzero(pivots > threshold))  # (a fifth of (...).sum()'s cost)
            negative = int(np.count_nonzero(pivots < -threshold))
            ratio = pivot_ratio(pivots, scale)
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

    def factor_matrix(self, A, *, pivot_tol: float, entry_max: float | None = None) -> "DenseLDLFactorization":
        """Factor the square array ``A``, of which only the upper triangle is read; ``A`` is overwritten.

        ``A`` should be Fortran-ordered (the transpose of a C-ordered symmetric
        array is), or LAPACK works on a copy. ``entry_max`` is ``max |A_ij|`` when the
        caller already holds it (the pivot test is relative to it).
        """
        self.shape = A.shape
        if entry_max is None:
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
        in_pairs = ipiv < 0
        if np.count_nonzero(in_pairs):
            paired = np.flatnonzero(in_pairs)
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
