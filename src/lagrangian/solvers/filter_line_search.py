r"""The filter line search of Wächter & Biegler (2006), section 2.3, with second-order corrections (section 2.4).

Along a search direction ``dw`` from ``w`` (step lengths ``alpha_max, alpha_max/2,
...``), a trial point ``w(alpha) = w + alpha dw`` with constraint violation
``theta(alpha) = ||d(w(alpha))||_1`` and barrier function ``phi(alpha)`` is accepted
when the filter does not reject it and

- **switching condition + Armijo** (the paper's eqs. 19-20): when the step is a
  descent direction for ``phi`` whose predicted decrease dominates the violation,
  ``alpha (-grad phi^T dw)^{s_phi} > delta theta^{s_theta}``, and the point is
  nearly feasible (``theta <= theta_min``), ``phi`` must fall by the Armijo rule
  ``phi(alpha) <= phi + eta alpha grad phi^T dw``;
- **sufficient decrease** (eq. 18) otherwise: ``theta(alpha) <= (1 - gamma_theta)
  theta`` or ``phi(alpha) <= phi - gamma_phi theta``.

A step accepted by the second rule (an "h-type" iteration) adds
``((1 - gamma_theta) theta, phi - gamma_phi theta)`` to the filter. Below
``alpha_min`` (eq. 23) the search gives up and the caller restores feasibility.

When the first trial increases the violation, up to four second-order corrections
are tried (eq. 27): the same factorization, with the constraint part of the
right-hand side replaced by ``c_soc <- alpha_soc c_soc + d(w + dw_soc)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SingularMatrixError

__all__ = ["Filter", "Acceptance", "Trial", "evaluate", "minimum_step_length", "filter_line_search", "second_order_correction"]

# Constants of Wächter & Biegler (2006), table of section 4 / IPOPT's defaults.
GAMMA_THETA, GAMMA_PHI = 1e-5, 1e-8  # filter margins
DELTA, S_THETA, S_PHI = 1.0, 1.1, 2.3  # switching condition
ETA_PHI = 1e-8  # Armijo constant
GAMMA_ALPHA = 0.05  # minimum step factor
MAX_SOC, KAPPA_SOC = 4, 0.99  # second-order corrections
OBJ_MAX_INC = 5.0  # a trial point may raise the barrier function by at most this many orders
FILTER_RESET_TRIGGER, MAX_FILTER_RESETS = 5, 5  # IPOPT's filter reset heuristic
_EPS = np.finfo(float).eps


class Filter:
    """The set of (theta, phi) pairs a trial point must not be dominated by (the paper's eq. 21).

    With IPOPT's filter reset heuristic: when in ``FILTER_RESET_TRIGGER`` successive
    iterations the last trial point rejected before the accepted one was rejected by the
    filter (not by the sufficient-decrease test), the filter is emptied, at most
    ``MAX_FILTER_RESETS`` times in a run. Entries from far-off iterates can otherwise
    block every full step for good (CUTEst SPINOP: from iteration 15 each line search
    backtracked past filter entries of iterations 12-14, down to restoration at 21 where
    IPOPT, its filter reset at 19, took the full step).
    """

    def __init__(self, theta_max):
        self.theta_max = theta_max
        self.entries = []
        self.last_rejection_by_filter, self.successive, self.resets = False, 0, 0

    def reset(self):
        """A new barrier problem: an empty filter (does not count as a heuristic reset)."""
        self.entries = []
        self.last_rejection_by_filter, self.successive = False, 0

    def dominates(self, theta, phi):
        return any(theta >= t and phi >= p for t, p in self.entries)

    def rejects(self, theta, phi):
        return theta > self.theta_max or self.dominates(theta, phi)

    def accepted(self):
        """Count an accepted trial point for the reset heuristic (IPOPT's ``filter_reset_trigger``)."""
        if self.resets < MAX_FILTER_RESETS:
            if self.last_rejection_by_filter:
                self.successive += 1
                if self.successive >= FILTER_RESET_TRIGGER:
                    self.entries, self.successive = [], 0
                    self.resets += 1
            else:
                self.successive = 0
        self.last_rejection_by_filter = False

    def add(self, theta, phi):
        self.entries = [(t, p) for t, p in self.entries if not (t >= theta and p >= phi)]
        self.entries.append((theta, phi))

    def augment(self, theta, phi):
        """Add the margin-shifted pair of an h-type iteration from ``(theta, phi)`` (eq. 22)."""
        self.add((1 - GAMMA_THETA) * theta, phi - GAMMA_PHI * theta)


@dataclass(frozen=True)
class Acceptance:
    """The acceptance test of a trial point, for one iterate ``(theta, phi)`` and slope ``grad phi^T dw``."""

    filter: Filter
    theta: float
    phi: float
    slope: float
    theta_min: float

    def __call__(self, theta_t, phi_t, alpha_t):
        """``(accepted, armijo)``: whether the trial is accepted, and whether by the Armijo rule.

        Barrier values are compared with IPOPT's rounding allowance (``a <= b`` when
        ``a - b <= 10 eps |phi|``): at ``|phi| = 5e12`` the last digits are rounding, and
        an exact comparison rejects every step near the answer. A trial whose barrier
        function rises by more than ``OBJ_MAX_INC`` orders of magnitude is rejected
        outright (IPOPT's ``obj_max_inc``), however much it reduces the violation.
        """
        filt = self.filter
        if not math.isfinite(phi_t) or theta_t > filt.theta_max:
            return False, False
        allowance = 10 * _EPS * abs(self.phi)
        switching = self.slope < 0 and alpha_t * (-self.slope) ** S_PHI > DELTA * self.theta**S_THETA
        armijo = self.theta <= self.theta_min and switching
        if armijo:
            ok = phi_t - self.phi <= ETA_PHI * alpha_t * self.slope + allowance
        else:
            ok = theta_t <= (1 - GAMMA_THETA) * self.theta or phi_t <= self.phi - GAMMA_PHI * self.theta + allowance
        if not ok or _objective_jumps(self.phi, phi_t):
            filt.last_rejection_by_filter = False
            return False, armijo and not ok
        if filt.dominates(theta_t, phi_t):
            filt.last_rejection_by_filter = True
            return False, False
        filt.accepted()
        return True, armijo


def _objective_jumps(phi, phi_t):
    """IPOPT's ``obj_max_inc`` test: ``log10(phi_t - phi) > OBJ_MAX_INC + log10 max(10, |phi|)``.

    A Newton step can cut the violation while raising the objective by many orders of
    magnitude (CUTEst LUKVLI4: f from 2.6e5 to 1.3e12 in one full step), which leads
    to a far worse local minimum; such a step is shortened instead.
    """
    rise = phi_t - phi
    if not rise > 0:
        return False
    return np.log10(rise) > OBJ_MAX_INC + (np.log10(abs(phi)) if abs(phi) > 10 else 1.0)


def minimum_step_length(slope, theta, theta_min):
    """``alpha_min`` of the paper's eq. 23: below it no step length can be accepted."""
    if slope < 0:
        alpha_min = min(GAMMA_THETA, GAMMA_PHI * theta / -slope)
        if theta <= theta_min:
            alpha_min = min(alpha_min, DELTA * theta**S_THETA / (-slope) ** S_PHI)
        alpha_min *= GAMMA_ALPHA
    else:
        alpha_min = GAMMA_ALPHA * GAMMA_THETA
    return max(alpha_min, _EPS)


@dataclass
class Trial:
    """An accepted trial point with its raw ``f``, ``c`` and the merit values the filter saw."""

    w: np.ndarray
    f: float
    c: np.ndarray
    theta: float
    phi: float
    armijo: bool
    alpha: float
    #: The ``(theta, phi)`` the filter is augmented from when the step is not an Armijo step
    #: (None: the iterate the step starts from; the watchdog's stored iterate otherwise).
    reference: tuple | None = None
    #: ``d(w)`` at the trial point (kept for the accepted iterate, which would compute it again).
    d: np.ndarray | None = None


def evaluate(problem, form, w, mu):
    """``(f, c, d, theta, phi)`` at ``w``; ``theta`` and ``phi`` are inf where a value is not finite."""
    n = problem.n
    f, c = problem.objective(w[:n]), problem.constraint_values(w[:n])
    d = form.residual(w, c)
    theta = np.abs(d).sum()
    if not theta < np.inf:  # NaN included
        theta = np.inf
    phi = form.barrier(f, w, mu) if theta < np.inf else np.inf
    return f, c, d, theta, phi


def filter_line_search(problem, form, filt, point, d, direction, mu, tau, theta_min, *, skip_full=False):
    """Backtrack from ``alpha_max`` along ``direction.dw`` from ``point`` until a trial point is accepted (section 2.3).

    Returns ``(trial, trials)``: the accepted :class:`Trial` (None when every step
    length down to ``alpha_min`` was rejected) and the number of trial points
    evaluated. A step too small to change ``w`` in floating point is accepted
    whenever the barrier function is finite there (IPOPT's tiny-step rule).
    ``skip_full`` starts at ``alpha_max / 2`` (the watchdog already tried the full step).
    """
    w, dw = point.w, direction.dw
    theta, phi = form.point_theta(point), form.point_barrier(point, mu)
    slope = direction.grad_phi @ dw
    accept = Acceptance(filt, theta, phi, slope, theta_min)
    tiny = np.abs(dw).max(initial=0.0) <= 10 * _EPS * (1 + form.point_w_max(point))
    alpha_min = minimum_step_length(slope, theta, theta_min)
    alpha, trials = direction.alpha_max * (0.5 if skip_full else 1.0), 0
    while alpha >= alpha_min:
        trial_w = w + alpha * dw
        trial_f, trial_c, trial_d, trial_theta, trial_phi = evaluate(problem, form, trial_w, mu)
        trials += 1
        ok, armijo = accept(trial_theta, trial_phi, alpha)
        if tiny and np.isfinite(trial_phi):
            ok, armijo = True, True
        if ok:
            return Trial(trial_w, trial_f, trial_c, trial_theta, trial_phi, armijo, alpha, d=trial_d), trials
        if trials == 1 and not skip_full and problem.m and np.isfinite(trial_theta) and trial_theta >= theta:
            corrected, corrections = second_order_correction(
                problem, form, direction, w, d, alpha, trial_d, trial_theta, tau, mu, accept
            )
            if corrected is not None:
                return corrected, trials + corrections
        alpha *= 0.5
    return None, trials


def second_order_correction(problem, form, direction, w, d, alpha, trial_d, trial_theta, tau, mu, accept):
    """Up to ``MAX_SOC`` corrections of the rejected full step (paper, section 2.4).

    Each solves the same (already factorized) matrix with the constraint part of
    the right-hand side replaced by ``c_soc <- alpha_soc c_soc + d(w + dw_soc)``.
    Returns ``(trial, corrections)``: the accepted :class:`Trial` (None if none was)
    and the number of corrected points evaluated.
    """
    F = direction.info.factorization
    if F is None:
        return None, 0
    c_soc = alpha * d + trial_d
    theta_previous = trial_theta
    for k in range(1, MAX_SOC + 1):
        try:
            dw_soc = F.solve(-np.concatenate([direction.grad_phi, c_soc]))[: form.nw]
        except SingularMatrixError:
            return None, 0
        alpha_soc = form.max_step(w, dw_soc, tau)
        soc_w = w + alpha_soc * dw_soc
        soc_f, soc_c = problem.objective(soc_w[: problem.n]), problem.constraint_values(soc_w[: problem.n])
        soc_d = form.residual(soc_w, soc_c)
        if not np.isfinite(soc_d).all():
            return None, 0
        soc_theta = np.abs(soc_d).sum()
        soc_phi = form.barrier(soc_f, soc_w, mu)
        ok, armijo = accept(soc_theta, soc_phi, alpha)
        if ok:
            return Trial(soc_w, soc_f, soc_c, soc_theta, soc_phi, armijo, alpha, d=soc_d), k
        if soc_theta > KAPPA_SOC * theta_previous:
            return None, 0
        theta_previous = soc_theta
        c_soc = alpha_soc * c_soc + soc_d
    return None, 0
