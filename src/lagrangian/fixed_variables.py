r"""Variables with ``lb == ub`` are constants: solve the problem without them.

A variable whose bounds coincide has no interior: a barrier on ``lb <= x_j <= ub``
would be ``-log 0``, and any difference in ``x_j`` would leave the feasible set.
So the solvers never see it. With ``F`` the fixed indices (values ``x_F = lb_F``)
and ``R`` the rest, the reduced problem is

.. math::

    \min_{x_R} f(x_R, x_F) \quad \text{s.t.} \quad c_l \le c(x_R, x_F) \le c_u,
    \quad lb_R \le x_R \le ub_R ,

whose gradient, Jacobian and Hessian are the ``R`` columns (rows) of the full
ones. Its solution ``(x_R, y, z_R)`` is a KKT point of the full problem once the
fixed variables receive the bound multipliers that make their stationarity rows
hold (:mod:`lagrangian.convention`: ``grad f + J^T y + z = 0``):

.. math::

    z_F = -\left(\nabla f(x) + J(x)^T y\right)_F ,

any sign being admissible because both bounds of ``x_j`` are active.
:func:`solve_without_fixed` wraps any solver with this reduction; when every
variable is fixed there is nothing to solve: ``x = lb`` is feasible or it is not.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .kkt import kkt_residuals
from .problem import Constraint, Problem
from . import linalg
from .result import KKTResiduals, Solution, Status

__all__ = ["FixedVariables", "solve_without_fixed", "restated_solution"]


class FixedVariables:
    """The split of ``problem``'s variables into fixed (``lb == ub``) and free ones.

    Parameters
    ----------
    problem : Problem
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self.fixed = problem.lb == problem.ub
        self.free = np.flatnonzero(~self.fixed)
        self.values = np.where(self.fixed, problem.lb, problem.x0)

    @property
    def any(self) -> bool:
        return bool(self.fixed.any())

    def expand(self, x_free) -> np.ndarray:
        """The full ``x`` with the fixed values in place."""
        x = self.values.copy()
        x[self.free] = x_free
        return x

    def reduced(self) -> Problem:
        """The problem in the free variables only (see the module docstring)."""
        P, free, expand = self.problem, self.free, self.expand
        constraints = []
        for con in P.constraints:
            jacobian = None
            if con.jacobian is not None:
                jacobian = lambda x, con=con: _columns(con.jacobian(expand(x)), free)  # noqa: E731
            constraints.append(Constraint(lambda x, con=con: con.fun(expand(x)), con.lower, con.upper, jacobian=jacobian, name=con.name))
        hessian = hessian_product = None
        if P.has_hessian:
            hessian = lambda x, y: _columns(P.hessian(expand(x), y), free)[free]  # noqa: E731
        if P.has_hessian_product:
            def hessian_product(x, y, v):
                full = np.zeros(P.n)
                full[free] = v
                return P.hessian_product(expand(x), y, full)[free]
        return Problem._solved_at_once(
            lambda x: P.objective(expand(x)),
            P.x0[free],
            gradient=lambda x: P.gradient(expand(x))[free],
            constraints=constraints,
            bounds=(P.lb[free], P.ub[free]),
            hessian=hessian,
            hessian_product=hessian_product,
            quasi_newton=P.quasi_newton,
            name=P.name,
        )

    def full_solution(self, reduced: Solution | None, *, tol: float = 1e-8) -> Solution:
        """The full problem's :class:`~lagrangian.Solution` from the reduced one (None: every variable fixed).

        ``z`` on the fixed variables closes their stationarity rows (NaN where the
        gradient is known only by differences); the KKT residuals are the reduced
        problem's, recomputed from its functions, with the primal violation of the
        full problem.
        """
        P = self.problem
        if reduced is None:
            x, y = self.values.copy(), np.zeros(P.m)
        else:
            x, y = self.expand(reduced.x), np.asarray(reduced.y, dtype=float)
        z = np.zeros(P.n)
        if reduced is not None:
            z[self.free] = reduced.z
        # NaN where the gradient is known only by differences, which cannot be taken in a
        # variable without room: its multiplier is then unknown, not zero.
        with np.errstate(invalid="ignore"):
            residual = P.gradient(x)
            if y.any():  # J^T 0 = 0 even where J is unknown (NaN): no constraint enters the row
                residual = residual + linalg.transpose_times(P.jacobian(x), y)
            z[self.fixed] = -residual[self.fixed]
        # The stationarity rows of the fixed variables hold by the choice of z_F, so the
        # residuals are those of the free variables: the reduced problem's, recomputed
        # from its functions (the primal part, which z does not enter, on the full problem).
        primal = kkt_residuals(P, x, y, np.zeros(P.n)).primal
        if reduced is None:
            status = Status.SUCCESS if primal <= tol else Status.INFEASIBLE
            residuals = KKTResiduals(stationarity=0.0, primal=primal, complementarity=0.0)
            return restated_solution(P, None, x=x, y=y, z=z, status=status, solver="fixed variables", kkt=residuals)
        free = reduced.kkt_check()
        residuals = KKTResiduals(stationarity=free.stationarity, primal=max(primal, free.primal), complementarity=free.complementarity)
        return restated_solution(P, reduced, x=x, y=y, z=z, kkt=residuals)


def restated_solution(problem: Problem, base: Solution | None, *, x, y, z, status: Status | None = None, solver=None, kkt=None) -> Solution:
    """``base`` (a solution of a restatement of ``problem``) as a Solution of ``problem`` itself.

    ``(x, y, z)`` are in ``problem``'s variables and constraint order; the KKT
    residuals are recomputed from ``problem``'s own functions; status, counts and
    history are ``base``'s (with ``base`` None: no iterations, the problem's counts).
    ``kkt`` replaces the recomputed residuals where the caller knows better.
    """
    residuals = kkt_residuals(problem, x, y, z) if kkt is None else kkt
    if base is not None:
        status = base.status if status is None else status
        nit, evaluations, history, certificate = base.nit, base.evaluations, base.history, base.certificate
        solver = base.solver if solver is None else solver
    else:
        nit, evaluations, history, certificate = 0, MappingProxyType(dict(problem.counts)), (), None
    return Solution(
        x=np.asarray(x, dtype=float),
        fun=problem.objective(x),
        y=np.asarray(y, dtype=float),
        z=np.asarray(z, dtype=float),
        multipliers=problem.split(np.asarray(y, dtype=float)),
        kkt=residuals,
        status=status,
        message=status.advice,
        nit=nit,
        evaluations=evaluations,
        derivatives=problem.derivative_sources,
        solver=solver,
        history=history,
        certificate=certificate,
        _problem=problem,
    )


def _columns(matrix, columns):
    """``matrix[:, columns]`` for a dense or sparse derivative."""
    if hasattr(matrix, "tocsc"):
        return matrix.tocsc()[:, columns]
    return np.atleast_2d(np.asarray(matrix, dtype=float))[:, columns]


def solve_without_fixed(solver, problem: Problem, **options) -> Solution:
    """``solver(problem, **options)`` with the fixed variables (``lb == ub``) removed first.

    Warm starts (``x0``, ``z0``) given in full length are cut to the free
    variables; ``callback(record, x)`` sees the full ``x``. The whole of it reuses
    evaluations point by point (:meth:`~lagrangian.Problem.reusing_evaluations`): the
    reduced problem's checks at its start, its first iterate and the full solution's
    residuals read the same values.
    """
    with problem.reusing_evaluations():
        return _solve_without_fixed(solver, problem, **options)


def _solve_without_fixed(solver, problem: Problem, **options) -> Solution:
    """The body of :func:`solve_without_fixed`."""
    split = FixedVariables(problem)
    if not split.any:
        return solver(problem, **options)
    tol = options.get("tol", 1e-8)
    if split.free.size == 0:
        return split.full_solution(None, tol=tol)
    for key in ("x0", "z0"):
        if options.get(key) is not None:
            options[key] = np.asarray(options[key], dtype=float)[split.free]
    callback = options.get("callback")
    if callback is not None:
        options["callback"] = lambda record, x: callback(record, split.expand(x))
    reduced = split.reduced()
    # Built here and solved at once: its solve starts from the values its checks computed.
    with reduced.reusing_evaluations(construction=True):
        result = solver(reduced, **options)
    return split.full_solution(result, tol=tol)
