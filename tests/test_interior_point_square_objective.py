"""A square system by count whose feasible set is a line: the objective must still choose the point.

Two equality rows in two variables, ``(x0 - 2)^2 = 0`` and ``(x0 - 2)^2 (x0 + 1) = 0``,
neither depending on ``x1`` (the shape of CUTEst FLT: ``x1^2 = 0, x1^3 = 0``). The count
makes the problem square, but the Jacobian's second column is zero everywhere, so the
feasible set is the line ``x0 = 2`` and ``f = (x1 + 0.5)^2 + x0`` has one minimizer on it,
``(2, -0.5)`` with ``f = 2``. A step that drops the objective (Newton on ``c(x) = 0`` alone)
never moves ``x1`` and ended FEASIBLE_POINT where ``x1`` started; the Newton step of the
whole barrier problem (IPOPT's) moves ``x1`` to ``-0.5`` while ``x0`` reaches the root.
"""

from __future__ import annotations

import numpy as np
import pytest

import lagrangian as lg


def _line(x0):
    def c(x):
        return np.array([(x[0] - 2) ** 2, (x[0] - 2) ** 2 * (x[0] + 1)])

    def jacobian(x):
        return np.array([[2 * (x[0] - 2), 0.0], [2 * (x[0] - 2) * (x[0] + 1) + (x[0] - 2) ** 2, 0.0]])

    def hessian(x, y):
        return np.array([[2 * y[0] + y[1] * (2 * (x[0] + 1) + 4 * (x[0] - 2)), 0.0], [0.0, 2.0]])

    return lg.Problem(
        lambda x: (x[1] + 0.5) ** 2 + x[0], np.array(x0, dtype=float),
        gradient=lambda x: np.array([1.0, 2 * (x[1] + 0.5)]),
        constraints=[lg.Constraint(c, 0.0, 0.0, jacobian=jacobian)], hessian=hessian,
    )


@pytest.mark.parametrize("x0", [[3.0, 1.0], [1.0, -2.0], [2.5, 0.0]])
def test_the_objective_chooses_the_point_on_a_feasible_line(x0):
    s = lg.solve(_line(x0), method="interior_point")
    assert s.status is lg.Status.SUCCESS
    assert s.x[1] == pytest.approx(-0.5, abs=1e-7)
    # a double root: the violation (x0 - 2)^2 reaches 1e-8 where |x0 - 2| is 1e-4
    assert abs(s.x[0] - 2) <= 1e-4 and s.kkt.primal <= 1e-8
    assert s.fun == pytest.approx(2.0, abs=1e-4)
