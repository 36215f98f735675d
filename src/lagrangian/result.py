"""The one frozen result type every solver returns, and its status codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .kkt import KKTResiduals, kkt_residuals

__all__ = ["Status", "KKTResiduals", "IterationRecord", "Certificate", "Solution"]


class Status(enum.Enum):
    """How a solve ended. ``status.advice`` says what to try next."""

    SUCCESS = "the KKT residuals are below the tolerance"
    MAX_ITERATIONS = (
        "the iteration limit was reached; raise max_iterations, start closer to a solution, "
        "or check the derivatives with lagrangian.testing.check_derivative"
    )
    LINE_SEARCH_FAILED = (
        "the line search could not decrease the merit function; the derivatives are probably "
        "inconsistent with the functions (check them with lagrangian.testing.check_derivative), "
        "or the tolerance is below what floating point allows at this scale"
    )
    SINGULAR_KKT = (
        "the KKT matrix stayed singular after the largest regularization; the constraints may be "
        "inconsistent or the problem may be unbounded below on the constraint set"
    )
    NONFINITE = (
        "the functions, their derivatives or the multipliers became NaN or inf near the current point and "
        "the step could not be shortened around it; x is the best point seen. Restrict the domain with "
        "constraints, rescale the problem, or start elsewhere"
    )
    INFEASIBLE = (
        "the problem appears locally infeasible: x is a stationary point of the constraint violation "
        "that still violates the constraints; check the constraints and bounds, or start elsewhere"
    )
    UNBOUNDED = (
        "the objective is unbounded below: it falls without bound along a ray that keeps the constraints "
        "(result.certificate holds the ray); add bounds or constraints"
    )
    RESTORATION_FAILED = (
        "the feasibility restoration phase could not reduce the constraint violation; the constraints "
        "may be degenerate here (check their Jacobian) or the problem infeasible"
    )
    ACCEPTABLE = (
        "the iteration stalled (line search or restoration failed) at a point whose scaled KKT error is "
        "below 1e-6 but not below tol: x is that point; the problem is probably degenerate there "
        "(dependent active constraints); loosen tol or check the constraints"
    )
    STOPPED = "the callback asked to stop (it raised StopIteration); x is the last iterate"
    TIME_LIMIT = "the time limit was reached; x is the best point found (smallest KKT error)"
    EVALUATION_LIMIT = "the function evaluation limit was reached; x is the best point found (smallest KKT error)"
    STALLED = (
        "the iterates stopped improving (their steps fell below rounding for 5 iterations, or the KKT error grew far "
        "above, or stayed for 30 iterations above, its best value) and the best point is not accurate enough to be "
        "ACCEPTABLE: x is that best point; the problem is probably badly scaled or degenerate, rescale it or loosen tol"
    )
    FEASIBLE_POINT = (
        "x satisfies the constraints of a square system (as many equality rows as free variables), but their "
        "Jacobian is singular there, so no multipliers prove x optimal: the feasible set may not be isolated "
        "points; check the constraints for dependent rows"
    )
    NEGATIVE_CURVATURE = (
        "x is a first-order KKT point, but the Hessian of the Lagrangian has negative curvature on the null space "
        "of the active constraints (a saddle point or a maximum, not a minimizer), and stepping along that "
        "direction did not lower f; start elsewhere"
    )

    @property
    def advice(self) -> str:
        return self.value


@dataclass(frozen=True)
class IterationRecord:
    """One line of a solver's history (and of its log).

    ``step`` is the primal step length alpha taken to reach this iterate; the
    fields after ``regularization`` are filled by the interior-point solver only.
    """

    iteration: int
    objective: float
    primal: float
    dual: float
    step: float
    regularization: float
    barrier: float | None = None  #: the barrier parameter mu
    step_norm: float | None = None  #: ||dx||_inf of the step taken
    dual_step: float | None = None  #: the bound multipliers' step length
    trials: int | None = None  #: line-search trial points evaluated


@dataclass(frozen=True)
class Certificate:
    r"""A checkable proof that a convex problem has no solution.

    **Infeasible** (``kind == "infeasible"``): a Farkas vector ``(y, z)`` in the
    package convention (``y`` on the constraint rows, ``z`` on the bounds; a
    positive entry belongs to the upper side, a negative one to the lower side)
    with

    .. math::

        A^T y + z = 0, \qquad
        \sigma(y, z) = \sum_i \max(u_i y_i,\ l_i y_i) + \sum_j \max(u_{x,j} z_j,\ l_{x,j} z_j) < 0 .

    For any ``x`` with ``l <= Ax <= u`` and ``lb <= x <= ub`` each product
    ``y_i a_i^T x`` is at most its term of ``sigma``, so ``0 = y^T A x + z^T x <=
    sigma < 0``: no such ``x`` exists. Numerically ``A^T y + z = r`` is small, not
    zero; the same argument then excludes every feasible ``x`` with
    ``||x||_inf <= |sigma| / ||r||_1``, which is ``radius``.

    **Unbounded** (``kind == "unbounded"``): a ray ``d`` with ``q^T d < 0``,
    ``P d = 0`` and ``d`` in the recession cone of the constraints (``a_i^T d <= 0``
    where ``u_i`` is finite, ``>= 0`` where ``l_i`` is, the same for bounds). From
    any feasible point the objective decreases without bound along ``d``.
    ``radius`` is ``|q^T d|`` over the largest violation of those conditions
    (``P d`` included): how far along ``d`` the decrease is certain.

    Attributes
    ----------
    kind : {"infeasible", "unbounded"}
    y, z : ndarray or None
        The Farkas vector (infeasible only).
    d : ndarray or None
        The ray (unbounded only), scaled to ``||d||_inf = 1``.
    value : float
        ``sigma(y, z)`` (infeasible) or ``q^T d`` (unbounded); negative.
    residual : float
        ``||A^T y + z||_1`` (infeasible) or the largest violation of the ray's
        conditions (unbounded).
    """

    kind: str
    value: float
    residual: float
    y: np.ndarray | None = None
    z: np.ndarray | None = None
    d: np.ndarray | None = None

    @property
    def radius(self) -> float:
        return abs(self.value) / self.residual if self.residual > 0 else float("inf")


@dataclass(frozen=True)
class Solution:
    """A solver's answer, with everything needed to check it independently.

    Attributes
    ----------
    x : ndarray
    fun : float
        ``f(x)``.
    y : ndarray
        Constraint multipliers stacked in problem order.
    z : ndarray
        Bound multipliers, one per variable.
    multipliers : Mapping[str, ndarray]
        ``y`` split by constraint name; see also :meth:`multiplier`.
    kkt : KKTResiduals
    status : Status
    message : str
    nit : int
        Iterations.
    evaluations : Mapping[str, int]
        Calls of objective, gradient, constraints, jacobian and hessian that the solve
        made, its polish and second-order check included; a value a solve needs twice
        at one point is evaluated once (:meth:`Problem.reusing_evaluations`).
    derivatives : Mapping[str, str]
        Where each derivative came from ("exact", "finite differences", ...).
    solver : str
    history : tuple of IterationRecord
    certificate : Certificate or None
        For a convex problem reported ``INFEASIBLE`` or ``UNBOUNDED`` by the QP
        solver, the vector that proves it; for ``UNBOUNDED`` from a nonlinear
        solver, the ray along which ``f`` was seen to fall.
    second_order : str
        Which second-order information was checked at ``x`` and what it said, e.g.
        "positive definite on the null space of the active constraints" or
        "not checked: quasi-Newton (bfgs) Hessian".
    """

    x: np.ndarray
    fun: float
    y: np.ndarray
    z: np.ndarray
    multipliers: MappingProxyType
    kkt: KKTResiduals
    status: Status
    message: str
    nit: int
    evaluations: MappingProxyType
    derivatives: MappingProxyType
    solver: str
    history: tuple = field(default=(), repr=False)
    certificate: Certificate | None = field(default=None, repr=False)
    second_order: str = "not checked"
    _problem: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        for array in (self.x, self.y, self.z):
            array.setflags(write=False)

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS

    def multiplier(self, constraint) -> np.ndarray:
        """The multipliers of one constraint, given by name or by its Constraint object."""
        if self._problem is None:
            return self.multipliers[constraint]
        return self.multipliers[self._problem.constraint_name(constraint)]

    def kkt_check(self, problem=None) -> KKTResiduals:
        """Recompute the KKT residuals at ``(x, y, z)`` from the problem's own functions.

        Independent of the solver: only the problem's callables and
        :func:`lagrangian.kkt.kkt_residuals` are used.
        """
        return kkt_residuals(problem or self._problem, self.x, self.y, self.z)

    def __str__(self):
        lines = [
            f"{self.solver}: {self.status.name} after {self.nit} iterations ({self.message})",
            f"  f(x) = {self.fun:.12g}",
            f"  KKT residuals: {self.kkt}",
        ]
        for name, values in self.multipliers.items():
            lines.append(f"  multipliers[{name!r}] = {np.array2string(values, precision=8)}")
        return "\n".join(lines)
