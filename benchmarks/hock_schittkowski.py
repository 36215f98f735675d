"""Hock-Schittkowski from x0: lagrangian vs scipy SLSQP and trust-constr vs IPOPT (through CasADi).

Every Python solver gets the same callables: the objective, and the gradient and
constraint Jacobian traced exactly through lagrangian.graph. lagrangian also gets the
exact Hessian of the Lagrangian from the same graph (forward-over-reverse on one trace
of f + y^T c) and uses newton_kkt for equality-only problems and the interior point
otherwise; SLSQP uses its own BFGS; trust-constr its default BFGS. IPOPT
gets CasADi's exact derivatives (Hessian included) of the same formula strings; its
time is the solve call only (building the CasADi function is not counted). A run passes
by the data set's rule (violation <= 1e-6, f - f* <= 1e-5 max(1, |f*|)). Wall times are
medians of --repeats runs in this process, BLAS pinned to one thread.

    python benchmarks/hock_schittkowski.py                 # all 83 problems
    python benchmarks/hock_schittkowski.py --set equality  # the 23 equality-only ones
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings

import numpy as np
from scipy.optimize import Bounds, NonlinearConstraint, minimize

from common import run_pinned, timed

import lagrangian as lg
from lagrangian.problems import hock_schittkowski as hs

try:
    import casadi
except ImportError:
    casadi = None


def lagrangian_solver(case):
    s = lg.solve(case.problem, max_iterations=500)
    return s.x, s.fun, s.nit, s.evaluations["objective"]


def scipy_method(case, method):
    p = case.problem
    constraints = [NonlinearConstraint(p.constraint_values, p.cl, p.cu, jac=lambda x: p.jacobian(x).toarray())] if p.m else []
    bounds = Bounds(p.lb, p.ub) if np.isfinite(np.concatenate([p.lb, p.ub])).any() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = minimize(p.objective, p.x0, jac=p.gradient, constraints=constraints, bounds=bounds, method=method, options={"maxiter": 1000})
    return r.x, r.fun, r.nit, r.nfev


class CasadiIpopt:
    """IPOPT on the formula strings, with CasADi's exact first and second derivatives."""

    functions = {"Abs": "fabs", "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "sqrt": "sqrt", "asin": "asin", "erf": "erf"}

    def __init__(self, case):
        record = case.record
        n = record["n"]
        x = casadi.SX.sym("x", n)
        space = {"__builtins__": {}, "pi": math.pi, "e": math.e}
        space.update({name: getattr(casadi, fn) for name, fn in self.functions.items()})
        space.update({f"x{i + 1}": x[i] for i in range(n)})
        f = eval(record["formula"]["objective"], space)
        g = casadi.vertcat(*[eval(c, space) for c in record["formula"]["constraints"]])
        options = {"print_time": False, "ipopt": {"print_level": 0, "sb": "yes", "max_iter": 3000}}
        self.solver = casadi.nlpsol("solver", "ipopt", {"x": x, "f": f, "g": g}, options)
        p = case.problem
        self.arguments = dict(x0=p.x0, lbx=p.lb, ubx=p.ub, lbg=p.cl, ubg=p.cu)

    def __call__(self):
        r = self.solver(**self.arguments)
        stats = self.solver.stats()
        return np.array(r["x"]).ravel(), float(r["f"]), stats["iter_count"], stats["n_call_nlp_f"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", choices=("all", "equality"), default="all")
    parser.add_argument("--solvers", nargs="+", help="a subset of: lagrangian SLSQP trust-constr IPOPT (lagrangian always runs)")
    args = parser.parse_args()
    names = hs.names()
    if args.set == "equality":
        names = [n for n in names if hs.load(n).problem.is_equality_constrained and hs.load(n).problem.m]
    solvers = {
        "lagrangian": lambda case: (lambda: lagrangian_solver(case)),
        "SLSQP": lambda case: (lambda: scipy_method(case, "SLSQP")),
        "trust-constr": lambda case: (lambda: scipy_method(case, "trust-constr")),
    }
    if casadi is not None:
        solvers["IPOPT (casadi)"] = CasadiIpopt
    if args.solvers:
        solvers = {k: v for k, v in solvers.items() if k == "lagrangian" or k.split()[0] in args.solvers}
    summary = {k: {"pass": 0, "nit": [], "time": [], "nfev": [], "failed": []} for k in solvers}
    print(f"{'problem':8}" + "".join(f"{k:>30}" for k in solvers))
    print(f"{'':8}" + "".join(f"{'pass  nit  nfev      ms':>30}" for _ in solvers))
    for name in names:
        line = f"{name:8}"
        for key, prepare in solvers.items():
            case = hs.load(name)
            run = prepare(case)
            with np.errstate(all="ignore"):
                try:
                    t, (x, f, nit, nfev) = timed(run, args.repeats)
                    ok = bool(np.all(np.isfinite(x))) and hs.passes(case, x, f)[0]
                except lg.LagrangianError:
                    # scipy's solvers may ask for a derivative outside the function's
                    # domain (log of a negative number); the traced gradient refuses.
                    t, nit, nfev, ok = math.nan, -1, -1, False
            s = summary[key]
            s["pass"] += ok
            s["nit"].append(nit)
            s["nfev"].append(nfev)
            s["time"].append(t)
            if not ok:
                s["failed"].append(name)
            line += f"{'yes' if ok else 'NO':>10} {nit:4d} {nfev:5d} {1000 * t:9.1f}"
        print(line, flush=True)
    print()
    base = summary["lagrangian"]
    print("| solver | passed | median iterations | median f evaluations | median ms | total ms | median time / lagrangian |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key, s in summary.items():
        ratio = np.nanmedian(np.array(s["time"]) / np.array(base["time"]))
        print(
            f"| {key} | {s['pass']}/{len(names)} | {statistics.median(s['nit']):.0f} | {statistics.median(s['nfev']):.0f} | "
            f"{1000 * np.nanmedian(s['time']):.1f} | {1000 * np.nansum(s['time']):,.0f} | {ratio:.2f} |"
        )
    print()
    for key, s in summary.items():
        print(f"{key} failed: {', '.join(s['failed']) or 'none'}")


if __name__ == "__main__":
    run_pinned(main)
