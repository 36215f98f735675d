"""The trust invariant on random nonlinear programs: a SUCCESS is a point an independent check confirms.

Whatever the program, ``lagrangian.solve`` either says SUCCESS at a point that passes
a check written here from the problem's own formulas, or ends with another status (or
a typed error). The check, independent of the solver:

- first order: ``grad f + J^T y + z = 0``, ``cl <= c(x) <= cu``, ``lb <= x <= ub`` and
  complementarity, recomputed from the callables (``Solution.kkt_check``);
- second order (a necessary condition for a local minimum): the Hessian of the Lagrangian
  has no negative curvature on the null space of *every* active constraint and bound,
  strongly or weakly active (that subspace lies inside the critical cone, where a
  minimizer's curvature cannot be negative), computed with numpy's ``eigh`` on
  ``Z^T H Z`` (Nocedal & Wright 2006, theorem 12.5).

The programs: ``f = 1/2 x'Qx + c'x + 1/10 sum x^4`` with ``Q`` of either sign (the quartic
keeps f bounded below, so saddles and maxima exist but minima do too), a box on some
variables, one linear row ``a'x <= b`` and one disc ``||x - p||^2 <= r^2`` or an equality
on it, each with exact first and second derivatives. Half start at random points; half
have ``c = 0`` and start at ``x = 0``, a stationary point inside every constraint, which is
a saddle or a maximum whenever ``Q`` is indefinite (the issue's ``-x0^2 + x0^4 + x1^2``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import Bounds

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lagrangian as lg  # noqa: E402

FIRST_ORDER = 1e-6
CURVATURE = 1e-6
ACTIVE = 1e-6


def random_program(seed: int, n: int, equality: bool, stationary_start: bool = False):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    Q = B + B.T  # indefinite in general
    c = np.zeros(n) if stationary_start else rng.standard_normal(n)
    a, b = rng.standard_normal(n), 1.0 + rng.random()
    p, r = 0.5 * rng.standard_normal(n), 1.0 + rng.random()
    if stationary_start:
        # x0 = 0 is a stationary point of f and, by symmetry, of every barrier term (a box
        # and a disc centred there): a saddle or a maximum of the barrier problem whenever
        # Q is indefinite, where a first-order method may simply stop.
        p = np.zeros(n)
    lb = np.where(rng.random(n) < 0.5, -2.0 - rng.random(n), -np.inf)
    ub = np.where(rng.random(n) < 0.5, 2.0 + rng.random(n), np.inf)
    if stationary_start:
        ub = -lb

    def hessian(x, y):
        return Q + np.diag(1.2 * x**2) + 2 * y[-1] * np.eye(n)

    disc = lg.Equality(lambda x: (x - p) @ (x - p), r**2, jacobian=lambda x: 2 * (x - p)[None, :], name="disc") if equality else \
        lg.Inequality(lambda x: (x - p) @ (x - p), upper=r**2, jacobian=lambda x: 2 * (x - p)[None, :], name="disc")  # fmt: skip
    return lg.Problem(
        lambda x: 0.5 * x @ Q @ x + c @ x + 0.1 * np.sum(x**4),
        np.zeros(n) if stationary_start else np.clip(rng.standard_normal(n), np.maximum(lb, -1.5), np.minimum(ub, 1.5)),
        gradient=lambda x: Q @ x + c + 0.4 * x**3,
        hessian=hessian,
        constraints=([] if stationary_start else [lg.Inequality(lambda x: a @ x, upper=b, jacobian=lambda x: a[None, :], name="row")]) + [disc],
        bounds=Bounds(lb, ub),
    )


def smallest_curvature_on_the_active_null_space(problem, solution) -> float:
    """The smallest eigenvalue of ``Z^T H Z``, ``Z`` a basis of the null space of every active row and bound."""
    x, y = solution.x, solution.y
    c = problem.constraint_values(x)
    scale = np.maximum(1.0, np.abs(c))
    rows = (np.abs(c - problem.cl) <= ACTIVE * scale) | (np.abs(c - problem.cu) <= ACTIVE * scale) | (problem.cl == problem.cu)
    at_bound = (np.abs(x - problem.lb) <= ACTIVE * np.maximum(1.0, np.abs(x))) | (np.abs(x - problem.ub) <= ACTIVE * np.maximum(1.0, np.abs(x)))
    J = np.asarray(problem.jacobian(x, dense=True) if problem.m else np.zeros((0, problem.n)), dtype=float)
    active = np.vstack([J[rows], np.eye(problem.n)[at_bound]])
    Z = scipy.linalg.null_space(active) if active.shape[0] else np.eye(problem.n)
    if Z.shape[1] == 0:
        return np.inf
    H = problem.hessian(x, y)
    H = H.toarray() if hasattr(H, "toarray") else np.asarray(H)
    return float(np.linalg.eigvalsh(Z.T @ H @ Z).min())


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(2, 5), equality=st.booleans(), stationary_start=st.booleans())
def test_a_success_passes_an_independent_first_and_second_order_check(seed, n, equality, stationary_start):
    problem = random_program(seed, n, equality and not stationary_start, stationary_start)
    try:
        solution = lg.solve(problem, max_iterations=300)
    except lg.ProblemError:
        return  # a refusal is allowed: it is not an answer
    if solution.status is not lg.Status.SUCCESS:
        return  # an honest status
    residuals = solution.kkt_check(problem)
    assert residuals.max() <= FIRST_ORDER * max(1.0, np.abs(solution.x).max()), (solution.status, residuals)
    H_scale = max(1.0, float(np.abs(problem.hessian(solution.x, solution.y)).max()))
    assert smallest_curvature_on_the_active_null_space(problem, solution) >= -CURVATURE * H_scale, solution.second_order


def test_the_check_catches_a_saddle():
    # The check itself must be able to fail: at the saddle (0, 0) of x0^2 - x1^2 it does.
    problem = lg.Problem(lambda x: x[0] ** 2 - x[1] ** 2, [0.0, 0.0], gradient=lambda x: np.array([2 * x[0], -2 * x[1]]),
                         hessian=lambda x, y: np.diag([2.0, -2.0]))  # fmt: skip

    class AtTheSaddle:
        x, y = np.zeros(2), np.zeros(0)

    assert smallest_curvature_on_the_active_null_space(problem, AtTheSaddle) == pytest.approx(-2.0)
