"""Throughput of lagrangian.solve_many on Hock-Schittkowski problems: 1 and 2 local worker
processes and a Dask LocalCluster of 2 workers, against solving in this process.

    python benchmarks/solve_many.py [--count 1000] [--rounds 3]

``count`` problems cycle through the Hock-Schittkowski set (each loaded afresh, so that
every one is pickled on its own, as distinct user problems would be), solved by
``lagrangian.solve`` at its default tolerance. Executors are started before timing and
kept between rounds (a pool started per call adds its start-up; ``solve_many``'s
default does that, which suits a single large batch). Rounds interleave the
contenders; the table gives the median wall time and problems per second, and the
speed-up of each contender over one worker process. BLAS threads pinned to one.

The machine these were measured on has 2 cores shared with other work: two workers
cannot reach 2x there when anything else runs.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread in every process, the worker processes and Dask's workers
# included (they read these when they start; threadpoolctl pins only this process).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from common import run_pinned

from lagrangian.parallel import FailedSolve, solve_many
from lagrangian.problems import hock_schittkowski as hs


def problems(count):
    names = hs.names()
    return [hs.load(names[i % len(names)]).problem for i in range(count)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    executors = {"1 process": ProcessPoolExecutor(max_workers=1), "2 processes": ProcessPoolExecutor(max_workers=2)}
    for executor in executors.values():
        # start the pools' processes before Dask's client starts its threads (a fork
        # copies the parent as it is)
        solve_many(problems(8), executor=executor)
    cluster = client = None
    if not args.no_dask:
        try:
            from dask.distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
            executors["Dask LocalCluster, 2 workers"] = client.get_executor()
        except ImportError:
            print("(dask.distributed not installed: pip install '.[dask]')")
    contenders = {"serial (this process)": "serial", **executors}
    for executor in contenders.values():  # warm-up: worker start, imports
        solve_many(problems(8), executor=executor)
    # Every contender solves fresh copies every round (loaded before the clock starts): a
    # problem solved in this process keeps the derivative code compiled for it, which
    # makes its next solve here faster and pickling it for a worker slow (20 ms a
    # problem, against under 1 ms for a problem as the user states it).
    times = {name: [] for name in contenders}
    statuses = {}
    for _ in range(args.rounds):
        for name, executor in contenders.items():
            fresh = problems(args.count)
            start = time.perf_counter()
            results = solve_many(fresh, executor=executor, keep_problems=False)
            times[name].append(time.perf_counter() - start)
            statuses[name] = (
                sum(1 for r in results if not isinstance(r, FailedSolve) and r.success),
                sum(1 for r in results if isinstance(r, FailedSolve)),
            )
    for executor in executors.values():
        executor.shutdown() if isinstance(executor, ProcessPoolExecutor) else None
    if client is not None:
        client.close()
        cluster.close()

    one = statistics.median(times["1 process"])
    print(f"{args.count} Hock-Schittkowski problems ({len(hs.names())} distinct), median of {args.rounds} rounds\n")
    print("| executor | wall time (s) | problems / s | speed-up over 1 process | SUCCESS | raised |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t in times.items():
        median = statistics.median(t)
        ok, failed = statuses[name]
        print(f"| {name} | {median:.2f} | {args.count / median:.0f} | {one / median:.2f} | {ok} | {failed} |")


if __name__ == "__main__":
    run_pinned(main)
