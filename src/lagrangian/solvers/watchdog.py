r"""The watchdog of the filter line search (Wächter & Biegler 2006, section 3.2; IPOPT's defaults).

In a curved valley the filter can admit only a sliver of every Newton step: the
linearization says "go there", the trial point leaves the valley, its violation
rises, and the backtracking search cuts ``alpha`` to ``1e-4`` or less, iteration after
iteration, without the method ever leaving the valley's floor (a Maratos-like
effect that second-order corrections do not always cure). The full step, followed by
one or two more Newton steps, often lands where the filter is satisfied.

After ``TRIGGER`` consecutive iterations whose step was shortened (the line search
backtracked at least once), with ``mu`` unchanged, the watchdog stores the current
iterate ``w_k`` with its multipliers, direction, ``theta_k``, ``phi_k`` and slope
``grad phi^T dw``, and then, for up to ``TRIAL_ITERATIONS`` iterations, tries only
the full step ``alpha_max``:

- if the trial point is acceptable to the filter and gives sufficient decrease
  (switching condition with Armijo, or the margins of eq. 18) with respect to the
  **stored** iterate's values, it is accepted and the watchdog ends (IPOPT's ``W``);
- otherwise the full step is taken anyway (no filter augmentation), unless the
  allowance is used up; then the stored iterate is restored and the ordinary
  backtracking line search runs from it along its stored direction, starting at
  ``alpha_max / 2`` (IPOPT's ``w``).

The counter restarts whenever ``mu`` changes and after a restoration phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .filter_line_search import Acceptance, Trial, evaluate, filter_line_search

__all__ = ["Watchdog", "TRIGGER", "TRIAL_ITERATIONS"]

TRIGGER = 10  # IPOPT's watchdog_shortened_iter_trigger
TRIAL_ITERATIONS = 3  # IPOPT's watchdog_trial_iter_max


@dataclass
class Base:
    """The iterate a step is taken from: the current one, or the watchdog's stored one after a failed watch."""

    point: object
    y: np.ndarray
    z: np.ndarray
    d: np.ndarray
    direction: object


@dataclass
class _Stored:
    base: Base
    theta: float
    phi: float
    slope: float
    alpha_test: float


class Watchdog:
    """The watchdog's state across iterations; :meth:`line_search` replaces a call of :func:`filter_line_search`."""

    def __init__(self, trigger: int = TRIGGER, trial_iterations: int = TRIAL_ITERATIONS):
        self.trigger, self.trial_iterations = trigger, trial_iterations
        self.shortened, self.mu, self.stored, self.watched = 0, None, None, 0

    def reset(self):
        """Forget the shortened steps and any stored iterate (after a restoration phase)."""
        self.shortened, self.stored, self.watched = 0, None, 0

    def line_search(self, problem, form, filt, base: Base, mu, tau, theta_min):
        """``(trial, trials, base, tag)``: the accepted trial point (None: go to restoration), trial points
        evaluated, the iterate the trial is a step from (the stored one when the watch failed), and a log tag."""
        if mu != self.mu:
            self.mu = mu
            self.reset()
        point, d, direction = base.point, base.d, base.direction
        if self.stored is None and self.shortened >= self.trigger:
            theta, phi = form.point_theta(point), form.point_barrier(point, mu)
            base = Base(point, base.y.copy(), base.z.copy(), d, direction)
            self.stored, self.watched = _Stored(base, theta, phi, float(direction.grad_phi @ direction.dw), direction.alpha_max), 0
        if self.stored is not None:
            trial, outcome = self._full_step(problem, form, filt, base, mu, theta_min)
            if outcome != "failed":
                return trial, 1, base, outcome
            base, self.stored = self.stored.base, None
            trial, trials = filter_line_search(problem, form, filt, base.point, base.d, base.direction, mu, tau, theta_min, skip_full=True)
            self._count(trial, base.direction)
            return trial, trials + 1, base, "w"
        trial, trials = filter_line_search(problem, form, filt, point, d, direction, mu, tau, theta_min)
        self._count(trial, direction)
        return trial, trials, base, ""

    def _full_step(self, problem, form, filt, base, mu, theta_min):
        """Try ``w + alpha_max dw`` against the stored iterate: ``(trial, "W")`` accepted, ``(trial, "t")`` taken on trust, or ``(None, "failed")``."""
        stored, direction = self.stored, base.direction
        alpha = direction.alpha_max
        w = base.point.w + alpha * direction.dw
        f, c, d, theta, phi = evaluate(problem, form, w, mu)
        accept = Acceptance(filt, stored.theta, stored.phi, stored.slope, theta_min)
        ok, armijo = accept(theta, phi, stored.alpha_test)
        if ok:
            self.stored, self.shortened = None, 0
            return Trial(w, f, c, theta, phi, armijo, alpha, reference=(stored.theta, stored.phi), d=d), "W"
        self.watched += 1
        if self.watched > self.trial_iterations or not np.isfinite(phi):
            return None, "failed"
        # Taken on trust: no filter entry, the stored iterate is the one it is judged against.
        # A full step, so the count of shortened ones starts again (IPOPT's n_steps == 0): a
        # failed watch needs TRIGGER more shortened steps before the next one.
        self.shortened = 0
        return Trial(w, f, c, theta, phi, True, alpha, d=d), "t"

    def _count(self, trial, direction):
        """Count consecutive iterations whose accepted step was shorter than ``alpha_max``."""
        if trial is None:
            return
        self.shortened = self.shortened + 1 if trial.alpha < direction.alpha_max else 0
