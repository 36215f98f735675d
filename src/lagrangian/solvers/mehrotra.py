r"""Mehrotra's predictor-corrector interior-point method for convex quadratic programs.

The problem is that of :class:`lagrangian.QuadraticProgram`,

.. math::

    \min_x \tfrac12 x^T P x + q^T x \quad \text{s.t.} \quad
    l \le A x \le u, \quad l_x \le x \le u_x, \qquad P \succeq 0 .

Rows with ``l_i == u_i`` and fixed variables become equalities ``A_E x = b``; every
finite side of the other rows and bounds is one inequality ``g_k^T x + s_k = h_k``
with a slack ``s_k >= 0`` and a multiplier ``z_k >= 0`` (an upper side has
``g_k = a_i, h_k = u_i``, a lower side ``g_k = -a_i, h_k = -l_i``). The KKT
conditions are

.. math::

    P x + q + A_E^T y + G^T z = 0, \quad A_E x = b, \quad G x + s = h, \quad
    s \circ z = 0, \quad s, z \ge 0 .

Newton's method on them with ``s \circ z = \sigma \mu`` eliminates ``ds`` and
``dz`` (``dz = W (G\,dx + t)``, ``W = Z S^{-1}``) and leaves one symmetric
quasidefinite system per solve. A row with both sides keeps its two weights in one
entry ``Omega_i = w_{u,i} + w_{l,i}``; a bound adds ``Omega_j`` to the diagonal:

.. code-block:: text

    [ P + Omega_B   A_E^T   A_I^T        ] [ dx ]   [ -r_d - rho_B        ]
    [ A_E           0       0            ] [ dy ] = [ -r_E                ]
    [ A_I           0       -Omega_I^-1  ] [ dv ]   [ -Omega_I^-1 rho_I   ]

This is :func:`lagrangian.kkt.kkt_matrix` with the inequality rows' ``-1/Omega`` as
the dual regularization, factored by :class:`lagrangian.linalg.kkt_factorization.KKTPattern` (Ruiz
scaling, a quasidefinite shift removed again by refinement, an ``L D L^T``
factorization whose symbolic analysis is reused between iterations): the same
linear algebra as every other solver here.
Each iteration factors once and solves twice, the affine-scaling predictor
(``sigma = 0``) and Mehrotra's corrector with ``sigma = (mu_aff / mu)^3`` and the
second-order term ``ds_aff dz_aff`` (Nocedal & Wright, *Numerical Optimization*,
2nd ed., section 16.6; Mehrotra 1992).

The multipliers are reported in the package convention
(:mod:`lagrangian.convention`): ``y_i = z_{u,i} - z_{l,i}`` on a row, the same for
``z`` on a bound, and ``grad f + A^T y + z = 0``.

**Convexity first.** Everything below (a KKT point is a global minimizer, the
duality gap, the certificates) needs ``P`` positive semidefinite on the null space
of the equality rows. :func:`lagrangian.convexity.require_convex` checks that
before the first iteration (an ``L D L^T`` factorization of the scaled ``P``) and
refuses a non-convex QP with a :class:`~lagrangian.ProblemError` that points to the
nonlinear interior point; a *nearly* convex ``P`` (indefinite only at the level of
rounded data) is solved and the point must then pass a second-order check.

**Infeasible and unbounded problems.** Without a solution the iterates diverge,
and the direction they diverge in is the proof. Every iteration tests the current
multipliers as a Farkas vector and the current step as a ray (see
:class:`lagrangian.result.Certificate` for the inequalities each must satisfy);
one that passes ends the solve with status ``INFEASIBLE`` or ``UNBOUNDED`` and the
certificate on the result. The tests are one-sided: a certificate that passes
proves that no feasible point (no bounded minimizer) exists within its
``radius``, which is required to be at least ``1e8 max(1, ||x||_inf)``. A ray
proves unboundedness only together with a feasible point (an infeasible problem
can have rays too), so before ``UNBOUNDED`` is reported the feasibility problem
over the same constraints is solved; where it has no solution the status is
``INFEASIBLE`` with its Farkas certificate instead. A run that ends without an
answer or a proof searches for a certificate with two LPs, unless its best point is
nearly feasible and nearly optimal (then it stalled near an answer).

**Polishing.** A ``SUCCESS`` is moved onto the active set it identifies
(:mod:`lagrangian.solvers.qp_polish`, on the polish every solver here shares), and
the polished point is kept when it checks out against the data.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

from ..convexity import require_convex, require_local_minimum
from ..errors import ConvergenceError, ProblemError, SingularMatrixError
from ..result import IterationRecord, Status
from .ending import callback_stops, check_option, finish, limit_status
from .qp_equilibration import Equilibration
from .qp_polish import polished_qp
from .qp_form import (
    CERTIFICATE_RADIUS, StandardForm, certificate_radius, farkas_certificate, farkas_of_iterate,
    ray_box, ray_of_step,
)

__all__ = ["convex_qp"]

_STEP_FRACTION = 0.99  # fraction of the way to the boundary of s, z >= 0 a step may go
_REGULARIZATIONS = (1e-9, 1e-7, 1e-5)  # static shifts of both KKT blocks, the next tried when a solve is singular
_ACCEPTABLE = 1e-6  # a solve that stalls or runs out of iterations at a best relative error below this is ACCEPTABLE
_DIVERGENCE = 1e4  # near a solution, an error this many times the best one means the steps have lost accuracy
_NEAR = 1e-4  # "near a solution": a best relative error below this
_STALL_ITERATIONS = 30  # iterations without a new best error after which a solve has stalled
_SINGULAR_RESIDUAL = 1e-6  # relative residual a KKT solve may keep near the solution (condition ~1e12)
_CONCLUSIVE = (Status.SUCCESS, Status.INFEASIBLE, Status.UNBOUNDED)  # an answer, or a proof that there is none


def _factor(form, Omega_rows, Omega_bounds, regularization):
    diagonal = np.full(form.n, regularization)
    diagonal[form.bounded] += Omega_bounds
    with np.errstate(divide="ignore"):
        inverse = np.minimum(1.0 / Omega_rows, 1e30)
    dual = np.concatenate([np.full(form.AE.shape[0], regularization), inverse])
    return form.pattern.factor(diagonal, dual, singular_residual=_SINGULAR_RESIDUAL)


def _direction(form, factor, r_d, r_E, residuals, targets):
    """One Newton direction for the side residuals ``{block: (r_G,u, r_G,l)}`` and
    complementarity targets ``{block: (r_c,u, r_c,l)}``."""
    Omega_rows, rho_rows = form.rows.reduce(*residuals[form.rows], *targets[form.rows])
    _, rho_bounds = form.bounds.reduce(*residuals[form.bounds], *targets[form.bounds])
    rhs_x = -r_d.copy()
    rhs_x[form.bounded] -= rho_bounds
    with np.errstate(divide="ignore", invalid="ignore"):
        rhs_rows = np.where(Omega_rows > 0, -rho_rows / Omega_rows, 0.0)
    solution = factor.solve(np.concatenate([rhs_x, -r_E, rhs_rows]))
    dx, dy, dv = np.split(solution, [form.n, form.n + form.AE.shape[0]])
    # dv = Omega A_I dx + rho holds only up to the solve's residual, and recovering the
    # row multipliers from A_I dx multiplies that residual by Omega (1e10 on an active
    # row): there the step of z_u - z_l is dv itself, and A_I dx the value it implies.
    row_values = form.rows.apply(dx)
    trusted = Omega_rows >= 1.0
    row_values[trusted] = (dv[trusted] - rho_rows[trusted]) / Omega_rows[trusted]
    steps = {form.rows: form.rows.recover(row_values), form.bounds: form.bounds.recover(form.bounds.apply(dx))}
    return dx, dy, steps


def _certificate_programs(form, qp, x_norm, tol):
    """After a failed solve: look for a certificate by two LPs that always have solutions.

    Farkas: minimize ``b^T y_E + h^T z`` over ``A_E^T y_E + G^T z = 0``,
    ``-1 <= y_E <= 1``, ``0 <= z <= 1`` (optimum 0 exactly when the QP is feasible).
    Ray: minimize ``q^T d`` over ``P d = 0``, ``A_E d = 0``, ``G d <= 0``,
    ``-1 <= d <= 1`` (optimum 0 exactly when no ray of unboundedness exists). Both
    are solved by :func:`convex_qp` itself; an answer becomes a certificate only if
    it passes the same radius test as one found during the iterations.
    """
    QuadraticProgram = type(qp)
    n_E = form.AE.shape[0]
    columns = [form.AET]
    costs, lower, upper = [form.b], [-np.ones(n_E)], [np.ones(n_E)]
    for block in form.sides:
        for present, sign, h in ((block.has_u, 1.0, block.U), (block.has_l, -1.0, -block.L)):
            columns.append(sign * block.MT[:, np.flatnonzero(present)])
            costs.append(h[present])
            lower.append(np.zeros(int(present.sum())))
            upper.append(np.ones(int(present.sum())))
    G_T = sp.hstack(columns, format="csr")
    size = G_T.shape[1]
    farkas_lp = QuadraticProgram(sp.csr_array((size, size)), np.concatenate(costs), G_T, np.zeros(form.n), np.zeros(form.n),
                                 bounds=(np.concatenate(lower), np.concatenate(upper)))
    answer = convex_qp(farkas_lp, tol=tol, certificates=False, polish=False)
    if answer.status in (Status.SUCCESS, Status.ACCEPTABLE):
        v = answer.x
        offset, net = n_E, []
        for block in form.sides:
            z_u, z_l = np.zeros(block.has_u.size), np.zeros(block.has_l.size)
            for values, present in ((z_u, block.has_u), (z_l, block.has_l)):
                values[present] = v[offset: offset + int(present.sum())]
                offset += int(present.sum())
            net.append(z_u - z_l)
        certificate = farkas_of_iterate(form, qp, v[:n_E], net)
        if certificate is not None and certificate.radius >= CERTIFICATE_RADIUS * max(1.0, x_norm):
            return Status.INFEASIBLE, certificate
    rows, bounds = form.rows, form.bounds
    ray_lp = QuadraticProgram(
        sp.csr_array((form.n, form.n)), form.q, sp.vstack([form.P, form.AE, rows.M], format="csr"),
        np.concatenate([np.zeros(form.n + n_E), np.where(rows.has_l, 0.0, -np.inf)]),
        np.concatenate([np.zeros(form.n + n_E), np.where(rows.has_u, 0.0, np.inf)]),
        bounds=(ray_box(form, bounds.has_l, -1.0), ray_box(form, bounds.has_u, 1.0)),
    )
    answer = convex_qp(ray_lp, tol=tol, certificates=False, polish=False)
    if answer.status in (Status.SUCCESS, Status.ACCEPTABLE):
        ray = ray_of_step(form, answer.x)
        if ray is not None and ray.radius >= CERTIFICATE_RADIUS:
            return _unbounded_if_feasible(qp, ray, tol)
    return None, None


def _unbounded_if_feasible(qp, ray, tol):
    """``(UNBOUNDED, ray)`` once a feasible point is found, ``(INFEASIBLE, Farkas vector)``
    if there is none, ``(None, None)`` if neither could be shown.

    A ray proves unboundedness only together with a feasible point: an infeasible
    problem can have a ray as well (its dual is then infeasible too), and the
    diverging iterates of an infeasible start need not be feasible. The point comes
    from the feasibility problem ``min 0`` over the same constraints, solved by
    :func:`convex_qp` itself (it has no ray, since its ``q`` is zero); a Farkas
    certificate for that problem is one for this one, whose constraints are the same.
    """
    QuadraticProgram = type(qp)
    feasibility = QuadraticProgram(sp.csr_array((qp.n, qp.n)), np.zeros(qp.n), qp.A, qp.l, qp.u, bounds=(qp.lb, qp.ub))
    answer = convex_qp(feasibility, tol=tol, polish=False)
    if answer.status in (Status.SUCCESS, Status.ACCEPTABLE):
        return Status.UNBOUNDED, ray
    if answer.status is Status.INFEASIBLE:
        return Status.INFEASIBLE, answer.certificate
    return None, None


def _without_variables(qp, problem, start_counts, stream, raise_on_failure):
    """The QP with ``n = 0``: every row reads ``l_i <= 0 <= u_i``. Solved when each
    holds; otherwise the row that fails is its own Farkas certificate (``y = e_i`` on
    an upper side below zero, ``-e_i`` on a lower side above zero)."""
    y = np.where(qp.u < 0, 1.0, 0.0) - np.where(qp.l > 0, 1.0, 0.0)
    certificate = farkas_certificate(qp, y, np.zeros(0))
    status = Status.SUCCESS if certificate is None else Status.INFEASIBLE
    x = np.zeros(0)
    history = [IterationRecord(0, qp.r, float(np.maximum(np.maximum(qp.l, -qp.u), 0.0).max(initial=0.0)), 0.0, 0.0, 0.0)]
    return finish(
        problem, solver="convex_qp", x=x, f=qp.r, y=np.zeros(qp.A.shape[0]), z=x, c=np.zeros(qp.A.shape[0]), g=x, J=qp.A,
        status=status, history=history, start_counts=start_counts, stream=stream, raise_on_failure=raise_on_failure,
        certificate=certificate,
    )


def convex_qp(qp, *, tol: float = 1e-8, max_iterations: int = 200, max_time: float | None = None, log=False,
              callback=None, raise_on_failure: bool = False, certificates: bool = True, equilibrate="auto",
              polish: bool = True):
    r"""Solve a convex :class:`~lagrangian.QuadraticProgram` by Mehrotra's predictor-corrector method.

    Parameters
    ----------
    qp : QuadraticProgram
    tol : float
        Relative tolerance on the primal residual, the dual residual and the
        duality gap ``x'Px + q'x + b'y + h'z`` (each against the size of the terms
        it is made of).
    max_iterations : int
    max_time : float, optional
        Seconds; the solve returns ``TIME_LIMIT`` with the last iterate after it.
    log : bool or text stream
        One line per iteration (``True`` means ``sys.stdout``).
    callback : callable, optional
        ``callback(record, x)`` after every iteration; raising ``StopIteration``
        stops the solve.
    raise_on_failure : bool
        Raise :class:`~lagrangian.ConvergenceError` unless the status is ``SUCCESS``.
    certificates : bool
        When the iterations fail (``STALLED``, ``MAX_ITERATIONS``,
        ``SINGULAR_KKT``, ``NONFINITE``) without having found a certificate, look
        for one with two auxiliary LPs (default True); not when the best point is
        nearly feasible and nearly optimal (relative residuals and gap below 1e-4):
        such a run stalled near an answer, not on diverging iterates.
    equilibrate : {"auto", True, False}
        True: solve in balanced units (Ruiz scaling of ``P`` and ``A``, see
        :class:`~lagrangian.solvers.qp_equilibration.Equilibration`); ``tol`` then applies to the scaled program's
        residuals, and the result is reported in the original units. False: solve
        the data as given. ``"auto"`` (default): as given, and once more in
        balanced units when that ends without an answer or a certificate
        (``STALLED``, ``MAX_ITERATIONS``, ``ACCEPTABLE``, ...); the second solve's
        result is taken when it is conclusive. (Balancing every solve would change
        the digits reached on well-scaled but ill-conditioned problems, such as
        Maros-Meszaros LISWET6; a badly scaled one, rows and variables in units
        1e6 apart, stalls as given and is solved balanced.)
    polish : bool
        Move a ``SUCCESS`` onto the active set it identifies and keep that point
        when it checks out against the data (:mod:`~lagrangian.solvers.qp_polish`):
        weakly active bounds and rows, which the interior point reaches only to
        about ``sqrt(tol)``, and vertices are then met to rounding (default True).

    Returns
    -------
    Solution
        ``certificate`` holds the proof when the status is ``INFEASIBLE`` or
        ``UNBOUNDED``.

    Raises
    ------
    ProblemError
        ``P`` is not positive semidefinite on the null space of the equality rows
        (the QP is not convex; see :meth:`lagrangian.QuadraticProgram.convexity`),
        or an option is invalid.
    """
    tol = check_option("tol", tol)
    max_iterations = check_option("max_iterations", max_iterations, integer=True)
    max_time = check_option("max_time", max_time, allow_none=True)
    if equilibrate not in ("auto", True, False):
        raise ProblemError("equilibrate", f"expected 'auto', True or False, got {equilibrate!r}")
    stream = (sys.stdout if log is True else log) if log else None
    started = time.perf_counter()
    if equilibrate == "auto":
        options = dict(tol=tol, max_iterations=max_iterations, log=log, callback=callback, certificates=certificates,
                       polish=False)
        first = convex_qp(qp, max_time=max_time, equilibrate=False, **options)
        result = first
        if first.status not in _CONCLUSIVE + (Status.STOPPED, Status.TIME_LIMIT):
            remaining = None if max_time is None else max(max_time - (time.perf_counter() - started), 1e-3)
            second = convex_qp(qp, max_time=remaining, equilibrate=True, **options)
            result = second if second.status in _CONCLUSIVE else first
        if polish:
            result = polished_qp(qp, result, tol)
        if raise_on_failure and not result.success:
            raise ConvergenceError(result)
        return result
    convexity = require_convex(qp)
    problem = qp.problem()
    start_counts = dict(problem.counts)
    if qp.n == 0:
        return _without_variables(qp, problem, start_counts, stream, raise_on_failure)
    original, scaling = qp, (Equilibration(qp) if equilibrate else None)
    if scaling is not None:
        qp = scaling.program
    form = StandardForm(qp)
    n_sides = sum(block.count for block in form.sides)
    regularization = 0.0

    def with_regularization(compute):
        """``compute(factor)`` with the current KKT matrix, raising the static
        regularization through ``_REGULARIZATIONS`` while the solves are singular."""
        nonlocal regularization
        weights = {block: sum(block.weights()) for block in form.sides}
        for shift in (s for s in _REGULARIZATIONS if s >= regularization):
            factor = _factor(form, weights[form.rows], weights[form.bounds], shift)
            try:
                answer = compute(factor)
            except SingularMatrixError:
                continue
            regularization = shift
            return answer
        raise SingularMatrixError(f"the QP's KKT matrix is singular even with regularization {_REGULARIZATIONS[-1]:g}")

    # Starting point (Vandenberghe's CVXOPT rule): with W = I, x minimizes
    # 1/2 x'Px + 1/2 ||Gx - h||^2 on A_E x = b, and the multipliers solve the dual
    # analogue; both are then shifted into the interior.
    for block in form.sides:
        block.z_u, block.z_l = block.has_u * 1.0, block.has_l * 1.0
    zero = {block: (np.zeros(block.size), np.zeros(block.size)) for block in form.sides}
    minus_h = {block: (-block.U, block.L) for block in form.sides}
    try:
        x, xd, y_E = with_regularization(lambda factor: (
            _direction(form, factor, np.zeros(form.n), -form.b, minus_h, zero)[0],
            *_direction(form, factor, form.q, np.zeros(form.AE.shape[0]), zero, zero)[:2],
        ))
    except SingularMatrixError as exc:
        raise SingularMatrixError(f"{exc}: check A for zero or repeated rows") from exc
    for block in form.sides:
        block.start(block.apply(x), block.apply(xd))
    if n_sides:
        # CVXOPT's rule (Vandenberghe 2010, coneqp): a vector with an entry at or below
        # zero (relative to its size) moves by one plus its most negative entry, so
        # that its smallest entry becomes 1. Mehrotra's smaller shifts leave s'z tiny
        # next to the residuals when the multiplier estimate is near zero (LASER,
        # LISWET), and then every step is cut short by the boundary.
        s_all = np.concatenate([v for block in form.sides for v in block.slacks()])
        z_all = np.concatenate([v for block in form.sides for v in block.duals()])
        shifts = []
        for values in (s_all, z_all):
            most_negative = -values.min()
            shifts.append(1.0 + most_negative if most_negative >= -1e-8 * max(np.linalg.norm(values), 1.0) else 0.0)
        for block in form.sides:
            block.shift(*shifts)

    b_norm = max([np.abs(form.b).max(initial=0.0)] + [np.abs(v).max(initial=0.0) for block in form.sides for v in (block.U, block.L)])
    q_norm = float(np.abs(form.q).max(initial=0.0))
    history, status, certificate, dx = [], Status.MAX_ITERATIONS, None, None
    if stream is not None:
        print(f"{'iter':>4} {'primal obj':>15} {'dual obj':>15} {'inf_pr':>9} {'inf_du':>9} {'gap':>9} {'lg(mu)':>6} {'alpha':>9}",
              file=stream)
    alpha = 0.0
    ray_feasibility = None
    best = (np.inf, -1, x, y_E, None)  # (error, iteration, x, y_E, slacks and multipliers)
    for iteration in range(max_iterations + 1):
        Px = form.P @ x
        r_E = form.AE @ x - form.b
        residuals = {block: block.residuals(block.apply(x)) for block in form.sides}
        force = form.constraint_force(y_E)
        r_d = Px + form.q + force
        xPx, qx = float(x @ Px), float(form.q @ x)
        primal_objective = 0.5 * xPx + qx
        dual_objective = -0.5 * xPx - float(form.b @ y_E) - sum(block.dual_value() for block in form.sides)
        gap = abs(primal_objective - dual_objective)
        complementarity = sum(block.complementarity() for block in form.sides)
        mu = complementarity / n_sides if n_sides else 0.0
        inf_pr = max([np.abs(r_E).max(initial=0.0)] + [np.abs(v).max(initial=0.0) for pair in residuals.values() for v in pair])
        inf_du = float(np.abs(r_d).max(initial=0.0))
        x_norm = float(np.abs(x).max(initial=0.0))
        record = IterationRecord(iteration, primal_objective + form.r, inf_pr, inf_du, alpha, regularization, barrier=mu,
                                 step_norm=None if dx is None else float(np.abs(dx).max(initial=0.0)))
        history.append(record)
        if stream is not None:
            print(f"{iteration:>4} {primal_objective + form.r:>15.8e} {dual_objective + form.r:>15.8e} {inf_pr:>9.2e} "
                  f"{inf_du:>9.2e} {gap:>9.2e} {np.log10(max(mu, 1e-300)):>6.1f} {alpha:>9.2e}", file=stream)
        error = max(
            inf_pr / max(1.0, b_norm, x_norm),
            inf_du / max(1.0, q_norm, float(np.abs(Px).max(initial=0.0)), float(np.abs(force).max(initial=0.0))),
            # The user's objective includes the constant r: a gap small next to x'Px but
            # not next to f(x) itself would leave f(x) inaccurate where terms cancel.
            gap / max(1.0, min(abs(primal_objective + form.r), abs(dual_objective + form.r))),
        )
        if not np.isfinite(error):
            status = Status.NONFINITE
            break
        if error <= tol:
            status = Status.SUCCESS
            break
        if error < best[0]:
            best = (error, iteration, x, y_E, [(b.s_u, b.s_l, b.z_u, b.z_l) for b in form.sides])
        elif (error > _DIVERGENCE * best[0] and best[0] < _NEAR) or iteration - best[1] >= _STALL_ITERATIONS:
            # Near the solution the KKT matrices reach condition numbers of 1e16 and the
            # steps lose accuracy; a solve that has stopped improving ends at its best point.
            status = Status.STALLED
            break
        farkas = farkas_of_iterate(form, qp, y_E)
        if farkas is not None and farkas.radius >= certificate_radius(farkas, x):
            status, certificate = Status.INFEASIBLE, farkas
            break
        # Only an objective already far below any plausible optimum makes the step worth testing as a ray.
        diverging = dx is not None and primal_objective < -CERTIFICATE_RADIUS * max(1.0, q_norm)
        ray = ray_of_step(form, dx) if diverging and ray_feasibility is not False else None
        if ray is not None and ray.radius >= certificate_radius(ray, x):
            found, proof = _unbounded_if_feasible(qp, ray, tol)
            if found is not None:
                status, certificate = found, proof
                break
            ray_feasibility = False  # undecided: no more rays from these iterations
        if callback_stops(callback, record, x if scaling is None else scaling.D * x):
            status = Status.STOPPED
            break
        limit = limit_status(iteration, max_iterations, started, max_time)
        if limit is not None:
            status = limit
            break

        def predictor_corrector(factor):
            affine = {block: (block.s_u * block.z_u, block.s_l * block.z_l) for block in form.sides}
            _, _, steps_a = _direction(form, factor, r_d, r_E, residuals, affine)
            alpha_a = min([1.0] + [block.step_limit(*steps_a[block]) for block in form.sides])
            mu_a = sum(block.complementarity(alpha_a, steps_a[block]) for block in form.sides) / n_sides if n_sides else 0.0
            sigma = (mu_a / mu) ** 3 if mu > 0 else 0.0
            corrected = {}
            for block in form.sides:
                ds_u, ds_l, dz_u, dz_l = steps_a[block]
                corrected[block] = (
                    block.has_u * (block.s_u * block.z_u + ds_u * dz_u - sigma * mu),
                    block.has_l * (block.s_l * block.z_l + ds_l * dz_l - sigma * mu),
                )
            return _direction(form, factor, r_d, r_E, residuals, corrected)

        try:
            dx, dy, steps = with_regularization(predictor_corrector)
        except SingularMatrixError:
            status = Status.SINGULAR_KKT
            break
        # A step that reaches the boundary exactly would put a slack at zero: always stop short of it.
        alpha = min(1.0, _STEP_FRACTION * min([np.inf] + [block.step_limit(*steps[block]) for block in form.sides]))
        x = x + alpha * dx
        y_E = y_E + alpha * dy
        for block in form.sides:
            block.advance(alpha, steps[block])

    # The certificate LPs cost as much as the solve. They are for iterates that diverge; a
    # run whose best point is nearly feasible and nearly optimal (relative residuals and gap
    # below _NEAR) stalled near an answer, not away from one: it ends ACCEPTABLE or STALLED
    # with that point, as it would if the LPs found nothing.
    nearly_solved = best[1] >= 0 and best[0] <= _NEAR
    if certificates and not nearly_solved and status in (Status.STALLED, Status.MAX_ITERATIONS, Status.SINGULAR_KKT, Status.NONFINITE):
        found, proof = _certificate_programs(form, qp, float(np.abs(best[2]).max(initial=0.0)), tol)
        if found is not None:
            status, certificate = found, proof
    if status not in (Status.SUCCESS, Status.INFEASIBLE, Status.UNBOUNDED, Status.STOPPED) and best[1] >= 0:
        _, _, x, y_E, state = best
        for block, (s_u, s_l, z_u, z_l) in zip(form.sides, state):
            block.s_u, block.s_l, block.z_u, block.z_l = s_u, s_l, z_u, z_l
        if best[0] <= _ACCEPTABLE:
            status = Status.ACCEPTABLE
    y, z = form.package_multipliers(y_E)
    if scaling is not None:
        x, y, z, certificate = scaling.restore(original, x, y, z, certificate)
        qp = original
        if certificate is not None and certificate.radius < certificate_radius(certificate, x):
            # The proof, exact in the scaled units, lost part of its margin in the user's (a
            # residual divided by D): solving in the user's units may find a stronger one. If
            # not, this one stands; its radius says how far it reaches.
            retry = convex_qp(original, tol=tol, max_iterations=max_iterations, max_time=max_time, log=log,
                              callback=callback, certificates=certificates, equilibrate=False, polish=polish)
            if retry.status in _CONCLUSIVE:
                if raise_on_failure and not retry.success:
                    raise ConvergenceError(retry)
                return retry
    if not convexity.convex and status in (Status.SUCCESS, Status.ACCEPTABLE):
        require_local_minimum(qp, x, y, z)
    c = qp.A @ x
    result = finish(
        problem, solver="convex_qp", x=x, f=qp.objective(x), y=y, z=z, c=c, g=qp.P @ x + qp.q, J=qp.A,
        status=status, history=history, start_counts=start_counts, stream=stream, raise_on_failure=raise_on_failure,
        certificate=certificate,
    )
    return polished_qp(qp, result, tol) if polish else result
