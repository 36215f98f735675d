"""A numerical blow-up inside the solve is a status on the result, never the bad-input error.

``x0^2 + x1^2 = -1`` has no solution, so the run enters feasibility restoration, whose
Newton step asks for the curvature ``sum_i d_i nabla^2 c_i`` with ``d`` the violation. The
Lagrangian Hessian given here overflows to ``inf`` once a multiplier passes 1, as a user's
Hessian can (exponentials of large arguments): the restoration's KKT matrix then holds
``inf``. The linear algebra refuses such a matrix with ProblemError (bad input, the right
verdict for a matrix a user passes in); from inside a solve it is a numerical outcome.
"""

from __future__ import annotations

import numpy as np

import lagrangian as lg


def test_an_overflowing_hessian_in_restoration_ends_with_a_status():
    def hessian(x, y):
        return np.full((2, 2), np.inf) if np.abs(y).max(initial=0.0) > 1.0 else 2 * (1 + y[0]) * np.eye(2)

    problem = lg.Problem(
        lambda x: x[0] ** 2 + x[1] ** 2, [1.0, 2.0], gradient=lambda x: 2 * np.asarray(x),
        constraints=[lg.Constraint(lambda x: np.array([x[0] ** 2 + x[1] ** 2]), -1.0, -1.0, jacobian=lambda x: np.array([[2 * x[0], 2 * x[1]]]))],
        hessian=hessian,
    )
    s = lg.interior_point(problem)  # raised ProblemError("KKT matrix: contains NaN or infinite entries")
    assert s.status in (lg.Status.NONFINITE, lg.Status.INFEASIBLE)
    assert not s.success
    assert np.all(np.isfinite(s.x))
    assert s.kkt.primal >= 1.0  # the violation x0^2 + x1^2 + 1 is at least 1 everywhere
