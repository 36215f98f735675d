"""The 1-norm restoration stage (solvers/l1_restoration.py): a spurious minimizer of ||c||^2 is not an infeasibility verdict.

The Gauss-Newton restoration minimizes 1/2 ||c||_2^2; where that has a strict local
minimizer with J^T c = 0 but J^T sign(c) != 0 (CUTEst DRCAVTY2), IPOPT's restoration
problem on the 1-norm still descends. A feasible problem must not end INFEASIBLE there,
and an inconsistent system must still end INFEASIBLE.
"""

from __future__ import annotations

import importlib
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import lagrangian as lg
from lagrangian import Equality, Inequality, Problem
from lagrangian.solvers import l1_restoration

# The module, not the function of the same name that lagrangian.solvers exports.
interior_point_module = importlib.import_module("lagrangian.solvers.interior_point")

EPS, SLOPE = 0.05, 0.5


def _rows(x):
    """``c(x) = (x, tanh(x/eps) - x/2)``: both vanish only at x = 0."""
    return np.array([x[0], np.tanh(x[0] / EPS) - SLOPE * x[0]])


def _jacobian(x):
    return np.array([[1.0], [(1.0 - np.tanh(x[0] / EPS) ** 2) / EPS - SLOPE]])


def _curvature(x, y):
    """The Hessian of the Lagrangian ``2 + y_2 c_2''(x)`` (the first row is linear)."""
    t = np.tanh(x[0] / EPS)
    return np.array([[2.0 - y[-1] * 2.0 * t * (1.0 - t * t) / EPS**2]])


def _spurious_problem(variant="exact"):
    """min (x - 1)^2 s.t. c(x) = 0; feasible (only x = 0), with a spurious minimizer of ||c||^2 near x = 0.4.

    On the plateau ``tanh = 1`` the squared violation ``x^2 + (1 - x/2)^2`` has its minimum
    at ``x = 0.4`` (violation 0.8), while the 1-norm ``x + 1 - x/2`` falls all the way to 0.
    Variants: ``"exact"`` (exact Hessian), ``"quasi-newton"`` (none given), ``"inequality"``
    (the second row as ``c_2(x) <= 0``, through a slack), ``"bounds"`` (``-1 <= x <= 2``).
    """
    objective, gradient = (lambda x: float((x[0] - 1.0) ** 2)), (lambda x: np.array([2.0 * (x[0] - 1.0)]))
    hessian = None if variant == "quasi-newton" else _curvature
    bounds = ([-1.0], [2.0]) if variant == "bounds" else None
    constraints = [Equality(_rows, jacobian=_jacobian)]
    if variant == "inequality":
        constraints = [
            Equality(lambda x: _rows(x)[:1], jacobian=lambda x: _jacobian(x)[:1]),
            Inequality(lambda x: _rows(x)[1:], upper=0.0, jacobian=lambda x: _jacobian(x)[1:]),
        ]
    return Problem(objective, [1.0], gradient=gradient, constraints=constraints, hessian=hessian, bounds=bounds)


VARIANTS = ["exact", "quasi-newton", "inequality", "bounds"]


def test_the_constructed_squared_violation_has_a_spurious_minimizer_where_the_one_norm_descends():
    # Independent of the solver: scipy finds the local minimizer of ||c||^2 on the plateau
    # (at 0.39999, tanh(8) being 1 - 2e-7).
    local = minimize_scalar(lambda t: float(_rows([t]) @ _rows([t])), bounds=(0.2, 0.8), method="bounded", options={"xatol": 1e-10})
    x = np.array([local.x])
    c, J = _rows(x), _jacobian(x)
    assert abs(local.x - 0.4) < 1e-4 and np.abs(c).max() > 0.5
    assert abs((J.T @ c)[0]) < 1e-6  # stationary for the 2-norm ...
    assert abs((J.T @ np.sign(c))[0]) > 0.4  # ... not for the 1-norm


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_feasible_problem_is_not_declared_infeasible_where_the_two_norm_restoration_stalls(variant):
    result = lg.interior_point(_spurious_problem(variant))
    assert result.status is lg.Status.SUCCESS
    assert abs(result.x[0]) <= 1e-8
    assert np.abs(_rows(result.x)).max() <= 1e-8
    assert abs(result.fun - 1.0) <= 1e-8


@pytest.mark.parametrize("variant", VARIANTS)
def test_without_the_one_norm_stage_the_same_run_ends_infeasible_at_the_spurious_point(variant, monkeypatch):
    # The stage is what makes the difference: with it replaced by one that keeps the 2-norm verdict.
    monkeypatch.setattr(interior_point_module, "l1_restore", lambda solve, problem, form, point, mu, filt, tol, outcome, restored, *rest: (outcome, restored))
    result = lg.interior_point(_spurious_problem(variant))
    assert result.status is lg.Status.INFEASIBLE
    assert abs(result.x[0] - 0.4) < 1e-3


def test_an_inconsistent_overdetermined_linear_system_stays_infeasible():
    A = np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 0.0]])
    b = np.array([1.0, 1.0, 0.0])
    problem = Problem(
        lambda x: float(x @ x),
        [3.0, -2.0],
        gradient=lambda x: 2.0 * x,
        constraints=[Equality(lambda x: A @ x - b, jacobian=lambda x: A)],
        hessian=lambda x, y: 2.0 * np.eye(2),
    )
    result = lg.interior_point(problem)
    assert result.status is lg.Status.INFEASIBLE
    # The point returned minimizes the violation (least squares, the 2-norm restoration's end).
    assert np.allclose(result.x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-6)


def test_the_elastic_start_is_the_barrier_minimizer_of_the_paper():
    # Eq. (33): p - n = d and 2 rho = mu/p + mu/n (stationarity of rho (p + n) - mu ln p - mu ln n on p - n = d).
    d = np.array([-3.0, -1e-3, 0.0, 1e-6, 2.5])
    mu = 0.2
    p, n = l1_restoration.elastic_start(d, mu)
    assert np.all(p > 0) and np.all(n > 0)
    assert np.allclose(p - n, d, rtol=0, atol=1e-12)
    assert np.allclose(mu / p + mu / n, 2 * l1_restoration.RHO, rtol=1e-9)


@pytest.mark.parametrize("max_iterations", range(22, 34))
def test_an_iteration_limit_reached_inside_the_stage_is_a_limit_not_a_verdict(max_iterations):
    # The feasible problem, with a budget that runs out around the restoration: whatever
    # the stage could not finish is MAX_ITERATIONS, never INFEASIBLE.
    result = lg.interior_point(_spurious_problem("exact"), max_iterations=max_iterations)
    assert result.status in (lg.Status.MAX_ITERATIONS, lg.Status.SUCCESS)
    if result.status is lg.Status.SUCCESS:
        assert abs(result.x[0]) <= 1e-8

