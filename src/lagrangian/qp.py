r"""Convex quadratic programs stated by their data, solved on the package's KKT spine.

.. math::

    \min_x \tfrac12 x^T P x + q^T x + r \quad \text{s.t.} \quad l \le A x \le u, \quad
    l_x \le x \le u_x

(rows with ``l_i == u_i`` are equalities; infinite entries drop a side). A
:class:`QuadraticProgram` validates the data and becomes an ordinary
:class:`~lagrangian.Problem` with exact derivatives (gradient ``P x + q``,
Jacobian ``A``, Hessian ``P``). :func:`solve_qp` solves it by Mehrotra's
predictor-corrector method (:mod:`lagrangian.solvers.convex_qp`), which factors
the same KKT matrices with the same sparse linear algebra as every nonlinear
solver here (there is no second linear-algebra layer for QPs), or on request by
the general interior-point method. Multipliers follow :mod:`lagrangian.convention`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import ProblemError
from .problem import Constraint, Problem
from .solvers import convex_qp, interior_point

__all__ = ["QuadraticProgram", "solve_qp", "read_stacked_mat"]

# Data sets write +-1e20 for "no bound", sometimes rounded a unit in the last place
# towards zero on the way (Maros-Meszaros QFFFFF80): anything that close counts.
_INFINITY = 1e20 * (1 - 1e-12)


def _sparse(matrix, name, shape):
    try:
        M = sp.csr_array(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ProblemError(name, f"expected a matrix, got {type(matrix).__name__}") from exc
    if M.shape != shape:
        raise ProblemError(name, f"expected shape {shape}, got {M.shape}")
    if not np.all(np.isfinite(M.data)):
        raise ProblemError(name, "contains NaN or infinite entries")
    return M


def _side(values, name, size, default):
    if values is None:
        return np.full(size, default)
    v = np.array(np.broadcast_to(np.asarray(values, dtype=float), (size,)), dtype=float)
    if np.isnan(v).any():
        raise ProblemError(name, "contains NaN")
    v[v >= _INFINITY] = np.inf
    v[v <= -_INFINITY] = -np.inf
    return v


class QuadraticProgram:
    """``min 1/2 x'Px + q'x + r  s.t.  l <= A x <= u,  lb <= x <= ub``.

    Parameters
    ----------
    P : (n, n) matrix
        Symmetric positive semidefinite (symmetry is checked; definiteness is what
        makes the problem convex, and is the caller's promise).
    q : (n,) array
    A : (m, n) matrix, optional
    l, u : (m,) arrays, optional
        Row bounds; ``+-inf`` or ``+-1e20`` for a missing side.
    bounds : (lb, ub) pair, optional
        Variable bounds.
    r : float
        Constant term of the objective.
    x0 : (n,) array, optional
        Starting point for the solver (default zero).
    """

    def __init__(self, P, q, A=None, l=None, u=None, *, bounds=None, r: float = 0.0, x0=None):
        q = np.asarray(q, dtype=float).ravel()
        if not np.all(np.isfinite(q)):
            raise ProblemError("q", "contains NaN or infinite entries")
        n = q.size
        self.P = _sparse(P, "P", (n, n))
        asymmetry = abs(self.P - self.P.T).max() if self.P.nnz else 0.0
        if asymmetry > 1e-12 * max(1.0, abs(self.P).max() if self.P.nnz else 0.0):
            raise ProblemError("P", f"is not symmetric (largest |P - P^T| entry {asymmetry:.2e})")
        self.q, self.r, self.n = q, float(r), n
        rows = 0 if A is None else np.shape(A)[0]
        self.A = _sparse(sp.csr_array((0, n)) if A is None else A, "A", (rows, n))
        m = rows
        self.l, self.u = _side(l, "l", m, -np.inf), _side(u, "u", m, np.inf)
        if np.any(self.l > self.u):
            i = int(np.flatnonzero(self.l > self.u)[0])
            raise ProblemError("l/u", f"lower bound exceeds upper bound at row {i} ({self.l[i]} > {self.u[i]})")
        lower, upper = (None, None) if bounds is None else bounds
        self.lb, self.ub = _side(lower, "bounds lower", n, -np.inf), _side(upper, "bounds upper", n, np.inf)
        self.x0 = np.zeros(n) if x0 is None else np.asarray(x0, dtype=float)

    @classmethod
    def from_stacked(cls, P, q, A, l, u, *, r: float = 0.0):
        """The Maros-Meszaros / OSQP layout, where rows of ``A`` that are unit vectors
        ``e_j^T`` are variable bounds: they become ``bounds`` (each variable once)."""
        A = sp.csr_array(A, dtype=float)
        l = _side(l, "l", A.shape[0], -np.inf)
        u = _side(u, "u", A.shape[0], np.inf)
        single = np.flatnonzero(np.diff(A.indptr) == 1)
        unit_rows = single[A.data[A.indptr[single]] == 1.0]
        n = A.shape[1]
        lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
        keep = np.ones(A.shape[0], bool)
        for row in unit_rows:
            j = A.indices[A.indptr[row]]
            lb[j], ub[j] = max(lb[j], l[row]), min(ub[j], u[row])
            keep[row] = False
        return cls(P, q, A[np.flatnonzero(keep)], l[keep], u[keep], bounds=(lb, ub), r=r)

    def objective(self, x) -> float:
        return float(0.5 * x @ (self.P @ x) + self.q @ x + self.r)

    def problem(self) -> Problem:
        """The QP as a :class:`~lagrangian.Problem` (one constraint block named ``"rows"``)."""
        constraints = []
        if self.A.shape[0]:
            A = self.A
            constraints.append(Constraint(lambda x: A @ x, self.l, self.u, jacobian=lambda x: A, name="rows"))
        P, q = self.P, self.q
        return Problem(
            self.objective,
            self.x0,
            gradient=lambda x: P @ x + q,
            constraints=constraints,
            bounds=(self.lb, self.ub),
            hessian=lambda x, y: P,
            name="quadratic program",
        )


def read_stacked_mat(path):
    """``(P, q, A, l, u, r)`` from a MATLAB file in the Maros-Meszaros / OSQP benchmark layout.

    Keys ``P, q, A, l, u`` and optionally ``r`` (the objective's constant); pass the
    result to :meth:`QuadraticProgram.from_stacked` as ``from_stacked(P, q, A, l, u, r=r)``.
    """
    import scipy.io

    data = scipy.io.loadmat(path)
    P, A = sp.csc_array(data["P"], dtype=float), sp.csc_array(data["A"], dtype=float)
    q, l, u = (np.asarray(data[key], dtype=float).ravel() for key in ("q", "l", "u"))
    r = float(np.asarray(data["r"]).ravel()[0]) if "r" in data else 0.0
    return P, q, A, l, u, r


def solve_qp(qp: QuadraticProgram, *, method: str = "convex_qp", **options):
    """Solve a :class:`QuadraticProgram`; options pass through to the method.

    Parameters
    ----------
    method : {"convex_qp", "interior_point"}
        ``"convex_qp"`` (default): Mehrotra's predictor-corrector method
        (:func:`lagrangian.solvers.convex_qp.convex_qp`), which uses convexity and
        returns a certificate for infeasible and unbounded problems.
        ``"interior_point"``: the general nonlinear solver on :meth:`QuadraticProgram.problem`.
    """
    if method == "convex_qp":
        return convex_qp(qp, **options)
    if method == "interior_point":
        return interior_point(qp.problem(), **options)
    raise ProblemError("method", f"expected 'convex_qp' or 'interior_point', got {method!r}")
