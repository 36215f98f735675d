r"""Convex quadratic programs stated by their data, solved on the package's KKT spine.

.. math::

    \min_x \tfrac12 x^T P x + q^T x + r \quad \text{s.t.} \quad l \le A x \le u, \quad
    l_x \le x \le u_x

(rows with ``l_i == u_i`` are equalities; infinite entries drop a side). A
:class:`QuadraticProgram` validates the data and becomes an ordinary
:class:`~lagrangian.Problem` with exact derivatives (gradient ``P x + q``,
Jacobian ``A``, Hessian ``P``). :func:`solve_qp` solves it by Mehrotra's
predictor-corrector method (:mod:`lagrangian.solvers.mehrotra`), which factors
the same KKT matrices with the same sparse linear algebra as every nonlinear
solver here (there is no second linear-algebra layer for QPs), or on request by
the general interior-point method. Multipliers follow :mod:`lagrangian.convention`.
"""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp

from .bounds import read_bounds
from .convexity import curvature
from .errors import ProblemError
from .problem import Constraint, Problem
from .solvers import convex_qp, interior_point
from .solvers.qp_polish import check_solution, data_scale

__all__ = ["QuadraticProgram", "solve_qp", "read_stacked_mat", "check_solution", "check_certificate"]

# Data sets write +-1e20 for "no bound", sometimes rounded a unit in the last place
# towards zero on the way (Maros-Meszaros QFFFFF80): anything that close counts.
_INFINITY = 1e20 * (1 - 1e-12)


def _real(values, name):
    """``values`` as a float ndarray; complex or non-numeric data is a :class:`ProblemError` naming ``name``.

    numpy would turn a complex number into its real part (with only a warning) and a
    string such as ``"1"`` into a number; both hide a mistake, so both are refused.
    """
    array = np.asarray(values)
    if array.dtype.kind == "c":
        raise ProblemError(name, "has complex entries; a quadratic program is stated in real numbers")
    if array.dtype.kind not in "biuf":
        try:  # an object array of Python numbers is fine; None, strings and complex are not
            if any(isinstance(v, (str, bytes, complex)) or v is None for v in array.ravel()):
                raise TypeError
            array = array.astype(float)
        except (TypeError, ValueError):
            raise ProblemError(name, f"expected real numbers, got {_describe(values)}") from None
    return array.astype(float)


def _describe(values) -> str:
    array = np.asarray(values, dtype=object).ravel()
    sample = next((v for v in array if not isinstance(v, (int, float, np.integer, np.floating))), None)
    return f"{type(values).__name__} containing {sample!r}" if sample is not None else type(values).__name__


def _sparse(matrix, name, shape, *, what):
    """``matrix`` as a CSR array of real, finite entries and shape ``shape`` (``None`` entries: any)."""
    if sp.issparse(matrix):
        if matrix.dtype.kind == "c":
            raise ProblemError(name, "has complex entries; a quadratic program is stated in real numbers")
        M = sp.csr_array(matrix, dtype=float)
    else:
        dense = _real(matrix, name)
        if dense.ndim == 1 and shape[0] is None:
            dense = dense[None, :]  # a single row, as scipy's LinearConstraint reads a 1-D A
        if dense.ndim != 2:
            raise ProblemError(name, f"expected a 2-D matrix, got an array of shape {dense.shape}")
        M = sp.csr_array(dense)
    expected = tuple(M.shape[i] if size is None else size for i, size in enumerate(shape))
    if M.shape != expected:
        raise ProblemError(name, f"expected shape {expected} ({what}), got {M.shape}")
    if not np.all(np.isfinite(M.data)):
        raise ProblemError(name, "contains NaN or infinite entries")
    return M


def _vector(values, name, size, *, what, default=None, sided=None):
    """A real vector of ``size`` entries (a scalar is repeated), or ``default`` everywhere when None.

    ``sided`` is ``"lower"`` or ``"upper"`` for a side of an interval: infinite entries
    (or +-1e20) drop that side, and one of the wrong sign (a lower bound of +inf)
    admits no point, which is an error here rather than a silently ignored row.
    """
    if values is None:
        return np.full(size, default, dtype=float)
    if sided is not None and isinstance(values, (list, tuple)):
        values = [default if v is None else v for v in values]  # None: no bound on that side, as Problem reads it
    v = _real(values, name)
    if v.ndim == 0:
        v = np.full(size, float(v))
    elif v.size == size and v.ndim == 2 and 1 in v.shape:
        v = v.ravel()  # a column or row vector
    if v.ndim != 1 or v.size != size:
        raise ProblemError(name, f"expected {size} entries ({what}) or a scalar, got shape {v.shape}")
    if np.isnan(v).any():
        raise ProblemError(name, f"contains NaN at position {int(np.flatnonzero(np.isnan(v))[0])}")
    if sided is None:
        if not np.all(np.isfinite(v)):
            raise ProblemError(name, f"contains an infinite entry at position {int(np.flatnonzero(~np.isfinite(v))[0])}")
        return v
    v = v.copy()
    v[v >= _INFINITY] = np.inf
    v[v <= -_INFINITY] = -np.inf
    wrong = np.inf if sided == "lower" else -np.inf
    if np.any(v == wrong):
        i = int(np.flatnonzero(v == wrong)[0])
        raise ProblemError(name, f"is {wrong} at position {i}: a {sided} bound of {wrong} admits no point")
    return v


def _check_sides(lower, upper, name, where):
    crossed = lower > upper
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        raise ProblemError(name, f"lower bound exceeds upper bound at {where} {i} ({lower[i]} > {upper[i]})")


class QuadraticProgram:
    """``min 1/2 x'Px + q'x + r  s.t.  l <= A x <= u,  lb <= x <= ub``.

    Every argument is checked when the program is built: a size that does not
    match ``n = len(q)`` (or the number of rows of ``A``), complex or non-numeric
    data, NaN, and bounds that admit no point are a :class:`~lagrangian.ProblemError`
    naming the argument. ``n = 0`` is allowed.

    Parameters
    ----------
    P : (n, n) matrix
        Symmetric (checked). The problem is convex when ``P`` is positive
        semidefinite on the null space of the equality rows; :func:`solve_qp`'s
        convex method checks that (see :meth:`convexity`) and refuses a QP that is not.
    q : (n,) array
    A : (m, n) matrix, optional
        A 1-D array is one row.
    l, u : (m,) arrays or scalars, optional
        Row bounds; ``+-inf`` or ``+-1e20`` for a missing side. Need ``A``.
    bounds : optional
        Variable bounds in any form :func:`lagrangian.bounds.read_bounds` reads (as for
        :class:`~lagrangian.Problem`): ``(lb, ub)`` with each side an ``(n,)`` array or a
        scalar, ``scipy.optimize.Bounds``, or ``n`` pairs ``(low, high)``.
    r : float
        Constant term of the objective.
    x0 : (n,) array, optional
        Starting point for the solver (default zero).
    """

    def __init__(self, P, q, A=None, l=None, u=None, *, bounds=None, r: float = 0.0, x0=None):
        q = _real(q, "q")
        if q.ndim > 1 and q.size == max(q.shape):
            q = q.ravel()  # a column or row vector
        if q.ndim != 1:
            raise ProblemError("q", f"expected a vector, got shape {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ProblemError("q", "contains NaN or infinite entries")
        n = q.size
        self.P = _sparse(P, "P", (n, n), what=f"n x n with n = len(q) = {n}")
        asymmetry = abs(self.P - self.P.T).max() if self.P.nnz else 0.0
        if asymmetry > 1e-12 * max(1.0, abs(self.P).max() if self.P.nnz else 0.0):
            triangle = sp.triu(self.P).nnz == self.P.nnz or sp.tril(self.P).nnz == self.P.nnz
            hint = " (a triangle, as OSQP and Clarabel take it: pass the whole matrix, P + P.T - diag(P))" if triangle else ""
            raise ProblemError("P", f"is not symmetric (largest |P - P^T| entry {asymmetry:.2e}){hint}")
        r = _real(r, "r")
        if r.ndim != 0 and r.size != 1 or not np.all(np.isfinite(r)):
            raise ProblemError("r", f"expected a finite number, got {_describe(r)}")
        self.q, self.r, self.n = q, float(r.ravel()[0]), n
        if A is None:
            for name, side in (("l", l), ("u", u)):
                if side is not None and np.size(side) > 0:
                    raise ProblemError(name, "row bounds were given without the constraint matrix A")
            self.A = sp.csr_array((0, n))
        else:
            self.A = _sparse(A, "A", (None, n), what=f"m x n with n = len(q) = {n}")
        m = self.A.shape[0]
        rows = f"one per row of A, m = {m}"
        self.l = _vector(l, "l", m, what=rows, default=-np.inf, sided="lower")
        self.u = _vector(u, "u", m, what=rows, default=np.inf, sided="upper")
        _check_sides(self.l, self.u, "l/u", "row")
        # The one bounds reader Problem uses too (a sequence of n (low, high) pairs, (lb, ub),
        # Bounds); +-1e20 then means "no bound", as for the rows.
        lb, ub = read_bounds(bounds, n)
        self.lb = np.where(lb <= -_INFINITY, -np.inf, lb)
        self.ub = np.where(ub >= _INFINITY, np.inf, ub)
        columns = f"one per variable, n = len(q) = {n}"
        self.x0 = _vector(x0, "x0", n, what=columns, default=0.0)

    @classmethod
    def from_stacked(cls, P, q, A, l, u, *, r: float = 0.0):
        """The Maros-Meszaros / OSQP layout, where rows of ``A`` that are unit vectors
        ``e_j^T`` are variable bounds: they become ``bounds`` (each variable once)."""
        A = _sparse(A, "A", (None, None), what="stacked constraint rows")
        l = _vector(l, "l", A.shape[0], what="one per row of A", default=-np.inf, sided="lower")
        u = _vector(u, "u", A.shape[0], what="one per row of A", default=np.inf, sided="upper")
        single = np.flatnonzero(np.diff(A.indptr) == 1)
        unit_rows = single[A.data[A.indptr[single]] == 1.0]
        n = A.shape[1]
        lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
        keep = np.ones(A.shape[0], bool)
        keep[unit_rows] = False
        columns = A.indices[A.indptr[unit_rows]]
        # A variable bounded by several unit rows keeps the tightest side of each (ufunc.at
        # applies repeated indices one after another, as a loop over the rows would).
        np.maximum.at(lb, columns, l[unit_rows])
        np.minimum.at(ub, columns, u[unit_rows])
        return cls(P, q, A[np.flatnonzero(keep)], l[keep], u[keep], bounds=(lb, ub), r=r)

    @property
    def AT(self):
        """``A^T`` as a CSR array, formed once per ``A``: the solver forms ``A^T y`` at every
        iteration (its Farkas test), and scipy's ``A.T`` builds a new matrix object on each
        use. Kept beside the ``A`` it was formed from, so assigning a new ``A`` forms it again."""
        kept = self.__dict__.get("_AT")
        if kept is None or kept[0] is not self.A:
            kept = self.__dict__["_AT"] = (self.A, sp.csr_array(self.A.T))
        return kept[1]

    def objective(self, x) -> float:
        return float(0.5 * x @ (self.P @ x) + self.q @ x + self.r)

    def convexity(self):
        """Whether ``P`` is positive semidefinite on the null space of the equality rows.

        Returns a :class:`lagrangian.convexity.Curvature`: ``convex`` True, or False with
        a ``direction`` ``d`` (feasible for the equality rows) along which ``d'Pd < 0``,
        or None when ``P`` is indefinite and the null space too large to check. This
        is the test :func:`solve_qp`'s convex method runs before it starts (it is an
        ``L D L^T`` factorization of the scaled ``P``, about the cost of one iteration).
        """
        equal = np.flatnonzero(np.isfinite(self.l) & (self.l == self.u))
        fixed = np.flatnonzero(np.isfinite(self.lb) & (self.lb == self.ub))
        return curvature(self.P, self.A[equal], fixed)

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
        (:func:`lagrangian.solvers.mehrotra.convex_qp`), which uses convexity and
        returns a certificate for infeasible and unbounded problems. It checks
        convexity first (:meth:`QuadraticProgram.convexity`) and refuses a
        non-convex QP with a :class:`~lagrangian.ProblemError` naming ``P``. A
        ``SUCCESS`` is then polished onto its active set
        (:mod:`lagrangian.solvers.qp_polish`; ``polish=False`` keeps the interior
        point): a bound or row active with a zero multiplier, which the interior
        point approaches only to about ``sqrt(tol)``, and a vertex are met to
        rounding, when the polished point checks out against the data.
        ``"interior_point"``: the general nonlinear solver on :meth:`QuadraticProgram.problem`
        (no convexity needed; it looks for a local minimizer).
    """
    if method == "convex_qp":
        return convex_qp(qp, **options)
    if method == "interior_point":
        return interior_point(qp.problem(), **options)
    raise ProblemError("method", f"expected 'convex_qp' or 'interior_point', got {method!r}")


def check_certificate(qp, certificate, *, radius: float = 1e6) -> bool:
    r"""Whether ``certificate`` proves what it claims, recomputed from the data.

    Infeasible: ``sigma(y, z) < 0`` and ``|sigma| / ||A^T y + z||_1`` (the radius
    within which no feasible point can exist, see
    :class:`lagrangian.result.Certificate`) at least ``radius`` times
    ``max(1, largest finite variable bound)``. Unbounded: ``q^T d < 0`` and ``|q^T d|`` over the largest
    violation of ``P d = 0``, ``A_E d = 0`` and the recession cone at least ``radius``.
    """
    if certificate is None:
        return False
    if certificate.kind == "infeasible":
        y, z = np.asarray(certificate.y, float), np.asarray(certificate.z, float)

        def support(v, lower, upper):
            with np.errstate(invalid="ignore"):
                terms = np.where(v > 0, v * upper, np.where(v < 0, v * lower, 0.0))
            return float(np.nan_to_num(terms, nan=np.inf).sum())

        sigma = support(y, qp.l, qp.u) + support(z, qp.lb, qp.ub)
        residual = float(np.abs(qp.AT @ y + z).sum())
        # no feasible x with ||x||_inf <= |sigma| / residual: that must reach far beyond the box
        return bool(sigma < 0 and -sigma >= radius * data_scale(qp.lb, qp.ub) * residual)
    d = np.asarray(certificate.d, float)
    Ad = qp.A @ d
    violation = max(
        float(np.abs(qp.P @ d).max(initial=0.0)),
        float(np.where(np.isfinite(qp.u), np.maximum(Ad, 0), 0).max(initial=0.0)),
        float(np.where(np.isfinite(qp.l), np.maximum(-Ad, 0), 0).max(initial=0.0)),
        float(np.where(np.isfinite(qp.ub), np.maximum(d, 0), 0).max(initial=0.0)),
        float(np.where(np.isfinite(qp.lb), np.maximum(-d, 0), 0).max(initial=0.0)),
    )
    slope = float(qp.q @ d)
    return bool(slope < 0 and -slope >= radius * violation)
