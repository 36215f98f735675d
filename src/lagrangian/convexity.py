r"""Is a quadratic program convex? The inertia of ``P``, or of ``P`` on the equalities' null space.

The objective :math:`f(x) = \tfrac12 x^T P x + q^T x` is convex on the feasible set
of :class:`lagrangian.QuadraticProgram` when its curvature is non-negative along
every direction the feasible set spans. Those directions lie in the null space of
the equality rows :math:`A_E` (rows with ``l_i == u_i``, and the coordinate rows of
fixed variables), so

.. math::

    d^T P d \ge 0 \quad \text{for every } d \text{ with } A_E d = 0

is what a convex method needs: then every KKT point is a global minimizer, and
duality holds. (It is also necessary unless inequalities pin down further
directions; a test that is sufficient is all a refusal needs.)

**The test.** In floating point "``d^T P d >= 0``" needs a tolerance, and one
that does not depend on the units of the variables: with the Jacobi scaling
:math:`S = \operatorname{diag}(1 / \sqrt{\max(P_{jj}, \varepsilon_0)})`, the
matrix :math:`S P S` has a unit diagonal wherever ``P`` has curvature, and ``P``
counts as positive semidefinite when

.. math::

    M = S P S + \delta I \succ 0, \qquad \delta = 10^{-9},

that is, when no direction has a negative curvature larger than ``delta`` times
the curvature its coordinates have on their own. ``eps_0`` (``delta`` times the
largest ``|P_ij|``) only gives a zero-curvature variable a scale. ``M`` is
factored :math:`\Pi M \Pi^T = (I + L) D (I + L)^T` by QDLDL (no pivoting, an
approximate minimum degree order; Stellato et al. 2020), and by Sylvester's law
of inertia ``M`` is positive definite exactly when every pivot ``D_k`` is
positive. A factorization whose pivots all stay positive is backward stable
(``|I + L| D |I + L|^T`` then has the diagonal of ``M``, so no entry of the
factors can grow), so the verdict is not an artefact of the missing pivoting.
A negative pivot ``D_k`` comes with its proof: ``w = (I + L)^{-T} e_k`` has
``w^T \Pi M \Pi^T w = D_k < 0``, and ``d = S \Pi^T w`` is a direction of negative
curvature of ``P``. A PSD but singular ``P`` (an LP, a least-squares Hessian of low
rank) passes: its zero eigenvalues become ``delta``.

Fixed variables are removed first (their rows of ``A_E`` are coordinate rows, so
the null space is the other coordinates). Only when ``P`` fails and equality rows
remain is the curvature on their null space needed: for up to
:data:`DENSE_LIMIT` free variables it is computed exactly, as the eigenvalues of
:math:`Z^T S P S Z` with ``Z`` an orthonormal basis of the null space of
``A_E S`` (from an SVD); beyond that size the test is not attempted and the
problem is refused as not verifiably convex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import ProblemError

__all__ = ["Curvature", "curvature", "require_convex", "require_local_minimum", "RELATIVE_SHIFT", "NEARLY_CONVEX", "DENSE_LIMIT"]

#: ``delta``: the negative curvature, relative to the variables' own (diagonal) curvature,
#: below which ``P`` still counts as positive semidefinite. Far above the rounding error
#: of a factorization with positive pivots, far below any curvature that changes a
#: minimizer at the package's tolerances.
RELATIVE_SHIFT = 1e-9

#: A looser shift: a ``P`` that is positive semidefinite only within this relative
#: curvature is *nearly convex* and solved, and the point found must then pass a
#: second-order check (:func:`require_local_minimum`) to be returned.
NEARLY_CONVEX = 1e-4

#: Up to this many free variables ``M + delta I`` is tested by a dense Cholesky factorization.
_DENSE_FIRST = 200

#: Largest number of free variables for which the curvature on the equality rows'
#: null space (needed only when ``P`` itself is indefinite) is computed, densely.
DENSE_LIMIT = 1000


@dataclass(frozen=True)
class Curvature:
    """The verdict of :func:`curvature`.

    Attributes
    ----------
    convex : bool or None
        True: ``P`` is positive semidefinite on the null space of the equality rows
        (within :data:`RELATIVE_SHIFT`). False: ``direction`` proves it is not.
        None: ``P`` is indefinite and the null space was too large to check.
    direction : ndarray or None
        When ``convex`` is False: ``d`` with ``A_E d = 0`` (up to rounding),
        ``||d||_inf = 1`` and ``d^T P d < 0`` (None only when a zero pivot of a
        matrix above :data:`DENSE_LIMIT` rows showed indefiniteness without one).
    value : float
        ``d^T P d`` along ``direction`` (negative), or 0.
    on_null_space : bool
        Whether the equality rows had to be taken into account (``P`` itself is
        indefinite).
    """

    convex: bool | None
    direction: np.ndarray | None = None
    value: float = 0.0
    on_null_space: bool = False


def scaled(M, left, right):
    """``diag(left) M diag(right)`` for a CSR ``M``, computed on its stored entries (a
    broadcast product would build a COO copy and check it: milliseconds on small matrices)."""
    M = sp.csr_array(M)
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    return sp.csr_array((M.data * left[rows] * right[M.indices], M.indices, M.indptr), shape=M.shape)


def _jacobi_scale(P):
    """``s`` with ``s_j = 1 / sqrt(max(P_jj, eps_0))``, ``eps_0 = delta max |P_ij|``."""
    floor = RELATIVE_SHIFT * float(np.abs(P.data).max(initial=0.0))
    return 1.0 / np.sqrt(np.maximum(P.diagonal(), floor))


def _factor_shifted(M, shift):
    """QDLDL factors of ``M + shift I`` (upper triangle, every diagonal entry stored), or None on a zero pivot."""
    import qdldl

    n = M.shape[0]
    upper = sp.triu(M, format="coo")
    # The shift as separate triplets: summed on conversion, and every diagonal entry stays stored.
    rows = np.concatenate([upper.row, np.arange(n)])
    cols = np.concatenate([upper.col, np.arange(n)])
    data = np.concatenate([upper.data, np.full(n, shift)])
    try:
        solver = qdldl.Solver(sp.csc_matrix((data, (rows, cols)), shape=(n, n)), upper=True)
    except RuntimeError:  # an exactly zero pivot: M + delta I is not positive definite
        return None
    return solver.factors()


def _pivot_direction(factors, k):
    """``w`` (in the original order) with ``(I + L)^T w[perm] = e_k``: ``w^T M w = D_k``."""
    from scipy.sparse.linalg import spsolve_triangular

    L, _, perm = factors
    n = L.shape[0]
    unit_upper = sp.csr_array(sp.eye_array(n) + sp.csr_array(L).T)
    e = np.zeros(n)
    e[k] = 1.0
    w_permuted = spsolve_triangular(unit_upper, e, lower=False, unit_diagonal=True)
    w = np.empty(n)
    w[np.asarray(perm)] = w_permuted
    return w


def _dense_null_space_curvature(M, AE):
    """Smallest eigenvalue of ``Z^T M Z`` and its vector ``Z v``; ``Z`` spans the null space of ``AE``."""
    import scipy.linalg

    if AE.shape[0]:
        rows = AE.toarray()
        norms = np.linalg.norm(rows, axis=1)
        Z = scipy.linalg.null_space(rows[norms > 0] / norms[norms > 0, None])
    else:
        Z = np.eye(M.shape[0])
    if Z.shape[1] == 0:
        return 0.0, None
    values, vectors = scipy.linalg.eigh(Z.T @ (M.toarray() @ Z), subset_by_index=[0, 0])  # the smallest only
    return float(values[0]), Z @ vectors[:, 0]


def curvature(P, AE=None, fixed=None, *, shift: float = RELATIVE_SHIFT) -> Curvature:
    r"""Whether ``P`` is positive semidefinite on ``{d : A_E d = 0, d_fixed = 0}`` (see the module text).

    Parameters
    ----------
    P : (n, n) sparse matrix, symmetric
    AE : (m_E, n) sparse matrix, optional
        The equality rows (without the fixed variables' coordinate rows).
    fixed : index array, optional
        Variables held fixed (``lb_j == ub_j``).
    shift : float
        ``delta``: the relative negative curvature still accepted.

    Returns
    -------
    Curvature
    """
    P = sp.csr_array(P, dtype=float)
    n = P.shape[0]
    free = np.ones(n, bool)
    if fixed is not None and len(fixed):
        free[np.asarray(fixed, dtype=int)] = False
    P_free = sp.csr_array(P[free][:, free]) if not free.all() else P.copy()
    P_free.eliminate_zeros()
    if P_free.nnz == 0:
        return Curvature(True)
    s = _jacobi_scale(P_free)
    M = scaled(P_free, s, s)
    rows = sp.csr_array((0, int(free.sum()))) if AE is None else sp.csr_array(AE, dtype=float)[:, free]
    rows.eliminate_zeros()
    rows = rows[np.flatnonzero(np.diff(rows.indptr))] if rows.shape[0] else rows

    def embed(d_free, on_null_space):
        d = np.zeros(n)
        d[free] = s * d_free
        d /= np.abs(d).max()
        return Curvature(False, d, float(d @ (P @ d)), on_null_space)

    if M.shape[0] <= _DENSE_FIRST:
        # Small: LAPACK's Cholesky of the dense M + delta I answers in microseconds, where
        # the sparse path's bookkeeping costs milliseconds; an indefinite one goes on to
        # the eigenvalues below, which give the direction as well.
        try:
            np.linalg.cholesky(M.toarray() + shift * np.eye(M.shape[0]))
            return Curvature(True)
        except np.linalg.LinAlgError:
            factors = None
    else:
        factors = _factor_shifted(M, shift)
    if factors is not None:
        pivots = np.asarray(factors[1])
        if pivots.min() > 0:
            return Curvature(True)
        if rows.shape[0] == 0:
            return embed(_pivot_direction(factors, int(np.argmin(pivots))), False)
    if P_free.shape[0] > DENSE_LIMIT:
        if factors is None and rows.shape[0] == 0:  # a zero pivot of M: not positive definite, direction unknown
            return Curvature(False, None, float("nan"))
        return Curvature(None, on_null_space=True)
    smallest, vector = _dense_null_space_curvature(M, scaled(rows, np.ones(rows.shape[0]), s))
    if smallest >= -shift:
        return Curvature(True, on_null_space=rows.shape[0] > 0)
    return embed(vector, rows.shape[0] > 0)


_ADVICE = (
    "the convex QP method refuses it; for a local minimizer use the nonlinear interior point, "
    "solve_qp(qp, method='interior_point') or lagrangian.solve(qp.problem())"
)


def _refusal(qp, verdict, detail=""):
    if verdict.convex is None:
        return ProblemError(
            "P",
            f"is indefinite, and with {qp.n} variables (more than {DENSE_LIMIT}) its curvature on the null space "
            f"of the equality rows is not checked, so the QP cannot be verified convex{detail}: {_ADVICE}",
        )
    where = " on the null space of the equality rows" if verdict.on_null_space else ""
    if verdict.direction is None:
        return ProblemError("P", f"is not positive semidefinite (its scaled L D L^T met a zero pivot){detail}; {_ADVICE}")
    return ProblemError(
        "P",
        f"is not positive semidefinite{where}, so the QP is not convex: along the direction "
        f"d = qp.convexity().direction (||d||_inf = 1) d'Pd = {verdict.value:.3g}, next to a largest "
        f"|P_ij| of {abs(qp.P).max():.3g}{detail}; {_ADVICE}",
    )


def require_convex(qp) -> Curvature:
    """``qp.convexity()`` (:func:`curvature` of a :class:`~lagrangian.QuadraticProgram`'s ``P`` on its
    equality rows), or a :class:`~lagrangian.ProblemError` naming ``P`` that says where to go instead.

    A ``P`` that fails the test but passes it with the looser shift :data:`NEARLY_CONVEX`
    is returned (``convex`` False) rather than refused: data rounded to a few digits
    makes a positive semidefinite matrix slightly indefinite (Maros-Meszaros VALUES, a
    Gaussian kernel rounded to six decimals, has eigenvalues of -1.3e-5 next to 10.8).
    The caller must then check the point it finds with :func:`require_local_minimum`.
    """
    verdict = qp.convexity()
    if verdict.convex:
        return verdict
    equal = np.flatnonzero(np.isfinite(qp.l) & (qp.l == qp.u))
    fixed = np.flatnonzero(np.isfinite(qp.lb) & (qp.lb == qp.ub))
    if curvature(qp.P, qp.A[equal], fixed, shift=NEARLY_CONVEX).convex:
        return verdict
    raise _refusal(qp, verdict)


def require_local_minimum(qp, x, y, z) -> None:
    r"""Raise the refusal of :func:`require_convex` unless ``P`` is positive semidefinite on the
    null space of the constraints active at ``x`` with a multiplier of clear sign.

    For a nearly convex QP (see :func:`require_convex`) a KKT point ``(x, y, z)`` is a
    local minimizer when no direction that keeps those constraints active has negative
    curvature (second-order sufficient conditions with strict complementarity;
    Nocedal & Wright, Theorem 12.6). A multiplier counts as clear when it exceeds
    ``1e-6 max(1, ||P x + q||_inf)``; the others' constraints stay free, which can only
    make the test stricter.
    """
    threshold = 1e-6 * max(1.0, float(np.abs(qp.P @ x + qp.q).max(initial=0.0)))
    rows = np.flatnonzero((np.isfinite(qp.l) & (qp.l == qp.u)) | (np.abs(y) > threshold))
    held = np.flatnonzero((np.isfinite(qp.lb) & (qp.lb == qp.ub)) | (np.abs(z) > threshold))
    verdict = curvature(qp.P, qp.A[rows], held)
    if not verdict.convex:
        raise _refusal(qp, qp.convexity(), " (nearly: within a relative 1e-4, but the point found has negative "
                                           "curvature along its active constraints, so it is not a minimizer)")
