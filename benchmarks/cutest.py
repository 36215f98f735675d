"""CUTEst through S2MPJ: lagrangian's interior point against IPOPT (cyipopt) and scipy SLSQP.

S2MPJ (Gratton and Toint, github GrattonToint/S2MPJ) translates the CUTEst problems
into pure Python with exact first and second derivatives. This script takes the path
of an S2MPJ checkout (the folder holding ``s2mpjlib.py`` and ``python_problems/``);
nothing of S2MPJ is copied into this project.

Selection rule (stated once, applied by ``select``): every problem of
``python_problems/`` whose SIF classification has a constraint letter other than
``U`` (so bounds only, fixed variables, linear, quadratic or general constraints),
that loads with its default parameters within 20 s, and has 1 <= n <= 300 variables,
m <= 300 constraint rows, and at least one constraint row or one finite bound.

Every solver gets the same callables: S2MPJ's objective and gradient (``fx``,
``fgx``), constraint values and sparse Jacobian (``cx``, ``cJx``) and, where the
solver takes one, the exact Hessian of the Lagrangian ``f + y^T c`` (``LgHxy``, the
same sign convention as lagrangian's). Rows are ``clower <= c(x) <= cupper``, bounds
``xlower <= x <= xupper``.

- lagrangian: ``lagrangian.solve(problem, method="interior_point")`` on a
  ``lagrangian.Problem`` with those derivatives (the interior point is what
  ``lagrangian.minimize`` runs for every constrained problem; ``solve`` adds what
  ``minimize`` adds, such as taking fixed variables out where the code does that),
  ``tol=1e-8``, ``max_time`` the cap. ``--lagrangian-method auto`` uses
  ``lagrangian.solve``'s own choice instead (Newton-KKT for equality-only problems).
  ``--at-once`` builds the problem and solves it in one step, the solve starting from
  the values the problem's checks computed at x0
  (``Problem.reusing_evaluations(construction=True)``), its Hessian checked by the
  solve's first one (``Problem._solved_at_once``): the route ``lagrangian.minimize``
  takes. Without it the solve evaluates x0 again, as ``lagrangian.solve`` must for a
  problem built earlier (its data may have changed since), and the problem checks its
  Hessian at x0 with every multiplier 1 when it is built.
- IPOPT: cyipopt over Debian's IPOPT 3.11.9 (MUMPS), ``tol=1e-8``, ``max_iter=3000``,
  the cap in wall-clock seconds (checked at every iteration, as lagrangian's
  ``max_time`` is), other options IPOPT's defaults. The Jacobian and Hessian
  sparsity patterns are read off S2MPJ's matrices at x0 and three points near it,
  before the timed solve; when an evaluation has an entry outside them the solve is
  rerun with dense patterns (:func:`run_ipopt`).
- SLSQP: ``scipy.optimize.minimize(method="SLSQP")``, ``tol=1e-8``, ``maxiter=3000``
  (its own BFGS Hessian).

Solves run in worker subprocesses that serve one solve after another (BLAS/OpenMP
pinned to one thread by the environment and threadpoolctl); a worker whose solve does
not answer within ``4 cap + 60`` s is killed and replaced, so a hang cannot stop the
run. Times are of the solve call only: each worker first solves HS21 once with every
solver, untimed, so that imports and first-call caches are paid there, and a solve
whose first run takes under 0.2 s is timed as the median of three more. The time
spent inside S2MPJ's evaluations is recorded beside it. Results are cached in
``benchmarks/output/cutest.json``: a rerun computes only what the cache lacks, or
what ``--run`` names. Two runs must not share a cache file (each writes its own
copy of the whole file); copy it and pass ``--cache``.

Pass rule: relative violation ``max(cl - c, c - cu, lb - x, x - ub, 0)`` divided by
``max(1, |x|_inf)`` at most 1e-6, and ``f <= f_best + 1e-6 max(1, |f_best|)`` where
``f_best`` is the lowest f among the cached runs (every solver, every label) that
meet the violation rule.

    # once: the selection (cached), then every solver on every selected problem
    python benchmarks/cutest.py /work/s2mpj --jobs 2
    # only lagrangian again (from whatever `lagrangian` is importable), peers from the cache
    PYTHONPATH=/path/to/worktree/src python benchmarks/cutest.py /work/s2mpj --run lagrangian
    # a subset, by name or from a file of names (one a line, # comments)
    python benchmarks/cutest.py /work/s2mpj --problems HS16 EIGENA --run lagrangian
    python benchmarks/cutest.py /work/s2mpj --list benchmarks/cutest_quick.txt --run lagrangian
    # the table of whatever the cache holds, running nothing
    python benchmarks/cutest.py /work/s2mpj --report
    # iteration logs of one problem (in this process, nothing cached)
    python benchmarks/cutest.py /work/s2mpj --log EIGENA --solvers lagrangian ipopt
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import math
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / "output" / "cutest.json"
SOLVERS = ("lagrangian", "ipopt", "slsqp")
MAX_N = MAX_M = 300
LOAD_SECONDS = 20
VIOLATION_TOL = 1e-6
F_TOL = 1e-6
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


# -- S2MPJ problems as plain callables --------------------------------------------------------
def load(s2mpj: Path, name: str):
    """Instantiate S2MPJ's ``name`` with its default parameters."""
    for folder in (str(s2mpj / "python_problems"), str(s2mpj)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    with contextlib.redirect_stdout(sys.stderr):
        module = importlib.import_module(name)
        return getattr(module, name)()


class Evaluations:
    """S2MPJ's problem as 1-D numpy callables, timing every call (the time spent inside S2MPJ)."""

    def __init__(self, pb):
        self.pb = pb
        self.n = int(pb.n)
        self.m = int(getattr(pb, "m", 0) or 0)
        self.x0 = np.asarray(pb.x0, dtype=float).ravel()
        self.lb = np.asarray(pb.xlower, dtype=float).ravel() if hasattr(pb, "xlower") else np.full(self.n, -np.inf)
        self.ub = np.asarray(pb.xupper, dtype=float).ravel() if hasattr(pb, "xupper") else np.full(self.n, np.inf)
        self.cl = np.asarray(pb.clower, dtype=float).ravel() if self.m else np.zeros(0)
        self.cu = np.asarray(pb.cupper, dtype=float).ravel() if self.m else np.zeros(0)
        self.has_objective = bool(len(getattr(pb, "objgrps", ()))) or hasattr(pb, "H")
        self.seconds = 0.0
        self.calls = dict.fromkeys(("objective", "gradient", "constraints", "jacobian", "hessian"), 0)

    @contextlib.contextmanager
    def _clock(self, kind):
        self.calls[kind] += 1
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start

    def objective(self, x):
        if not self.has_objective:
            return 0.0
        with self._clock("objective"):
            return float(np.asarray(self.pb.fx(np.asarray(x, dtype=float))).ravel()[0])

    def gradient(self, x):
        if not self.has_objective:
            return np.zeros(self.n)
        with self._clock("gradient"):
            return np.asarray(self.pb.fgx(np.asarray(x, dtype=float))[1], dtype=float).ravel()

    def constraints(self, x):
        with self._clock("constraints"):
            return np.asarray(self.pb.cx(np.asarray(x, dtype=float)), dtype=float).ravel()

    def jacobian(self, x):
        with self._clock("jacobian"):
            J = self.pb.cJx(np.asarray(x, dtype=float))[1]
        return sp.csr_array(J) if sp.issparse(J) else sp.csr_array(np.atleast_2d(np.asarray(J, dtype=float)))

    def hessian(self, x, y):
        """Hessian of ``f + y^T c`` (S2MPJ's ``LgHxy``; the objective's alone when m = 0)."""
        x = np.asarray(x, dtype=float)
        with self._clock("hessian"):
            if self.m:
                H = self.pb.LgHxy(x, np.asarray(y, dtype=float))[2]
            elif self.has_objective:
                H = self.pb.fgHx(x)[2]
            else:
                H = sp.csr_array((self.n, self.n))
        return sp.csr_array(H) if sp.issparse(H) else sp.csr_array(np.asarray(H, dtype=float))

    def violation(self, x) -> float:
        """``max(cl - c, c - cu, lb - x, x - ub, 0)`` over every row and bound, divided by ``max(1, |x|_inf)``."""
        x = np.asarray(x, dtype=float)
        parts = [np.maximum(self.lb - x, 0), np.maximum(x - self.ub, 0)]
        if self.m:
            c = self.constraints(x)
            parts += [np.maximum(self.cl - c, 0), np.maximum(c - self.cu, 0)]
        worst = max(float(np.max(p, initial=0.0)) for p in parts)
        return worst / max(1.0, float(np.max(np.abs(x), initial=0.0)))


# -- the solvers: each returns a dict with x, f, iterations, status (and extras) ---------------------
def run_lagrangian(ev: Evaluations, cap: float, log: bool, method: str = "interior_point", at_once: bool = False) -> dict:
    import lagrangian as lg

    constraints = [lg.Constraint(ev.constraints, ev.cl, ev.cu, jacobian=ev.jacobian, name="c")] if ev.m else []
    build = lg.Problem._solved_at_once if at_once else lg.Problem  # the first: the Problem minimize builds
    problem = build(ev.objective, ev.x0, gradient=ev.gradient, constraints=constraints, bounds=(ev.lb, ev.ub), hessian=ev.hessian, name=ev.pb.name)
    # Through lagrangian.solve, so that whatever it does before the solver (newer code
    # removes fixed variables there, as minimize does) is measured too.
    with problem.reusing_evaluations(construction=at_once):
        s = lg.solve(problem, method="interior_point" if method == "interior_point" else "auto", tol=1e-8, max_time=cap, log=log)
    return {"x": s.x, "y": s.y, "z": s.z, "f": float(s.fun), "iterations": int(s.nit), "status": s.status.name}


def _pattern(matrix_at, points):
    """Rows and columns of the union of ``matrix_at(x)``'s nonzero patterns over ``points``."""
    pattern = set()
    for x in points:
        M = sp.coo_array(matrix_at(x))
        pattern.update(zip(M.row.tolist(), M.col.tolist()))
    if not pattern:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    r, c = zip(*sorted(pattern))
    return np.array(r, dtype=int), np.array(c, dtype=int)


IPOPT_STATUS = {
    0: "SUCCESS", 1: "ACCEPTABLE", 2: "INFEASIBLE", 3: "SEARCH_DIRECTION_TOO_SMALL", 4: "DIVERGING", 5: "USER_STOP",
    6: "FEASIBLE_POINT_FOUND", -1: "MAX_ITERATIONS", -2: "RESTORATION_FAILED", -3: "ERROR_IN_STEP_COMPUTATION",
    -4: "TIME_LIMIT", -10: "NOT_ENOUGH_DEGREES_OF_FREEDOM", -11: "INVALID_PROBLEM", -13: "INVALID_NUMBER",
    -100: "UNRECOVERABLE_EXCEPTION", -102: "INSUFFICIENT_MEMORY", -199: "INTERNAL_ERROR",
}  # fmt: skip


def run_ipopt(ev: Evaluations, cap: float, log: bool, options: dict | None = None) -> dict:
    """IPOPT through cyipopt; ``options`` override the defaults set here (``{"max_iter": 0}`` returns its starting iterate).

    IPOPT needs the sparsity patterns of the Jacobian and of the Hessian's lower
    triangle before it starts; they are read off S2MPJ's matrices at x0 and at three
    random points near it (random multipliers for the Hessian). S2MPJ stores only the
    entries that are nonzero at the point, so a pattern can still miss an entry: when
    any evaluation during the solve has a nonzero outside the pattern, the solve is
    run again with dense patterns (``dense_pattern`` in the record), which is always
    right and slower.
    """
    if getattr(ev, "ipopt_dense_pattern", False):
        return dict(_ipopt_solve(ev, cap, log, options, dense=True), dense_pattern=True)
    record = _ipopt_solve(ev, cap, log, options, dense=False)
    if record["pattern_misses"]:
        ev.ipopt_dense_pattern = True  # and the caller times a run that is dense from the start
        record = dict(_ipopt_solve(ev, cap, log, options, dense=True), dense_pattern=True, retime=True)
    return record


def ipopt_patterns(ev: Evaluations):
    """Jacobian and lower-triangle Hessian patterns ``(jr, jc, hr, hc)`` from S2MPJ's matrices at x0 and three points near it.

    Computed before the timed solve (:func:`solve_once`): it costs four Jacobians and
    eight Hessians, which are the harness's, not IPOPT's.
    """
    rng = np.random.default_rng(0)
    lo = np.maximum(ev.lb, ev.x0 - 0.5 * np.maximum(1.0, np.abs(ev.x0)))
    hi = np.minimum(ev.ub, ev.x0 + 0.5 * np.maximum(1.0, np.abs(ev.x0)))
    points = [ev.x0] + [lo + rng.uniform(0.05, 0.95, ev.n) * (hi - lo) for _ in range(3)]
    jr, jc = _pattern(ev.jacobian, points) if ev.m else (np.zeros(0, int), np.zeros(0, int))
    hr, hc = _pattern(lambda x: sp.tril(abs(ev.hessian(x, rng.standard_normal(ev.m))) + abs(ev.hessian(x, np.ones(ev.m)))), points)
    return jr, jc, hr, hc


def _ipopt_solve(ev: Evaluations, cap: float, log: bool, options: dict | None, dense: bool) -> dict:
    import cyipopt

    if dense:
        jr, jc = (np.repeat(np.arange(ev.m), ev.n), np.tile(np.arange(ev.n), ev.m))
        hr, hc = np.tril_indices(ev.n)
    else:
        jr, jc, hr, hc = ev.ipopt_patterns if hasattr(ev, "ipopt_patterns") else ipopt_patterns(ev)
    state = {"misses": 0, "iterations": 0}
    j_keys, h_keys = jr.astype(np.int64) * ev.n + jc, hr.astype(np.int64) * ev.n + hc  # sorted: the patterns are
    if dense:
        order = np.argsort(h_keys)
        hr, hc, h_keys = hr[order], hc[order], h_keys[order]

    def gather(M, pattern_keys, lower=False):
        """The entries of sparse ``M`` at the pattern (sorted keys ``row n + col``), counting nonzeros outside it.

        Vectorized (one searchsorted), so that the harness adds little to IPOPT's time.
        """
        M = sp.coo_array(M)
        row, col, data = M.row, M.col, M.data
        if lower:
            keep = row >= col
            row, col, data = row[keep], col[keep], data[keep]
        keys = row.astype(np.int64) * ev.n + col
        position = np.minimum(np.searchsorted(pattern_keys, keys), max(pattern_keys.size - 1, 0))
        inside = pattern_keys[position] == keys if pattern_keys.size else np.zeros(keys.size, bool)
        state["misses"] += int(np.count_nonzero(data[~inside]))
        return np.bincount(position[inside], weights=data[inside], minlength=pattern_keys.size)

    class Callbacks:
        def objective(self, x):
            return ev.objective(x)

        def gradient(self, x):
            return ev.gradient(x)

        def constraints(self, x):
            return ev.constraints(x) if ev.m else np.zeros(0)

        def jacobianstructure(self):
            return jr, jc

        def jacobian(self, x):
            return gather(ev.jacobian(x), j_keys) if ev.m else np.zeros(0)

        def hessianstructure(self):
            return hr, hc

        def hessian(self, x, lagrange, obj_factor):
            # S2MPJ gives the Hessian of f + y^T c; IPOPT asks for that of sigma f + y^T c.
            if obj_factor != 0:
                H = ev.hessian(x, np.asarray(lagrange) / obj_factor) * obj_factor
            else:
                H = ev.hessian(x, lagrange) - ev.hessian(x, np.zeros(ev.m))
            return gather(H, h_keys, lower=True)

        def intermediate(self, alg_mod, iter_count, *args):
            # IPOPT 3.11's max_cpu_time counts CPU seconds; lagrangian's max_time counts wall
            # seconds, which on a loaded machine are several times more. The cap is wall time for both.
            state["iterations"] = int(iter_count)
            if time.perf_counter() - started > cap:
                state["timed_out"] = True
                return False
            return True

    nlp = cyipopt.Problem(n=ev.n, m=ev.m, problem_obj=Callbacks(), lb=ev.lb, ub=ev.ub, cl=ev.cl, cu=ev.cu)
    settings = {"tol": 1e-8, "max_iter": 3000, "max_cpu_time": float(cap), "print_level": 5 if log else 0, "sb": "yes"}
    for key, value in {**settings, **(options or {})}.items():
        nlp.add_option(key, value)
    started = time.perf_counter()
    x, info = nlp.solve(ev.x0.copy())
    status = "TIME_LIMIT" if state.get("timed_out") else IPOPT_STATUS.get(info["status"], f"IPOPT_{info['status']}")
    # y and z in lagrangian's convention: IPOPT's Lagrangian is f + y'c - zL'x + zU'x, the same signs.
    y, z = np.asarray(info["mult_g"], dtype=float), np.asarray(info["mult_x_U"], dtype=float) - np.asarray(info["mult_x_L"], dtype=float)
    return {"x": x, "y": y, "z": z, "f": float(info["obj_val"]), "iterations": state["iterations"], "status": status, "pattern_misses": state["misses"], "harness": 3}


def run_slsqp(ev: Evaluations, cap: float, log: bool) -> dict:
    from scipy.optimize import Bounds, NonlinearConstraint, minimize

    constraints = [NonlinearConstraint(ev.constraints, ev.cl, ev.cu, jac=lambda x: ev.jacobian(x).toarray())] if ev.m else []
    bounds = Bounds(ev.lb, ev.ub) if np.isfinite(np.concatenate([ev.lb, ev.ub])).any() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started, timed_out = time.perf_counter(), []

        def stop_at_cap(xk):
            if time.perf_counter() - started > cap:  # scipy ends a minimize whose callback raises StopIteration
                timed_out.append(True)
                raise StopIteration

        r = minimize(ev.objective, ev.x0, jac=ev.gradient, bounds=bounds, constraints=constraints, method="SLSQP", tol=1e-8, callback=stop_at_cap, options={"maxiter": 3000, "disp": bool(log)})
    status = "TIME_LIMIT" if timed_out else "SUCCESS" if r.success else {2: "MORE_EQUALITIES_THAN_VARIABLES", 3: "MAX_EVALUATIONS", 4: "INCOMPATIBLE_CONSTRAINTS", 5: "SINGULAR_LSQ",
                                          6: "SINGULAR_C", 7: "RANK_DEFICIENT", 8: "LINE_SEARCH_FAILED", 9: "MAX_ITERATIONS"}.get(int(r.status), f"SLSQP_{r.status}")  # fmt: skip
    return {"x": r.x, "f": float(r.fun), "iterations": int(r.nit), "status": status}


RUNNERS = {"lagrangian": run_lagrangian, "ipopt": run_ipopt, "slsqp": run_slsqp}


# -- one solve in a subprocess ------------------------------------------------------------------
def _pin_threads():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1)


def _alarm(seconds):
    def handler(signum, frame):
        raise TimeoutError(f"no answer after {seconds:.0f} s")

    signal.signal(signal.SIGALRM, handler)
    signal.alarm(int(math.ceil(seconds)))


def solve_once(s2mpj: Path, name: str, solver: str, cap: float, log: bool = False, method: str = "interior_point", at_once: bool = False) -> dict:
    """Load ``name``, run ``solver`` (timed once, or the median of three more runs when the first is under 0.2 s), judge its point."""
    pb = load(s2mpj, name)
    ev = Evaluations(pb)
    extra = {"method": method, "at_once": at_once} if solver == "lagrangian" else {}
    if solver == "ipopt":
        with np.errstate(all="ignore"):
            ev.ipopt_patterns = ipopt_patterns(ev)
    runs, record = [], None
    while True:
        ev.seconds = 0.0
        ev.calls = dict.fromkeys(ev.calls, 0)
        start = time.perf_counter()
        try:
            with np.errstate(all="ignore"), contextlib.redirect_stdout(sys.stdout if log else sys.stderr):
                out = RUNNERS[solver](ev, cap, log, **extra)
        except Exception as exc:  # a solver raising is a result to record, not a crash of the benchmark
            out = {"x": None, "f": math.nan, "iterations": -1, "status": f"RAISED {type(exc).__name__}", "error": f"{type(exc).__name__}: {exc}"[:300]}
        seconds = time.perf_counter() - start
        record = out
        if out.pop("retime", False) and not log:
            continue  # the run included a discarded attempt (IPOPT's sparse pattern missed an entry)
        runs.append((seconds, ev.seconds))
        calls = dict(ev.calls)
        # A first run, then three more if it was fast (a slow solve is timed once).
        if log or len(runs) == 4 or (len(runs) == 1 and (seconds >= 0.2 or out["x"] is None)):
            break
    if len(runs) > 1:  # a fast solve: the first run warmed the caches; the median of the next three
        runs = runs[1:]
    times, eval_times = [t for t, _ in runs], [e for _, e in runs]
    x = record.pop("x")
    record.pop("y", None), record.pop("z", None)  # multipliers are for callers of the runners; the cache keeps x only
    if x is not None:
        x = np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):
            finite = bool(np.all(np.isfinite(x)))
            record["violation"] = ev.violation(x) if finite else math.inf
            record["f"] = ev.objective(x) if finite else math.nan  # the objective at the returned x, not the solver's claim
        record["x"] = x.tolist()
    else:
        record["violation"] = math.inf
    record.update(time=statistics.median(times), eval_time=statistics.median(eval_times), calls=calls, n=ev.n, m=ev.m)
    return record


def serve(args) -> None:
    """Solve ``name solver`` requests read from stdin, one ``RESULT {json}`` line each on stdout."""
    os.environ.update({v: "1" for v in THREAD_VARIABLES})
    limits = _pin_threads()  # noqa: F841 (held for the life of the process)
    # One untimed solve per solver first: imports and first-call caches are paid here,
    # not by whichever problem this process happens to time first.
    for solver in RUNNERS:
        with contextlib.suppress(Exception), contextlib.redirect_stdout(sys.stderr):
            RUNNERS[solver](Evaluations(load(Path(args.s2mpj), "HS21")), args.cap, False)
    for line in sys.stdin:
        name, solver = line.split()
        try:
            record = solve_once(Path(args.s2mpj), name, solver, args.cap, method=args.lagrangian_method, at_once=args.at_once)
        except BaseException as exc:  # loading failed, or an error outside the solver call
            record = {"status": f"RAISED {type(exc).__name__}", "error": "".join(traceback.format_exception_only(exc)).strip()[:300], "violation": math.inf, "f": math.nan, "iterations": -1, "time": math.nan}
        print("RESULT " + json.dumps(record), flush=True)


class Worker:
    """A subprocess that serves solves one after another; killed and replaced when one overruns.

    The process imports numpy, scipy, lagrangian and cyipopt once, rather than once per
    solve; a solve that does not answer within ``4 cap + 60`` seconds (up to four timed
    runs of a fast solve; a slow one runs once) is a hang, and the process goes with it.
    """

    def __init__(self, s2mpj: Path, cap: float, method: str, at_once: bool = False):
        self.command = [sys.executable, str(Path(__file__).resolve()), str(s2mpj), "--serve", "--cap", str(cap), "--lagrangian-method", method] + (["--at-once"] if at_once else [])
        self.limit = 4 * cap + 60
        self.process = None

    def _start(self):
        env = dict(os.environ, **{v: "1" for v in THREAD_VARIABLES})
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=lambda out, q: [q.put(line) for line in out] + [q.put(None)], args=(self.process.stdout, self.lines), daemon=True).start()

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def solve(self, name: str, solver: str) -> dict:
        if self.process is None:
            self._start()
        self.process.stdin.write(f"{name} {solver}\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + self.limit
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                return {"status": "KILLED_AT_CAP", "violation": math.inf, "f": math.nan, "iterations": -1, "time": self.limit}
            if line is None:
                code = self.process.wait()
                self.process = None
                return {"status": f"CRASHED rc={code}", "violation": math.inf, "f": math.nan, "iterations": -1, "time": math.nan}
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])


# -- the selection ------------------------------------------------------------------------------
def classification(path: Path):
    match = re.search(r'classification = "([^"]*)"', path.read_text(errors="replace")[:4000])
    return match.group(1) if match else None


def select_worker(args) -> None:
    """Print one JSON line per candidate: its n, m, number of finite bounds, or why it did not load."""
    os.environ.update({v: "1" for v in THREAD_VARIABLES})
    for name in args.select_worker:
        try:
            _alarm(LOAD_SECONDS)
            with np.errstate(all="ignore"):
                ev = Evaluations(load(Path(args.s2mpj), name))
                ev.objective(ev.x0), ev.gradient(ev.x0)
                if ev.m:
                    ev.constraints(ev.x0), ev.jacobian(ev.x0)
            signal.alarm(0)
            bounds = int(np.isfinite(ev.lb).sum() + np.isfinite(ev.ub).sum())
            line = {"name": name, "n": ev.n, "m": ev.m, "bounds": bounds, "objective": ev.has_objective}
        except BaseException as exc:
            signal.alarm(0)
            line = {"name": name, "error": f"{type(exc).__name__}: {exc}"[:200]}
        print("SELECT " + json.dumps(line), flush=True)


def select(s2mpj: Path, cache: dict) -> list[str]:
    """The names the selection rule keeps (see the module docstring), computed once per S2MPJ checkout."""
    key = str(s2mpj.resolve())
    known = cache.setdefault("selection", {}).get(key)
    if known is None:
        candidates = []
        for path in sorted((s2mpj / "python_problems").glob("*.py")):
            kind = classification(path)
            if not kind:
                continue
            fields = kind.split("-")  # "C-C" + objective, constraint, regularity, degree letters ("C-CSQR2-AN-2-2")
            letters = fields[1] if len(fields) > 1 else ""
            if len(letters) < 3 or letters[2] == "U":
                continue
            sizes = fields[-2:]
            if all(s.isdigit() for s in sizes) and (int(sizes[0]) > MAX_N or int(sizes[1]) > MAX_M):
                continue
            candidates.append(path.stem)
        known = {}
        remaining = candidates
        while remaining:
            command = [sys.executable, str(Path(__file__).resolve()), str(s2mpj), "--select-worker", *remaining]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=LOAD_SECONDS * (len(remaining) + 2))
                out = done.stdout
            except subprocess.TimeoutExpired as exc:
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            for line in out.splitlines():
                if line.startswith("SELECT "):
                    record = json.loads(line[len("SELECT ") :])
                    known[record.pop("name")] = record
            remaining = [name for name in remaining if name not in known]
            if remaining:  # the process died on remaining[0] (memory, a crash): note it and go on
                known[remaining[0]] = {"error": "the loading process died"}
                remaining = remaining[1:]
            print(f"selection: {len(known)}/{len(candidates)} candidates examined", file=sys.stderr, flush=True)
        cache["selection"][key] = known
    return sorted(name for name, r in known.items() if "error" not in r and 1 <= r["n"] <= MAX_N and r["m"] <= MAX_M and (r["m"] > 0 or r["bounds"] > 0))


# -- the table ----------------------------------------------------------------------------------
def judge(results: dict, names: list[str]) -> dict:
    """``passed[label][name]`` by the pass rule, against the best feasible f of every cached label."""
    passed = {}
    for name in names:
        feasible = [r["f"] for runs in results.values() if (r := runs.get(name)) and r.get("violation", math.inf) <= VIOLATION_TOL and np.isfinite(r.get("f", math.nan))]
        best = min(feasible) if feasible else math.nan
        for label, runs in results.items():
            r = runs.get(name)
            ok = bool(r) and r.get("violation", math.inf) <= VIOLATION_TOL and np.isfinite(r.get("f", math.nan)) and r["f"] <= best + F_TOL * max(1.0, abs(best))
            passed.setdefault(label, {})[name] = ok
    return passed


def describe(label, r, best):
    if r.get("violation", math.inf) > VIOLATION_TOL:
        why = f"violation {r.get('violation', math.inf):.1e}"
    else:
        why = f"f {r['f']:.8g} vs best {best:.8g}"
    return why


def report(results: dict, names: list[str], labels: list[str]) -> None:
    passed = judge(results, names)
    for label in labels:  # a label with nothing cached yet passes nothing
        passed.setdefault(label, dict.fromkeys(names, False))
    nobody = [n for n in names if not any(passed[label].get(n) for label in labels)]
    print(
        f"\n{len(names)} problems; pass: relative violation <= {VIOLATION_TOL:g} and f within {F_TOL:g} (relative) of the best "
        f"feasible f; {len(nobody)} passed by none of the solvers shown (mostly more equality rows than variables).\n"
    )
    print("| solver | passed | median iterations | median time | failures by status |")
    print("|---|---:|---:|---:|---|")
    for label in labels:
        runs = results.get(label, {})
        rows = [runs[n] for n in names if n in runs]
        its = [r["iterations"] for r in rows if r.get("iterations", -1) >= 0]
        ts = [r["time"] for r in rows if np.isfinite(r.get("time", math.nan))]
        fails = {}
        for n in names:
            if n in runs and not passed[label][n]:
                fails[runs[n]["status"]] = fails.get(runs[n]["status"], 0) + 1
        text = ", ".join(f"{k} {v}" for k, v in sorted(fails.items(), key=lambda kv: -kv[1]))
        missing = len(names) - len(rows)
        med_it = f"{statistics.median(its):.0f}" if its else "-"
        med_t = f"{1000 * statistics.median(ts):.0f} ms" if ts else "-"
        print(f"| {label} | {sum(passed[label].values())}/{len(names)}{f' ({missing} not run)' if missing else ''} | {med_it} | {med_t} | {text} |")
    if "ipopt" in results:
        for label in labels:
            if label == "ipopt":
                continue
            both = [n for n in names if passed.get(label, {}).get(n) and passed["ipopt"].get(n)]
            if not both:
                continue
            a, b = results[label], results["ipopt"]
            ratio = [a[n]["time"] / b[n]["time"] for n in both]
            ratio_x = [(a[n]["time"] - a[n].get("eval_time", 0)) / max(1e-9, b[n]["time"] - b[n].get("eval_time", 0)) for n in both]
            its = [a[n]["iterations"] / max(1, b[n]["iterations"]) for n in both]
            print(
                f"\n{label} / ipopt on the {len(both)} problems both pass: time ratio median {statistics.median(ratio):.2f} "
                f"(quartiles {np.percentile(ratio, 25):.2f}-{np.percentile(ratio, 75):.2f}); leaving out the time inside "
                f"S2MPJ's evaluations {statistics.median(ratio_x):.2f}; iteration ratio median {statistics.median(its):.2f}"
            )
    for label in labels:
        runs = results.get(label, {})
        groups = {}
        for n in names:
            if n in runs and not passed[label][n]:
                groups.setdefault(runs[n]["status"], []).append(n)
        if not groups:
            continue
        print(f"\n{label} failures by status (where ipopt passes: *):")
        for status, group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            marked = [f"{n}{'*' if passed.get('ipopt', {}).get(n) else ''}" for n in group]
            print(f"  {status} ({len(group)}): {', '.join(marked)}")
    if "ipopt" in passed:
        for label in labels:
            if label == "ipopt" or label not in results:
                continue
            lines = []
            for n in names:
                if passed["ipopt"].get(n) and n in results[label] and not passed[label][n]:
                    a, b = results[label][n], results["ipopt"][n]
                    feasible = [r[n]["f"] for r in results.values() if n in r and r[n].get("violation", math.inf) <= VIOLATION_TOL and np.isfinite(r[n].get("f", math.nan))]
                    best = min(feasible) if feasible else math.nan
                    lines.append(
                        f"  {n:10} n={a.get('n')} m={a.get('m')}  {label}: {a['status']} it={a.get('iterations')} {describe(label, a, best)} "
                        f"{a.get('time', math.nan):.2f}s | ipopt: it={b.get('iterations')} f={b['f']:.8g} {b.get('time', math.nan):.2f}s"
                        + (f"  [{a['error'][:90]}]" if a.get("error") else "")
                    )
            if lines:
                print(f"\nwhere ipopt passes and {label} does not ({len(lines)}):")
                print("\n".join(lines))


# -- main ---------------------------------------------------------------------------------------
def read_names(args, selected):
    names = list(args.problems or [])
    for path in args.list or []:
        for line in Path(path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.extend(line.split())
    if not names:
        return selected
    unknown = [n for n in names if n not in selected]
    if unknown:
        print(f"not in the selection (run anyway): {' '.join(unknown)}", file=sys.stderr)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("s2mpj", type=Path, help="an S2MPJ checkout: the folder holding s2mpjlib.py and python_problems/")
    parser.add_argument("--problems", nargs="+", metavar="NAME", help="only these problems")
    parser.add_argument("--list", action="append", metavar="FILE", help="only the problems named in FILE (one or more a line, # comments)")
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS), help="solvers to show (and to run where the cache lacks them)")
    parser.add_argument("--run", nargs="+", choices=SOLVERS, default=[], help="solvers to run again even where cached")
    parser.add_argument("--label", default="lagrangian", help="cache key for lagrangian's results (keep a baseline beside a new run: --label lagrangian-new)")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per solve (default 60)")
    parser.add_argument("--jobs", type=int, default=1, help="solves run at once (times are noisier above 1 on a 2-core machine)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--lagrangian-method", choices=("interior_point", "auto"), default="interior_point")
    parser.add_argument("--at-once", action="store_true", help="lagrangian: build the problem and solve it in one step, from the values its checks computed at x0 (minimize's route)")
    parser.add_argument("--report", action="store_true", help="run nothing: the table of the cached problems that every shown solver has")
    parser.add_argument("--log", metavar="NAME", help="print the solvers' iteration logs on one problem (nothing cached)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--select-worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    if args.select_worker:
        return select_worker(args)
    if args.log:
        os.environ.update({v: "1" for v in THREAD_VARIABLES})
        limits = _pin_threads()
        for solver in args.solvers:
            print(f"\n===== {solver} on {args.log} =====", flush=True)
            r = solve_once(args.s2mpj, args.log, solver, args.cap, log=True, method=args.lagrangian_method, at_once=args.at_once)
            r.pop("x", None)
            print(json.dumps(r), flush=True)
        del limits
        return

    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    selected = select(args.s2mpj, cache)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    args.cache.write_text(json.dumps(cache))
    names = read_names(args, selected)
    results = cache.setdefault("results", {})
    label_of = {s: (args.label if s == "lagrangian" else s) for s in args.solvers}
    def missing(n, s):
        r = results.get(label_of[s], {}).get(n)
        if r is None or r["status"].startswith("CRASHED") and "crashed_before" not in r:
            return True
        # An IPOPT record from before the dense-pattern rerun, with derivative entries dropped, is stale.
        # So is one that ran past the cap (IPOPT's own limit counted CPU time, not wall time).
        # And one from an earlier harness, which charged IPOPT for its pattern setup and a slow conversion to triplets.
        stale_ipopt = s == "ipopt" and ((r.get("pattern_misses") and not r.get("dense_pattern")) or r.get("time", 0) > 1.2 * args.cap or r.get("harness", 1) < 3)
        return bool(stale_ipopt)

    # Problem by problem (IPOPT, lagrangian, SLSQP), in a fixed pseudo-random order of the
    # problems: a run cut short leaves every solver on the same problems, and those are a
    # sample of the whole selection rather than its first letters.
    order = sorted(args.solvers, key=("ipopt", "lagrangian", "slsqp").index)
    shuffled = sorted(names, key=lambda n: hashlib.sha1(n.encode()).hexdigest())
    todo = [(n, s) for n in shuffled for s in order if s in args.run or missing(n, s)]
    if args.report:
        todo = []
        names = [n for n in names if not any(missing(n, s) for s in args.solvers)]
    if "lagrangian" in {s for _, s in todo}:
        import lagrangian

        cache.setdefault("labels", {})[args.label] = {"module": str(Path(lagrangian.__file__).parent), "method": args.lagrangian_method, "at_once": args.at_once, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{len(names)} problems; {len(todo)} solves to run; lagrangian from {cache.get('labels', {}).get(args.label, {}).get('module', '(cache)')}", file=sys.stderr)
    started = time.perf_counter()
    tasks = queue.Queue()
    for task in todo:
        tasks.put(task)
    answers = queue.Queue()

    def drain():
        worker = Worker(args.s2mpj, args.cap, args.lagrangian_method, args.at_once)
        try:
            while True:
                try:
                    n, s = tasks.get_nowait()
                except queue.Empty:
                    return
                r = worker.solve(n, s)
                if r["status"].startswith("CRASHED"):
                    # Once more in a fresh process: a worker has died (SIGSEGV) in a solve that
                    # ran cleanly alone; a second crash is recorded as the solver's.
                    r = dict(worker.solve(n, s), crashed_before=r["status"])
                answers.put((n, s, r))
        finally:
            worker.stop()

    threads = [threading.Thread(target=drain, daemon=True) for _ in range(max(1, args.jobs))]
    for thread in threads:
        thread.start()
    for k in range(1, len(todo) + 1):
        n, s, r = answers.get()
        results.setdefault(label_of[s], {})[n] = r
        print(f"[{k}/{len(todo)} {time.perf_counter() - started:6.0f}s] {s:10} {n:10} {r['status']:24} it={r.get('iterations')} viol={r.get('violation', math.inf):.1e} f={r.get('f', math.nan):.6g} {r.get('time', math.nan):.2f}s", file=sys.stderr, flush=True)
        if k % 10 == 0 or k == len(todo):
            args.cache.write_text(json.dumps(cache))
    args.cache.write_text(json.dumps(cache))
    labels = [label_of[s] for s in args.solvers]
    report(results, names, labels)


if __name__ == "__main__":
    main()
