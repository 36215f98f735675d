r"""Feasibility restoration (Wächter & Biegler 2006, section 3.3): when no step length is acceptable.

The filter line search fails when the direction cannot reduce either the
violation or the barrier function enough; the iteration then looks for a point
the filter accepts by reducing the violation alone. A point where the violation
stops falling while still far from zero is a stationary point of the violation:
the problem is reported (locally) infeasible.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import SingularKKTError
from ..linalg.kkt_factorization import InertiaCorrection
from ..result import Status
from .ending import all_finite

__all__ = ["restore", "INFEASIBLE_VIOLATION"]

RESTORATION_ITERATIONS = 200
RESTORATION_MU_FLOOR = 1e-12
# A stationary point of the violation is reported as infeasible only when the violation
# is clearly not rounding or regularization (below this, RESTORATION_FAILED says so).
INFEASIBLE_VIOLATION = 1e-4  # as IPOPT's constr_viol_tol


def restore(problem, form, point, mu, filt, tau, tol):
    r"""Feasibility restoration: reduce ``theta = ||d(w)||_1`` until the filter accepts the point.

    Minimizes :math:`\tfrac12 \|d(w)\|^2 - \mu_R \sum \ln(\text{distance to the bounds})`
    by damped Gauss-Newton steps (``zeta = 1e-2 sqrt(mu_R)`` on the diagonal), each the
    quasidefinite solve

    .. code-block:: text

        [ Sigma_R + zeta I   A^T ] [ dw ]     [ grad barrier ]
        [ A                  -I  ] [ u  ] = - [ d(w)         ]

    (eliminating ``u = A dw + d`` gives the normal equations of the linearized
    least-squares problem), with a backtracking Armijo search. When the problem has
    a Hessian the curvature ``sum_i d_i nabla^2 d_i`` is added to the (1,1) block
    (a Newton step, inertia-corrected), which keeps convergence fast when the
    violation cannot reach zero.

    Returns ``(None, point)`` with the restored point, ``(Status.INFEASIBLE,
    point)`` when the step vanishes at an infeasible stationary point of the
    violation, or ``(Status.RESTORATION_FAILED, point)`` when the iteration limit
    is reached or the system is singular, ``(Status.NONFINITE, point)`` when the
    curvature or the violation overflowed.
    """
    correction = InertiaCorrection()
    n, m = problem.n, problem.m
    d = form.residual(point.w, point.c)
    theta_start = np.abs(d).sum()
    mu_r = max(mu, np.abs(d).max(initial=0.0))
    current = point
    for _ in range(RESTORATION_ITERATIONS):
        w = current.w
        d = form.residual(w, current.c)
        A = form.point_jacobian(current)
        distance = form.distance(w)
        zeta = np.sqrt(mu_r) * 1e-2
        sigma = zeta + form.scatter(mu_r / distance**2)
        gb = form.scatter(-form.sign * mu_r / distance)
        # Stationary for the violation while still infeasible: a local minimizer of
        # 1/2 ||d||^2 over the bounds, not of the problem. The test is the projected
        # gradient: components pushing into a bound the point (nearly) sits on drop out.
        violation = np.abs(d).max(initial=0.0)
        gradient = A.T @ d
        near = distance <= 1e-6 * np.maximum(1.0, np.abs(form.bound))
        projected = gradient.copy()
        projected[form.bounded[near & (form.toward(gradient) > 0)]] = 0.0
        stationary = np.abs(projected).max(initial=0.0) <= 1e-6 * max(1.0, violation)
        if violation > INFEASIBLE_VIOLATION and mu_r <= 1e-8 and stationary:
            return Status.INFEASIBLE, current
        H = sp.diags_array(sigma)
        if problem.has_hessian:
            # Newton rather than Gauss-Newton: with a large residual the curvature
            # sum_i d_i nabla^2 d_i matters (Gauss-Newton then converges only linearly).
            x = w[:n]
            curvature = problem.hessian(x, form.row_scale * d) - problem.hessian(x, np.zeros(m))
            H = H + sp.block_diag([curvature, sp.csr_array((form.nw - n, form.nw - n))])
        H = form.hold_fixed(H)
        if not all_finite(H, A, gb, d):
            # Overflowed curvature or constraint values: a numerical outcome, never the
            # linear algebra's bad-input error escaping the solve.
            return Status.NONFINITE, current
        try:
            solution, _ = correction.solve(H, A, -np.concatenate([gb, d]), dual_regularization=1.0)
        except SingularKKTError:
            return Status.RESTORATION_FAILED, current
        dw = solution[: form.nw]

        def psi(w_, d_):
            """The restoration merit: 1/2 ||d||^2 plus the log barrier (form.barrier with f = 0)."""
            return 0.5 * d_ @ d_ + form.barrier(0.0, w_, mu_r) if np.isfinite(d_).all() else np.inf

        slope = gb @ dw + d @ (A @ dw)
        psi0 = psi(w, d)
        alpha = form.max_step(w, dw, tau)
        while alpha > 1e-12:
            trial_w = w + alpha * dw
            trial_c = problem.constraint_values(trial_w[:n])
            trial_d = form.residual(trial_w, trial_c)
            if psi(trial_w, trial_d) <= psi0 + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        if alpha <= 1e-12 or np.abs(alpha * dw).max(initial=0.0) <= 1e-15 * (1 + np.abs(w).max(initial=0.0)):
            if mu_r > RESTORATION_MU_FLOOR:
                mu_r = max(RESTORATION_MU_FLOOR, 0.1 * mu_r)
                continue
            return (Status.INFEASIBLE if violation > INFEASIBLE_VIOLATION and stationary else Status.RESTORATION_FAILED), current
        trial_f = problem.objective(trial_w[:n])
        current = form.point(trial_w, trial_f, trial_c)
        theta_new = np.abs(trial_d).sum()
        phi_new = form.barrier(trial_f, trial_w, mu)
        if theta_new <= 0.9 * theta_start and np.isfinite(phi_new) and not filt.rejects(theta_new, phi_new):
            return None, current
        mu_r = max(RESTORATION_MU_FLOOR, 0.2 * mu_r)
    return Status.RESTORATION_FAILED, current
