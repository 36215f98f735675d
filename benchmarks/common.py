"""What every benchmark script shares: one-thread BLAS for every library, and timing by medians."""

from __future__ import annotations

import statistics
import time

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # the `bench` extra is not installed: BLAS keeps its default threads
    threadpool_limits = None


def timed(fn, repeats: int):
    """``(median seconds, last result)`` of ``repeats`` calls of ``fn()``."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def timed_against_optimum(solve, record, repeats: int, summary: dict, *, crashed):
    """Time ``solve()`` on one problem with a known optimum and score it into ``summary``.

    ``solve()`` returns a tuple whose first two entries are ``f`` and a status; an
    exception is a failure to report (``crashed(exc)`` is returned in its place), not
    to hide. Solved means ``|f - f*| / max(1, |f*|) <= 1e-6``. ``summary`` collects
    ``solved`` (a count), ``time`` (seconds) and ``failed`` (names with the status).
    Returns ``(seconds, relative error, solved, the result of solve())``.
    """

    def attempt():
        try:
            return solve()
        except Exception as exc:  # noqa: BLE001 - a crash is a failure to report, not to hide
            return crashed(exc)

    seconds, result = timed(attempt, repeats)
    f, status = result[0], result[1]
    error = abs(f - record["f_star"]) / max(1.0, abs(record["f_star"]))
    ok = bool(error <= 1e-6)
    summary["solved"] += ok
    summary["time"].append(seconds)
    if not ok:
        summary["failed"].append(f"{record['name']} ({status})")
    return seconds, error, ok, result


def timed_together(fns: dict, repeats: int, warmup: int = 3) -> dict:
    """Median seconds of each ``fns[name]()``, the calls interleaved round by round.

    On a shared, noisy machine the speed drifts by tens of percent over seconds;
    timing the contenders in turn within every round lets each ratio see the same
    drift, which timing one contender's repeats after another's does not.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def run_pinned(main) -> None:
    """Run ``main()`` with BLAS/OpenMP pinned to one thread for every library in the process.

    The machine these benchmarks were measured on has 2 cores shared with other
    work; letting numpy, scipy and the peers pick their own thread counts made
    runs up to 30x slower and unrepeatable.
    """
    if threadpool_limits is None:
        print("(threadpoolctl not installed: BLAS threads are not pinned; install the `bench` extra)")
        main()
        return
    with threadpool_limits(limits=1):
        main()
