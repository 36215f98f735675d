"""Maros-Meszaros QPs stated through ``lagrangian.minimize`` against ``lagrangian.solve_qp``.

Each problem (``mat/NAME.mat``) is posed twice: as a :class:`lagrangian.QuadraticProgram`
to ``solve_qp``, and the way a scipy user would write it, ``minimize(fun, x0=0,
jac=..., hess=lambda x: P, constraints=LinearConstraint(A, l, u), bounds=Bounds(lb, ub))``
(the unit rows of the stacked layout as bounds, as ``QuadraticProgram.from_stacked``
reads them). ``minimize`` recognises the quadratic (constant Hessian, linear
constraints, checked convex) and hands it to the convex method; the table shows
whether both reach ``f*`` (relative error <= 1e-6), the solver that ran, and the times.

    python benchmarks/maros_meszaros_minimize.py --data ../shared/data/maros-meszaros --max-nnz 60000
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint

from common import maros_meszaros_arguments, maros_meszaros_selection, run_pinned, timed_against_optimum

import lagrangian as lg
from lagrangian.qp import read_stacked_mat


def through_solve_qp(qp, max_time):
    s = lg.solve_qp(qp, tol=1e-9, max_time=max_time, max_iterations=500)
    return s.fun, s.status.name, s.solver


def through_minimize(qp, max_time):
    P, q, r = qp.P, qp.q, qp.r
    constraints = [LinearConstraint(qp.A, qp.l, qp.u)] if qp.A.shape[0] else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lg.minimize(
            lambda x: 0.5 * x @ (P @ x) + q @ x + r, np.zeros(qp.n), jac=lambda x: P @ x + q, hess=lambda x: P,
            constraints=constraints, bounds=Bounds(qp.lb, qp.ub), tol=1e-9,
            options={"max_time": max_time, "maxiter": 500},
        )  # fmt: skip
    return res.fun, res.status_name, res.solution.solver


def main():
    parser = maros_meszaros_arguments(__doc__)
    args = parser.parse_args()
    problems = maros_meszaros_selection(args)
    routes = {"solve_qp": through_solve_qp, "minimize": through_minimize}
    summary = {k: {"solved": 0, "time": [], "failed": []} for k in routes}
    print(f"{'problem':10} {'n':>7}" + "".join(f"{k:>38}" for k in routes))
    for record in problems:
        P, q, A, l, u, r = read_stacked_mat(Path(args.data) / "mat" / f"{record['name']}.mat")
        qp = lg.QuadraticProgram.from_stacked(P, q, A, l, u, r=r)
        line = f"{record['name']:10} {record['n']:7d}"
        for key, route in routes.items():
            seconds, error, ok, (_, _, solver) = timed_against_optimum(
                lambda route=route: route(qp, args.max_time), record, args.repeats, summary[key],
                crashed=lambda exc: (np.nan, type(exc).__name__, "-"),
            )
            line += f"{'yes' if ok else 'NO':>5} {error:8.1e} {solver:>14} {1000 * seconds:8.1f}"
        print(line, flush=True)
    print()
    print("| route | solved (rel. error <= 1e-6) | median ms | total s |")
    print("|---|---:|---:|---:|")
    for key, s in summary.items():
        t = np.array(s["time"])
        print(f"| {key} | {s['solved']}/{len(problems)} | {1000 * np.median(t):.1f} | {t.sum():.1f} |")
    for key, s in summary.items():
        print(f"{key} missed: {', '.join(s['failed']) or 'none'}")


if __name__ == "__main__":
    run_pinned(main)
