"""solve_many: results in input order equal to serial solves, over a local process pool
(problems written with lambdas) and over a Dask LocalCluster of two workers; a failure
stays in its slot."""

from __future__ import annotations

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.parallel import FailedSolve, solve_many
from lagrangian.sensitivity import sensitivity


def rosenbrock_in_a_disc(radius):
    """min (1 - x0)^2 + 100 (x1 - x0^2)^2  s.t.  x0^2 + x1^2 <= radius^2: every callable a lambda."""
    return lg.Problem(
        lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
        [0.0, 0.0],
        gradient=lambda x: np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)]),
        constraints=[lg.Inequality(lambda x: x @ x, upper=radius**2, jacobian=lambda x: 2 * x[None, :], name="disc")],
        hessian=lambda x, y: np.array([[2 - 400 * x[1] + 1200 * x[0] ** 2 + 2 * y[0], -400 * x[0]], [-400 * x[0], 200 + 2 * y[0]]]),
    )


RADII = [0.5, 0.8, 1.0, 1.2, 2.0, 0.3, 0.9, 1.5]


def assert_same_as_serial(results, problems):
    assert len(results) == len(problems)
    for result, problem in zip(results, problems):
        serial = lg.solve(problem, tol=1e-10)
        assert result.status is serial.status
        np.testing.assert_allclose(result.x, serial.x, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result.y, serial.y, rtol=1e-12, atol=1e-14)
        assert result.kkt.max() <= 1e-8 and result.kkt == serial.kkt


def test_a_process_pool_solves_lambdas_in_input_order_as_serial_solves_do():
    problems = [rosenbrock_in_a_disc(r) for r in RADII]
    results = solve_many(problems, max_workers=2, chunksize=3, tol=1e-10)
    assert_same_as_serial(results, problems)
    # the disc binds exactly when the unconstrained minimizer (1, 1) lies outside it
    assert [bool(abs(r.y[0]) > 1e-6) for r in results] == [r < np.sqrt(2) for r in RADII]


def test_results_from_other_processes_keep_their_problem_for_sensitivities():
    (result,) = solve_many([rosenbrock_in_a_disc(0.5)] * 2, max_workers=2, tol=1e-12)[:1]
    S = sensitivity(result, constraints_p=[[-1.0]], objective_p=[0.0])  # d f*/d(radius^2)
    assert S.value[0] == pytest.approx(-result.y[0], rel=1e-12)


def test_the_parametric_form_and_a_failure_that_stays_in_its_slot():
    def build(radius):
        if radius < 0:
            raise lg.ProblemError("radius", "must be nonnegative")
        return rosenbrock_in_a_disc(radius)

    results = solve_many(build, [0.5, -1.0, 2.0], max_workers=2, chunksize=1, tol=1e-10)
    assert isinstance(results[1], FailedSolve) and results[1].error == "ProblemError" and not results[1].success
    assert "must be nonnegative" in results[1].message
    assert_same_as_serial([results[0], results[2]], [build(0.5), build(2.0)])
    # a solve that ends without success is a status, not a failure of the batch
    limited = solve_many(build, [0.5, 2.0], executor="serial", max_iterations=1)
    assert all(r.status is lg.Status.MAX_ITERATIONS for r in limited)


def test_quadratic_programs_go_to_solve_qp():
    qp = lg.QuadraticProgram(np.eye(2), [-1.0, -1.0], [[1.0, 1.0]], [-np.inf], [1.0])
    (result,) = solve_many([qp], executor="serial", tol=1e-12)
    np.testing.assert_allclose(result.x, [0.5, 0.5], atol=1e-10)
    assert result.solver == lg.solve_qp(qp).solver


def test_bad_executor_is_a_problem_error():
    with pytest.raises(lg.ProblemError, match="executor"):
        solve_many([rosenbrock_in_a_disc(1.0)] * 2, executor="threads")


def test_a_dask_local_cluster_of_two_workers_gives_the_serial_results():
    distributed = pytest.importorskip("dask.distributed")
    problems = [rosenbrock_in_a_disc(r) for r in RADII]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            results = solve_many(problems, executor=client.get_executor(), chunksize=2, tol=1e-10)
    assert_same_as_serial(results, problems)


def test_parametric_results_from_other_processes_get_their_problem_back():
    results = solve_many(rosenbrock_in_a_disc, [0.5, 0.8], max_workers=2, chunksize=1, tol=1e-12)
    for result in results:
        S = sensitivity(result, constraints_p=[[-1.0]], objective_p=[0.0])
        assert S.value[0] == pytest.approx(-result.y[0], rel=1e-12)
