r"""A primal-dual interior-point method with a filter line search (IPOPT's algorithm).

The problem ``min f(x) s.t. cl <= c(x) <= cu, lb <= x <= ub`` is first put in the
form the method works on: every inequality row gets a slack ``s``,

.. math::

    \min_{w = (x, s)} f(x) \quad \text{s.t.} \quad
    d(w) = \begin{bmatrix} c_E(x) - c_{l,E} \\ c_I(x) - s \end{bmatrix} = 0,
    \qquad l_w \le w \le u_w ,

with ``l_w = (lb, cl_I)`` and ``u_w = (ub, cu_I)``. For a barrier parameter
``mu > 0`` the bounds are replaced by logarithms,

.. math::

    \varphi_\mu(w) = f(x) - \mu \sum \ln(w_i - l_i) - \mu \sum \ln(u_i - w_i),

and Newton's method on the perturbed KKT conditions (``z_L (w - l) = mu``,
``z_U (u - w) = mu``) gives, after eliminating the bound multipliers, one
symmetric indefinite solve per iteration (Wächter & Biegler 2006, eq. 13):

.. code-block:: text

    [ W + Sigma + dw I    A^T   ] [ dw    ]     [ grad phi_mu(w) ]    Sigma = Z_L/(W-L) + Z_U/(U-W)
    [ A                 -dc I   ] [ y_new ] = - [ d(w)           ]    A = dd/dw = [J, -P]

which is the matrix of :func:`lagrangian.kkt.kkt_matrix` with ``H = W + Sigma``,
solved with the same :class:`~lagrangian.linalg.kkt_factorization.InertiaCorrection`. The multipliers
keep the package convention: the stationarity of ``s`` reads ``y_I = z_U,s -
z_L,s``, so ``y_I >= 0`` at an upper bound, and ``z = z_U - z_L`` on ``x``.

Globalization is the filter line search of the paper (section 2.3): a trial
point is accepted if it reduces either the constraint violation ``theta = ||d||_1``
or the barrier function enough, and is not dominated by the filter; an Armijo
condition on ``phi_mu`` applies when the step is a descent direction and the
point is nearly feasible. Up to four second-order corrections are tried when the
full step is rejected, reusing the accepted factorization. When no step length is
acceptable, a feasibility restoration phase minimizes the violation
``1/2 ||d(w)||^2`` (Gauss-Newton with its own barrier); where that stalls while
infeasible, IPOPT's restoration problem on ``||d||_1`` is solved by this same method, and
only if that too fails to reduce the violation is the run reported
:attr:`~lagrangian.Status.INFEASIBLE`.

The barrier parameter follows the monotone Fiacco-McCormick rule
``mu <- max(tol/10, min(0.2 mu, mu^1.5))`` once the barrier problem is solved to
``10 mu``. Objective and constraint rows are scaled at the start so that no
gradient entry exceeds 100 (IPOPT's gradient-based scaling); all reported values
are unscaled. Fixed variables (``lb == ub``) are parameters, inequality rows'
bounds are relaxed by ``min(1e-8, tol)``, and a square system (as many
equality rows as free variables) ends as soon as it is feasible
(:mod:`~lagrangian.solvers.slack_form`).

The body of :func:`interior_point` follows the paper's Algorithm A step by step:

==========  ==============================================  =====================================
step        what                                            where
==========  ==============================================  =====================================
A-1         starting point, multipliers, filter             :func:`_starting_point` and below
A-2         optimality error, convergence, limits           :func:`_optimality_error`
A-3         barrier parameter update                        :func:`_update_barrier`
A-4         search direction (inertia-corrected)            :func:`_search_direction`
A-5         backtracking filter line search, SOC            :mod:`~lagrangian.solvers.filter_line_search`
A-5         the watchdog (full steps after shortened ones)  :mod:`~lagrangian.solvers.watchdog`
A-6/A-7     accept, augment the filter, update multipliers  :func:`_update_multipliers`
A-9         feasibility restoration                         :mod:`~lagrangian.solvers.restoration`
A-9         ... on the 1-norm, before a verdict INFEASIBLE  :mod:`~lagrangian.solvers.l1_restoration`
==========  ==============================================  =====================================

Unboundedness is reported only with a ray along which ``f`` keeps falling
(:mod:`~lagrangian.solvers.unboundedness`). Every run ends through
:func:`~lagrangian.solvers.verification.verified`: a SUCCESS is polished onto its
active set (:mod:`~lagrangian.solvers.polish`) and confirmed by the second-order
check, a stalled run is judged afresh by its KKT residuals, and a failing run
returns the best point it saw.

Reference: A. Wächter and L. T. Biegler, "On the implementation of an
interior-point filter line-search algorithm for large-scale nonlinear
programming", Math. Program. 106 (2006) 25-57.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import linalg
from ..convention import bound_violation, lagrangian_gradient
from ..derivatives import quasi_newton_model
from ..errors import ProblemError, SingularKKTError
from ..kkt import least_squares_multipliers
from ..linalg.kkt_factorization import InertiaCorrection, KKTFactorInfo
from ..result import IterationRecord, Solution, Status
from .ending import all_finite, callback_stops, check_option, finish, limit_status
from .filter_line_search import Filter
from .l1_restoration import l1_restore
from .restoration import restore
from .verification import verified
from .unboundedness import GrowthWatch, unbounded_ray
from .watchdog import Base, Watchdog
from .slack_form import SlackForm, fraction_to_boundary, push_inside

__all__ = ["interior_point"]

# Constants of Wächter & Biegler (2006), table of section 4 / IPOPT's defaults.
_KAPPA_EPSILON = 10.0  # solve the barrier problem to kappa_eps * mu
_KAPPA_MU, _THETA_MU = 0.2, 1.5  # mu <- min(kappa_mu mu, mu^theta_mu)
_TAU_MIN = 0.99  # fraction to the boundary
_KAPPA_SIGMA = 1e10  # bound multipliers stay within this factor of mu / distance
_S_MAX = 100.0  # optimality error scaling
_S_CAP = 1e4  # ... by at most this factor
_SINGULAR_RESIDUAL = 1e-5  # IPOPT's residual_ratio_singular: a KKT solve worse than this is singular
_MULTIPLIER_LIMIT = 1e3  # least-squares starting multipliers larger than this are discarded
_ACCEPTABLE = 1e-6  # a stalled solve whose best scaled KKT error is below this ends ACCEPTABLE
_FEASIBLE = 1e-6  # the best iterate seen is the feasible one (to this) with the smallest error
# Statuses that return the best iterate seen (smallest optimality error), not the last;
# of those, the ones where the iteration stalled can end ACCEPTABLE.
_STALLS = (Status.LINE_SEARCH_FAILED, Status.RESTORATION_FAILED, Status.SINGULAR_KKT, Status.NONFINITE, Status.STALLED)
_TINY_STEPS = 5  # consecutive steps below rounding that end the run STALLED
_EPS = np.finfo(float).eps
_ENDS_AT_BEST = (Status.MAX_ITERATIONS, Status.TIME_LIMIT, Status.EVALUATION_LIMIT) + _STALLS


class _Log:
    """IPOPT-style iteration log."""

    header = (
        f"{'iter':>4} {'objective':>15} {'inf_pr':>9} {'inf_du':>9} {'lg(mu)':>6} {'||d||':>9} "
        f"{'lg(rg)':>6} {'alpha_du':>9} {'alpha_pr':>9} {'ls':>3}"
    )

    def __init__(self, stream):
        self.stream = stream
        if stream is not None:
            print(self.header, file=stream)

    def line(self, r: IterationRecord, tag=""):
        if self.stream is None:
            return
        reg = "-" if not r.regularization else f"{np.log10(r.regularization):.1f}"
        first = r.iteration == 0
        print(
            f"{r.iteration:>4}{tag or ' '}{r.objective:>15.8e} {r.primal:>9.2e} {r.dual:>9.2e} {np.log10(r.barrier):>6.1f} "
            f"{'-' if first else f'{r.step_norm:.2e}':>9} {reg:>6} {'-' if first else f'{r.dual_step:.2e}':>9} "
            f"{'-' if first else f'{r.step:.2e}':>9} {'-' if first else r.trials:>3}",
            file=self.stream,
        )


def interior_point(
    problem,
    *,
    x0=None,
    y0=None,
    z0=None,
    tol: float = 1e-8,
    max_iterations: int = 3000,
    max_time: float | None = None,
    max_evaluations: int | None = None,
    mu_init: float = 0.1,
    raise_on_failure: bool = False,
    log=False,
    callback=None,
) -> Solution:
    r"""Solve ``min f(x) s.t. cl <= c(x) <= cu, lb <= x <= ub`` by a primal-dual interior-point method.

    See the module docstring for the algorithm. Every kind of constraint row and
    bound is handled; equality-only problems work too (they are then an SQP
    method with a filter).

    Parameters
    ----------
    problem : Problem
    x0 : array_like (n,), optional
        Starting point (default ``problem.x0``); moved inside the bounds by at
        most 1e-2 relative.
    y0 : array_like (m,), optional
        Starting constraint multipliers in the package convention (default: the
        least-squares estimate, or zero when that exceeds 1e3).
    z0 : array_like (n,), optional
        Starting bound multipliers in the package convention (``z0 <= 0`` at a
        lower bound, ``>= 0`` at an upper bound); with ``y0`` and ``x0`` this is
        a warm start. Default: 1 for every bound.
    tol : float
        Stop when the scaled optimality error ``max(inf_du / s_d, inf_pr,
        compl / s_c)`` of the scaled problem is below ``tol`` (the paper's eq. 5).
    max_iterations : int
    max_time : float, optional
        Wall-clock limit in seconds.
    max_evaluations : int, optional
        Limit on objective evaluations (the usual count of scipy's ``nfev``).
    mu_init : float
        Starting barrier parameter.
    raise_on_failure : bool
        Raise :class:`~lagrangian.errors.ConvergenceError` instead of returning an
        unsuccessful status.
    log : bool or text stream
        IPOPT-style log, one line per iteration (``True`` means ``sys.stdout``).
        An ``r`` after the iteration number marks a restoration step.
    callback : callable, optional
        ``callback(record: IterationRecord, x)`` after every iteration.

    Returns
    -------
    Solution
        On an iteration, time or evaluation limit, the iterate with the smallest
        optimality error seen, with the matching status.
    """
    tol = check_option("tol", tol)
    max_iterations = check_option("max_iterations", max_iterations, integer=True)
    max_time = check_option("max_time", max_time, allow_none=True)
    max_evaluations = check_option("max_evaluations", max_evaluations, integer=True, allow_none=True)
    mu_init = check_option("mu_init", mu_init)
    n = problem.n
    x_start = problem.x0.copy() if x0 is None else np.asarray(x0, dtype=float).copy()
    if x_start.shape != (n,) or not np.all(np.isfinite(x_start)):
        raise ProblemError("x0", f"expected {n} finite values, got shape {x_start.shape}")
    stream = (sys.stdout if log is True else log) if log else None
    options = dict(
        tol=tol, max_iterations=max_iterations, max_time=max_time, max_evaluations=max_evaluations, mu_init=mu_init,
        stream=stream, callback=callback,
    )
    run = lambda start: _interior_point(problem, start, y0 if start is x_start else None, z0 if start is x_start else None, **options)  # noqa: E731
    return verified(run, problem, x_start, tol=tol, raise_on_failure=raise_on_failure)


def _interior_point(problem, x_start, y0, z0, *, tol, max_iterations, max_time, max_evaluations, mu_init, stream, callback):
    """Algorithm A from ``x_start``: the body of :func:`interior_point` (options checked), without the second-order check."""
    n = problem.n
    started = time.perf_counter()
    start_counts = dict(problem.counts)
    logger = _Log(stream)

    # -- initialization ----------------------------------------------------------
    form, point = _starting_point(problem, x_start, tol)
    z = _starting_bound_multipliers(form, z0, mu_init)
    y = _starting_multipliers(form, point, z, y0)
    correction = InertiaCorrection(singular_residual=_SINGULAR_RESIDUAL)
    model = None if problem.has_hessian else quasi_newton_model(n, problem.quasi_newton)
    mu = mu_init
    theta0 = form.point_theta(point)
    filt = Filter(1e4 * max(1.0, theta0))
    theta_min = 1e-4 * max(1.0, theta0)
    history, best = [], None
    growth, certificate, tiny_steps = GrowthWatch(point.w[:n]), None, 0
    watchdog = Watchdog()
    status = Status.MAX_ITERATIONS
    alpha, alpha_z, regularization, step_norm, trials, tag = 0.0, 0.0, 0.0, 0.0, 0, ""

    for iteration in range(max_iterations + 1):
        # -- check convergence ---------------------------------------------------
        d = form.point_residual(point)
        error_at = _optimality_error(form, point, y, z, d)
        error = error_at(0.0)
        record = _record(problem, form, point, y, z, iteration, alpha, regularization, mu, step_norm, alpha_z, trials)
        history.append(record)
        logger.line(record, tag)
        if callback_stops(callback, record, point.w[:n]):
            status = Status.STOPPED
            break
        # A feasible point (violation <= _FEASIBLE in the user's units) beats any infeasible
        # one, whatever their dual errors: a run whose multipliers blow up after reaching
        # feasibility must return that feasible point, not an early infeasible one.
        rank = (record.primal > _FEASIBLE, error)
        if best is None or rank < best[0]:
            best = (rank, point, y.copy(), z.copy())
        if error <= tol:
            status = Status.SUCCESS
            break
        limit = limit_status(iteration, max_iterations, started, max_time)
        if limit is not None:
            status = limit
            break
        if max_evaluations is not None and problem.counts["objective"] - start_counts["objective"] >= max_evaluations:
            status = Status.EVALUATION_LIMIT
            break

        # -- barrier parameter update --------------------------------------------
        mu = _update_barrier(mu, error_at, tol, filt)
        tau = max(_TAU_MIN, 1.0 - mu)

        # -- search direction ----------------------------------------------------
        try:
            direction = _search_direction(form, point, y, z, d, mu, tau, correction, model)
        except SingularKKTError:
            status = Status.SINGULAR_KKT
            break
        if direction is None:
            status = Status.NONFINITE
            break
        regularization, alpha_z = direction.regularization, direction.alpha_z

        # -- backtracking line search (with second-order corrections, the watchdog) --
        trial, trials, base, tag = watchdog.line_search(problem, form, filt, Base(point, y, z, d, direction), mu, tau, theta_min)
        point, y, z, d, direction = base.point, base.y, base.z, base.d, base.direction
        step_norm = float(np.abs(direction.dw[:n]).max(initial=0.0))

        if trial is None:
            # -- feasibility restoration -----------------------------------------
            if form.point_theta(point) <= tol * 1e-2:
                status = Status.LINE_SEARCH_FAILED
                break
            outcome, restored = restore(problem, form, point, mu, filt, tau, tol)
            if outcome in (Status.INFEASIBLE, Status.RESTORATION_FAILED):
                # Before the verdict: IPOPT's restoration problem on the 1-norm (the 2-norm's stall may be spurious).
                outcome, restored = l1_restore(interior_point, problem, form, point, mu, filt, tol, outcome, restored,
                                               None if max_time is None else started + max_time, max_iterations - iteration)
            if outcome is not None:
                status = outcome
                if outcome is Status.INFEASIBLE:
                    point = restored  # the point that (locally) minimizes the violation
                break
            point, tag = restored, "r"
            watchdog.reset()
            # Restart the bound multipliers on the central path and re-estimate y.
            z = mu / form.point_distance(point)
            y = _multiplier_estimate(form, point, z)
            alpha, alpha_z = 0.0, 0.0
            continue

        # -- accept the trial point, augment the filter ----------------------
        alpha = trial.alpha
        if not trial.armijo:
            filt.augment(*(trial.reference or (form.point_theta(point), form.point_barrier(point, mu))))
        # -- evidence of unboundedness: zero or negative curvature, or growing iterates,
        #    at a feasible point, and a ray along which f keeps falling -----------------
        if record.primal <= tol and growth.due(point.w[:n], regularized=regularization > 0):
            ray = unbounded_ray(problem, point.w[:n], direction.dw[:n], tol=tol)
            if ray is not None:
                point, status, certificate = form.point_at(ray.x, ray.f, ray.c), Status.UNBOUNDED, ray.certificate
                break
        previous = point
        point = form.point(trial.w, trial.f, trial.c, trial.d)
        point.theta, point.phi = trial.theta, (mu, trial.phi)  # the line search's own values there
        y, z = _update_multipliers(form, previous, point, y, z, direction, alpha, mu)
        if model is not None:
            _update_quasi_newton(model, form, previous, point, y)
        # Steps below rounding for _TINY_STEPS iterations in a row: the iteration cycles at
        # its rounding limit and will not reach tol (CUTEst DIAGIQE sat 2,900 iterations).
        moved = np.abs(point.w - previous.w).max(initial=0.0) > 10 * _EPS * (1 + form.point_w_max(point))
        tiny_steps = 0 if moved else tiny_steps + 1
        if tiny_steps >= _TINY_STEPS:
            status = Status.STALLED
            break

    if status in _ENDS_AT_BEST and best is not None:
        # The best point seen is the one returned: a failing run can wander far from it.
        _, point, y, z = best
        if status in _STALLS and best[0][1] <= _ACCEPTABLE:
            status = Status.ACCEPTABLE
    if form.square:
        y_out, z_out = _square_multipliers(problem, point)
        if status is Status.SUCCESS and not _stationary(problem, point, y_out, tol):
            status = Status.FEASIBLE_POINT
    else:
        y_out, z_out = form.unscale(y, z, point)
    return finish(
        problem, solver="interior_point", x=point.w[:n], f=point.f, y=y_out, z=z_out, c=point.c, g=point.g, J=point.J,
        status=status, history=history, start_counts=start_counts, stream=stream, raise_on_failure=False,
        certificate=certificate,
    )


def _square_multipliers(problem, point):
    """A square system's multipliers in the user's units: ``y`` from ``min ||grad f + J^T y||``, ``z = 0``.

    A square run ends once it is feasible (its steps are the whole barrier problem's, but
    its multipliers are not driven to stationarity); at a nonsingular ``J`` this ``y``
    makes the stationarity residual vanish, and the reported residuals say whether it does.
    """
    return least_squares_multipliers(point.J, point.g), np.zeros(problem.n)


def _stationary(problem, point, y, tol):
    """Whether ``grad f + J^T y`` vanishes to ``tol max(1, |grad f|)`` (infinity norms)."""
    residual = lagrangian_gradient(point.g, point.J, y, np.zeros(problem.n))
    return np.abs(residual).max(initial=0.0) <= tol * max(1.0, np.abs(point.g).max(initial=0.0))


# -- the starting point and multipliers ----------------------------------------------
def _starting_point(problem, x_start, tol):
    """The slack form (scaled at the pushed ``x0``) and the first iterate (section 3.6).

    ``x0`` is pushed inside its bounds, each slack starts at its row's value
    ``D_i c_i(x0)`` pushed inside the row's bounds.
    """
    n = problem.n
    # Scaling reads the gradients at the point the iteration starts from.
    form = SlackForm(problem, push_inside(x_start, problem.lb, problem.ub), tol)
    w = form.push_inside(np.concatenate([x_start, np.zeros(form.nw - n)]))
    x = w[:n]
    f, c = problem.objective(x), problem.constraint_values(x)
    if not (np.isfinite(f) and np.all(np.isfinite(c))):
        raise ProblemError("x0", "the objective or constraints are not finite at the starting point (after moving it inside the bounds)")
    w[n:] = form.row_scale[form.inequality_rows] * c[form.inequality_rows]
    return form, form.point(form.push_inside(w), f, c)


def _starting_bound_multipliers(form, z0, mu_init):
    """``z_L = z_U = 1`` (IPOPT's bound_mult_init_val), or the user's ``z0`` turned into ``z >= mu_init`` per bound."""
    if z0 is None:
        return np.ones(form.bounded.size)
    n = form.n
    z_start = np.asarray(z0, dtype=float)
    if z_start.shape != (n,) or not np.all(np.isfinite(z_start)):
        raise ProblemError("z0", f"expected {n} finite values, got shape {z_start.shape}")
    scaled = np.zeros(form.nw)
    scaled[:n] = z_start * form.f_scale
    return np.maximum(-form.sign * scaled[form.bounded], mu_init)


def _starting_multipliers(form, point, z, y0):
    """The user's ``y0`` in scaled units, or the least-squares estimate (section 3.6)."""
    if y0 is None:
        return _multiplier_estimate(form, point, z)
    m = form.m
    y = np.asarray(y0, dtype=float).copy()
    if y.shape != (m,) or not np.all(np.isfinite(y)):
        raise ProblemError("y0", f"expected {m} finite values, got shape {y.shape}")
    return y * form.f_scale / form.row_scale


def _multiplier_estimate(form, point, z):
    """Least-squares ``y`` from ``grad f + A^T y - z_L + z_U = 0``, or zero when it exceeds 1e3 (IPOPT)."""
    gz = form.point_gradient(point) + form.scatter(-form.sign * z)
    y = least_squares_multipliers(form.point_jacobian(point), gz)
    return np.zeros_like(y) if np.abs(y).max(initial=0.0) > _MULTIPLIER_LIMIT else y


# -- the optimality error and the record -----------------------------------------------
def _optimality_error(form, point, y, z, d):
    """``mu -> E_mu`` at this iterate (the paper's eq. 5); only the complementarity term depends on mu."""
    m = form.m
    dual = form.point_gradient(point) + linalg.transpose_times(form.point_jacobian(point), y) + form.scatter(-form.sign * z)
    products = form.point_distance(point) * z
    count, z_sum = z.size, z.sum()
    # IPOPT's scaling of the dual and complementarity errors by the multipliers' size,
    # capped: with multipliers run away to 1e40 it would otherwise call any point optimal.
    s_d = min(_S_CAP, max(_S_MAX, (np.abs(y).sum() + z_sum) / max(m + count, 1)) / _S_MAX)
    s_c = min(_S_CAP, max(_S_MAX, z_sum / max(count, 1)) / _S_MAX)
    if form.square:
        # A square system is solved once it is feasible (its multipliers are computed at
        # the end; the barrier only keeps the bounds).
        violation = np.abs(d).max(initial=0.0)
        return lambda mu: violation
    rest = max(np.abs(dual).max(initial=0.0) / s_d, np.abs(d).max(initial=0.0))
    return lambda mu: max(rest, np.abs(products - mu).max(initial=0.0) / s_c)


def _record(problem, form, point, y, z, iteration, alpha, regularization, mu, step_norm, alpha_z, trials):
    """The iteration's :class:`IterationRecord`, in the user's units (unscaled violation and stationarity)."""
    y_out, z_out = form.unscale(y, z, point)
    x = point.w[: problem.n]
    violation = np.concatenate([bound_violation(point.c, problem.cl, problem.cu), bound_violation(x, problem.lb, problem.ub)])
    return IterationRecord(
        iteration,
        point.f,
        float(violation.max(initial=0.0)),
        float(np.abs(lagrangian_gradient(point.g, point.J, y_out, z_out)).max(initial=0.0)),
        alpha,
        regularization,
        barrier=mu,
        step_norm=step_norm,
        dual_step=alpha_z,
        trials=trials,
    )


# -- the barrier parameter -------------------------------------------------------------
def _update_barrier(mu, error_at, tol, filt):
    """Fiacco-McCormick's monotone rule (the paper's eq. 7): decrease ``mu`` while the barrier problem is solved to ``kappa_eps mu``.

    ``mu <- max(tol/10, min(kappa_mu mu, mu^theta_mu))``; the filter restarts with every new barrier problem.
    """
    while mu > tol / 10 and error_at(mu) <= _KAPPA_EPSILON * mu:
        mu = max(tol / 10, min(_KAPPA_MU * mu, mu**_THETA_MU))
        filt.reset()
    return mu


# -- the search direction --------------------------------------------------------------
@dataclass
class _Direction:
    """The Newton step on the barrier problem at one iterate (the paper's eqs. 13 and 11, 15).

    ``dw`` and ``dy`` come from the inertia-corrected symmetric solve, ``dz`` from
    eliminating the bound multipliers; ``alpha_max`` and ``alpha_z`` are the
    fraction-to-the-boundary step lengths of ``w`` and ``z``.
    """

    dw: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    grad_phi: np.ndarray
    alpha_max: float
    alpha_z: float
    info: KKTFactorInfo

    @property
    def regularization(self) -> float:
        return self.info.primal_regularization


def _search_direction(form, point, y, z, d, mu, tau, correction, model) -> _Direction | None:
    """Solve the primal-dual system (eq. 13) for ``(dw, y + dy)`` and recover ``dz`` (eq. 11).

    None when the matrix or right-hand side holds a NaN or inf (the Hessian at this
    iterate, or multipliers that overflowed).

    Raises :class:`~lagrangian.errors.SingularKKTError` when no regularization makes
    the matrix's inertia right.
    """
    w, A = point.w, form.point_jacobian(point)
    distance = form.point_distance(point)
    ratio = z / distance
    sigma = form.scatter(ratio)
    grad_phi = form.barrier_gradient(point.g, w, mu, distance, form.point_gradient(point))
    W, low_rank = form.hessian(w[: form.n], y, model)
    if not all_finite(W, low_rank, A, grad_phi, d, sigma, y):
        return None
    solution, info = correction.solve(W, A, -np.concatenate([grad_phi, d]), barrier=mu, low_rank=low_rank, diagonal=sigma)
    dw, dy = solution[: form.nw], solution[form.nw :] - y
    toward = form.toward(dw)
    dz = mu / distance - z - ratio * toward
    return _Direction(dw, dy, dz, grad_phi, fraction_to_boundary(distance, toward, tau), fraction_to_boundary(z, dz, tau), info)


# -- the multipliers at the accepted point ---------------------------------------------
def _update_multipliers(form, previous, point, y, z, direction, alpha, mu):
    """``y + alpha dy`` and ``z + alpha_z dz`` with ``z`` kept near the central path (eq. 16).

    With ``J`` rank-deficient (the solve needed dual regularization) the step's
    multipliers scale like ``||d|| / dc`` and mean nothing: ``y`` is estimated
    afresh at the new point instead.
    """
    if direction.info.dual_regularization > 0:
        y = _multiplier_estimate(form, point, z)
    else:
        y = y + alpha * direction.dy
    # Keep each bound multiplier within a factor kappa_sigma of mu / distance (eq. 16).
    central = mu / form.point_distance(point)
    # (np.minimum(np.maximum(...)) is np.clip's arithmetic at half its cost on a short vector)
    z = np.minimum(np.maximum(z + direction.alpha_z * direction.dz, central / _KAPPA_SIGMA), _KAPPA_SIGMA * central)
    return y, z


def _update_quasi_newton(model, form, previous, point, y):
    """The quasi-Newton pair: the step in ``x`` and the change of the Lagrangian's gradient at fixed ``y``."""
    n = form.n
    ys = form.row_scale * y
    model.update(
        point.w[:n] - previous.w[:n],
        form.f_scale * (point.g - previous.g) + (linalg.transpose_times(point.J, ys) - linalg.transpose_times(previous.J, ys)),
    )
