r"""Random quadratic programs whose answer is known by construction, and checks that trust no solver.

Each generator builds a :class:`~lagrangian.QuadraticProgram` of one kind together
with the truth about it:

``strictly_convex``, ``degenerate``, ``rank_deficient``
    A point ``x*`` and multipliers ``(y*, z*)`` are drawn first, the constraints
    are placed so that ``x*`` meets them (active or not, as drawn) and then
    ``q = -(P x* + A^T y* + z*)``: the KKT conditions hold at ``x*`` and ``P`` is
    positive semidefinite, so ``f* = f(x*)`` is the optimal value exactly.
    *Degenerate*: active constraints with zero multipliers, repeated rows, more
    active constraints than variables. *Rank-deficient*: ``P`` of low rank (or
    zero: an LP) and linearly dependent equality rows.
``infeasible``
    Constraints that contradict by a Farkas combination drawn first (a row that
    a positive combination of others forbids, inconsistent dependent equalities,
    a row no point of the box reaches).
``unbounded``
    A ray ``d`` drawn first: ``P d = 0`` (``P`` of low rank or zero), every row
    and bound open in the direction of ``d``, and ``q^T d < 0``.
``nonconvex``
    ``P`` with negative curvature on the equality rows' null space: either along
    a ray of the feasible set (unbounded below), or on a small box, whose global
    minimum is then found by enumerating the faces (``n <= 5``).

:func:`lagrangian.qp.check_solution` and :func:`lagrangian.qp.check_certificate`
(re-exported here) verify a claimed answer from the data alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..qp import QuadraticProgram, check_certificate, check_solution

__all__ = ["KINDS", "RandomQP", "random_qp", "check_solution", "check_certificate"]

KINDS = ("strictly_convex", "degenerate", "rank_deficient", "infeasible", "unbounded", "nonconvex")


@dataclass(frozen=True)
class RandomQP:
    """A generated program and its truth.

    Attributes
    ----------
    kind : str
    qp : QuadraticProgram
    truth : {"optimal", "infeasible", "unbounded"}
        ``"unbounded"`` for a non-convex program that is unbounded below.
    f_star : float or None
        The optimal value when ``truth == "optimal"`` (the global one for a non-convex box).
    convex : bool
    """

    kind: str
    qp: QuadraticProgram
    truth: str
    f_star: float | None
    convex: bool = True


def _psd(rng, n, rank, shift=0.0):
    B = rng.standard_normal((n, rank)) * rng.uniform(0.3, 3.0)
    return B @ B.T + shift * np.eye(n)


def _kkt_constructed(rng, kind):
    """An optimal convex QP built around ``(x*, y*, z*)`` (see the module text)."""
    n = int(rng.integers(1, 9))
    if kind == "strictly_convex":
        P = _psd(rng, n, n, shift=rng.uniform(0.1, 1.0))
    elif kind == "degenerate":
        P = _psd(rng, n, int(rng.integers(1, n + 1)), shift=rng.choice([0.0, 0.1]))
    else:  # rank_deficient: rank below n, sometimes zero (an LP)
        P = _psd(rng, n, int(rng.integers(0, n))) if rng.random() < 0.8 else np.zeros((n, n))
    x = rng.standard_normal(n)
    m = int(rng.integers(0, 2 * n + 2))
    A = rng.standard_normal((m, n))
    if kind != "strictly_convex" and m >= 2:
        # dependent rows: a repeat, a scaled repeat, a sum of two rows
        extra = [A[0], -2.0 * A[min(1, m - 1)], A[0] + A[m - 1]]
        A = np.vstack([A] + extra[: int(rng.integers(1, 4))])
        m = A.shape[0]
    Ax = A @ x
    roles = rng.choice(["upper", "lower", "equal", "inactive", "free"], size=m, p=[0.3, 0.25, 0.15, 0.2, 0.1])
    l, u, y = np.full(m, -np.inf), np.full(m, np.inf), np.zeros(m)
    weak = 0.4 if kind == "degenerate" else 0.0  # share of active constraints with a zero multiplier
    for i, role in enumerate(roles):
        size = 0.0 if rng.random() < weak else rng.uniform(0.2, 2.0)
        if role == "upper":
            u[i], y[i] = Ax[i], size
            l[i] = Ax[i] - rng.uniform(0.5, 2.0) if rng.random() < 0.5 else -np.inf
        elif role == "lower":
            l[i], y[i] = Ax[i], -size
            u[i] = Ax[i] + rng.uniform(0.5, 2.0) if rng.random() < 0.5 else np.inf
        elif role == "equal":
            l[i] = u[i] = Ax[i]
            y[i] = rng.standard_normal() * (rng.random() >= weak)
        elif role == "inactive":
            l[i], u[i] = Ax[i] - rng.uniform(0.1, 2.0), Ax[i] + rng.uniform(0.1, 2.0)
    lb, ub, z = x - rng.uniform(0.1, 2.0, n), x + rng.uniform(0.1, 2.0, n), np.zeros(n)
    lb[rng.random(n) < 0.3] = -np.inf
    ub[rng.random(n) < 0.3] = np.inf
    for j in range(n):
        pick = rng.random()
        size = 0.0 if rng.random() < weak else rng.uniform(0.2, 2.0)
        if pick < 0.2:
            ub[j], z[j] = x[j], size
        elif pick < 0.4:
            lb[j], z[j] = x[j], -size
        elif pick < 0.45 and kind != "strictly_convex":
            lb[j] = ub[j] = x[j]
            z[j] = rng.standard_normal()
    if kind != "strictly_convex" and np.isfinite(lb).sum() + np.isfinite(ub).sum() == 0:
        lb, ub = x - 5.0, x + 5.0  # a box, so that the singular P of a free problem still has a minimizer
    q = -(P @ x + A.T @ y + z)
    qp = QuadraticProgram(P, q, A, l, u, bounds=(lb, ub))
    return RandomQP(kind, qp, "optimal", qp.objective(x))


def _infeasible(rng):
    n = int(rng.integers(1, 9))
    P = _psd(rng, n, int(rng.integers(0, n + 1)))
    q = rng.standard_normal(n)
    x = rng.standard_normal(n)
    gap = 10.0 ** rng.uniform(-3, 0)
    variant = int(rng.integers(0, 3))
    if variant == 0:  # rows a_i x <= u_i, and a positive combination of them above the combination of the u_i
        k = int(rng.integers(1, 4))
        A = rng.standard_normal((k, n))
        u = A @ x + rng.uniform(0.0, 1.0, k)
        w = rng.uniform(0.5, 2.0, k)
        A = np.vstack([A, w @ A])
        l = np.concatenate([np.full(k, -np.inf), [w @ u + gap]])
        u = np.concatenate([u, [np.inf]])
        bounds = None
    elif variant == 1:  # equalities a_1 x = b_1, a_2 x = b_2 and (a_1 + a_2) x = b_1 + b_2 + gap
        A = rng.standard_normal((2, n))
        b = A @ x
        A = np.vstack([A, A[0] + A[1]])
        l = u = np.concatenate([b, [b.sum() + gap]])
        bounds = None
    else:  # a row that no point of the box reaches
        a = rng.standard_normal(n)
        lb, ub = x - rng.uniform(0.1, 1.0, n), x + rng.uniform(0.1, 1.0, n)
        reach = float(np.where(a > 0, a * ub, a * lb).sum())
        A, l, u = a[None, :], np.array([reach + gap]), np.array([np.inf])
        bounds = (lb, ub)
    return RandomQP("infeasible", QuadraticProgram(P, q, A, l, u, bounds=bounds), "infeasible", None)


def _open_along(rng, A, d, x):
    """Row bounds through ``A x`` that leave the direction ``d`` open (``a^T d <= 0`` under a finite upper side, ...)."""
    Ad, Ax = A @ d, A @ x
    m = A.shape[0]
    l, u = np.full(m, -np.inf), np.full(m, np.inf)
    for i in range(m):
        slack = rng.uniform(0.0, 1.0)
        if abs(Ad[i]) < 1e-12:
            l[i], u[i] = (Ax[i], Ax[i]) if rng.random() < 0.4 else (Ax[i] - slack, Ax[i] + slack)
        elif Ad[i] > 0:
            l[i] = Ax[i] - slack
        else:
            u[i] = Ax[i] + slack
    return l, u


def _ray_program(rng, n, d, P):
    """Constraints around a point ``x`` that are open along ``d`` (some rows orthogonal to ``d``)."""
    x = rng.standard_normal(n)
    m = int(rng.integers(0, 2 * n + 1))
    A = rng.standard_normal((m, n))
    flat = rng.random(m) < 0.4
    A[flat] -= np.outer(A[flat] @ d / (d @ d), d)  # rows with a^T d = 0: the ray runs along their face
    A[np.abs(A) < 1e-12] = 0.0  # rounding left by the projection (a 1-variable row becomes 0, not 2e-16)
    l, u = _open_along(rng, A, d, x)
    lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
    for j in range(n):
        slack = rng.uniform(0.0, 1.0)
        if d[j] == 0:
            lb[j], ub[j] = x[j] - slack, x[j] + slack
        elif d[j] > 0:
            lb[j] = x[j] - slack
        else:
            ub[j] = x[j] + slack
    return A, l, u, (lb, ub)


def _unbounded(rng):
    n = int(rng.integers(1, 9))
    d = rng.standard_normal(n)
    d[rng.random(n) < 0.3] = 0.0
    if not d.any():
        d[0] = 1.0
    projector = np.eye(n) - np.outer(d, d) / (d @ d)
    P = projector @ _psd(rng, n, int(rng.integers(0, n))) @ projector if rng.random() < 0.8 else np.zeros((n, n))
    P = 0.5 * (P + P.T)
    P[np.abs(P) < 1e-14] = 0.0
    A, l, u, bounds = _ray_program(rng, n, d, P)
    q = rng.standard_normal(n)
    slope = q @ d
    target = -10.0 ** rng.uniform(-3, 0) * np.linalg.norm(d)
    q += (target - slope) / (d @ d) * d  # q^T d = target < 0
    return RandomQP("unbounded", QuadraticProgram(P, q, A, l, u, bounds=bounds), "unbounded", None)


def _box_global_minimum(P, q, lb, ub):
    """The global minimum of ``1/2 x'Px + q'x`` on the box, over every face (3^n linear solves)."""
    n = q.size
    best = np.inf
    for pattern in itertools.product((0, 1, 2), repeat=n):  # at lb, at ub, free
        x = np.where(np.array(pattern) == 0, lb, ub).astype(float)
        free = np.flatnonzero(np.array(pattern) == 2)
        if free.size:
            H = P[np.ix_(free, free)]
            rhs = -(q[free] + P[np.ix_(free, np.setdiff1d(np.arange(n), free))] @ x[np.setdiff1d(np.arange(n), free)])
            try:
                x[free] = np.linalg.solve(H, rhs)
            except np.linalg.LinAlgError:
                continue  # a singular face: its minimum lies on a smaller face, enumerated too
            if np.any(x < lb - 1e-12) or np.any(x > ub + 1e-12):
                continue
        best = min(best, float(0.5 * x @ P @ x + q @ x))
    return best


def _nonconvex(rng):
    n = int(rng.integers(2, 6))
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    eigenvalues = rng.uniform(0.2, 3.0, n)
    eigenvalues[: int(rng.integers(1, n))] *= -1  # at least one negative, at least one positive
    P = Q @ np.diag(eigenvalues) @ Q.T
    P = 0.5 * (P + P.T)
    q = rng.standard_normal(n)
    variant = int(rng.integers(0, 3))
    if variant == 0:  # a box: the global minimum by enumeration
        lb, ub = -rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
        qp = QuadraticProgram(P, q, bounds=(lb, ub))
        return RandomQP("nonconvex", qp, "optimal", _box_global_minimum(P, q, lb, ub), convex=False)
    if variant == 1:  # concave along a ray of the feasible set: unbounded below
        d = Q[:, 0]  # an eigenvector of a negative eigenvalue
        A, l, u, bounds = _ray_program(rng, n, d, P)
        return RandomQP("nonconvex", QuadraticProgram(P, q, A, l, u, bounds=bounds), "unbounded", None, convex=False)
    # negative curvature on the equalities' null space only: free variables, so unbounded below
    k = int(rng.integers(1, n))
    A = rng.standard_normal((k, n))
    Z = np.linalg.svd(A)[2][k:].T  # null space basis
    P = Z @ np.diag(-rng.uniform(0.2, 3.0, n - k)) @ Z.T + A.T @ A * rng.uniform(1.0, 5.0)
    P = 0.5 * (P + P.T)
    b = A @ rng.standard_normal(n)
    return RandomQP("nonconvex", QuadraticProgram(P, q, A, b, b), "unbounded", None, convex=False)


def _rescaled(rng, case):
    r"""The same program in other units: ``x = D x'`` and rows multiplied by ``R`` (``D``, ``R``
    positive diagonal, entries from 1e-3 to 1e3). The truth does not change: ``f`` at
    corresponding points is the same, and so is whether a point or a ray exists."""
    qp = case.qp
    D = 10.0 ** rng.uniform(-3, 3, qp.n)
    R = 10.0 ** rng.uniform(-3, 3, qp.A.shape[0])
    P = qp.P.toarray() * D[:, None] * D[None, :]
    A = qp.A.toarray() * R[:, None] * D[None, :]
    scaled = QuadraticProgram(0.5 * (P + P.T), D * qp.q, A, R * qp.l, R * qp.u, bounds=(qp.lb / D, qp.ub / D), r=qp.r)
    return RandomQP(case.kind, scaled, case.truth, case.f_star, case.convex)


def random_qp(kind: str, seed: int) -> RandomQP:
    """One random program of ``kind`` (one of :data:`KINDS`), determined by ``seed``; every
    third one is stated in badly scaled units (variables and rows scaled by 1e-3 to 1e3)."""
    rng = np.random.default_rng([KINDS.index(kind), seed])
    if kind in ("strictly_convex", "degenerate", "rank_deficient"):
        case = _kkt_constructed(rng, kind)
    else:
        case = {"infeasible": _infeasible, "unbounded": _unbounded, "nonconvex": _nonconvex}[kind](rng)
    return _rescaled(rng, case) if seed % 3 == 2 else case
