"""The watchdog (Waechter & Biegler 2006, section 3.2): a curved valley where the filter admits only slivers of each Newton step.

The square system ``x1 + x2 exp(t x3) = a_t`` for ``t = 1, 2, 3`` (an exponential
fitted through three points) started on the far side of the valley ``x1 ~ -x2``:
the Newton step points across the valley, every full step raises the violation,
and the backtracking search accepts only ``alpha ~ 1e-4`` (the shape of CUTEst's
HATFLDFLNE, whose log matched IPOPT's for ten such iterations). The root has a
closed form: ``q = exp(x3) = (a3 - a2) / (a2 - a1)``, ``x2 = (a2 - a1) / (q (q - 1))``,
``x1 = a1 - x2 q``.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.solvers.watchdog import Watchdog

T = np.array([1.0, 2.0, 3.0])
A = np.array([0.032, 0.056, 0.099])


def _root():
    q = (A[2] - A[1]) / (A[1] - A[0])
    x2 = (A[1] - A[0]) / (q * (q - 1))
    return np.array([A[0] - x2 * q, x2, np.log(q)])


def _valley(x0):
    def c(x):
        return x[0] + x[1] * np.exp(T * x[2]) - A

    def jacobian(x):
        e = np.exp(T * x[2])
        return np.column_stack([np.ones(3), e, x[1] * T * e])

    def hessian(x, y):
        e = np.exp(T * x[2])
        h = np.zeros((3, 3))
        h[1, 2] = h[2, 1] = y @ (T * e)
        h[2, 2] = y @ (x[1] * T**2 * e)
        return h

    return lg.Problem(
        lambda x: 0.0, np.array(x0, dtype=float), gradient=lambda x: np.zeros(3),
        constraints=[lg.Constraint(c, 0.0, 0.0, jacobian=jacobian)], hessian=hessian,
    )


STARTS = [(1.0, -1.0, -0.05), (1.2, -1.2, -0.0202), (2.0, -2.0, -0.01)]


@pytest.mark.parametrize("x0", STARTS)
def test_the_watchdog_takes_the_full_step_out_of_the_valley(x0):
    log = io.StringIO()
    with np.errstate(over="ignore"):
        s = lg.solve(_valley(x0), method="interior_point", max_iterations=200, log=log)
    assert s.status is lg.Status.SUCCESS
    np.testing.assert_allclose(s.x, _root(), rtol=1e-6, atol=1e-9)
    assert s.nit <= 30
    # the watch: ten shortened steps, then a full step on trust ("t") and one the filter accepts ("W")
    assert any(line[4:5] == "W" for line in log.getvalue().splitlines())


def test_without_the_watchdog_the_same_start_crawls(monkeypatch):
    """The test above exercises the watchdog: with it switched off the run does not find the root."""
    module = sys.modules["lagrangian.solvers.interior_point"]
    monkeypatch.setattr(module, "Watchdog", lambda: Watchdog(trigger=10**9))
    with np.errstate(over="ignore"):
        s = lg.solve(_valley(STARTS[0]), method="interior_point", max_iterations=200)
    assert s.status is not lg.Status.SUCCESS or s.nit > 100
