"""solve_many: results in input order equal to serial solves, over a local process pool
(problems written with lambdas) and over a Dask LocalCluster of two workers; a failure
stays in its slot."""

from __future__ import annotations

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lagrangian as lg
from lagrangian.parallel import FailedSolve, chunk_plan, dumps, run_many, solve_many
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
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            results = solve_many(problems, executor=client.get_executor(), chunksize=2, tol=1e-10)
            # the default plan sizes its chunks for the cluster's two worker threads
            run = run_many(problems[::-1], executor=client.get_executor(), tol=1e-10)
    assert_same_as_serial(results, problems)
    assert_same_as_serial(run.results, problems[::-1])
    assert run.workers == 2 and sum(chunk.size for chunk in run.chunks) == len(problems)


def test_parametric_results_from_other_processes_get_their_problem_back():
    results = solve_many(rosenbrock_in_a_disc, [0.5, 0.8], max_workers=2, chunksize=1, tol=1e-12)
    for result in results:
        S = sensitivity(result, constraints_p=[[-1.0]], objective_p=[0.0])
        assert S.value[0] == pytest.approx(-result.y[0], rel=1e-12)


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_chunk_plans_cover_every_index_once_in_order(workers):
    for count in range(0, 60):
        for chunksize in (None, 1, 3, 7):
            plan = chunk_plan(count, workers, chunksize)
            assert [i for r in plan for i in r] == list(range(count))
            assert all(len(r) > 0 for r in plan)
            sizes = [len(r) for r in plan]
            if chunksize is None:
                # factoring: sizes never grow, the last chunk is one item, and each round
                # of `workers` chunks hands out about half of what remains
                assert sizes == sorted(sizes, reverse=True)
                assert count == 0 or sizes[-1] == 1
                assert len(plan) <= workers * (np.log2(max(count, 1)) + 2)
            else:
                assert count == 0 or (sizes[:-1] == [chunksize] * (len(sizes) - 1) and 0 < sizes[-1] <= chunksize)


def test_chunks_that_do_not_divide_the_batch_keep_input_order():
    # 8 problems in chunks of 3 (3 + 3 + 2) and in the default plan for 2 and 3 workers
    problems = [rosenbrock_in_a_disc(r) for r in RADII]
    for kwargs in ({"chunksize": 3}, {}, {"max_workers": 3}):
        with ThreadPoolExecutor(max_workers=kwargs.pop("max_workers", 2)) as pool:
            results = solve_many(problems, executor=pool, tol=1e-10, **kwargs)
        assert_same_as_serial(results, problems)


def test_a_problem_that_will_not_pickle_fails_its_own_slot_only():
    lock = threading.Lock()  # a closure over a lock: no pickler sends it

    def locked(x):
        with lock:
            return float(x @ x)

    problems = [rosenbrock_in_a_disc(0.5), lg.Problem(locked, [1.0, 2.0], gradient=lambda x: 2 * x), rosenbrock_in_a_disc(2.0)]
    results = solve_many(problems, max_workers=2, chunksize=3, tol=1e-10)
    assert isinstance(results[1], FailedSolve) and "lock" in results[1].message
    assert_same_as_serial([results[0], results[2]], [problems[0], problems[2]])


def test_a_result_that_will_not_pickle_back_fails_its_own_slot_only():
    def solver(problem, **options):
        result = lg.solve(problem, **options)
        return threading.Lock() if result.x[0] < 0.5 else result  # radius 0.3: x0 < 0.3

    results = solve_many([rosenbrock_in_a_disc(r) for r in (1.0, 0.3, 2.0)], solver=solver, max_workers=2, chunksize=3, tol=1e-10)
    assert isinstance(results[1], FailedSolve) and "lock" in results[1].message
    assert_same_as_serial([results[0], results[2]], [rosenbrock_in_a_disc(1.0), rosenbrock_in_a_disc(2.0)])


def test_functions_without_a_module_pickle_without_a_search_of_every_module(monkeypatch):
    import cloudpickle

    # made by eval, as code generators make them: __module__ is None
    objective = eval("lambda x: (x[0] - 2.0) ** 2 + (x[1] + 1.0) ** 2", {})
    assert objective.__module__ is None

    whichmodule = cloudpickle.cloudpickle._whichmodule

    def no_search(obj, name):
        if getattr(obj, "__module__", None) is None:
            raise AssertionError(f"searched every module for {name}")
        return whichmodule(obj, name)

    monkeypatch.setattr(cloudpickle.cloudpickle, "_whichmodule", no_search)
    with pytest.raises(AssertionError, match="searched every module"):  # what cloudpickle itself does
        cloudpickle.dumps(objective)
    problem = lg.Problem(objective, [0.0, 0.0], constraints=[lg.Inequality(lambda x: x[0] + x[1], upper=0.5)])
    copy = pickle.loads(dumps(problem))
    x = np.array([0.3, -0.7])
    assert copy.objective(x) == problem.objective(x)
    monkeypatch.undo()
    (result,) = solve_many([problem, problem], max_workers=2, tol=1e-10)[:1]
    # min (x0 - 2)^2 + (x1 + 1)^2 s.t. x0 + x1 <= 1/2: the projection of (2, -1) onto the half-plane
    np.testing.assert_allclose(result.x, [1.75, -1.25], atol=1e-8)


class CountedBuild:
    """A parametric problem that counts how often it was unpickled in this process."""

    loads = 0

    def __init__(self):
        self.name = "disc"  # some state, so that unpickling calls __setstate__

    def __call__(self, radius):
        return rosenbrock_in_a_disc(radius)

    def __setstate__(self, state):
        CountedBuild.loads += 1
        self.__dict__.update(state)


def test_the_parametric_form_unpickles_its_build_once_per_worker_not_per_chunk():
    CountedBuild.loads = 0
    with ThreadPoolExecutor(max_workers=2) as pool:  # workers that share this process's counter
        results = solve_many(CountedBuild(), RADII, executor=pool, chunksize=1, tol=1e-10)
    assert CountedBuild.loads == 1  # 8 chunks, one unpickling
    assert_same_as_serial(results, [rosenbrock_in_a_disc(r) for r in RADII])


def test_history_only_when_asked_and_then_as_a_serial_solve_keeps_it():
    problem = rosenbrock_in_a_disc(0.8)
    serial = lg.solve(problem, tol=1e-10)
    lean, full = solve_many([problem] * 2, max_workers=2, tol=1e-10), solve_many([problem] * 2, max_workers=2, tol=1e-10, history=True)
    assert lean[0].history == () and lean[0].nit == serial.nit and lean[0].kkt == serial.kkt
    assert full[0].history == serial.history and len(serial.history) == serial.nit + 1


def test_a_solver_that_will_not_pickle_is_a_problem_error_naming_it():
    lock = threading.Lock()
    with pytest.raises(lg.ProblemError, match="solver"):
        solve_many([rosenbrock_in_a_disc(1.0)] * 2, solver=lambda p, **o: (lock, lg.solve(p))[1], max_workers=2)


def test_run_many_accounts_for_every_problem_and_worker():
    problems = [rosenbrock_in_a_disc(r) for r in RADII]
    run = run_many(problems, max_workers=2, tol=1e-10)
    assert sum(chunk.size for chunk in run.chunks) == len(problems)
    assert len(run.worker_cpu()) <= 2 and all(cpu >= 0 for cpu in run.worker_cpu().values())
    breakdown = run.breakdown()
    assert breakdown["solve"] > 0 and all(value >= 0 for key, value in breakdown.items() if key != "worker executor")
    # every worker of the pool it started was warmed up before its first chunk
    assert set(run.startup()) == set(run.worker_cpu())
    # the idle-machine wall time is at least each process's own share
    assert run.ideal_wall(2) >= max(run.worker_cpu().values())
    assert_same_as_serial(run.results, problems)


@pytest.mark.parametrize("chunksize", [0, -1, 2.5, True, "4"])
def test_a_chunksize_that_is_not_a_positive_integer_is_refused_naming_it(chunksize):
    with pytest.raises(lg.ProblemError, match="chunksize"):
        lg.solve_many([], executor="serial", chunksize=chunksize)
