"""Maros-Meszaros convex QPs: lagrangian's interior point vs Clarabel and OSQP.

Each problem (``mat/NAME.mat``: minimize 1/2 x'Px + q'x + r s.t. l <= Ax <= u, the last
n rows of A being the variable bounds) is solved from x = 0 by `lagrangian.solve_qp`
(tol 1e-9), by Clarabel (its own Python API, tol 1e-9 as in the data set's check) and by
OSQP (eps 1e-9, polished). A problem counts as solved when the relative objective error
``|f - f*| / max(1, |f*|)`` is at most 1e-6. Times are medians of --repeats runs in one
process (BLAS pinned to one thread), each capped by --max-time for lagrangian.

    python benchmarks/maros_meszaros.py --data ../shared/data/maros-meszaros --max-nnz 60000
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from common import maros_meszaros_arguments, maros_meszaros_selection, run_pinned, timed_against_optimum

import lagrangian as lg
from lagrangian.qp import read_stacked_mat


def ours(P, q, A, l, u, r, max_time):
    qp = lg.QuadraticProgram.from_stacked(P, q, A, l, u, r=r)
    s = lg.solve_qp(qp, tol=1e-9, max_time=max_time, max_iterations=500)
    return s.fun, s.status.name


def clarabel_solve(P, q, A, l, u, r, max_time):
    import clarabel

    l = np.where(l <= -1e20, -np.inf, l)
    u = np.where(u >= 1e20, np.inf, u)
    eq = l == u
    up = np.isfinite(u) & ~eq
    lo = np.isfinite(l) & ~eq
    A_stack = sp.vstack([A[eq], A[up], -A[lo]], format="csc")
    b = np.concatenate([u[eq], u[up], -l[lo]])
    cones = [clarabel.ZeroConeT(int(eq.sum())), clarabel.NonnegativeConeT(int(up.sum() + lo.sum()))]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-9
    settings.time_limit = max_time
    solution = clarabel.DefaultSolver(sp.triu(P, format="csc"), q, A_stack, b, cones, settings).solve()
    return solution.obj_val + r, str(solution.status)


def osqp_solve(P, q, A, l, u, r, max_time):
    import osqp

    solver = osqp.OSQP()
    solver.setup(sp.triu(P, format="csc"), q, sp.csc_array(A), np.maximum(l, -1e30), np.minimum(u, 1e30), verbose=False,
                 eps_abs=1e-9, eps_rel=1e-9, polish=True, max_iter=100000, time_limit=max_time)
    result = solver.solve()
    return float(result.info.obj_val) + r, str(result.info.status)


def main():
    parser = maros_meszaros_arguments(__doc__)
    parser.add_argument("--solvers", default="lagrangian,Clarabel,OSQP", help="comma-separated subset (Clarabel is always run)")
    args = parser.parse_args()
    problems = maros_meszaros_selection(args)
    available = {"lagrangian": ours, "Clarabel": clarabel_solve, "OSQP": osqp_solve}
    chosen = set(args.solvers.split(",")) | {"Clarabel"}  # every ratio is to Clarabel
    solvers = {k: v for k, v in available.items() if k in chosen}
    summary = {k: {"solved": 0, "time": [], "failed": []} for k in solvers}
    print(f"{'problem':10} {'n':>7} {'nnz':>7}" + "".join(f"{k:>26}" for k in solvers))
    for record in problems:
        data = read_stacked_mat(Path(args.data) / "mat" / f"{record['name']}.mat")
        line = f"{record['name']:10} {record['n']:7d} {record['nnz_P'] + record['nnz_A']:7d}"
        for key, solve in solvers.items():
            seconds, error, ok, _ = timed_against_optimum(
                lambda solve=solve: solve(*data, args.max_time), record, args.repeats, summary[key],
                crashed=lambda exc: (np.nan, type(exc).__name__),
            )
            line += f"{'yes' if ok else 'NO':>6} {error:9.1e} {1000 * seconds:9.1f}"
        print(line, flush=True)
    print()
    base = np.array(summary["Clarabel"]["time"])
    print("| solver | solved (rel. error <= 1e-6) | median ms | total s | median / Clarabel's median | median of per-problem ratios |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, s in summary.items():
        t = np.array(s["time"])
        print(f"| {key} | {s['solved']}/{len(problems)} | {1000 * np.median(t):.1f} | {t.sum():.1f} | "
              f"{np.median(t) / np.median(base):.2f} | {np.median(t / base):.2f} |")
    print()
    for key, s in summary.items():
        print(f"{key} missed: {', '.join(s['failed']) or 'none'}")


if __name__ == "__main__":
    run_pinned(main)
