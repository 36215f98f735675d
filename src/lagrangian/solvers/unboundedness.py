r"""Evidence of unboundedness: a ray from a feasible point along which ``f`` keeps falling within the constraints.

A problem is declared unbounded below only on evidence, never because ``f`` passed a
number: from a feasible ``x`` a direction ``v`` is cleaned so that the constraints
can hold along it (components that head for a finite bound are dropped; what is
left is projected onto the null space of the rows that must not move: the
equalities and the inequalities ``v`` would push toward a finite bound), and ``f``
is evaluated at ``x + t_k v`` for ``t_k = t_0 10^k``. The ray is accepted when at
every ``t_k``

- ``x + t_k v`` satisfies the bounds exactly and the rows to within rounding,
- ``f`` falls at least at half the initial rate, ``f(x + t_k v) <= f(x) + t_k g^T v / 2``,
  and below its value at ``t_{k-1}``,

until ``f`` is below :data:`~lagrangian.solvers.ending.OBJECTIVE_FLOOR` (-1e20). A
bounded problem has no such ray (``-|sum x|^10`` on a box: every descent direction
leaves the box), whatever value ``f`` reaches inside; an unbounded one with a linear
or faster decrease along a recession direction has one (``f`` merely decreasing
like ``-log t`` is not evidence enough, and is not reported).

Solvers call :func:`unbounded_ray` when the iteration suggests it: the Hessian
needed a regularization at a feasible point (zero or negative curvature), or the
iterates' size crossed the next power of two past ten times the starting size
(:class:`GrowthWatch`), which catches quasi-Newton models as well as exact Hessians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..convention import bound_violation
from ..kkt import least_squares_multipliers
from ..result import Certificate
from .ending import OBJECTIVE_FLOOR

__all__ = ["Ray", "unbounded_ray", "GrowthWatch"]

#: Each step along the ray multiplies t by this.
_GROWTH = 10.0
#: At most this many points are evaluated along one ray.
_MAX_POINTS = 60
#: f must fall at least at this fraction of its initial rate g^T v.
_RATE = 0.5


@dataclass(frozen=True)
class Ray:
    """A point far along a ray of descent, and the certificate that describes the ray."""

    x: np.ndarray
    f: float
    c: np.ndarray
    certificate: Certificate


def _clean_direction(problem, x, v, J, tol):
    """``v`` with blocked components dropped and projected onto the null space of the rows that must not move."""
    v = np.array(v, dtype=float)
    c = problem.constraint_values(x)
    for _ in range(3):
        blocked = ((v > 0) & np.isfinite(problem.ub)) | ((v < 0) & np.isfinite(problem.lb))
        v[blocked] = 0.0
        if not problem.m:
            return v
        rate = J @ v
        scale = max(1.0, np.abs(rate).max(initial=0.0))
        equal = problem.cl == problem.cu
        # Rows that v moves toward a finite bound must stay where they are.
        held = equal | ((rate > 1e-12 * scale) & np.isfinite(problem.cu)) | ((rate < -1e-12 * scale) & np.isfinite(problem.cl))
        # ... and rows sitting at a bound do not move at all (nonlinear ones would curve away).
        held |= (np.abs(c - problem.cl) <= tol) | (np.abs(c - problem.cu) <= tol)
        rows = np.flatnonzero(held)
        if not rows.size:
            return v
        A = J[rows][:, ~blocked]
        if not np.abs(A @ v[~blocked]).max(initial=0.0) > 1e-12 * max(1.0, np.abs(v).max(initial=0.0)):
            return v
        v[~blocked] = v[~blocked] + A.T @ least_squares_multipliers(A, v[~blocked])
    return v


def unbounded_ray(problem, x, v, *, tol) -> Ray | None:
    """A point along ``x + t v`` (``v`` cleaned) proving that ``f`` is unbounded below, or None.

    ``x`` must be feasible to ``tol``. See the module docstring for the test.
    """
    n = problem.n
    J = problem.jacobian(x, dense=True) if problem.m else np.zeros((0, n))
    J = J.toarray() if hasattr(J, "toarray") else np.asarray(J, dtype=float)
    v = _clean_direction(problem, x, v, J, tol)
    size = np.abs(v).max(initial=0.0)
    if not size > 0:
        return None
    v = v / size
    g = problem.gradient(x)
    slope = float(g @ v)
    if not slope < 0:
        return None
    f0 = problem.objective(x)
    previous = f0
    t = max(1.0, np.abs(x).max(initial=0.0))
    worst = 0.0
    with np.errstate(all="ignore"):
        for _ in range(_MAX_POINTS):
            point = x + t * v
            if (point < problem.lb).any() or (point > problem.ub).any():
                return None
            f, c = problem.objective(point), problem.constraint_values(point)
            if not (np.isfinite(f) and np.all(np.isfinite(c))):
                return None
            # Rows evaluated at |x| ~ 1e20 carry rounding of about eps |J| |x|.
            rounding = 1e-12 * (np.abs(J) @ np.abs(point)).max(initial=0.0) if problem.m else 0.0
            violation = bound_violation(c, problem.cl, problem.cu).max(initial=0.0)
            if violation > max(tol, rounding) or not (f <= f0 + _RATE * slope * t and f < previous):
                return None
            worst = max(worst, violation)
            if f < OBJECTIVE_FLOOR:
                certificate = Certificate(kind="unbounded", value=slope, residual=worst, d=v)
                return Ray(point, f, c, certificate)
            previous, t = f, t * _GROWTH
    return None


class GrowthWatch:
    """When to look for a ray: each time ``||x||_inf`` first exceeds ``10 max(1, ||x0||_inf)``, then twice that, ...;
    and at zero or negative curvature, the first time and then each time ``||x||_inf`` has doubled since.

    Growth of the iterates is the sign of an unbounded problem that every Hessian
    source shares (a quasi-Newton model's steps grow linearly where an exact
    Hessian's regularized ones grow geometrically); tests at doubling sizes cost a
    logarithmic number of ray tests. A regularized Hessian at a feasible point is a
    sign too, but a nonconvex bounded problem shows it at most iterations: after a
    ray test that failed, the next one waits until the iterates have doubled in
    size (CUTEst HS44, a bounded nonconvex QP, spent 17 objective evaluations in 18
    iterations on ray tests, one per iteration).
    """

    def __init__(self, x0):
        self.next = 10.0 * max(1.0, np.abs(x0).max(initial=0.0))
        self.next_regularized = 0.0

    def due(self, x, regularized: bool = False) -> bool:
        """Whether to test for a ray at ``x`` (``regularized``: the Hessian there needed a regularization)."""
        size = np.abs(x).max(initial=0.0)
        if size >= self.next:
            self.next = 2.0 * size
        elif not (regularized and size >= self.next_regularized):
            return False
        self.next_regularized = 2.0 * max(1.0, size)
        return True
