"""The base of every factorization: validation of a right-hand side, the residual check and refinement.

A :class:`Factorization` factors once and then solves ``A x = b`` or ``A^T x = b``
for as many right-hand sides as wanted. Every direct solve is followed by a
residual check with iterative refinement against the *reference* matrix (the
matrix the caller wants solved, which may differ from the one factored, for
example by a small regularization); a solution whose residual stays large raises
:class:`~lagrangian.errors.SingularMatrixError` instead of being returned.
Subclasses (one per structure: :mod:`lagrangian.linalg.factorizations`,
:mod:`lagrangian.linalg.ldl`) implement ``_solve(b, transpose)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ProblemError, SingularMatrixError
from ..inputs import real_array

__all__ = ["Factorization", "right_hand_side"]

_EPS = np.finfo(float).eps
# The normwise backward error ||b - A x|| / (||A|| ||x|| + ||b||) after refinement.
# A backward-stable factorization plus refinement reaches a small multiple of eps on
# any nonsingular matrix; a singular one can still look "solved" at 1e-9 because a
# huge ||x|| inflates the denominator (a zero row answered with x ~ r / shift). So
# anything above 1e-10 is treated as numerically singular and not returned.
_ACCEPT_RESIDUAL = 1e-10
_REFINE_RESIDUAL = 64 * _EPS
_MAX_REFINEMENTS = 10


def entry_scale(A) -> float:
    data = A.data if sp.issparse(A) and A.format in ("csr", "csc") else sp.csr_array(A).data
    return float(np.abs(data).max()) if data.size else 0.0


def pivot_ratio(pivots: np.ndarray, scale: float) -> float:
    """Smallest pivot magnitude relative to the largest matrix entry.

    Measured against the matrix, not against the largest pivot: eliminating a
    quasidefinite KKT matrix legitimately produces pivots of size delta next to
    pivots of size 1/delta, and neither means the matrix is singular.
    """
    magnitudes = np.abs(pivots)
    if not magnitudes.size:
        return 1.0
    return float(magnitudes.min() / scale) if scale > 0 else 0.0


def check_pivots(pivots, scale, pivot_tol, where: str, block=None):
    """Raise when a pivot is zero or negligible next to the matrix's largest entry."""
    ratio = pivot_ratio(pivots, scale)
    if ratio <= pivot_tol:
        worst = int(np.argmin(np.abs(pivots)))
        detail = "exactly singular" if ratio == 0 else f"numerically singular (pivot ratio {ratio:.2e})"
        raise SingularMatrixError(
            f"{where} is {detail}; smallest pivot at position {worst}"
            + ("" if block is None else f" of block rows {describe_indices(block)}"),
            block=block,
            pivot=ratio,
        )
    return ratio


def describe_indices(indices, limit=8) -> str:
    indices = np.asarray(indices)
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return f"[{shown}{', ...' if indices.size > limit else ''}] ({indices.size} rows)"


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
            :class:`lagrangian.linalg.scaled_factorization.ScaledFactorization`).
        """
        b = right_hand_side(b, self.shape[0])
        x = self._solve(b, transpose)
        return self._refine(b, x, transpose) if refine else x

    def direct_solve(self, b, *, transpose: bool = False) -> np.ndarray:
        """The factored matrix's solution of ``A x = b``: no validation, refinement or residual check.

        For a caller that validated ``b`` and refines against a matrix of its own
        (:class:`lagrangian.linalg.scaled_factorization.ScaledFactorization` solves with
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
