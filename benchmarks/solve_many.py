"""Throughput of lagrangian.solve_many on Hock-Schittkowski problems: 1 and 2 local worker
processes and a Dask LocalCluster of 2 workers, against solving in this process; and where
the CPU time of each run goes besides the solves.

    nice python benchmarks/solve_many.py                 # 1,000 problems, 5 rounds (~5 min on an idle machine)
    python benchmarks/solve_many.py --count 200 --rounds 2 --no-dask   # a quick look

``count`` problems cycle through the Hock-Schittkowski set, each loaded afresh before the
clock starts (so every one is pickled on its own, as distinct user problems would be, and
a problem solved in one round carries nothing into the next), solved by
``lagrangian.solve`` at its default tolerance through ``lagrangian.parallel.run_many``
(``solve_many`` with every process's CPU time measured). Executors are started and
warmed up (``lagrangian.parallel.warm_up``) before timing and kept between rounds; the
cost of a pool started by the call itself (``solve_many``'s default) is measured once,
on its own. Rounds run the contenders in a shuffled order (seeded), so that drift in
the machine's load does not always fall on the same one. BLAS threads pinned to one.

Three tables:

1. **Wall time**: median seconds and problems per second; speed-up over 1 process.
   The issue's target is 2 workers >= 1.7x one worker's throughput. Only meaningful on
   a quiet machine (``uptime``'s load average well under 1 before starting).
2. **CPU time**: the wall time each run's CPU work would take on idle cores
   (``ManyRun.ideal_wall``: Graham's list-scheduling bound over the workers' CPU plus
   this process's unoverlapped start and end, or all processes' CPU shared over the
   cores, whichever is more), the problems per second that allows, and the speed-up
   the overheads allow: ``k e_k / e_1`` with ``e_k`` = the solves' CPU / (k x that
   time), the share of k workers' time spent solving. That last ratio does not move
   when other work on the machine inflates every CPU second (cache contention made
   the same solves cost 6 to 12 CPU seconds from one round to the next there).
3. **Where the CPU time went**, per problem: the solves, the workers' unpickling of
   problems and pickling of results, the executor's own work in the workers, this
   process's pickling, submitting and collecting, its executor threads; bytes per
   problem each way; workers' idle time at the end; worker start-up.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread in every process, the worker processes and Dask's workers
# included (they read these when they start; threadpoolctl pins only this process).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from common import run_pinned

from lagrangian.parallel import FailedSolve, run_many, warm_up
from lagrangian.problems import hock_schittkowski as hs

CORES = os.cpu_count() or 1


def problems(count):
    names = hs.names()
    return [hs.load(names[i % len(names)]).problem for i in range(count)]


def median(values):
    return statistics.median(values) if values else float("nan")


def summary(run, workers, scheduler=0.0):
    """The figures of one run that the tables need (``scheduler``: a Dask scheduler's CPU)."""
    solve = sum(c.solve for c in run.chunks) if run.chunks else run.parent["collect"]
    ideal = run.ideal_wall(CORES, scheduler)
    worker_cpu = list(run.worker_cpu().values())
    return {
        "wall": run.wall,
        "solve": solve,
        "ideal": ideal,
        "efficiency": solve / (workers * ideal),
        "breakdown": {**run.breakdown(), "Dask scheduler": scheduler} if run.chunks else {},
        "task bytes": sum(c.task_bytes for c in run.chunks),
        "result bytes": sum(c.result_bytes for c in run.chunks),
        "idle": sum(run.idle_at_end().values()),
        "imbalance": max(worker_cpu) - min(worker_cpu) if worker_cpu else 0.0,
        "chunks": len(run.chunks),
        "success": sum(1 for r in run.results if not isinstance(r, FailedSolve) and r.success),
        "raised": sum(1 for r in run.results if isinstance(r, FailedSolve)),
    }


def pool_per_call_cost(count):
    """What a pool started by the call (solve_many's default) adds: worker start-up and
    warm-up, and this process's start and shutdown of it, on a small batch."""
    run = run_many(problems(count), max_workers=2)
    startup = list(run.startup().values())
    print(f"A pool started by the call (solve_many's default, 2 workers, {count} problems): this process's CPU "
          f"to start and stop it {run.parent['start'] * 1e3:.0f} ms; per worker, CPU before warm-up (process start) "
          f"{median([s[0] for s in startup]) * 1e3:.1f} ms, warm-up (one small solve) {median([s[1] for s in startup]) * 1e3:.1f} ms")


# The cluster runs in a process of its own, so that its scheduler's CPU (about 5% of a
# core when idle) is neither charged to the other executors' runs in this process nor
# hidden: it is read from the scheduler around each Dask run and counted as the run's.
CLUSTER = """
import sys
from dask.distributed import LocalCluster
if __name__ == "__main__":
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
    cluster.close()
"""


class DaskCluster:
    """A LocalCluster of 2 one-thread worker processes, started by this benchmark in a
    process of its own, and a client here."""

    def __init__(self):
        from dask.distributed import Client

        self.process = subprocess.Popen([sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.client = Client(self.process.stdout.readline().strip())
        self.client.wait_for_workers(2)
        self.client.run(warm_up)

    def scheduler_cpu(self) -> float:
        return self.client.run_on_scheduler(time.process_time)

    def close(self):
        self.client.close()
        self.process.stdin.close()
        self.process.wait(timeout=60)


def start_executors(use_dask):
    """``{name: (executor, workers)}``, warmed up, and the Dask cluster (or None)."""
    executors = {
        "1 process": (ProcessPoolExecutor(max_workers=1, initializer=warm_up), 1),
        "2 processes": (ProcessPoolExecutor(max_workers=2, initializer=warm_up), 2),
    }
    cluster = None
    if use_dask:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            print("(dask.distributed not installed: pip install '.[dask]')")
        else:
            cluster = DaskCluster()
            executors["Dask LocalCluster, 2 workers"] = (cluster.client.get_executor(), 2)
    for name, (executor, _) in executors.items():
        startup = run_many(problems(8), executor=executor).startup().values()
        print(f"{name}: per worker, CPU before warm-up (process start, imports) "
              + ", ".join(f"{s[0] * 1e3:.0f} ms" for s in startup)
              + "; warm-up (one small solve) " + ", ".join(f"{s[1] * 1e3:.0f} ms" for s in startup))
    print()
    return executors, cluster


def row(cells):
    print("| " + " | ".join(cells) + " |")


def tables(args, rows):
    n, one = args.count, rows["1 process"]
    print(f"{n} Hock-Schittkowski problems ({len(hs.names())} distinct), medians of {args.rounds} rounds, "
          f"{CORES} cores, load average before/after {args.load:.2f}/{os.getloadavg()[0]:.2f}\n")
    print("Wall time (target: 2 workers >= 1.7x 1 process; meaningful only on a quiet machine)\n")
    row(["executor", "wall time (s)", "problems / s", "speed-up over 1 process", "SUCCESS", "raised"])
    row(["---"] + ["---:"] * 5)
    for name, runs in rows.items():
        wall = median([r["wall"] for r in runs])
        speedup = median([r["wall"] for r in one]) / wall
        row([name, f"{wall:.2f}", f"{n / wall:.0f}", f"{speedup:.2f}", str(runs[-1]["success"]), str(runs[-1]["raised"])])
    print("\nCPU time (holds on a loaded machine): the wall time each run's CPU work would take on idle cores\n")
    row(["executor", "solves' CPU (s)", "ideal wall time (s)", "problems / s", "speed-up over 1 process",
         "share of the workers' time spent solving", "speed-up the overheads allow"])
    row(["---"] + ["---:"] * 6)
    e1 = median([r["efficiency"] for r in one])
    for name, runs in rows.items():
        ideal, efficiency = median([r["ideal"] for r in runs]), median([r["efficiency"] for r in runs])
        row([name, f"{median([r['solve'] for r in runs]):.2f}", f"{ideal:.2f}", f"{n / ideal:.0f}",
             f"{median([r['ideal'] for r in one]) / ideal:.2f}", f"{efficiency:.1%}", f"{args.workers[name] * efficiency / e1:.2f}"])
    parallel = [name for name in rows if rows[name][0]["chunks"]]
    print("\nWhere the CPU time went (ms per problem unless said, medians)\n")
    row([""] + parallel)
    row(["---"] + ["---:"] * len(parallel))
    for key in rows[parallel[0]][0]["breakdown"]:
        row([key] + [f"{median([r['breakdown'][key] for r in rows[p]]) / n * 1e3:.3f}" for p in parallel])
    for label, key, scale, digits in (
        ("bytes per problem, to the workers", "task bytes", 1 / n, 0),
        ("bytes per problem, back", "result bytes", 1 / n, 0),
        ("tasks (chunks)", "chunks", 1, 0),
        ("workers' idle time at the end, summed (s of wall time)", "idle", 1, 3),
        ("busiest worker's CPU minus the least busy's (s)", "imbalance", 1, 3),
    ):
        row([label] + [f"{median([r[key] for r in rows[p]]) * scale:.{digits}f}" for p in parallel])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="of the contenders' order in each round")
    args = parser.parse_args()
    args.load = os.getloadavg()[0]
    pool_per_call_cost(64)
    executors, cluster = start_executors(not args.no_dask)
    contenders = {"serial (this process)": ("serial", 1), **executors}
    args.workers = {name: workers for name, (_, workers) in contenders.items()}
    rows = {name: [] for name in contenders}
    order = random.Random(args.seed)
    try:
        for _ in range(args.rounds):
            names = list(contenders)
            order.shuffle(names)
            for name in names:
                executor, workers = contenders[name]
                fresh = problems(args.count)
                dask = cluster is not None and name.startswith("Dask")
                before = cluster.scheduler_cpu() if dask else 0.0
                run = run_many(fresh, executor=executor)
                scheduler = cluster.scheduler_cpu() - before if dask else 0.0
                rows[name].append(summary(run, workers, scheduler))
    finally:
        for executor, _ in executors.values():
            executor.shutdown() if isinstance(executor, ProcessPoolExecutor) else None
        if cluster is not None:
            cluster.close()
    tables(args, rows)


if __name__ == "__main__":
    run_pinned(main)
