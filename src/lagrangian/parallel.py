r"""Many solves at once, on one machine or many: :func:`solve_many`.

:func:`solve_many` maps a solver over a list of problems, or over the values of one
parametric problem's parameter, with any :class:`concurrent.futures.Executor`:

- by default a local :class:`~concurrent.futures.ProcessPoolExecutor`, created for
  the call and shut down after it, with the platform's start method (``fork`` on
  Linux up to Python 3.13: no re-import of the calling script). A process that runs
  multithreaded libraries (PyTorch, JAX) should pass its own pool,
  ``ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn"))``: a child
  forked from such a process can deadlock;
- ``executor="serial"`` solves in this process, one after the other (no pickling;
  the right choice for a few fast solves, where starting processes costs more);
- any executor you pass: a pool you keep alive between calls, or a Dask cluster's
  ``distributed.Client(...).get_executor()`` (Dask is the distributed engine here;
  ``pip install "lagrangian[dask]"``).

Problems are shipped by value with **cloudpickle**, so problems whose functions are
lambdas or closures (most of them) travel to worker processes; the standard pickle
refuses those. Work is sent in chunks (several problems per task) so that the
per-task cost of the executor is paid a few times per worker, not once per problem.

Every slot of the answer is filled, in input order: a :class:`~lagrangian.Solution`
(with its status and KKT residuals, whatever the status), or a :class:`FailedSolve`
when the solve raised (bad input, a singular KKT matrix the solver could not handle,
an error in the user's function): one failure never loses the batch. A solution
computed in another process comes back without its problem (its functions need not
pickle back, and pickling them back cost 30 ms a problem in trials); ``solve_many``
re-attaches the caller's own problem object (or, in the parametric form, builds it
again here), so :func:`lagrangian.sensitivity.sensitivity` and
:func:`lagrangian.reverse_mode.adjoint` work on the result as on a serial one.
"""

from __future__ import annotations

import math
import os
import pickle
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace

from .errors import ProblemError

__all__ = ["FailedSolve", "solve_many", "default_solver"]


@dataclass(frozen=True)
class FailedSolve:
    """The slot of a solve that raised instead of returning a Solution.

    Attributes
    ----------
    error : str
        The exception's class name (``"ProblemError"``, ``"SingularKKTError"``, ...).
    message : str
    traceback : str
        The formatted traceback, from the process that ran the solve.
    """

    error: str
    message: str
    traceback: str = ""

    success = False
    status = None

    def __str__(self):
        return f"solve raised {self.error}: {self.message}"


def default_solver(item, **options):
    """Solve one problem: a :class:`~lagrangian.QuadraticProgram` with :func:`lagrangian.solve_qp`,
    anything else with :func:`lagrangian.solve`."""
    from .qp import QuadraticProgram, solve_qp
    from .solvers import solve

    if isinstance(item, QuadraticProgram):
        return solve_qp(item, **options)
    return solve(item, **options)


def _solve_one(solver, build, item, options):
    """One slot: the result, or a FailedSolve with what was raised."""
    try:
        problem = item if build is None else build(item)
        return solver(problem, **options)
    except Exception as exc:  # noqa: BLE001 - every failure becomes this slot's status
        return FailedSolve(type(exc).__name__, str(exc), traceback.format_exc())


def _solve_chunk(payload: bytes) -> bytes:
    """Run in a worker: unpickle (cloudpickle's output loads with the standard pickle once
    cloudpickle is importable), solve every item, send the results back pickled.

    The problem each solution holds is dropped: it carries the user's functions, which
    need not pickle back (and are slow to), and the caller has its own."""
    solver, build, items, options = pickle.loads(payload)
    results = [_solve_one(solver, build, item, options) for item in items]
    return _dumps([replace(r, _problem=None) if hasattr(r, "_problem") else r for r in results])


def _dumps(obj) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(obj)


def _chunks(count: int, workers: int, chunksize: int | None):
    """Index ranges of about four tasks per worker (so a slow chunk does not idle the others)."""
    if chunksize is None:
        chunksize = max(1, math.ceil(count / (4 * max(1, workers))))
    return [range(start, min(count, start + chunksize)) for start in range(0, count, chunksize)]


def solve_many(
    problems,
    parameters=None,
    *,
    executor=None,
    solver=None,
    max_workers: int | None = None,
    chunksize: int | None = None,
    keep_problems: bool = True,
    **options,
):
    """Solve many problems, in input order, over any :class:`concurrent.futures.Executor`.

    Parameters
    ----------
    problems : sequence of Problem / QuadraticProgram, or callable
        The problems; or, with ``parameters``, a function ``build(p)`` returning
        the problem for one parameter value (the parametric form).
    parameters : sequence, optional
        The parameter values ``build`` is mapped over.
    executor : Executor, "serial" or None
        ``None`` (default): a local process pool of ``max_workers`` processes
        (``os.cpu_count()``) for this call. ``"serial"``: in this process. Any
        ``concurrent.futures.Executor``: used as is and left running (a Dask
        cluster's ``client.get_executor()``, a pool kept between calls).
    solver : callable, optional
        ``solver(problem, **options) -> Solution``; default :func:`default_solver`
        (``solve_qp`` for QuadraticPrograms, ``solve`` otherwise). Must pickle with
        cloudpickle when the executor is not serial.
    max_workers : int, optional
        Processes of the default pool.
    chunksize : int, optional
        Problems per task (default: about four tasks per worker).
    keep_problems : bool
        Re-attach each problem to its solution after a solve in another process
        (default True; a QuadraticProgram's Problem, or in the parametric form the
        problem itself, is built again here, which a caller that only reads ``x, y,
        z`` can skip with False).
    **options
        Passed to the solver (``tol``, ``max_iterations``, ...).

    Returns
    -------
    list
        One entry per problem, in input order: a Solution (any status) or a
        :class:`FailedSolve`.
    """
    solver = default_solver if solver is None else solver
    if not callable(solver):
        raise ProblemError("solver", f"expected a callable, got {type(solver).__name__}")
    if parameters is None:
        if callable(problems):
            raise ProblemError("parameters", "give the parameter values to map a parametric problem over")
        build, items = None, list(problems)
    else:
        if not callable(problems):
            raise ProblemError("problems", "with parameters=, expected a callable build(p) returning a problem")
        build, items = problems, list(parameters)
    if executor == "serial" or (executor is None and len(items) <= 1):
        return [_solve_one(solver, build, item, options) for item in items]
    if isinstance(executor, str):
        raise ProblemError("executor", f"expected an Executor, 'serial' or None, got {executor!r}")
    if executor is not None and not isinstance(executor, Executor) and not hasattr(executor, "submit"):
        raise ProblemError("executor", f"expected a concurrent.futures.Executor, got {type(executor).__name__}")
    owned = executor is None
    workers = max_workers or os.cpu_count() or 1
    if owned:
        executor = ProcessPoolExecutor(max_workers=workers)
    else:
        workers = getattr(executor, "_max_workers", None) or max_workers or os.cpu_count() or 1
    try:
        ranges = _chunks(len(items), workers, chunksize)
        futures = [
            executor.submit(_solve_chunk, _dumps((solver, build, [items[i] for i in r], options))) for r in ranges
        ]
        results = []
        for r, future in zip(ranges, futures):
            try:
                chunk = pickle.loads(future.result())
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its own slots only
                chunk = [FailedSolve(type(exc).__name__, str(exc), traceback.format_exc())] * len(r)
            results.extend(chunk)
    finally:
        if owned:
            executor.shutdown()
    if keep_problems:
        results = [_reattach(result, item, build) for result, item in zip(results, items)]
    return results


def _reattach(result, item, build):
    """The result with the caller's problem: the item itself, the Problem a QuadraticProgram
    states, or in the parametric form ``build(item)`` run again here."""
    if isinstance(result, FailedSolve) or getattr(result, "_problem", None) is not None:
        return result
    from .problem import Problem

    try:
        problem = build(item) if build is not None else item
        problem = problem if isinstance(problem, Problem) else problem.problem()
    except Exception:  # noqa: BLE001 - the solution stands without its problem
        return result
    return replace(result, _problem=problem)
