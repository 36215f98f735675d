"""Scaling of the nonlinear solvers with n: two sparse nonlinear programs from n = 1e2 to 1e5.

``--problem discs`` (the default) is the one issue 5 states:

    minimize    sum_i x_i^2 + sum_i (x_i - x_{i+1})^2
    subject to  x_{2k}^2 + x_{2k+1}^2 = 1              (n / 2 equality rows)

with f* = n / 2 (every x_i = 1/sqrt 2: the first sum is n/2 on the constraint set and
the second is zero). ``--problem discs-bounded`` adds the bounds x_{2k} <= 0.6, which
are active at the solution: every pair sits at (0.6, 0.8) and f* = n/2 + 0.04 (n - 1). Both
start from x0_i = 1 + 0.2 sin(i). lagrangian runs ``lg.solve``: Newton-KKT for the
equality-only problem, the interior point for the bounded one.

``--problem chain`` is a harder one, with every kind of row active somewhere:

    minimize    sum_i (x_i - t_i)^2 + 0.1 sum_i x_i^4
    subject to  -h <= x_{i+1} - x_i <= h              (n - 1 two-sided linear rows)
                x_i^2 + x_{i+1}^2 <= 1                 (n - 1 nonlinear rows)
                sum_i x_i = 0                          (one dense equality row)
                -0.9 <= x_i <= 0.9

with t_i = sin(8 pi i / n), h = 20 / n and x0 = 0.

Exact sparse derivatives are given to every solver: the gradient, the Jacobian and the
Hessian of the Lagrangian (with ``--quasi-newton``, no Hessian: lagrangian and IPOPT
keep limited-memory BFGS models, trust-constr scipy's dense BFGS). IPOPT (through CasADi, `bench` extra) gets the same problem
as an MX expression graph with its own exact derivatives; its setup (building the
expressions and ``nlpsol``) and its solve call are timed separately. scipy's
trust-constr gets the same callables and runs up to ``--trust-constr-limit`` (at 1e4
on the chain it had not finished 3 runs in 5 minutes). Times are wall-clock medians of
--repeats runs in one process, BLAS pinned to one thread; "MB" is the peak of Python's
allocations (tracemalloc) in one extra run of lagrangian, to show that memory grows
linearly in n.

    python benchmarks/scaling.py                       # discs, n = 1e2 ... 1e5
    python benchmarks/scaling.py --problem chain --sizes 1000 10000 100000
    python benchmarks/scaling.py --quasi-newton        # no Hessians: L-BFGS against IPOPT's L-BFGS
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import BFGS, Bounds, LinearConstraint, NonlinearConstraint, minimize

from common import run_pinned, timed

import lagrangian as lg

try:
    import casadi
except ImportError:
    casadi = None


class Discs:
    """Issue 5's problem: pairs on the unit circle, neighbours pulled together."""

    def __init__(self, n, bounded=False):
        if n % 2:
            raise ValueError("n must be even")
        self.n, self.bounded = n, bounded
        self.x0 = 1.0 + 0.2 * np.sin(np.arange(n))
        k = n - 1
        self.D = sp.csr_array(
            (np.tile([-1.0, 1.0], k), (np.repeat(np.arange(k), 2), np.column_stack([np.arange(k), np.arange(1, n)]).ravel())),
            shape=(k, n),
        )
        # f = x' Q x with Q = I + D'D (tridiagonal).
        self.Q = (sp.eye_array(n) + self.D.T @ self.D).tocsr()
        self.rows = np.repeat(np.arange(n // 2), 2)
        self.cols = np.arange(n)
        self.upper = np.full(n, np.inf)
        if bounded:
            self.upper[0::2] = 0.6
        # Bounded, each pair sits at (0.6, 0.8): n - 1 neighbour differences of 0.2.
        self.optimum = n / 2 + (0.04 * (n - 1) if bounded else 0.0)

    def f(self, x):
        return float(x @ (self.Q @ x))

    def grad(self, x):
        return 2 * (self.Q @ x)

    def c(self, x):
        return x[0::2] ** 2 + x[1::2] ** 2

    def c_jacobian(self, x):
        return sp.csr_array((2 * x, (self.rows, self.cols)), shape=(self.n // 2, self.n))

    def c_hessian(self, y):
        return sp.diags_array(2 * np.repeat(y, 2))

    def hessian(self, x, y):
        return (2 * self.Q + self.c_hessian(y)).tocsr()

    def problem(self, exact_hessian=True):
        return lg.Problem(
            self.f,
            self.x0,
            gradient=self.grad,
            constraints=[lg.Equality(self.c, 1.0, jacobian=self.c_jacobian, name="discs")],
            bounds=(None, self.upper) if self.bounded else None,
            hessian=self.hessian if exact_hessian else None,
            quasi_newton="l-bfgs",
        )

    def scipy_arguments(self, exact_hessian=True):
        hessians = dict(hess=lambda x, v: self.c_hessian(v)) if exact_hessian else {}
        return dict(
            fun=self.f,
            x0=self.x0,
            jac=self.grad,
            hess=(lambda x: 2 * self.Q) if exact_hessian else BFGS(),
            constraints=[NonlinearConstraint(self.c, 1.0, 1.0, jac=self.c_jacobian, **hessians)],
            bounds=Bounds(np.full(self.n, -np.inf), self.upper) if self.bounded else None,
        )

    def casadi_problem(self):
        x = casadi.MX.sym("x", self.n)
        f = casadi.sumsqr(x) + casadi.sumsqr(x[1:] - x[:-1])
        g = x[0::2] ** 2 + x[1::2] ** 2
        ubx = np.where(np.isinf(self.upper), np.inf, self.upper)
        return {"x": x, "f": f, "g": g}, dict(lbx=-np.inf, ubx=ubx, lbg=1.0, ubg=1.0)


class Chain:
    """The harder problem: slope limits, discs as inequalities, one dense row, bounds."""

    optimum = None

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

    def hessian(self, x, y):
        y_discs = y[self.n - 1 : 2 * (self.n - 1)]  # rows: slopes, discs, sum
        return sp.diags_array(2 + 1.2 * x**2 + self.discs_hessian(y_discs)).tocsr()

    def problem(self, exact_hessian=True):
        ones = sp.csr_array(np.ones((1, self.n)))
        return lg.Problem(
            self.f,
            self.x0,
            gradient=self.grad,
            constraints=[
                lg.Inequality(lambda x: self.D @ x, lower=-self.h, upper=self.h, jacobian=lambda x: self.D, name="slopes"),
                lg.Inequality(self.discs, upper=1.0, jacobian=self.discs_jacobian, name="discs"),
                lg.Equality(lambda x: np.array([x.sum()]), 0.0, jacobian=lambda x: ones, name="sum"),
            ],
            bounds=(np.full(self.n, -0.9), np.full(self.n, 0.9)),
            hessian=self.hessian if exact_hessian else None,
            quasi_newton="l-bfgs",
        )

    def scipy_arguments(self, exact_hessian=True):
        hessians = dict(hess=lambda x, v: sp.diags_array(self.discs_hessian(v))) if exact_hessian else {}
        return dict(
            fun=self.f,
            x0=self.x0,
            jac=self.grad,
            hess=(lambda x: sp.diags_array(2 + 1.2 * x**2)) if exact_hessian else BFGS(),
            constraints=[
                LinearConstraint(self.D, -self.h, self.h),
                NonlinearConstraint(self.discs, -np.inf, 1.0, jac=self.discs_jacobian, **hessians),
                LinearConstraint(sp.csr_array(np.ones((1, self.n))), 0.0, 0.0),
            ],
            bounds=Bounds(np.full(self.n, -0.9), np.full(self.n, 0.9)),
        )

    def casadi_problem(self):
        x = casadi.MX.sym("x", self.n)
        t = casadi.DM(self.t)
        f = casadi.sumsqr(x - t) + 0.1 * casadi.sum1(x**4)
        g = casadi.vertcat(x[1:] - x[:-1], x[:-1] ** 2 + x[1:] ** 2, casadi.sum1(x))
        k = self.n - 1
        lbg = np.concatenate([np.full(k, -self.h), np.full(k, -np.inf), [0.0]])
        ubg = np.concatenate([np.full(k, self.h), np.ones(k), [0.0]])
        return {"x": x, "f": f, "g": g}, dict(lbx=-0.9, ubx=0.9, lbg=lbg, ubg=ubg)


PROBLEMS = {
    "discs": Discs,
    "discs-bounded": lambda n: Discs(n, bounded=True),
    "chain": Chain,
}


def ours(case, exact_hessian):
    problem = case.problem(exact_hessian)

    def run():
        s = lg.solve(problem)
        return s.fun, s.nit, s.success

    return run, 0.0


def trust_constr(case, exact_hessian):
    arguments = case.scipy_arguments(exact_hessian)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = minimize(method="trust-constr", options={"maxiter": 3000}, **arguments)
        return r.fun, r.nit, r.status in (1, 2)

    return run, 0.0


def ipopt(case, exact_hessian):
    start = time.perf_counter()
    nlp, limits = case.casadi_problem()
    options = {"print_level": 0, "sb": "yes"}
    if not exact_hessian:
        options["hessian_approximation"] = "limited-memory"
    solver = casadi.nlpsol("scaling", "ipopt", nlp, {"print_time": False, "ipopt": options})
    setup = time.perf_counter() - start

    def run():
        r = solver(x0=case.x0, **limits)
        stats = solver.stats()
        return float(r["f"]), stats["iter_count"], stats["success"]

    return run, setup


def peak_megabytes(run):
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="discs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000, 100_000])
    parser.add_argument("--trust-constr-limit", type=int, default=10_000)
    parser.add_argument("--memory", action="store_true", help="also report lagrangian's peak allocations (one more run)")
    parser.add_argument(
        "--quasi-newton", action="store_true",
        help="no second derivatives: limited-memory BFGS for lagrangian and IPOPT, scipy's (dense) BFGS for trust-constr",
    )
    args = parser.parse_args()
    solvers = {"lagrangian": ours, "trust-constr": trust_constr}
    if casadi is not None:
        solvers["IPOPT (casadi)"] = ipopt
    print(f"problem: {args.problem}, Hessian: {'quasi-Newton' if args.quasi_newton else 'exact'}")
    print("| n | solver | f | f - f* | iterations | converged | setup s | median solve s | solve / lagrangian | MB |")
    print("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for n in args.sizes:
        case = PROBLEMS[args.problem](n)
        base = None
        for name, build in solvers.items():
            if name == "trust-constr" and n > args.trust_constr_limit:
                continue
            run, setup = build(case, not args.quasi_newton)
            median, (f, nit, ok) = timed(run, args.repeats)
            base = base or median
            gap = "" if case.optimum is None else f"{f - case.optimum:.1e}"
            memory = f"{peak_megabytes(run):.0f}" if args.memory and name == "lagrangian" else ""
            print(
                f"| {n:,} | {name} | {f:.10g} | {gap} | {nit} | {ok} | {setup:.3f} | {median:.3f} | {median / base:.2f} | {memory} |",
                flush=True,
            )


if __name__ == "__main__":
    run_pinned(main)
