r"""IPOPT's restoration problem on the 1-norm of the violation, solved by the interior point itself.

The feasibility restoration of :mod:`~lagrangian.solvers.restoration` minimizes
:math:`\tfrac12 \|d(w)\|_2^2` by Newton steps. The squared 2-norm has local minimizers
that are not stationary for the 1-norm the filter measures: where ``J`` is rank
deficient, ``J^T d = 0`` can hold with ``J^T sign(d) != 0`` (CUTEst DRCAVTY2 stalled
at violation 1.3e-2 with ``|J^T d| = 3e-10`` and ``|J^T sign d| = 57``, a feasible
problem). Before such a stall is reported as :attr:`~lagrangian.Status.INFEASIBLE`
(or :attr:`~lagrangian.Status.RESTORATION_FAILED`), the run solves IPOPT's
restoration problem (Wächter & Biegler 2006, section 3.3), a smooth problem in
``(w, p, n)``:

.. math::

    \min_{w, p, n} \; \rho \sum_i (p_i + n_i) + \frac{\zeta}{2} \|D_R (x - x_R)\|_2^2
    \quad \text{s.t.} \quad d(w) - p + n = 0, \quad p, n \ge 0, \quad l_w \le w \le u_w ,

with ``rho = 1000``, ``zeta = sqrt(mu_R)``, ``D_R = diag(min(1, 1/|x_R|))`` and ``x_R``
the point where restoration started; ``d(w)`` is the slack form's scaled residual
(inequality rows through their slacks, which keep their bounds). At a solution with
multipliers below ``rho`` the elastic variables vanish wherever the violation can be
reduced: its stationary points are those of ``||d||_1`` (plus the small proximity
term), not of ``||d||_2^2``. It is solved by the same interior point (the ``solve``
argument, :func:`~lagrangian.solvers.interior_point.interior_point`, passed in so that
this module does not import it), with exact derivatives built from the original's:
the gradient ``(zeta D_R^2 (x - x_R), 0, rho, rho)``, the Jacobian ``[A, -I, I]`` with
``A = [D J, -P]`` the slack form's, and the Hessian of the Lagrangian
``zeta D_R^2 + sum_i D_i y_i nabla^2 c_i`` (the original's Hessian with objective
weight zero). The inner solve stops, as IPOPT's restoration does, at the first iterate
that reduces the original violation ``||d||_1`` to ``0.9`` of its value at ``x_R`` and
that the original filter accepts; it never starts a 1-norm stage of its own.

The elastic variables start at the closed form of the paper's eq. (33), the
minimizer over ``p, n`` of the barrier problem at fixed ``w``:

.. math::

    n = \frac{\mu - \rho d}{2 \rho} + \sqrt{\Big(\frac{\mu - \rho d}{2 \rho}\Big)^2 + \frac{\mu d}{2 \rho}},
    \qquad p = d + n .
"""

from __future__ import annotations

import time
import weakref
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from ..errors import ProblemError
from ..problem import Equality, Problem
from ..result import Status

__all__ = ["l1_restore", "RHO", "REDUCTION"]

RHO = 1000.0  # the penalty weight of the elastic variables (IPOPT's resto_penalty_parameter)
REDUCTION = 0.9  # restoration ends once ||d||_1 <= REDUCTION ||d(x_R)||_1 (IPOPT's required_infeasibility_reduction)
ITERATIONS = 1000  # the inner solve's iteration limit
# The restoration problems this module built: a run on one of them never starts another
# 1-norm stage. Marked by identity, not by a flag set around the inner solve, so a solve
# that a user's function starts inside it keeps its own stage.
_RESTORATION_PROBLEMS: weakref.WeakSet = weakref.WeakSet()


def elastic_start(d, mu):
    """The paper's eq. (33): ``(p, n) >= 0`` with ``p - n = d`` minimizing ``rho (p + n) - mu ln p - mu ln n``."""
    a = (mu - RHO * d) / (2 * RHO)
    n = a + np.sqrt(a * a + mu * d / (2 * RHO))
    return d + n, n


def restoration_problem(problem, form, point, mu_r):
    """The 1-norm restoration problem at ``point`` (a :class:`~lagrangian.Problem` in ``v = (w, p, n)``).

    ``mu_r`` fixes ``zeta = sqrt(mu_r)`` and the start of the elastic variables. Returned
    with a namespace whose ``last`` holds ``(x, c(x))`` of the latest constraint evaluation.
    """
    n, m, nw = problem.n, problem.m, form.nw
    w_r = point.w.copy()
    x_r = w_r[:n]
    weight = np.sqrt(mu_r) * np.minimum(1.0, 1.0 / np.maximum(np.abs(x_r), 1e-300)) ** 2  # zeta D_R^2
    weight[form.fixed] = 0.0
    identities = sp.hstack([-sp.eye_array(m), sp.eye_array(m)], format="csr")
    evaluated = SimpleNamespace()

    def objective(v):
        dx = v[:n] - x_r
        return float(RHO * v[nw:].sum() + 0.5 * (weight * dx) @ dx)

    def gradient(v):
        return np.concatenate([weight * (v[:n] - x_r), np.zeros(nw - n), np.full(2 * m, RHO)])

    def rows(v):
        c = problem.constraint_values(v[:n])
        evaluated.last = (v[:n].copy(), c)  # the stopping test reads c at the accepted point without calling c(x) again
        return form.residual(v[:nw], c) - v[nw : nw + m] + v[nw + m :]

    def jacobian(v):
        A = form.jacobian(problem.jacobian(v[:n], dense=form.dense))
        return sp.hstack([sp.csr_array(A), identities], format="csr")

    def hessian(v, y):
        # The constraints' curvature alone (objective weight zero): the user's Hessian at
        # the scaled multipliers less its value at y = 0.
        x = v[:n]
        curvature = problem.hessian(x, form.row_scale * y) - problem.hessian(x, np.zeros(m))
        return sp.block_diag([sp.csr_array(curvature) + sp.diags_array(weight), sp.csr_array((nw - n + 2 * m, nw - n + 2 * m))], format="csr")

    p0, n0 = elastic_start(form.residual(w_r, point.c), mu_r)
    evaluated.last = (x_r.copy(), point.c)
    lower = np.concatenate([problem.lb, form.lower[n:], np.zeros(2 * m)])
    upper = np.concatenate([problem.ub, form.upper[n:], np.full(2 * m, np.inf)])
    restoration = Problem(
        objective,
        np.concatenate([w_r, p0, n0]),
        gradient=gradient,
        constraints=[Equality(rows, jacobian=jacobian, name="restoration")],
        bounds=(lower, upper),
        hessian=hessian if problem.has_hessian else None,
        name=f"l1 restoration of {problem.name or 'problem'}",
    )
    return restoration, evaluated


def l1_restore(solve, problem, form, point, mu, filt, tol, outcome, restored, deadline=None, iterations=ITERATIONS):
    r"""Solve the 1-norm restoration problem from ``point`` before the run is declared infeasible.

    Parameters
    ----------
    solve : callable
        The interior point, ``solve(problem, tol=..., mu_init=..., ...) -> Solution``.
    problem, form, point
        The original problem, its slack form and the iterate where restoration started.
    mu, filt, tol
        The original run's barrier parameter, filter and tolerance.
    outcome, restored
        The 2-norm restoration's verdict and point, returned unchanged when this stage
        does not reach an acceptable point.
    deadline : float, optional
        ``time.perf_counter()`` value after which no inner solve is started or continued.
    iterations : int, optional
        What is left of the original run's iteration budget: the inner solve takes at
        most this many (and at most :data:`ITERATIONS`). Its iterations are not added
        to the run's reported count.

    Returns
    -------
    (None, point) with an iterate of the original run whose violation ``||d||_1`` is at
    most ``0.9`` of ``point``'s and which the filter accepts; else
    ``(MAX_ITERATIONS or TIME_LIMIT, point)`` when the budget or the time ran out before
    the stage could finish (a limit is no evidence of infeasibility); else
    ``(outcome, restored)``: the 2-norm verdict, now backed by the 1-norm stage too.
    """
    if problem in _RESTORATION_PROBLEMS or problem.m == 0:
        return outcome, restored
    if iterations < 1:
        return Status.MAX_ITERATIONS, point
    max_time = None if deadline is None else deadline - time.perf_counter()
    if max_time is not None and max_time <= 0:
        return Status.TIME_LIMIT, point
    n, nw = problem.n, form.nw
    theta_start = np.abs(form.residual(point.w, point.c)).sum()
    mu_r = max(mu, np.abs(form.residual(point.w, point.c)).max(initial=0.0))
    found = []

    def acceptable(v):
        """The original iterate at ``v``'s ``w`` if the original run's restoration would end there, else None."""
        w = v[:nw]
        x_last, c = evaluated.last
        if not np.array_equal(x_last, w[:n]):
            c = problem.constraint_values(w[:n])
        theta = np.abs(form.residual(w, c)).sum()
        if not theta <= REDUCTION * theta_start:
            return None
        f = problem.objective(w[:n])
        phi = form.barrier(f, w, mu)
        return form.point(w.copy(), f, c) if np.isfinite(phi) and not filt.rejects(theta, phi) else None

    def stop_when_acceptable(record, v):
        accepted = acceptable(v)
        if accepted is not None:
            found.append(accepted)
            raise StopIteration

    try:
        elastic, evaluated = restoration_problem(problem, form, point, mu_r)
        _RESTORATION_PROBLEMS.add(elastic)
        result = solve(elastic, tol=tol, mu_init=mu_r, max_iterations=min(ITERATIONS, iterations), max_time=max_time, callback=stop_when_acceptable)
    except ProblemError:
        # The user's functions refused a point of the restoration problem (its start is
        # pushed 1e-2 inside the bounds): no evidence either way, the verdict stands.
        return outcome, restored
    if not found:
        accepted = acceptable(result.x)
        if accepted is None:
            # Cut short by the caller's time or iteration budget (not the stage's own
            # ITERATIONS): no verdict either way.
            if result.status is Status.TIME_LIMIT or (result.status is Status.MAX_ITERATIONS and iterations <= ITERATIONS):
                return result.status, point
            return outcome, restored
        found.append(accepted)
    return None, found[0]
