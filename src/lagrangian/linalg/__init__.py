"""Structure-aware sparse linear algebra: look at the system, then pick the solver.

One entry point, :func:`factorize`, reads a square system's structure (see
:func:`analyze`) and returns a reusable factorization:

=====================  ==========================================================
structure              solver
=====================  ==========================================================
triangular after a     ``spsolve_triangular`` on ``A[p][:, p]`` (backprop: the
symmetric permutation  multiplier system of an acyclic computation graph)
block triangular       substitution over strongly connected components, sparse
                       LU only on the cyclic blocks
symmetric              ``P A P^T = L D L^T`` (SuperLU, symmetric mode) reporting
                       the inertia, as interior-point and SQP steps need
general (irreducible)  SuperLU with an ordering chosen for the pattern
LinearOperator         MINRES (symmetric) or GMRES
=====================  ==========================================================

Every factorization solves ``A x = b`` and ``A^T x = b`` for any number of
right-hand sides. Singular or numerically singular systems raise
:class:`~lagrangian.errors.SingularMatrixError` naming the block; they never
return an answer whose residual was not checked.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..errors import ProblemError
from ..inputs import describe, real_array, real_matrix
from .factorizations import (
    BlockTriangularFactorization,
    Factorization,
    IterativeSolver,
    LUFactorization,
    SymmetricFactorization,
    LDLPattern,
    DenseLDLPattern,
    DenseLDLFactorization,
    LDLFactorization,
    TriangularFactorization,
    right_hand_side,
)
from .structure import Segment, Structure, analyze, is_symmetric

__all__ = [
    "factorize",
    "solve",
    "analyze",
    "is_symmetric",
    "Structure",
    "Segment",
    "Factorization",
    "TriangularFactorization",
    "BlockTriangularFactorization",
    "SymmetricFactorization",
    "LDLPattern",
    "DenseLDLPattern",
    "DenseLDLFactorization",
    "LDLFactorization",
    "LUFactorization",
    "IterativeSolver",
    "right_hand_side",
    "as_csr",
    "transpose_times",
]

try:  # scipy's compiled sparse kernels; private, so there is a public fallback
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
except ImportError:  # pragma: no cover
    _csc_matvec = None

_STRUCTURES = ("auto", "triangular", "block_triangular", "symmetric", "general", "iterative")
# A pivot this small next to the largest matrix entry makes a factorization singular.
DEFAULT_PIVOT_TOL = 1e3 * np.finfo(float).eps


def as_csr(A) -> sp.csr_array:
    """``A`` as a CSR array of its nonzero entries; one that is already a ``csr_array`` is returned as is.

    The solvers convert small matrices many times per iteration, and scipy's
    constructor copies and checks even a CSR input (tens of microseconds each);
    a dense 2-D array is converted from its nonzeros directly, in half the time
    of scipy's constructor.
    """
    if type(A) is sp.csr_array:
        return A
    if isinstance(A, np.ndarray) and A.ndim == 2:
        rows, cols = np.nonzero(A)
        indptr = np.zeros(A.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=A.shape[0]), out=indptr[1:])
        return sp.csr_array((A[rows, cols].astype(float), cols, indptr), shape=A.shape)
    return sp.csr_array(A)


def transpose_times(A, y) -> np.ndarray:
    """``A^T y`` for a matrix ``A`` and a vector ``y``, without forming ``A^T`` when ``A`` is CSR.

    A CSR matrix's arrays are the CSC arrays of its transpose, so scipy's own CSC
    kernel multiplies by ``A^T`` directly; ``A.T @ y`` would first construct (and
    check) a CSC object, which on the small Jacobians of an interior-point
    iteration costs more than the product.
    """
    if _csc_matvec is not None and type(A) is sp.csr_array and A.indptr.dtype == A.indices.dtype and y.ndim == 1:
        data = A.data if A.data.dtype == np.float64 else A.data.astype(float)
        out = np.zeros(A.shape[1])
        _csc_matvec(A.shape[1], A.shape[0], A.indptr, A.indices, data, np.ascontiguousarray(y, dtype=float), out)
        return out
    return A.T @ y


def _as_square_sparse(A, name="A"):
    """``A`` as a CSR array of real, finite numbers, or a ProblemError naming it (complex refused)."""
    A = real_matrix(A, name) if sp.issparse(A) else real_array(A, name)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ProblemError(name, f"expected a square matrix, got shape {A.shape}")
    A = sp.csr_array(A, dtype=float)
    if not np.all(np.isfinite(A.data)):
        raise ProblemError(name, "contains NaN or infinite entries")
    return A


def _check_options(pivot_tol, raise_singular, ordering, n: int):
    """The options of :func:`factorize`, each checked with a ProblemError naming it."""
    if isinstance(pivot_tol, bool) or not isinstance(pivot_tol, (int, float, np.integer, np.floating)) or not 0 <= pivot_tol < 1:
        raise ProblemError("pivot_tol", f"expected a real number in [0, 1), got {describe(pivot_tol)}")
    if not isinstance(raise_singular, (bool, np.bool_)):
        raise ProblemError("raise_singular", f"expected True or False, got {describe(raise_singular)}")
    if ordering is None:
        return None
    order = real_array(ordering, "ordering")
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        raise ProblemError("ordering", f"expected a permutation of 0..{n - 1}, got {describe(ordering)}")
    return order.astype(np.intp)


def factorize(
    A,
    *,
    structure: str = "auto",
    pivot_tol: float = DEFAULT_PIVOT_TOL,
    raise_singular: bool = True,
    reference=None,
    ordering=None,
) -> Factorization:
    """Factor a square system with the solver its structure calls for.

    Parameters
    ----------
    A : sparse array/matrix, ndarray or LinearOperator, shape (n, n)
    structure : {"auto", "triangular", "block_triangular", "symmetric", "general", "iterative"}
        ``"auto"`` (default) analyzes the dependency graph. Any other value skips
        the detection where it can: ``"symmetric"`` and ``"general"`` factor
        directly; ``"triangular"`` and ``"block_triangular"`` still compute the
        permutation (and ``"triangular"`` raises if a cycle is found);
        ``"iterative"`` uses MINRES when ``A`` is symmetric and GMRES otherwise.
        A LinearOperator is always solved iteratively (MINRES if
        ``structure="symmetric"``).
    pivot_tol : float
        A pivot smaller than ``pivot_tol`` times the largest one in its block makes
        the matrix numerically singular.
    raise_singular : bool
        For ``structure="symmetric"`` only: return the factorization of a singular
        matrix (so its ``inertia`` can be read) instead of raising; solving with it
        still raises.
    reference : sparse matrix, optional
        The matrix whose equations the answers must satisfy, when ``A`` is a
        perturbation of it (e.g. regularized): solutions are refined against it.
    ordering : permutation, optional
        For ``structure="symmetric"``: a symmetric elimination order to reuse
        (``SymmetricFactorization.ordering`` of an earlier factorization of the
        same pattern), skipping the minimum-degree analysis.

    Returns
    -------
    Factorization
        Call ``.solve(b)`` or ``.solve(b, transpose=True)``; ``.kind`` says which
        path was taken.

    Raises
    ------
    ProblemError
        Naming the argument: ``A`` (or ``reference``) is not a square matrix of
        real, finite numbers (complex, strings, ``None`` and ragged lists are
        refused), ``structure`` is unknown, ``pivot_tol`` is not a number in
        [0, 1), ``raise_singular`` not a bool, ``ordering`` not a permutation.
    SingularMatrixError
        A zero or negligible pivot, with the rows of the failing block.
    """
    if not isinstance(structure, str) or structure not in _STRUCTURES:
        raise ProblemError("structure", f"expected one of {_STRUCTURES}, got {structure!r}")
    if isinstance(A, LinearOperator):
        if A.shape[0] != A.shape[1]:
            raise ProblemError("A", f"expected a square operator, got shape {A.shape}")
        if np.dtype(A.dtype).kind not in "biuf":
            raise ProblemError("A", f"expected a real operator, got dtype {A.dtype}")
        return IterativeSolver(A, symmetric=structure == "symmetric")
    A = _as_square_sparse(A)
    ordering = _check_options(pivot_tol, raise_singular, ordering, A.shape[0])
    reference = None if reference is None else _as_square_sparse(reference, "reference")
    if reference is not None and reference.shape != A.shape:
        raise ProblemError("reference", f"expected shape {A.shape} (that of A), got {reference.shape}")
    if structure == "iterative":
        return IterativeSolver(A, symmetric=is_symmetric(A))
    if structure == "symmetric":
        return SymmetricFactorization(A, pivot_tol=pivot_tol, raise_singular=raise_singular, reference=reference, ordering=ordering)
    if structure == "general":
        return LUFactorization(A, pivot_tol=pivot_tol, reference=reference)

    found = analyze(A)
    if structure == "triangular" and found.kind != "triangular":
        raise ProblemError(
            "A",
            f"structure='triangular' but the dependency graph has a cycle of {found.largest_component} unknowns",
        )
    kind = found.kind if structure == "auto" else structure
    if kind == "triangular":
        return TriangularFactorization(A, found, pivot_tol=pivot_tol, reference=reference)
    if kind == "block_triangular":
        return BlockTriangularFactorization(A, found, pivot_tol=pivot_tol, reference=reference)
    if kind == "symmetric":
        return SymmetricFactorization(A, pivot_tol=pivot_tol, raise_singular=raise_singular, reference=reference)
    return LUFactorization(A, pivot_tol=pivot_tol, reference=reference)


def solve(A, b, *, transpose: bool = False, structure: str = "auto") -> np.ndarray:
    """Solve ``A x = b`` (or ``A^T x = b``) once; see :func:`factorize`."""
    return factorize(A, structure=structure).solve(b, transpose=transpose)


# The KKT factorization machinery builds on the names above (as_csr, DEFAULT_PIVOT_TOL).
from . import kkt_factorization  # noqa: E402
