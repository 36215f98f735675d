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

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..convexity import require_convex
from ..errors import ProblemError
from ..qp import QuadraticProgram, check_certificate, solve_qp
from ..result import Certificate, Status

__all__ = ["to_cvxpy", "from_cvxpy", "crosscheck", "CvxpyProblem", "CvxpyImport", "CrosscheckReport"]


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
    """The same QP as a cvxpy Problem, with the map from our multipliers to its duals.

    ``P`` enters through ``cvxpy.psd_wrap`` (which tells cvxpy not to run its own
    eigenvalue test) only after :meth:`QuadraticProgram.convexity` has shown it
    positive semidefinite; a QP that is not convex, or convex only on the null
    space of its equality rows (cvxpy's ``quad_form`` needs ``P`` itself
    semidefinite), is a :class:`~lagrangian.ProblemError` naming ``P``.
    """
    import cvxpy as cp

    if qp.n == 0:
        raise ProblemError("qp", "has no variables (n = 0), and cvxpy cannot state a problem without variables")
    verdict = require_convex(qp)
    if not verdict.convex or verdict.on_null_space:
        raise ProblemError(
            "P",
            "is indefinite (the QP is convex only on the null space of its equality rows, or only nearly "
            "convex, within rounded data), but cvxpy's quad_form needs P itself positive semidefinite, so "
            "there is no cvxpy problem to state; solve it with lagrangian.solve_qp",
        )
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


# Our statuses in the words of Clarabel's raw result, which cvxpy then maps to its own.
_CLARABEL_STATUS = {
    Status.SUCCESS: "Solved",
    Status.ACCEPTABLE: "AlmostSolved",
    Status.INFEASIBLE: "PrimalInfeasible",
    Status.UNBOUNDED: "DualInfeasible",
    Status.MAX_ITERATIONS: "MaxIterations",
    Status.TIME_LIMIT: "MaxTime",
}


@dataclass
class _RawResult:
    """What cvxpy's Clarabel interface reads from a raw solver result."""

    status: str
    x: np.ndarray | None
    z: np.ndarray | None
    obj_val: float
    solve_time: float
    iterations: int


@dataclass
class CvxpyImport:
    """A cvxpy problem read as a :class:`~lagrangian.QuadraticProgram`.

    Attributes
    ----------
    qp : QuadraticProgram
        Over cvxpy's stacked variable vector; row ``i`` of ``qp.A`` is row ``i``
        of the cone program cvxpy builds (``A x + s = b``, ``s`` in the zero cone
        for the first ``equalities`` rows and in the non-negative orthant after).
    problem : cvxpy.Problem
    equalities : int
    """

    qp: QuadraticProgram
    problem: object
    equalities: int
    _chain: object = field(repr=False, default=None)
    _inverse: object = field(repr=False, default=None)

    def solve(self, **options):
        """Solve with :func:`lagrangian.solve_qp` and write the answer into the cvxpy problem.

        Afterwards ``problem.status``, ``problem.value``, every variable's
        ``value`` and every constraint's ``dual_value`` are set as a cvxpy solver
        would set them (duals in cvxpy's convention: cvxpy's rows are
        ``a^T x <= b`` or ``== b``, for which its dual and our ``y`` coincide).
        Options go to :func:`lagrangian.solve_qp`. Returns our
        :class:`~lagrangian.Solution`.
        """
        started = time.perf_counter()
        ours = solve_qp(self.qp, **options)
        has_solution = ours.status in (Status.SUCCESS, Status.ACCEPTABLE)
        raw = _RawResult(
            status=_CLARABEL_STATUS.get(ours.status, "NumericalError"),
            x=np.array(ours.x) if has_solution else None,
            z=np.array(ours.y) if has_solution else None,
            obj_val=ours.fun - self.qp.r,
            solve_time=time.perf_counter() - started,
            iterations=ours.nit,
        )
        self.problem.unpack_results(raw, self._chain, self._inverse)
        return ours


def from_cvxpy(problem) -> CvxpyImport:
    """Read a QP-representable cvxpy problem as a :class:`~lagrangian.QuadraticProgram`.

    cvxpy's own reduction to a cone program (``problem.get_problem_data`` for
    Clarabel) gives ``min 1/2 x'Px + q'x + r`` s.t. ``A x + s = b`` with ``s`` in
    zero and non-negative cones; that is a QP with rows ``A x == b`` and ``A x <= b``.
    Call :meth:`CvxpyImport.solve` to solve it and fill in the cvxpy problem's
    values and duals.

    Raises
    ------
    ProblemError
        ``problem`` is not a cvxpy Problem, is not DCP, has integer or boolean
        variables, has a Parameter without a value, or needs cones other than
        zero and non-negative ones (second-order, semidefinite, exponential, power).
    """
    import cvxpy as cp
    from cvxpy.settings import OFFSET

    if not isinstance(problem, cp.Problem):
        raise ProblemError("problem", f"expected a cvxpy.Problem, got {type(problem).__name__}")
    discrete = [v.name() for v in problem.variables() if v.attributes.get("integer") or v.attributes.get("boolean")]
    if discrete:
        raise ProblemError(
            "problem", f"has integer or boolean variables ({', '.join(discrete)}); lagrangian solves continuous QPs only"
        )
    unset = [p.name() for p in problem.parameters() if p.value is None]
    if unset:
        raise ProblemError(
            "problem", f"parameter {', '.join(unset)} has no value: set {unset[0]}.value before importing the problem"
        )
    try:
        data, chain, inverse = problem.get_problem_data(cp.CLARABEL)
    except cp.error.DCPError as exc:
        raise ProblemError("problem", f"is not DCP, so not a convex QP: {exc}") from exc
    dims = data["dims"]
    others = {"second-order": dims.soc, "semidefinite": dims.psd, "exponential": dims.exp, "power": dims.p3d}
    used = [name for name, cones in others.items() if cones]
    if used:
        raise ProblemError("problem", f"is not a QP: cvxpy needs {', '.join(used)} cones for it")
    n = data["c"].size
    P = sp.csr_array((n, n)) if data.get("P") is None else sp.csr_array(data["P"])
    P = sp.triu(P, format="csr")  # the Clarabel interface may pass the upper triangle only
    P = sp.csr_array(P + sp.triu(P, k=1).T)
    b = np.asarray(data["b"], dtype=float)
    zero = dims.zero
    lower = np.concatenate([b[:zero], np.full(b.size - zero, -np.inf)])
    qp = QuadraticProgram(P, data["c"], data["A"], lower, b, r=float(inverse[-1][OFFSET]))
    if getattr(inverse[-1], "solver_options", {}) is None:
        inverse[-1].solver_options = {}  # unpacking reads it; get_problem_data leaves it unset
    return CvxpyImport(qp, problem, zero, chain, inverse)


#: cvxpy's statuses read as a classification of the problem: what it found, however accurately.
_CVXPY_CLASSIFICATION = {
    "optimal": "optimal",
    "optimal_inaccurate": "optimal",
    "infeasible": "infeasible",
    "infeasible_inaccurate": "infeasible",
    "unbounded": "unbounded",
    "unbounded_inaccurate": "unbounded",
    "infeasible_or_unbounded": "infeasible or unbounded",
    "user_limit": "no answer",
    "solver_error": "no answer",
}

_OUR_CLASSIFICATION = {Status.SUCCESS: "optimal", Status.INFEASIBLE: "infeasible", Status.UNBOUNDED: "unbounded"}


@dataclass(frozen=True)
class CrosscheckReport:
    """Our solution next to cvxpy's, in one convention, with the tolerances used.

    ``x_difference`` and the multiplier differences are infinity norms;
    ``objective_difference`` is relative to ``max(1, |f|)``. They are NaN when
    either side has no solution; then ``certificate_valid`` (ours) and
    ``referee_certificate_valid`` (cvxpy's duals read as a Farkas vector, None
    when cvxpy gives none) say whether each proof holds, recomputed from the data
    by :func:`lagrangian.qp.check_certificate`.
    """

    passed: bool
    x_difference: float
    objective_difference: float
    y_difference: float
    z_difference: float
    ours: object
    theirs: dict
    tolerances: dict
    certificate_valid: bool | None = None
    referee_certificate_valid: bool | None = None

    def __str__(self):
        verdict = "agree" if self.passed else "DISAGREE"
        statuses = f"lagrangian {self.ours.status.name}, cvxpy/{self.theirs['solver']} {self.theirs['status']}"
        if np.isnan(self.x_difference):
            proofs = []
            if self.certificate_valid is not None:
                proofs.append(f"our certificate {'valid' if self.certificate_valid else 'INVALID'}")
            if self.referee_certificate_valid is not None:
                proofs.append(f"cvxpy's Farkas vector {'valid' if self.referee_certificate_valid else 'INVALID'}")
            return f"{verdict} ({statuses}): " + ("; ".join(proofs) or "no solution to compare")
        return (
            f"{verdict} ({statuses}): |dx| {self.x_difference:.1e}, "
            f"|df|/max(1,|f|) {self.objective_difference:.1e}, |dy| {self.y_difference:.1e}, |dz| {self.z_difference:.1e} "
            f"(tolerances {self.tolerances})"
        )


def _split_options(options, method):
    """``(ours, cvxpy's)``: the options :func:`solve_qp`'s ``method`` takes, and the rest."""
    import inspect

    from ..solvers import convex_qp, interior_point

    accepted = set(inspect.signature(convex_qp if method == "convex_qp" else interior_point).parameters)
    ours = {key: value for key, value in options.items() if key in accepted}
    return ours, {key: value for key, value in options.items() if key not in accepted}


def crosscheck(
    qp: QuadraticProgram, *, solver: str = "CLARABEL", x_tol: float = 1e-6, objective_tol: float = 1e-8, multiplier_tol: float = 1e-6,
    method: str = "convex_qp", **options
) -> CrosscheckReport:
    """Solve ``qp`` with lagrangian and with cvxpy, and compare x, f and every multiplier.

    ``x`` and the multipliers are unique only for strictly convex problems with
    linearly independent active constraints; where they are not, compare
    ``objective_difference`` and the KKT residuals of each solution instead.
    Where neither side finds a solution, the two agree when they classify the
    problem alike (cvxpy's ``*_inaccurate`` statuses included) and our
    certificate holds when recomputed from the data.

    Options that :func:`lagrangian.solve_qp` (with ``method``) takes go to it
    (``tol`` defaults to 1e-10 here); every other option goes to cvxpy's
    ``Problem.solve`` (``verbose``, a solver's own settings). Clarabel, the
    default referee, is asked for an accuracy a hundred times finer than the
    tightest comparison tolerance (at most 1e-12) unless those settings are given:
    at its default accuracy (1e-8) its ``x`` alone can differ by more than 1e-6.

    Raises
    ------
    ProblemError
        ``solver`` is not a solver cvxpy has installed, or the QP is not convex
        (see :func:`to_cvxpy`).
    """
    import cvxpy as cp

    installed = cp.installed_solvers()
    if not isinstance(solver, str) or solver.upper() not in installed:
        raise ProblemError("solver", f"cvxpy has no installed solver {solver!r}; installed: {', '.join(installed)}")
    solver = solver.upper()
    ours_options, referee_options = _split_options(options, method)
    ours_options.setdefault("tol", 1e-10)
    bridge = to_cvxpy(qp)  # refuses a QP that is not convex before either side solves
    ours = solve_qp(qp, method=method, **ours_options)
    tolerances = {"x": x_tol, "objective": objective_tol, "multipliers": multiplier_tol}
    if solver == "CLARABEL":
        accuracy = max(1e-12, 1e-2 * min(tolerances.values()))
        for key in ("tol_gap_abs", "tol_gap_rel", "tol_feas", "tol_ktratio"):
            referee_options.setdefault(key, accuracy)
    bridge.problem.solve(solver=solver, **referee_options)
    status = bridge.problem.status
    classification = _CVXPY_CLASSIFICATION.get(status, "no answer")
    ours_class = _OUR_CLASSIFICATION.get(ours.status, "no answer")
    if bridge.x.value is None or ours_class != "optimal" or classification != "optimal":
        nan = float("nan")
        theirs = {"solver": solver, "status": status, "x": bridge.x.value, "fun": bridge.problem.value}
        valid = check_certificate(qp, ours.certificate) if ours_class in ("infeasible", "unbounded") else None
        referee_valid = None
        if classification == "infeasible" and all(c.dual_value is not None for c, _, _ in bridge.constraints.values()):
            y, z = bridge.multipliers(qp.A.shape[0], qp.n)
            referee_valid = check_certificate(qp, Certificate("infeasible", -1.0, 0.0, y=y, z=z))
        same = ours_class in classification.split(" or ") and ours_class != "optimal"
        passed = bool(same and valid)
        return CrosscheckReport(passed, nan, nan, nan, nan, ours, theirs, tolerances, valid, referee_valid)
    y, z = bridge.multipliers(qp.A.shape[0], qp.n)
    x = np.asarray(bridge.x.value, dtype=float)
    f = float(bridge.problem.value)
    theirs = {"solver": solver, "status": status, "x": x, "fun": f, "y": y, "z": z}
    dx = float(np.abs(ours.x - x).max(initial=0.0))
    df = abs(ours.fun - f) / max(1.0, abs(f))
    dy = float(np.abs(ours.y - y).max(initial=0.0))
    dz = float(np.abs(ours.z - z).max(initial=0.0))
    passed = ours.success and dx <= x_tol and df <= objective_tol and dy <= multiplier_tol and dz <= multiplier_tol
    return CrosscheckReport(bool(passed), dx, df, dy, dz, ours, theirs, tolerances)
