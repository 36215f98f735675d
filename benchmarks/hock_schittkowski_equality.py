"""Equality-constrained Hock-Schittkowski problems: newton_kkt vs scipy SLSQP and trust-constr.

Every solver gets the same callables: objective, and gradient and constraint Jacobian
traced exactly through lagrangian.graph. newton_kkt builds its Hessian by central
differences of that exact Lagrangian gradient (hessian="finite-differences"); SLSQP uses
its own BFGS; trust-constr its default BFGS Hessian approximation. A run passes by the
data set's rule (violation <= 1e-6, f - f* <= 1e-5 max(1, |f*|)). Wall times are medians
of --repeats runs in this process, BLAS pinned to one thread.

    python benchmarks/hock_schittkowski_equality.py
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from scipy.optimize import NonlinearConstraint, minimize

import lagrangian as lg
from lagrangian.problems import hock_schittkowski as hs

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ours(case):
    p = case.problem
    s = lg.solve(p, max_iterations=300)
    return s.x, s.fun, s.nit, s.evaluations["objective"]


def scipy_method(case, method):
    p = case.problem
    con = NonlinearConstraint(p.constraint_values, p.cl, p.cu, jac=lambda x: p.jacobian(x).toarray())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = {"maxiter": 1000}
        r = minimize(p.objective, p.x0, jac=p.gradient, constraints=[con], method=method, options=options)
    return r.x, r.fun, r.nit, r.nfev


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    names = [n for n in hs.names() if hs.load(n).problem.is_equality_constrained and hs.load(n).problem.m]
    solvers = {
        "newton_kkt": ours,
        "SLSQP": lambda c: scipy_method(c, "SLSQP"),
        "trust-constr": lambda c: scipy_method(c, "trust-constr"),
    }
    rows, summary = [], {k: {"pass": 0, "nit": [], "time": [], "nfev": []} for k in solvers}
    print(f"{'problem':8}" + "".join(f"{k:>32}" for k in solvers))
    print(f"{'':8}" + "".join(f"{'pass  nit  nfev      ms':>32}" for _ in solvers))
    for name in names:
        line = f"{name:8}"
        for key, solve in solvers.items():
            case = hs.load(name, hessian="finite-differences") if key == "newton_kkt" else hs.load(name)
            t, (x, f, nit, nfev) = timed(lambda: solve(case), args.repeats)
            ok, _ = hs.passes(case, x, f)
            s = summary[key]
            s["pass"] += ok
            s["nit"].append(nit)
            s["nfev"].append(nfev)
            s["time"].append(t)
            line += f"{'yes' if ok else 'NO':>12} {nit:4d} {nfev:5d} {1000 * t:9.1f}"
        print(line)
    print()
    base = summary["newton_kkt"]
    print(f"{'solver':14} {'passed':>8} {'median nit':>11} {'median nfev':>12} {'median ms':>10} {'total ms':>10} {'median time / newton_kkt':>26}")
    for key, s in summary.items():
        ratio = statistics.median(np.array(s["time"]) / np.array(base["time"]))
        print(
            f"{key:14} {s['pass']:>5}/{len(names):<2} {statistics.median(s['nit']):11.0f} {statistics.median(s['nfev']):12.0f} "
            f"{1000 * statistics.median(s['time']):10.1f} {1000 * sum(s['time']):10.1f} {ratio:26.2f}"
        )


if __name__ == "__main__":
    if threadpool_limits is not None:
        with threadpool_limits(limits=1):
            main()
    else:
        main()
