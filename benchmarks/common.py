"""What every benchmark script shares: one-thread BLAS for every library, timing by medians,
and the Maros-Meszaros selection."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

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


def maros_meszaros_arguments(description: str) -> argparse.ArgumentParser:
    """The options every Maros-Meszaros script takes: the data folder, the size cut, repeats, the time cap."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "maros-meszaros"))
    parser.add_argument("--max-nnz", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-time", type=float, default=60.0)
    return parser


def maros_meszaros_selection(args) -> list[dict]:
    """The index records of the problems with ``nnz(P) + nnz(A) <= args.max_nnz``, smallest first."""
    index = json.loads((Path(args.data) / "index.json").read_text())
    size = lambda p: p["nnz_P"] + p["nnz_A"]  # noqa: E731
    return sorted((p for p in index["problems"] if size(p) <= args.max_nnz), key=size)
