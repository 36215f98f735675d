"""What :func:`lagrangian.solve_many` runs in a worker process, and the pickling both sides share.

A task is one chunk of problems: ``(digest, shared, items)``, where ``shared`` is the
pickled ``(solver, build, options, history)`` of the whole call (the same bytes in
every task; a worker unpickles them once, and keeps the objects by their digest for
its later chunks) and ``items`` the chunk's problems or parameter values. The answer
is the chunk's results, pickled, with a failure in the slot of each solve that
raised or result that would not pickle, and a :class:`ChunkTiming`.

Nothing here imports the caller's side (:mod:`lagrangian.parallel`): a worker needs
only this module, the solvers, and cloudpickle to load what cloudpickle wrote.
"""

from __future__ import annotations

import copyreg
import functools
import io
import os
import pickle
import socket
import threading
import time
import traceback
import types
from collections import OrderedDict
from dataclasses import dataclass, replace

__all__ = ["ChunkTiming", "FailedSolve", "default_solver", "dumps", "warm_up"]


@dataclass(frozen=True)
class FailedSolve:
    """The slot of a solve that raised instead of returning a Solution.

    Attributes
    ----------
    error : str
        The exception's class name (``"ProblemError"``, ``"SingularKKTError"``,
        ``"PicklingError"``, ``"BrokenProcessPool"``, ...).
    message : str
    traceback : str
        The formatted traceback, from the process where it was raised.
    """

    error: str
    message: str
    traceback: str = ""

    success = False
    status = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> FailedSolve:
        return cls(type(exc).__name__, str(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

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


# --------------------------------------------------------------------------- pickling


@functools.lru_cache(maxsize=None)
def _pickler_class():
    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        """cloudpickle, sending a function that cannot be found by reference by value
        straight away: one without a module, which cloudpickle would first look for in
        every loaded module (``_whichmodule``: one failed attribute lookup per module,
        about 3 ms a function with 760 loaded), and a lambda or a function defined in
        another one (a ``<`` in its qualified name), whose failed lookup costs 24 us."""

        def reducer_override(self, obj):
            if (
                type(obj) is types.FunctionType
                and (obj.__module__ is None or "<" in obj.__qualname__)
                and hasattr(self, "_dynamic_function_reduce")
            ):
                return self._dynamic_function_reduce(obj)
            return super().reducer_override(obj)

    return Pickler


def dumps(obj) -> bytes:
    """``obj`` pickled by value where the standard pickler would refuse (lambdas,
    closures, functions made by ``eval`` or ``exec``).

    The bytes load with :func:`pickle.loads` in any process where cloudpickle is
    importable. A function without a module (``__module__ is None``: made by ``eval``
    or ``exec``, as code generators, ``sympy.lambdify`` and this package's derivative
    rules make them) cannot be found by reference in another process; it goes by value
    straight away, where cloudpickle would first look for it in every loaded module
    (42 ms for one Hock-Schittkowski problem, whose solve takes 10 ms; 0.3 ms without
    the search).
    """
    buffer = io.BytesIO()
    _pickler_class()(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _mappingproxy(mapping: dict) -> types.MappingProxyType:
    return types.MappingProxyType(mapping)


# A Solution's read-only mappings are the one thing in it the standard pickler refuses;
# with them taught, results go back at the C pickler's speed (no per-object callback).
_RESULTS = copyreg.dispatch_table.copy()
_RESULTS[types.MappingProxyType] = lambda proxy: (_mappingproxy, (dict(proxy),))


def dumps_result(obj) -> bytes:
    """``obj`` (solutions, failures) pickled by the standard pickler, read-only mappings included."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _RESULTS
    pickler.dump(obj)
    return buffer.getvalue()


def dump_each(objects: list, dump) -> tuple[bytes, list, list]:
    """``dump`` of the list; when one object refuses, of the others, with a
    :class:`FailedSolve` for each refusing one (an unpicklable problem or result fails
    its own slot only). Returns ``(bytes, indices that failed, their FailedSolves)``."""
    try:
        return dump(objects), [], []
    except Exception:  # noqa: BLE001 - found again below, object by object
        pass
    kept, failed, failures = [], [], []
    for i, obj in enumerate(objects):
        try:
            dump(obj)
            kept.append(obj)
        except Exception as exc:  # noqa: BLE001 - this slot's status
            failed.append(i)
            failures.append(FailedSolve.from_exception(exc))
    return dump(kept), failed, failures


def merge(kept: list, failed: list, failures: list) -> list:
    """The list :func:`dump_each` was given: ``kept`` with each failure back at its index."""
    out = list(kept)
    for i, failure in zip(failed, failures):
        out.insert(i, failure)
    return out


# --------------------------------------------------------------------------- in the worker

# The shared part of the last few calls, by the digest of its bytes: unpickled once per
# worker and call, and kept for the call's later chunks (what a parametric ``build``
# caches, compiled derivative code, then serves all of them). In a pool the caller keeps,
# the last four stay alive between calls too, and a later call with the same bytes reuses
# the objects an earlier one built (and any state its closures changed).
_SHARED: OrderedDict = OrderedDict()
_SHARED_LOCK = threading.Lock()  # a Dask worker may run chunks on several threads
_SHARED_KEPT = 4
# In a worker warm_up ran in: (its CPU clock before warming up, the warm-up's CPU).
_STARTUP: tuple | None = None


def _shared(digest: bytes, payload: bytes):
    with _SHARED_LOCK:
        if digest in _SHARED:
            _SHARED.move_to_end(digest)
            return _SHARED[digest]
    value = pickle.loads(payload)
    with _SHARED_LOCK:
        _SHARED[digest] = value
        while len(_SHARED) > _SHARED_KEPT:
            _SHARED.popitem(last=False)
    return value


def warm_up():
    """Import the solvers and solve one small problem in this process.

    The initializer of the pools :func:`~lagrangian.solve_many` starts; pass it to a
    pool of your own (``ProcessPoolExecutor(initializer=warm_up)``) or run it on a
    Dask cluster's workers (``client.run(warm_up)``), so that no worker's first chunk
    pays for imports and first calls.
    """
    global _STARTUP
    before = time.process_time()
    import numpy as np

    from .problem import Inequality, Problem

    # min (x0 - 1)^2 + x1^2 s.t. |x|^2 <= 1/4, by lambdas with exact derivatives: the
    # interior-point path a user's problem takes (answer (1/2, 0), multiplier 1)
    disc = Inequality(lambda x: x @ x, upper=0.25, jacobian=lambda x: 2 * x[None, :])
    problem = Problem(
        lambda x: (x[0] - 1) ** 2 + x[1] ** 2, np.zeros(2), constraints=[disc],
        gradient=lambda x: np.array([2 * (x[0] - 1), 2 * x[1]]), hessian=lambda x, y: (2 + 2 * y[0]) * np.eye(2),
    )
    default_solver(problem)
    _STARTUP = (before, time.process_time() - before)


def strip(result, history: bool):
    """The result as sent back: without its problem (its functions need not pickle, and
    are slow to), and without its iteration history unless asked."""
    if not hasattr(result, "_problem"):
        return result
    return replace(result, _problem=None) if history else replace(result, _problem=None, history=())


def solve_one(solver, build, item, options):
    """One slot: the result, or a FailedSolve with what was raised."""
    try:
        problem = item if build is None else build(item)
        return solver(problem, **options)
    except Exception as exc:  # noqa: BLE001 - every failure becomes this slot's status
        return FailedSolve.from_exception(exc)


@dataclass(frozen=True)
class ChunkTiming:
    """What one chunk cost its worker, in CPU seconds of that worker process.

    Attributes
    ----------
    worker : str
        ``"host:pid"`` of the process that ran it.
    size : int
        Problems in the chunk.
    cpu_start, cpu_end : float
        The worker's CPU clock (:func:`time.process_time`) when the chunk began and
        ended; what the clock gains between two chunks of one worker is the
        executor's own work there (receiving tasks, sending results, Dask's loop).
    load, solve, dump : float
        Unpickling (the shared part on the worker's first chunk of a call, and the
        chunk's problems), solving, and pickling the results.
    task_bytes, result_bytes : int
    wall_end : float
        :func:`time.time` when the chunk ended (for the idle time of workers that
        ran out of work before the others).
    startup : tuple of float, optional
        For a worker :func:`warm_up` ran in: its CPU clock before warming up (the
        cost of starting the process and importing the package) and the warm-up's.
    """

    worker: str
    size: int
    cpu_start: float
    cpu_end: float
    load: float
    solve: float
    dump: float
    task_bytes: int
    result_bytes: int
    wall_end: float
    startup: tuple | None = None


def solve_chunk(digest: bytes, shared: bytes, items: bytes):
    """Run in a worker: the chunk's pickled results, the indices that failed to pickle
    and their failures, and the chunk's :class:`ChunkTiming`."""
    start = time.process_time()
    solver, build, options, history = _shared(digest, shared)
    problems = pickle.loads(items)
    loaded = time.process_time()
    results = [strip(solve_one(solver, build, item, options), history) for item in problems]
    solved = time.process_time()
    payload, failed, failures = dump_each(results, dumps_result)
    end = time.process_time()
    timing = ChunkTiming(
        f"{socket.gethostname()}:{os.getpid()}", len(problems), start, end, loaded - start, solved - loaded, end - solved,
        len(shared) + len(items), len(payload), time.time(), _STARTUP,
    )
    return payload, failed, failures, timing
