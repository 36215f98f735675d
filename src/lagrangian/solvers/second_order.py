r"""The second-order check every solver's SUCCESS passes, and the escape along negative curvature.

A first-order KKT point ``(x, y, z)`` is a local minimizer when the Hessian of the
Lagrangian is positive definite on the tangent space of the active constraints,

.. math::

    v^T \nabla^2_{xx} L(x, y)\, v > 0 \quad \text{for all } v \ne 0 \text{ with }
    \nabla c_i(x)^T v = 0 \ (i \text{ active}), \quad v_j = 0 \ (x_j \text{ at a bound})

(Nocedal & Wright 2006, Theorem 12.6; the check is made on the active set, a
subspace of the critical cone, so weakly active constraints count as active). With
``Z`` an orthonormal basis of that null space, this is the sign of the smallest
eigenvalue of the reduced Hessian ``Z^T H Z``; an eigenvector ``u`` of a negative
one gives a direction ``v = Z u`` along which the Lagrangian falls like
``lambda t^2 / 2``. The KKT matrix ``[[H, A^T], [A, 0]]`` of the active
constraints says the same through its inertia, ``(n, k, 0)`` (Gould 1985), which is
how large problems are checked.

:func:`second_order_check` reads that verdict (only where the curvature is known:
an exact or differenced Hessian, or Hessian-vector products on a small problem);
:func:`~lagrangian.solvers.verification.verified` wraps each solver: a SUCCESS
with negative curvature steps along ``v`` and solves again from there, and ends
:attr:`~lagrangian.Status.NEGATIVE_CURVATURE` when that cannot lower ``f``. The
result's ``second_order`` says which check was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..errors import SingularKKTError
from ..linalg.kkt_factorization import factorize_kkt

__all__ = ["CurvatureCheck", "active_set", "near_bounds", "second_order_check", "escape_along_negative_curvature"]

#: Eigenvalues of the reduced Hessian within this factor of ``max(1, |H|)`` count as zero
#: (a differenced Hessian carries errors of about 1e-7 relative).
CURVATURE_TOLERANCE = 1e-6
#: A constraint or bound within this (relative) distance of its bound is active.
ACTIVE_DISTANCE = 1e-6
#: Reduced Hessians up to this order are decomposed densely (eigenvalues and a direction).
DENSE_LIMIT = 1500
#: A bound multiplier below this factor of ``max(1, |grad f|)`` makes an active bound weakly active.
WEAK_MULTIPLIER = 1e-8
#: Multipliers beyond this factor of ``max(1, |grad f|)`` mean that no constraint qualification holds.
UNBOUNDED_MULTIPLIERS = 1e8
#: A Hessian the solve evaluated this close (relative) to the checked point and multipliers
#: stands in for the Hessian there: the polish's, taken one Newton step (about ``mu / z``,
#: 1e-9 here) from the answer it polished. It differs from the Hessian at the answer by about
#: this factor of the third derivatives, a hundredth of ``CURVATURE_TOLERANCE``.
HESSIAN_REUSE = 1e-8
#: How many times one solve may step along negative curvature and restart.
MAX_ESCAPES = 5

POSITIVE_DEFINITE = "positive definite on the null space of the active constraints"
SEMIDEFINITE = "positive semidefinite on the null space of the active constraints (a zero eigenvalue: a weak minimum or a degenerate point)"
NEGATIVE = "negative curvature on the null space of the active constraints"
WEAKLY_NEGATIVE = (
    "negative curvature on the null space of the strongly active constraints (bounds active with a zero "
    "multiplier released)"
)
WEAK_CONFIRMED = (
    "positive definite on the null space of the active constraints; with the bounds active at a zero multiplier "
    "released the curvature is negative, but f + y^T c does not fall along that direction inside the bounds"
)
UNCONFIRMED = (
    "not confirmed: the approximate Hessian showed negative curvature on the null space of the active "
    "constraints, but neither f + y^T c along that direction nor a new solve from there found a lower f"
)


@dataclass(frozen=True)
class CurvatureCheck:
    """What the second-order check found.

    Attributes
    ----------
    description : str
        The text put on the result's ``second_order``.
    negative : bool
        True when a direction of negative curvature exists (the point is not a minimizer).
    smallest : float
        The smallest eigenvalue of the reduced Hessian (nan when not computed).
    direction : ndarray or None
        A unit direction ``v`` in the null space with ``v^T H v = smallest < 0``.
    """

    description: str
    negative: bool = False
    smallest: float = float("nan")
    direction: np.ndarray | None = None
    conclusive: bool = True  #: False where weakly active bounds were released to find the direction


def active_set(problem, x, y, z):
    """``(rows, lower, upper)``: the active constraint rows and the variables at their lower/upper bound.

    A row is active when it is an equality, or when it lies within
    ``ACTIVE_DISTANCE * max(1, |bound|)`` of a bound or its multiplier exceeds its
    distance to that bound (an interior point's complementarity ``|y| s ~ mu`` makes
    the multiplier large exactly where the distance is small); bounds likewise.
    """
    at_lower, at_upper, lower, upper = near_bounds(problem, x, problem.constraint_values(x), y, z, ACTIVE_DISTANCE)
    return (problem.cl == problem.cu) | at_lower | at_upper, lower, upper & ~lower


def near_bounds(problem, x, c, y, z, relative):
    """``(rows near cl, rows near cu, x near lb, x near ub)``: boolean masks, each side tested on its own.

    A value is near a finite bound when it lies within ``relative * max(1, |bound|)`` of
    it or the multiplier pushing toward it (``y_-`` or ``z_-`` at a lower bound, ``y_+`` or
    ``z_+`` at an upper one) exceeds the distance. The four tests are one vectorized
    test on the stacked values: on small problems each NumPy call costs more than its
    arithmetic.
    """
    m, n = problem.m, problem.n
    values = np.concatenate([c, c, x, x])
    bound = np.concatenate([problem.cl, problem.cu, problem.lb, problem.ub])
    multiplier = np.concatenate([np.minimum(y, 0), np.maximum(y, 0), np.minimum(z, 0), np.maximum(z, 0)])
    with np.errstate(invalid="ignore"):
        distance = np.abs(values - bound)
        near = np.isfinite(bound) & ((distance <= relative * np.maximum(1.0, np.abs(bound))) | (np.abs(multiplier) > distance))
    return near[:m], near[m : 2 * m], near[2 * m : 2 * m + n], near[2 * m + n :]


def _hessian_matrix(problem, x, y):
    """``nabla^2 L`` as a dense or sparse matrix and the name of its source, or ``(None, reason)``.

    The Hessian the solve last evaluated is used when it was taken within
    :data:`HESSIAN_REUSE` of ``(x, y)`` (:meth:`~lagrangian.Problem.hessian_near`).
    """
    source = problem.derivative_sources["hessian"]
    if problem.has_hessian:
        return problem.hessian_near(x, y, HESSIAN_REUSE, dense=problem.n <= DENSE_LIMIT), source
    if problem.has_hessian_product and problem.n <= DENSE_LIMIT:
        H = np.column_stack([problem.hessian_product(x, y, e) for e in np.eye(problem.n)])
        return 0.5 * (H + H.T), source
    return None, f"not checked: {source} Hessian"


def _null_space(A):
    """An orthonormal basis of the null space of the finite matrix ``A``: :func:`scipy.linalg.null_space`'s
    (the same SVD and rank rule), without its input checks, which cost more than the SVD of a small ``A``."""
    _, s, vh = scipy.linalg.svd(A, full_matrices=True, check_finite=False)
    rank = int(np.sum(s > np.amax(s, initial=0.0) * np.finfo(float).eps * max(A.shape)))
    return vh[rank:, :].T


def second_order_check(problem, x, y, z) -> CurvatureCheck:
    """The sign of the Hessian of the Lagrangian on the null space of the active constraints at ``(x, y, z)``."""
    n = problem.n
    if n == 0:
        return CurvatureCheck(POSITIVE_DEFINITE)
    gradient_scale = max(1.0, np.abs(problem.gradient(x)).max(initial=0.0))
    if max(np.abs(y).max(initial=0.0), np.abs(z).max(initial=0.0)) > UNBOUNDED_MULTIPLIERS * gradient_scale:
        # No constraint qualification holds (a cusp): the multipliers run away and
        # the Lagrangian's Hessian is dominated by y times the constraints' curvature.
        return CurvatureCheck("not checked: the multipliers are unbounded at x (no constraint qualification holds)")
    rows, lower, upper = active_set(problem, x, y, z)
    J = problem.jacobian(x, dense=n <= DENSE_LIMIT)
    fixed = np.flatnonzero(lower | upper)
    if n <= DENSE_LIMIT:
        J = np.asarray(J.toarray() if sp.issparse(J) else J, dtype=float)[rows]
        if not np.isfinite(J).all():
            return CurvatureCheck("not checked: the Jacobian of the active constraints is not finite at x")
        A = np.vstack([J, np.eye(n)[fixed]])
        Z = _null_space(A) if A.shape[0] else np.eye(n)
        if Z.shape[1] == 0:
            # A vertex: no direction stays on the active set, whatever the curvature (no Hessian evaluated).
            return CurvatureCheck(POSITIVE_DEFINITE)
        H, source = _hessian_matrix(problem, x, y)
        if H is None:
            return CurvatureCheck(source)
        H = H.toarray() if sp.issparse(H) else np.asarray(H, dtype=float)
        if not np.isfinite(H).all():
            return CurvatureCheck("not checked: the Hessian is not finite at x")
        scale = max(1.0, np.abs(H).max(initial=0.0))
        values, vectors = np.linalg.eigh(Z.T @ H @ Z)
        smallest = float(values[0])
        if smallest < -CURVATURE_TOLERANCE * scale:
            v = Z @ vectors[:, 0]
            return CurvatureCheck(NEGATIVE, True, smallest, v / np.abs(v).max())
        # Bounds active with a zero multiplier (weakly active) restrict the critical cone
        # to one side only, not to their null space: with them released, negative
        # curvature there is a direction that may leave the bound inward (CUTEst TRO3X3,
        # where IPOPT leaves such a point along it to a lower f). Inconclusive by itself
        # (the cone test is combinatorial); the escape's function values decide.
        weak = (lower | upper) & (np.abs(z) <= WEAK_MULTIPLIER * gradient_scale)
        if weak.any():
            strong = np.flatnonzero((lower | upper) & ~weak)
            A = np.vstack([J, np.eye(n)[strong]])
            Z = _null_space(A) if A.shape[0] else np.eye(n)
            if Z.shape[1]:
                released, vectors = np.linalg.eigh(Z.T @ H @ Z)
                if released[0] < -CURVATURE_TOLERANCE * scale:
                    v = Z @ vectors[:, 0]
                    return CurvatureCheck(WEAKLY_NEGATIVE, True, float(released[0]), v / np.abs(v).max(), conclusive=False)
        return CurvatureCheck(POSITIVE_DEFINITE if smallest > CURVATURE_TOLERANCE * scale else SEMIDEFINITE, False, smallest)
    # Large: the inertia of the active constraints' KKT matrix (no direction to step along).
    H, source = _hessian_matrix(problem, x, y)
    if H is None:
        return CurvatureCheck(source)
    A = sp.vstack([sp.csr_array(J)[np.flatnonzero(rows)], sp.eye_array(n, format="csr")[fixed]])
    try:
        F = factorize_kkt(sp.csr_array(H), A.tocsr())
    except SingularKKTError:
        return CurvatureCheck("not checked: the active constraints' KKT matrix is singular")
    if F.inertia is None or F.inertia[2] > 0:
        return CurvatureCheck("not checked: the active constraints' KKT matrix is singular")
    if F.inertia[0] == n:
        return CurvatureCheck(POSITIVE_DEFINITE + " (inertia of the KKT matrix)")
    return CurvatureCheck(NEGATIVE + " (inertia of the KKT matrix)", True)


def escape_along_negative_curvature(problem, x, y, check):
    """A point ``x + t v`` where the Lagrangian fell by at least a quarter of ``|lambda| t^2 / 2``, or None.

    ``v`` is the check's direction, tried first with the sign that makes
    ``grad f^T v <= 0``, then with the other; ``t`` starts at ``max(1, |x|)`` (cut to
    stay inside the bounds) and is halved at most 40 times. The Lagrangian
    ``f + y^T c`` is the function whose Hessian was examined; along a null-space
    direction it falls like ``lambda t^2 / 2`` (with linear constraints it is ``f``
    plus a constant), so a true negative curvature always yields such a point for
    ``t`` small enough.
    """
    if check.direction is None:
        return None
    v = check.direction if problem.gradient(x) @ check.direction <= 0 else -check.direction

    def lagrangian(point):
        with np.errstate(all="ignore"):
            return problem.objective(point) + y @ problem.constraint_values(point)

    start = lagrangian(x)
    for direction in (v, -v):
        # Components that would leave a bound the point sits on stay where they are.
        direction = np.where(((x <= problem.lb) & (direction < 0)) | ((x >= problem.ub) & (direction > 0)), 0.0, direction)
        with np.errstate(divide="ignore", invalid="ignore"):
            up, down = direction > 0, direction < 0
            room = np.concatenate([(problem.ub - x)[up] / direction[up], (problem.lb - x)[down] / direction[down]])
        t = min(max(1.0, np.abs(x).max(initial=0.0)), 0.99 * room.min(initial=np.inf))
        for _ in range(40):
            trial = x + t * direction
            value = lagrangian(trial)
            # The decrease must also exceed the rounding error of the values compared.
            if np.isfinite(value) and value <= start + 0.125 * check.smallest * t * t and start - value > 1e-12 * max(1.0, abs(start)):
                return trial
            t *= 0.5
    return None
