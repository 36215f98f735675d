"""An equality written as two opposite inequalities: ``c(x) >= 0`` and ``-c(x) >= 0``.

No multipliers are bounded there (MFCQ fails: the two rows' gradients are opposite), the
slacks of the pair have an interior only as wide as the rows' bound relaxation, and the
barrier subproblem is solved to ``10 mu`` only when that interior is wide enough for the
slacks' multipliers (about ``mu / width``) to stay moderate. With IPOPT's relaxation
(``min(1e-8, tol)``) the interior point ends at the projection of ``(1, 3)`` onto the
circle ``x0^2 + x1^2 = 4``, ``2 (1, 3) / sqrt(10)``, in a few dozen iterations; with 1e-9
it stayed at ``mu = 2e-2`` until the iteration limit.
"""

from __future__ import annotations

import numpy as np
import pytest

import lagrangian as lg

ANSWER = 2 * np.array([1.0, 3.0]) / np.sqrt(10.0)


def _circle_pair(x0):
    def c(x):
        return np.array([x[0] ** 2 + x[1] ** 2 - 4, 4 - x[0] ** 2 - x[1] ** 2])

    def jacobian(x):
        return np.array([[2 * x[0], 2 * x[1]], [-2 * x[0], -2 * x[1]]])

    return lg.Problem(
        lambda x: (x[0] - 1) ** 2 + (x[1] - 3) ** 2, x0,
        gradient=lambda x: np.array([2 * (x[0] - 1), 2 * (x[1] - 3)]),
        constraints=[lg.Constraint(c, 0.0, np.inf, jacobian=jacobian)],
        hessian=lambda x, y: 2 * (1 + y[0] - y[1]) * np.eye(2),
    )


@pytest.mark.parametrize("tol", [1e-6, 1e-8])
@pytest.mark.parametrize("x0", [[2.0, 0.1], [0.5, 1.0], [-1.0, 3.0]])
def test_an_equality_as_two_opposite_inequalities_is_solved(x0, tol):
    s = lg.interior_point(_circle_pair(np.array(x0)), tol=tol, max_iterations=200)
    assert s.status is lg.Status.SUCCESS
    np.testing.assert_allclose(s.x, ANSWER, atol=1e-7)
    assert s.nit <= 60
    # only the difference of the two rows' multipliers is determined: the circle's multiplier
    lam = s.y[0] - s.y[1]
    assert lam == pytest.approx(-(1 - np.sqrt(10) / 2), rel=1e-5)
