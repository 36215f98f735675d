r"""cvxpy as the independent referee of convex problems, and the dual sign mapping.

cvxpy writes every constraint as ``expr <= b``, ``expr >= b`` or ``expr == b`` and
attaches a dual value whose sign follows the Lagrangian it uses:

=========================  =====================  =================================
cvxpy constraint           cvxpy dual             lagrangian's multiplier (``y``)
=========================  =====================  =================================
``a^T x <= u``             ``lambda >= 0``        ``y = +lambda`` (upper bound)
``a^T x >= l``             ``lambda >= 0``        ``y = -lambda`` (lower bound)
``a^T x == b``             ``nu`` (free)          ``y = nu``
=========================  =====================  =================================

so a two-sided row ``l <= a^T x <= u``, which cvxpy needs as two constraints, has
``y = lambda_u - lambda_l`` (at most one of them is nonzero at a solution). The
same holds for bounds and ``z``. Worked example: ``min x^2 s.t. x >= 1`` gives
cvxpy's ``lambda = 2`` (``L = x^2 + lambda (1 - x)``) and our ``y = -2``
(``grad f + y = 2 - 2 = 0``, ``y <= 0`` at a lower bound).

cvxpy is imported when these functions are first called: it takes about a second
to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..qp import QuadraticProgram, solve_qp

__all__ = ["to_cvxpy", "crosscheck", "CvxpyProblem", "CrosscheckReport"]


@dataclass
class CvxpyProblem:
    """A cvxpy Problem built from ours, and how its constraints map back.

    Attributes
    ----------
    problem : cvxpy.Problem
    x : cvxpy.Variable
    constraints : dict
        ``name -> (cvxpy constraint, indices, sign)``: the dual of that cvxpy
        constraint, times ``sign``, is our multiplier at ``indices`` of the
        multiplier vector it belongs to (``"rows ..."`` entries map to ``y``,
        ``"bounds ..."`` to ``z``).
    """

    problem: object
    x: object
    constraints: dict = field(default_factory=dict)

    def multipliers(self, m: int, n: int):
        """``(y, z)`` in the package convention from cvxpy's dual values."""
        y, z = np.zeros(m), np.zeros(n)
        for name, (constraint, indices, sign) in self.constraints.items():
            target = y if name.startswith("rows") else z
            target[indices] += sign * np.atleast_1d(np.asarray(constraint.dual_value, dtype=float))
        return y, z


def to_cvxpy(qp: QuadraticProgram) -> CvxpyProblem:
    """The same QP as a cvxpy Problem, with the map from our multipliers to its duals."""
    import cvxpy as cp

    x = cp.Variable(qp.n, name="x")
    objective = 0.5 * cp.quad_form(x, cp.psd_wrap(qp.P)) + qp.q @ x + qp.r
    constraints = {}

    def add(name, expression_rows, matrix, lower, upper):
        equal = np.flatnonzero(lower == upper)
        upper_only = np.flatnonzero(np.isfinite(upper) & (lower != upper))
        lower_only = np.flatnonzero(np.isfinite(lower) & (lower != upper))
        for label, indices, build, sign in (
            ("equality", equal, lambda M, i: M @ x == upper[i], 1.0),
            ("upper", upper_only, lambda M, i: M @ x <= upper[i], 1.0),
            ("lower", lower_only, lambda M, i: M @ x >= lower[i], -1.0),
        ):
            if indices.size:
                constraints[f"{name} {label}"] = (build(matrix[indices], indices), expression_rows[indices], sign)

    if qp.A.shape[0]:
        add("rows", np.arange(qp.A.shape[0]), qp.A, qp.l, qp.u)
    if np.isfinite(qp.lb).any() or np.isfinite(qp.ub).any():
        add("bounds", np.arange(qp.n), sp.eye_array(qp.n, format="csr"), qp.lb, qp.ub)
    problem = cp.Problem(cp.Minimize(objective), [c for c, _, _ in constraints.values()])
    return CvxpyProblem(problem, x, constraints)


@dataclass(frozen=True)
class CrosscheckReport:
    """Our solution next to cvxpy's, in one convention, with the tolerances used.

    ``x_difference`` and the multiplier differences are infinity norms;
    ``objective_difference`` is relative to ``max(1, |f|)``.
    """

    passed: bool
    x_difference: float
    objective_difference: float
    y_difference: float
    z_difference: float
    ours: object
    theirs: dict
    tolerances: dict

    def __str__(self):
        verdict = "agree" if self.passed else "DISAGREE"
        return (
            f"lagrangian and cvxpy ({self.theirs['solver']}) {verdict}: |dx| {self.x_difference:.1e}, "
            f"|df|/max(1,|f|) {self.objective_difference:.1e}, |dy| {self.y_difference:.1e}, |dz| {self.z_difference:.1e} "
            f"(tolerances {self.tolerances})"
        )


def crosscheck(
    qp: QuadraticProgram, *, solver: str = "CLARABEL", x_tol: float = 1e-6, objective_tol: float = 1e-8, multiplier_tol: float = 1e-6, **options
) -> CrosscheckReport:
    """Solve ``qp`` with lagrangian and with cvxpy, and compare x, f and every multiplier.

    ``x`` and the multipliers are unique only for strictly convex problems with
    linearly independent active constraints; where they are not, compare
    ``objective_difference`` and the KKT residuals of each solution instead.
    Options go to :func:`lagrangian.solve_qp` (``tol`` defaults to 1e-10 here).
    """
    import cvxpy as cp

    options.setdefault("tol", 1e-10)
    ours = solve_qp(qp, **options)
    bridge = to_cvxpy(qp)
    bridge.problem.solve(solver=getattr(cp, solver))
    tolerances = {"x": x_tol, "objective": objective_tol, "multipliers": multiplier_tol}
    if bridge.x.value is None:
        # cvxpy found no solution: the two agree if both classify the problem the same way.
        classification = {"infeasible": "INFEASIBLE", "unbounded": "UNBOUNDED"}.get(bridge.problem.status)
        theirs = {"solver": solver, "status": bridge.problem.status, "x": None, "fun": bridge.problem.value}
        nan = float("nan")
        return CrosscheckReport(ours.status.name == classification, nan, nan, nan, nan, ours, theirs, tolerances)
    y, z = bridge.multipliers(qp.A.shape[0], qp.n)
    x = np.asarray(bridge.x.value, dtype=float)
    f = float(bridge.problem.value)
    theirs = {"solver": solver, "status": bridge.problem.status, "x": x, "fun": f, "y": y, "z": z}
    dx = float(np.abs(ours.x - x).max(initial=0.0))
    df = abs(ours.fun - f) / max(1.0, abs(f))
    dy = float(np.abs(ours.y - y).max(initial=0.0))
    dz = float(np.abs(ours.z - z).max(initial=0.0))
    passed = ours.success and dx <= x_tol and df <= objective_tol and dy <= multiplier_tol and dz <= multiplier_tol
    return CrosscheckReport(bool(passed), dx, df, dy, dz, ours, theirs, tolerances)
