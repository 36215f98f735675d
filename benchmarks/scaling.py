"""Scaling of the interior point with n: a sparse nonlinear program from n = 1e3 to 1e5.

    minimize    sum_i (x_i - t_i)^2 + 0.1 sum_i x_i^4
    subject to  -h <= x_{i+1} - x_i <= h              (n - 1 two-sided linear rows)
                x_i^2 + x_{i+1}^2 <= 1                 (n - 1 nonlinear rows)
                sum_i x_i = 0                          (one dense equality row)
                -0.9 <= x_i <= 0.9

with t_i = sin(8 pi i / n) and h = 20 / n, so that the slope limit, the discs and the
bounds are all active somewhere. Exact sparse derivatives are given to every solver:
the gradient, the Jacobian (3 nonzeros per row pair and one dense row) and the Hessian
of the Lagrangian (diagonal). lagrangian's interior point runs on its sparse KKT
system; IPOPT (through CasADi, `bench` extra) gets the same problem as an expression
graph with its own exact derivatives; scipy's trust-constr gets the same callables and
is run at n = 1e3 only (at 1e4 it had not finished 3 runs in 5 minutes). Times are wall-clock medians of --repeats runs in one process,
BLAS pinned to one thread; IPOPT's time is the solve call only.

    python benchmarks/scaling.py
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint, minimize

from common import run_pinned, timed

import lagrangian as lg

try:
    import casadi
except ImportError:
    casadi = None


class Chain:
    """The problem's data and exact derivatives for one n."""

    def __init__(self, n):
        self.n = n
        self.t = np.sin(8 * np.pi * np.arange(n) / n)
        self.h = 20.0 / n
        k = n - 1
        rows = np.repeat(np.arange(k), 2)
        cols = np.column_stack([np.arange(k), np.arange(1, n)]).ravel()
        self.D = sp.csr_array((np.tile([-1.0, 1.0], k), (rows, cols)), shape=(k, n))
        self.rows, self.cols = rows, cols
        self.x0 = np.zeros(n)

    def f(self, x):
        return float(np.sum((x - self.t) ** 2) + 0.1 * np.sum(x**4))

    def grad(self, x):
        return 2 * (x - self.t) + 0.4 * x**3

    def discs(self, x):
        return x[:-1] ** 2 + x[1:] ** 2

    def discs_jacobian(self, x):
        values = np.column_stack([2 * x[:-1], 2 * x[1:]]).ravel()
        return sp.csr_array((values, (self.rows, self.cols)), shape=(self.n - 1, self.n))

    def discs_hessian(self, y):
        """sum_i y_i nabla^2 (x_i^2 + x_{i+1}^2): diagonal."""
        d = np.zeros(self.n)
        d[:-1] += 2 * y
        d[1:] += 2 * y
        return d

    def lagrangian_hessian(self, x, y):
        y_discs = y[self.n - 1 : 2 * (self.n - 1)]  # rows: slopes, discs, sum
        return sp.diags_array(2 + 1.2 * x**2 + self.discs_hessian(y_discs)).tocsr()


def ours(chain):
    ones = sp.csr_array(np.ones((1, chain.n)))
    problem = lg.Problem(
        chain.f,
        chain.x0,
        gradient=chain.grad,
        constraints=[
            lg.Inequality(lambda x: chain.D @ x, lower=-chain.h, upper=chain.h, jacobian=lambda x: chain.D, name="slopes"),
            lg.Inequality(chain.discs, upper=1.0, jacobian=chain.discs_jacobian, name="discs"),
            lg.Equality(lambda x: np.array([x.sum()]), 0.0, jacobian=lambda x: ones, name="sum"),
        ],
        bounds=(np.full(chain.n, -0.9), np.full(chain.n, 0.9)),
        hessian=chain.lagrangian_hessian,
    )

    def run():
        s = lg.interior_point(problem)
        return s.fun, s.nit, s.success

    return run


def trust_constr(chain):
    constraints = [
        LinearConstraint(chain.D, -chain.h, chain.h),
        NonlinearConstraint(chain.discs, -np.inf, 1.0, jac=chain.discs_jacobian, hess=lambda x, v: sp.diags_array(chain.discs_hessian(v))),
        LinearConstraint(sp.csr_array(np.ones((1, chain.n))), 0.0, 0.0),
    ]

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = minimize(
                chain.f,
                chain.x0,
                jac=chain.grad,
                hess=lambda x: sp.diags_array(2 + 1.2 * x**2),
                method="trust-constr",
                constraints=constraints,
                bounds=Bounds(np.full(chain.n, -0.9), np.full(chain.n, 0.9)),
                options={"maxiter": 3000},
            )
        return r.fun, r.nit, r.status in (1, 2)

    return run


def ipopt(chain):
    n = chain.n
    x = casadi.MX.sym("x", n)
    f = casadi.sumsqr(x - chain.t) + 0.1 * casadi.sum1(x**4)
    g = casadi.vertcat(x[1:] - x[:-1], x[:-1] ** 2 + x[1:] ** 2, casadi.sum1(x))
    solver = casadi.nlpsol(
        "chain", "ipopt", {"x": x, "f": f, "g": g}, {"print_time": False, "ipopt": {"print_level": 0, "sb": "yes"}}
    )
    k = n - 1
    lbg = np.concatenate([np.full(k, -chain.h), np.full(k, -np.inf), [0.0]])
    ubg = np.concatenate([np.full(k, chain.h), np.ones(k), [0.0]])

    def run():
        r = solver(x0=chain.x0, lbx=-0.9, ubx=0.9, lbg=lbg, ubg=ubg)
        stats = solver.stats()
        return float(r["f"]), stats["iter_count"], stats["success"]

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--trust-constr-limit", type=int, default=1_000)
    args = parser.parse_args()
    solvers = {"lagrangian": ours, "trust-constr": trust_constr}
    if casadi is not None:
        solvers["IPOPT (casadi)"] = ipopt
    print("| n | solver | f | iterations | converged | median s | time / lagrangian |")
    print("|---:|---|---:|---:|---|---:|---:|")
    for n in args.sizes:
        chain = Chain(n)
        base = None
        for name, build in solvers.items():
            if name == "trust-constr" and n > args.trust_constr_limit:
                continue
            run = build(chain)
            median, result = timed(run, args.repeats)
            base = base or median
            f, nit, ok = result
            print(f"| {n:,} | {name} | {f:.10g} | {nit} | {ok} | {median:.3f} | {median / base:.2f} |", flush=True)


if __name__ == "__main__":
    run_pinned(main)
