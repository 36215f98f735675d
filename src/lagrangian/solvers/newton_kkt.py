r"""Newton-KKT: sequential quadratic programming for equality constraints.

Each iteration solves the KKT system of :mod:`lagrangian.kkt` for a step ``dx``
and new multipliers, then searches along ``dx`` on the exact (l1) merit function

.. math::

    \phi_\nu(x) = f(x) + \nu \, \| c(x) - c_l \|_1 ,

accepting ``x + alpha dx`` when :math:`\phi_\nu(x + \alpha d_x) \le \phi_\nu(x) +
\eta \alpha D`, with ``D`` the directional derivative of :math:`\phi_\nu` along
``dx``. The penalty ``nu`` grows as needed to make ``D`` negative (Nocedal &
Wright 2006, eq. 18.36). When the full step is rejected, one second-order
correction (eq. 18.51) is tried before backtracking, which avoids the Maratos
effect and keeps the local convergence quadratic with an exact Hessian.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.sparse.linalg import LinearOperator, minres

from .. import linalg
from ..convention import lagrangian_gradient
from ..derivatives import quasi_newton_model
from ..errors import ProblemError, SingularKKTError
from ..kkt import least_squares_multipliers
from ..linalg.kkt_factorization import InertiaCorrection, assembled_dense
from ..result import IterationRecord, Solution, Status
from .ending import all_finite, callback_stops, finish
from .restoration import INFEASIBLE_VIOLATION
from .verification import verified
from .unboundedness import GrowthWatch, unbounded_ray

__all__ = ["newton_kkt"]

_ARMIJO = 1e-4
_MIN_STEP = 1e-12
_PENALTY_MARGIN = 0.1


def _merit(f, r, nu):
    return f + nu * np.abs(r).sum() if np.isfinite(f) and np.all(np.isfinite(r)) else np.inf


def _trial(problem, point, nu):
    """Evaluate a trial point: ``(f, c, merit)``; the merit is inf where f or c is not finite."""
    f, c = problem.objective(point), problem.constraint_values(point)
    return f, c, _merit(f, c - problem.cl, nu)


class _Log:
    """The one-line-per-iteration log."""

    header = f"{'iter':>4} {'objective':>15} {'inf_pr':>9} {'inf_du':>9} {'alpha':>9} {'lg(rg)':>6}"

    def __init__(self, stream):
        self.stream = stream
        if stream is not None:
            print(self.header, file=stream)

    def line(self, record: IterationRecord):
        if self.stream is None:
            return
        reg = "-" if record.regularization == 0 else f"{np.log10(record.regularization):.1f}"
        step = "" if record.iteration == 0 else f"{record.step:.2e}"
        print(
            f"{record.iteration:>4} {record.objective:>15.8e} {record.primal:>9.2e} {record.dual:>9.2e} {step:>9} {reg:>6}",
            file=self.stream,
        )


def _matrix_free_step(problem, x, y, J, g, r, correction):
    """Solve the KKT system with MINRES using only Hessian-vector products.

    No factorization means no inertia: convexity on the tangent space is tested
    on the step itself (``dx^T H dx > 0``) and ``H`` is shifted until it holds.
    """
    n, m = problem.n, problem.m
    rhs = -np.concatenate([g, r])
    dw = 0.0
    while True:
        def matvec(v, dw=dw):
            top = problem.hessian_product(x, y, v[:n]) + dw * v[:n] + J.T @ v[n:]
            return np.concatenate([top, J @ v[:n]])

        K = LinearOperator((n + m, n + m), matvec=matvec, dtype=float)
        solution, info = minres(K, rhs, rtol=1e-12, maxiter=20 * (n + m))
        dx = solution[:n]
        curvature = dx @ problem.hessian_product(x, y, dx) + dw * dx @ dx
        if info == 0 and (curvature > 0 or not np.any(dx)):
            return solution, dw
        dw = correction.initial if dw == 0 else dw * correction.increase
        if dw > correction.maximum:
            raise SingularKKTError("MINRES found no step with positive curvature even with Hessian shift 1e40")


def newton_kkt(
    problem,
    *,
    x0=None,
    y0=None,
    tol: float = 1e-9,
    max_iterations: int = 200,
    raise_on_failure: bool = False,
    log=False,
    callback=None,
) -> Solution:
    """Solve ``minimize f(x) s.t. c(x) = c_l`` by Newton's method on the KKT conditions.

    Parameters
    ----------
    problem : Problem
        Every constraint row an equality, no finite variable bounds.
    x0 : array_like, optional
        Starting point (default ``problem.x0``).
    y0 : array_like, optional
        Starting multipliers (default: the least-squares estimate from
        ``grad f + J^T y = 0`` at ``x0``).
    tol : float
        Stop when the stationarity and primal residuals (infinity norms) are both
        below ``tol``.
    max_iterations : int
    raise_on_failure : bool
        Raise :class:`~lagrangian.errors.ConvergenceError` (carrying the result)
        instead of returning an unsuccessful status.
    log : bool or text stream
        Print one line per iteration (``True`` means ``sys.stdout``).
    callback : callable, optional
        ``callback(record: IterationRecord, x)`` after every iteration.

    Returns
    -------
    Solution
    """
    if not problem.is_equality_constrained:
        raise ProblemError(
            "problem",
            "newton_kkt solves equality-constrained problems (cl == cu on every row, no bounds); "
            "this one has inequality rows or bounds",
        )
    if not (np.isfinite(tol) and tol > 0):
        raise ProblemError("tol", f"expected a positive number, got {tol!r}")
    if int(max_iterations) < 0:
        raise ProblemError("max_iterations", f"expected a non-negative integer, got {max_iterations!r}")
    n = problem.n
    x = problem.x0.copy() if x0 is None else np.asarray(x0, dtype=float).copy()
    if x.shape != (n,) or not np.all(np.isfinite(x)):
        raise ProblemError("x0", f"expected {n} finite values, got shape {x.shape}")
    stream = (sys.stdout if log is True else log) if log else None
    run = lambda start: _newton_kkt(problem, start, y0 if start is x else None, tol, max_iterations, stream, callback)  # noqa: E731
    return verified(run, problem, x, tol=tol, raise_on_failure=raise_on_failure)


def _newton_kkt(problem, x, y0, tol, max_iterations, stream, callback):
    """The body of :func:`newton_kkt` from ``x`` (options checked), without the second-order check."""
    n, m = problem.n, problem.m
    x = x.copy()
    start_counts = dict(problem.counts)
    logger = _Log(stream)
    correction = InertiaCorrection()
    model = None if (problem.has_hessian or problem.has_hessian_product) else quasi_newton_model(n, problem.quasi_newton)
    have_matrix = model is not None or problem.has_hessian

    f = problem.objective(x)
    c = problem.constraint_values(x)
    if not (np.isfinite(f) and np.all(np.isfinite(c))):
        raise ProblemError("x0", "the objective or constraints are not finite at the starting point")
    # A small problem's derivatives stay dense arrays: its KKT matrix is assembled dense.
    dense = assembled_dense(n + m)
    g = problem.gradient(x)
    J = problem.jacobian(x, dense=dense)
    if y0 is not None:
        y = np.asarray(y0, dtype=float).copy()
        if y.shape != (m,):
            raise ProblemError("y0", f"expected {m} multipliers, got shape {y.shape}")
    else:
        y = least_squares_multipliers(J, g)
    zeros_n = np.zeros(n)
    nu = 0.0
    history = []
    status = Status.MAX_ITERATIONS
    alpha, regularization = 0.0, 0.0
    growth, certificate, best = GrowthWatch(x), None, None

    for iteration in range(max_iterations + 1):
        r = c - problem.cl
        dual = lagrangian_gradient(g, J, y, zeros_n)
        record = IterationRecord(iteration, f, float(np.abs(r).max(initial=0)), float(np.abs(dual).max(initial=0)), alpha, regularization)
        history.append(record)
        logger.line(record)
        if callback_stops(callback, record, x):
            status = Status.STOPPED
            break
        if best is None or max(record.primal, record.dual) < best[0]:
            best = (max(record.primal, record.dual), x, f, c, g, J, y.copy())
        if record.primal <= tol and record.dual <= tol:
            status = Status.SUCCESS
            break
        if iteration == max_iterations:
            break

        # -- the Newton-KKT step ----------------------------------------------------
        try:
            if have_matrix:
                if model is not None:
                    H, low_rank = model.hessian_parts()
                    hessian_times = model.product
                else:
                    H, low_rank = problem.hessian(x, y, dense=dense), None
                    hessian_times = lambda v, H=H: H @ v  # noqa: E731
                if not all_finite(H, low_rank, J, g, r, y):
                    status = Status.NONFINITE
                    break
                solution, info = correction.solve(H, J, -np.concatenate([g, r]), low_rank=low_rank)
                regularization = info.primal_regularization
                rank_deficient = info.dual_regularization > 0
                Hdx = lambda v, times=hessian_times, reg=regularization: times(v) + reg * v  # noqa: E731
            else:
                solution, regularization = _matrix_free_step(problem, x, y, J, g, r, correction)
                rank_deficient = False
                Hdx = lambda v, x=x, y=y, reg=regularization: problem.hessian_product(x, y, v) + reg * v  # noqa: E731
        except SingularKKTError:
            status = Status.SINGULAR_KKT
            break
        dx, y_new = solution[:n], solution[n:]

        # -- evidence of unboundedness (zero or negative curvature, or growth) ------
        if record.primal <= tol and growth.due(x, regularized=regularization > 0):
            ray = unbounded_ray(problem, x, dx, tol=tol)
            if ray is not None:
                x, f, c, status, certificate = ray.x, ray.f, ray.c, Status.UNBOUNDED, ray.certificate
                g, J = problem.gradient(x), problem.jacobian(x, dense=dense)
                break

        # -- merit penalty and directional derivative ------------------------------
        r_norm = np.abs(r).sum()
        if r_norm > 0:
            curvature = dx @ Hdx(dx)
            needed = (g @ dx + 0.5 * max(curvature, 0.0)) / ((1 - _PENALTY_MARGIN) * r_norm)
            # With a rank-deficient J the regularized multipliers scale like
            # ||r|| / dc and say nothing about the problem: keep them out of nu.
            trusted = 0.0 if rank_deficient else np.abs(y_new).max(initial=0.0) + 1e-8
            nu = max(nu, needed, trusted)
        slope = g @ dx - nu * r_norm
        phi = _merit(f, r, nu)

        # -- line search with one second-order correction --------------------------
        alpha, accepted = 1.0, False
        x_trial = x + dx
        f_trial, c_trial, phi_trial = _trial(problem, x_trial, nu)
        # A full step whose predicted change of the merit is below its rounding error
        # cannot be judged by the merit (the iterate is at the tolerance's edge):
        # take it, as IPOPT takes tiny steps.
        negligible = np.isfinite(phi_trial) and -slope <= 10 * np.finfo(float).eps * max(1.0, abs(phi))
        if phi_trial <= phi + _ARMIJO * slope or negligible:
            accepted = True
        elif np.isfinite(phi_trial) and m and have_matrix:
            try:
                soc, _ = correction.solve(H, J, -np.concatenate([zeros_n, c_trial - problem.cl]), low_rank=low_rank)
            except SingularKKTError:
                soc = None
            if soc is not None:
                x_soc = x + dx + soc[:n]
                f_soc, c_soc, phi_soc = _trial(problem, x_soc, nu)
                if phi_soc <= phi + _ARMIJO * slope:
                    x_trial, f_trial, c_trial, accepted = x_soc, f_soc, c_soc, True
        while not accepted:
            alpha *= 0.5
            if alpha < _MIN_STEP:
                break
            x_trial = x + alpha * dx
            f_trial, c_trial, phi_trial = _trial(problem, x_trial, nu)
            accepted = phi_trial <= phi + _ARMIJO * alpha * slope
        if not accepted:
            status = Status.NONFINITE if not np.isfinite(phi_trial) else Status.LINE_SEARCH_FAILED
            if record.primal > tol and m:
                # Stuck while infeasible: minimize the violation alone. A stationary point
                # of it that still violates the rows is the verdict INFEASIBLE (as the
                # interior point's restoration phase gives); a feasible one is a restart.
                x_v, c_v, stationary = least_violation(problem, x, dense)
                violation = np.abs(c_v - problem.cl).max(initial=0.0)
                if violation > tol and not (violation > INFEASIBLE_VIOLATION and stationary):
                    break
                x, c, f = x_v, c_v, problem.objective(x_v)
                g, J = problem.gradient(x), problem.jacobian(x, dense=dense)
                if violation > tol:
                    status = Status.INFEASIBLE
                    break
                y, nu, alpha, status = least_squares_multipliers(J, g), 0.0, 0.0, Status.MAX_ITERATIONS
                continue
            break

        # -- accept -----------------------------------------------------------------
        g_new, J_new = problem.gradient(x_trial), problem.jacobian(x_trial, dense=dense)
        y = least_squares_multipliers(J_new, g_new) if rank_deficient else y + alpha * (y_new - y)
        if model is not None:
            model.update(x_trial - x, (g_new + linalg.transpose_times(J_new, y)) - (g + linalg.transpose_times(J, y)))
        x, f, c, g, J = x_trial, f_trial, c_trial, g_new, J_new

    if status in (Status.MAX_ITERATIONS, Status.LINE_SEARCH_FAILED, Status.SINGULAR_KKT, Status.NONFINITE):
        # The best point seen (smallest max(primal, dual) residual) is the one returned.
        _, x, f, c, g, J, y = best
    return finish(
        problem, solver="newton_kkt", x=x, f=f, y=y, z=np.zeros(n), c=c, g=g, J=J,
        status=status, history=history, start_counts=start_counts, stream=stream, raise_on_failure=False,
        certificate=certificate,
    )


def least_violation(problem, x, dense, *, max_iterations=100):
    r"""Gauss-Newton on :math:`\tfrac12 \|c(x) - c_l\|^2` from ``x``: ``(x, c(x), stationary)``.

    Each step solves the linearized least-squares problem
    ``min ||r + J dx||`` (minimum norm where ``J`` loses rank) and backtracks on
    ``||r||^2``. ``stationary`` says that the gradient ``J^T r`` vanished to
    ``1e-6 max(1, ||r||)`` (infinity norms): a local minimizer of the violation,
    as the interior point's restoration phase tests.
    """
    c = problem.constraint_values(x)
    for _ in range(max_iterations):
        r = c - problem.cl
        J = problem.jacobian(x, dense=dense)
        gradient = linalg.transpose_times(J, r)
        if np.abs(gradient).max(initial=0.0) <= 1e-6 * max(1.0, np.abs(r).max(initial=0.0)):
            return x, c, True
        dx = least_squares_multipliers(J.T, r)
        slope, value, alpha = -(r @ r), 0.5 * (r @ r), 1.0
        while alpha > 1e-12:
            trial = x + alpha * dx
            c_trial = problem.constraint_values(trial)
            r_trial = c_trial - problem.cl
            if np.all(np.isfinite(r_trial)) and 0.5 * (r_trial @ r_trial) <= value + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        if alpha <= 1e-12:
            return x, c, False
        x, c = trial, c_trial
    return x, c, False
