r"""Many solves at once, on one machine or many: :func:`solve_many`.

:func:`solve_many` maps a solver over a list of problems, or over the values of one
parametric problem's parameter, with any :class:`concurrent.futures.Executor`:

- by default a local :class:`~concurrent.futures.ProcessPoolExecutor`, created for
  the call and shut down after it, with the platform's start method (``fork`` on
  Linux up to Python 3.13: no re-import of the calling script). A process that runs
  multithreaded libraries (PyTorch, JAX) should pass its own pool,
  ``ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn"),
  initializer=lagrangian.parallel.warm_up)``: a child forked from such a process can
  deadlock;
- ``executor="serial"`` solves in this process, one after the other (no pickling;
  the right choice for a few fast solves, where starting processes costs more);
- any executor you pass: a pool you keep alive between calls, or a Dask cluster's
  ``distributed.Client(...).get_executor()`` (Dask is the distributed engine here;
  ``pip install "lagrangian[dask]"``).

Every slot of the answer is filled, in input order: a :class:`~lagrangian.Solution`
(with its status and KKT residuals, whatever the status), or a :class:`FailedSolve`
when the solve raised (bad input, a singular KKT matrix the solver could not handle,
an error in the user's function, a problem that would not pickle, a worker that
died): one failure never loses the batch. A solution computed in another process
comes back without its problem (its functions need not pickle back, and pickling them
back cost 30 ms a problem in trials); ``solve_many`` re-attaches the caller's own
problem object (or, in the parametric form, builds it again here), so
:func:`lagrangian.sensitivity.sensitivity` and :func:`lagrangian.reverse_mode.adjoint`
work on the result as on a serial one.

**Where the time of a parallel run goes, besides the solves.** On ``w`` workers and idle cores, a run takes about (:meth:`ManyRun.ideal_wall`)

.. math::

    T_w \approx \max\Big(\frac{W - c}{w} + c + P_{\text{head}} + P_{\text{tail}},\;
    \frac{W + P}{\text{cores}}\Big), \qquad
    W = \sum_{\text{chunks}} (\text{load} + \text{solve} + \text{dump}) + \text{the executor's work in the workers},

where ``c`` is the chunk that ends last, ``P`` this process's CPU (pickling problems,
unpickling results: it shares the cores with the workers), ``P_head`` what it spends
before the first task can start and ``P_tail`` after the last one ends. Two workers
reach twice one worker's throughput only as far as everything in ``W`` but the solves,
``c``, and ``P`` are small beside the solves; here is how each is kept small
(Hock-Schittkowski problems, about 10 ms a solve, ``benchmarks/solve_many.py``):

- **pickling**: problems go by value with cloudpickle (lambdas and closures pickle),
  but cloudpickle looks for a function without a module (``__module__ is None``:
  anything made by ``eval`` or ``exec``, as code generators, ``sympy.lambdify`` and
  this package's own derivative rules do) in every loaded module, about 3 ms per
  function with 760 modules loaded: 42 ms for one HS problem against its 10 ms solve.
  Such a function cannot be found by reference on the other side anyway: it is sent
  by value straight away (:func:`dumps`): 2 ms for one HS problem on its own, 0.2 ms
  a problem in a chunk of 250 (the derivative rules they share go once a chunk).
- **tasks**: problems go in chunks, many per task, so the per-task cost of the
  executor is paid a few dozen times, not once per problem; chunk sizes fall as
  the work runs out (:func:`chunk_plan`), so that no worker idles long at the end.
- **the parametric form** pickles ``build`` (and the solver, its options) once per
  call; a worker unpickles it once and keeps it for every chunk it gets, so what
  ``build`` caches (compiled derivative code) serves all its parameter values.
- **start-up**: pools that ``solve_many`` starts run :func:`warm_up` in each worker
  (imports, one small solve) before the first chunk; pass it as the
  ``initializer`` of a pool of your own (or ``client.run(warm_up)`` on Dask).
- **results** come back lean: no problem, no iteration history unless
  ``history=True`` (two thirds of a result's bytes), with the standard pickler.

:func:`run_many` is :func:`solve_many` with these costs measured (CPU time of every
process, so that the figures hold on a loaded machine): a :class:`ManyRun`.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from .errors import ProblemError
from .parallel_worker import ChunkTiming, FailedSolve, default_solver, dump_each, dumps, merge, solve_chunk, solve_one, warm_up

__all__ = ["ChunkTiming", "FailedSolve", "ManyRun", "chunk_plan", "default_solver", "dumps", "run_many", "solve_many", "warm_up"]


def chunk_plan(count: int, workers: int, chunksize: int | None = None) -> list[range]:
    r"""Consecutive index ranges that cover ``range(count)``: the tasks of one call.

    With ``chunksize``, ranges of that many items (the last one shorter). Otherwise
    *factoring* (Hummel, Schonberg and Flynn, CACM 35(8), 1992): rounds of
    ``workers`` chunks, each chunk :math:`\lceil R / (2w) \rceil` items where ``R``
    items are still unplanned. Half of what remains is handed out per round, so the
    first chunks are large (the per-task cost is paid about
    :math:`w \log_2(N / w)` times, 20 tasks for 1,000 problems on 2 workers) and the
    last are single items: a worker that runs out of work waits at most one solve
    for the others, where equal chunks of ``N / 4w`` (what
    ``multiprocessing.Pool.map`` would choose) can leave it waiting for one whole
    chunk, a quarter of a worker's share.
    """
    workers = max(1, int(workers))
    if chunksize is not None:
        return [range(start, min(count, start + chunksize)) for start in range(0, count, chunksize)]
    ranges, start = [], 0
    while start < count:
        size = max(1, math.ceil((count - start) / (2 * workers)))
        for _ in range(workers):
            if start >= count:
                break
            ranges.append(range(start, min(count, start + size)))
            start += size
    return ranges


def _worker_count(executor, max_workers: int | None) -> int:
    """Workers of the executor: a pool's ``_max_workers``, a Dask client's threads."""
    count = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)
    if count is None and client is not None:
        try:
            count = sum(client.nthreads().values())
        except Exception:  # noqa: BLE001 - a client that cannot say: fall back below
            count = None
    return max(1, count or max_workers or os.cpu_count() or 1)


# --------------------------------------------------------------------------- caller side


@dataclass(frozen=True)
class ManyRun:
    r"""The results of :func:`run_many` and where the CPU time of the run went.

    Attributes
    ----------
    results : list
        As :func:`solve_many` returns them.
    chunks : tuple of ChunkTiming
        One per task sent, in the order the tasks ended.
    parent : dict
        CPU seconds of this process's main thread by phase: ``"start"`` (starting and
        stopping a pool of this call's own), ``"pickle"`` (the shared part and the
        chunks' problems), ``"submit"``, ``"collect"`` (unpickling results),
        ``"reattach"``; ``"head"`` of it before the first task was submitted and
        ``"tail"`` after the last one ended; ``"threads"``: the executor's threads in
        this process (a pool's feeder and manager, Dask's client loop).
    wall : float
        Seconds, start to end.
    workers : int
    """

    results: list
    chunks: tuple
    parent: dict
    wall: float
    workers: int

    def worker_cpu(self) -> dict:
        """CPU seconds of each worker from the start of its first chunk to the end of
        its last one (everything it did for this call, the executor's part included)."""
        first, last = {}, {}
        for chunk in self.chunks:
            first[chunk.worker] = min(first.get(chunk.worker, math.inf), chunk.cpu_start)
            last[chunk.worker] = max(last.get(chunk.worker, -math.inf), chunk.cpu_end)
        return {worker: last[worker] - first[worker] for worker in first}

    def parent_cpu(self) -> float:
        return sum(self.parent[key] for key in ("start", "pickle", "submit", "collect", "reattach", "threads"))

    def breakdown(self) -> dict:
        """CPU seconds of the whole run by kind: ``solve`` (the solver itself), the
        workers' ``load`` and ``dump`` of problems and results, ``executor`` (the
        workers' CPU between and around chunks), and this process's phases."""
        solve = sum(c.solve for c in self.chunks)
        load = sum(c.load for c in self.chunks)
        dump = sum(c.dump for c in self.chunks)
        executor = sum(self.worker_cpu().values()) - solve - load - dump
        parent = {f"parent {key}": self.parent[key] for key in ("start", "pickle", "submit", "collect", "reattach", "threads")}
        return {"solve": solve, "worker load": load, "worker dump": dump, "worker executor": executor, **parent}

    def idle_at_end(self) -> dict:
        """Wall seconds each worker waited, its work done, for the last chunk to end
        (stragglers); wall clock, so only as steady as the machine is quiet."""
        last = {}
        for chunk in self.chunks:
            last[chunk.worker] = max(last.get(chunk.worker, -math.inf), chunk.wall_end)
        end = max(last.values(), default=0.0)
        return {worker: end - t for worker, t in last.items()}

    def startup(self) -> dict:
        """Per worker that :func:`warm_up` ran in: ``(CPU before it, CPU of it)``."""
        return {c.worker: c.startup for c in self.chunks if c.startup is not None}

    def ideal_wall(self, cores: int, other_cpu: float = 0.0) -> float:
        r"""The wall time this run's CPU work would take on ``cores`` idle cores.

        .. math::

            T = \max\Big(\frac{W - c}{w} + c + P_{\text{head}} + P_{\text{tail}},\;
            \frac{W + P + O}{\text{cores}}\Big)

        ``W`` is the workers' CPU (:meth:`worker_cpu`, summed), ``w`` the workers, ``c``
        the CPU of the chunk that ended last, ``P`` this process's CPU and ``O``
        ``other_cpu`` (a Dask scheduler's, in its own process). The first term is
        Graham's bound for list scheduling (each worker takes the next chunk when it
        is free, so all work but the last chunk is done by the time that chunk
        starts), after this process's unoverlapped start and end; the second, every
        process's CPU shared over the cores. It uses the work done, not how it fell to
        the workers (on a loaded machine that follows which worker the others' load
        held back), so ratios of it compare executors fairly there; on an idle machine
        the wall time approaches it.
        """
        if not self.chunks:  # solved in this process: one core, its own CPU
            return self.parent_cpu()
        work = sum(self.worker_cpu().values())
        last = max(self.chunks, key=lambda chunk: chunk.wall_end)
        last = last.cpu_end - last.cpu_start
        longest = (work - last) / self.workers + last + self.parent["head"] + self.parent["tail"]
        return max(longest, (work + self.parent_cpu() + other_cpu) / cores)


def _parts(problems, parameters):
    """``(build, items)`` from the two call forms, with the argument errors named."""
    if parameters is None:
        if callable(problems):
            raise ProblemError("parameters", "give the parameter values to map a parametric problem over")
        return None, list(problems)
    if not callable(problems):
        raise ProblemError("problems", "with parameters=, expected a callable build(p) returning a problem")
    return problems, list(parameters)


def _shared_payload(solver, build, options, history) -> bytes:
    """The part every chunk shares, pickled once; an unpicklable part is bad input, named."""
    try:
        return dumps((solver, build, options, history))
    except Exception as exc:  # noqa: BLE001 - find which argument refused
        for name, value in (("solver", solver), ("problems", build), ("options", options)):
            try:
                dumps(value)
            except Exception:  # noqa: BLE001
                raise ProblemError(name, f"does not pickle for another process ({exc}); use executor='serial'") from exc
        raise


def run_many(
    problems,
    parameters=None,
    *,
    executor=None,
    solver=None,
    max_workers: int | None = None,
    chunksize: int | None = None,
    keep_problems: bool = True,
    history: bool = False,
    **options,
) -> ManyRun:
    """:func:`solve_many` with the CPU time of every process measured: a :class:`ManyRun`.

    Same arguments; with ``executor="serial"`` the run has no chunks and the solves'
    CPU is this process's ``"collect"``.
    """
    solver = default_solver if solver is None else solver
    if not callable(solver):
        raise ProblemError("solver", f"expected a callable, got {type(solver).__name__}")
    build, items = _parts(problems, parameters)
    serial = executor == "serial" or (executor is None and len(items) <= 1)
    if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, (int, np.integer)) or chunksize < 1):
        raise ProblemError("chunksize", f"expected a positive integer or None, got {chunksize!r}")
    if isinstance(executor, str) and executor != "serial":
        raise ProblemError("executor", f"expected an Executor, 'serial' or None, got {executor!r}")
    if executor is not None and not serial and not isinstance(executor, Executor) and not hasattr(executor, "submit"):
        raise ProblemError("executor", f"expected a concurrent.futures.Executor, got {type(executor).__name__}")
    clock, wall = _Clock(), time.perf_counter()
    if serial:
        with clock("collect"):
            # solved here, a result keeps its problem; only the history goes unless asked
            results = [solve_one(solver, build, item, options) for item in items]
            results = [r if history or not hasattr(r, "history") else replace(r, history=()) for r in results]
        chunks, workers = (), 1
    else:
        results, chunks, workers = _run_on(executor, max_workers, clock, solver, build, items, chunksize, history, options)
        if keep_problems:
            with clock("reattach"):
                results = [_reattach(result, item, build) for result, item in zip(results, items)]
            clock.times["tail"] += clock.times["reattach"]
    return ManyRun(results, chunks, clock.finish(), time.perf_counter() - wall, workers)


def _run_on(executor, max_workers, clock, solver, build, items, chunksize, history, options):
    """Results and chunk timings of one call over ``executor`` (a pool of its own when None)."""
    owned = executor is None
    with clock("start"):
        if owned:
            executor = ProcessPoolExecutor(max_workers=max_workers or os.cpu_count() or 1, initializer=warm_up)
        workers = _worker_count(executor, max_workers)
    results, chunks, tasks = [None] * len(items), [], {}
    try:
        with clock("pickle"):
            shared = _shared_payload(solver, build, options, history)
            digest = hashlib.blake2b(shared, digest_size=16).digest()
        for indices in chunk_plan(len(items), workers, chunksize):
            with clock("pickle"):
                payload, failed, failures = dump_each([items[i] for i in indices], dumps)
            for i, failure in zip(failed, failures):
                results[indices[i]] = failure
            kept = [index for i, index in enumerate(indices) if i not in failed]
            if kept:
                with clock("submit"):
                    tasks[executor.submit(solve_chunk, digest, shared, payload)] = kept
                clock.times.setdefault("head", clock.elapsed())
        mark = clock.elapsed()
        for future in as_completed(tasks):
            mark = clock.elapsed()
            with clock("collect"):
                indices = tasks[future]
                try:
                    payload, failed, failures, timing = future.result()
                    chunk = merge(pickle.loads(payload), failed, failures)
                    chunks.append(timing)
                except Exception as exc:  # noqa: BLE001 - a lost task fails its own slots only
                    chunk = [FailedSolve.from_exception(exc)] * len(indices)
                for index, result in zip(indices, chunk):
                    results[index] = result
        # what this process did after the last task ended: the workers were done
        clock.times["tail"] = clock.elapsed() - mark
    finally:
        if owned:
            with clock("start"):
                executor.shutdown(cancel_futures=True)
    return results, tuple(chunks), workers


class _Clock:
    """CPU seconds of this thread by phase, and of the whole process (for its other threads)."""

    def __init__(self):
        self.times = {key: 0.0 for key in ("start", "pickle", "submit", "collect", "reattach", "tail")}
        self._thread, self._process = time.thread_time(), time.process_time()

    def elapsed(self) -> float:
        return time.thread_time() - self._thread

    @contextmanager
    def __call__(self, phase: str):
        start = time.thread_time()
        try:
            yield
        finally:
            self.times[phase] += time.thread_time() - start

    def finish(self) -> dict:
        process = time.process_time() - self._process
        self.times.setdefault("head", 0.0)
        self.times["threads"] = max(0.0, process - self.elapsed())
        return dict(self.times)


def solve_many(
    problems,
    parameters=None,
    *,
    executor=None,
    solver=None,
    max_workers: int | None = None,
    chunksize: int | None = None,
    keep_problems: bool = True,
    history: bool = False,
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
        (``os.cpu_count()``) for this call, each warmed up by :func:`warm_up`.
        ``"serial"``: in this process. Any ``concurrent.futures.Executor``: used as
        is and left running (a Dask cluster's ``client.get_executor()``, a pool kept
        between calls).
    solver : callable, optional
        ``solver(problem, **options) -> Solution``; default :func:`default_solver`
        (``solve_qp`` for QuadraticPrograms, ``solve`` otherwise). Must pickle with
        cloudpickle when the executor is not serial.
    max_workers : int, optional
        Processes of the default pool; for an executor passed in, the number of
        workers to plan chunks for when the executor does not say.
    chunksize : int, optional
        Problems per task; default: chunks that shrink as the work runs out
        (:func:`chunk_plan`).
    keep_problems : bool
        Re-attach each problem to its solution after a solve in another process
        (default True; a QuadraticProgram's Problem, or in the parametric form the
        problem itself, is built again here, which a caller that only reads ``x, y,
        z`` can skip with False).
    history : bool
        Keep each solution's iteration history (default False: a solution keeps its
        KKT residuals, counts and status, not the log of its iterations).
    **options
        Passed to the solver (``tol``, ``max_iterations``, ...).

    Returns
    -------
    list
        One entry per problem, in input order: a Solution (any status) or a
        :class:`FailedSolve`.

    Raises
    ------
    ProblemError
        A bad argument, named: ``problems``/``parameters`` in the wrong form, an
        ``executor`` that is not one, a ``solver`` that is not callable, or a
        ``solver``, ``build`` or ``options`` that would not pickle for another process.
    """
    return run_many(
        problems, parameters, executor=executor, solver=solver, max_workers=max_workers, chunksize=chunksize,
        keep_problems=keep_problems, history=history, **options,
    ).results


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
