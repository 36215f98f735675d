"""Random QPs of every kind through `solve_qp` and Clarabel: is every answer one we can believe?

Generates ``--count`` programs of each kind in `lagrangian.problems.random_qps`
(strictly convex, degenerate, rank-deficient, infeasible, unbounded, non-convex; the
truth of each is known by construction), solves each with `lagrangian.solve_qp`
(default options) and, for the convex ones, with Clarabel (its own Python API,
tolerances 1e-9), and checks every answer against the data, not against either solver:

- SUCCESS: KKT residuals recomputed from (P, q, A, l, u, bounds) below 1e-6 (relative)
  and the objective within 1e-6 of the constructed optimum;
- INFEASIBLE / UNBOUNDED: the truth agrees and the certificate passes
  `check_certificate` (Farkas or ray inequalities recomputed, radius >= 1e6);
- a ProblemError: correct exactly for the non-convex programs.

Columns: *agree* (verified, and Clarabel found the same), *referee differs*
(verified, Clarabel did not: its status or objective is off), *silent wrong*
(SUCCESS that fails the check, or INFEASIBLE/UNBOUNDED contrary to the truth),
*refused ok* / *refused wrong* (ProblemError on a non-convex / convex program),
*certificate valid* (of the infeasible/unbounded programs, classified with a valid
certificate), *honest failure* (another status: no claim made), *crash* (any other
exception). Deterministic: program i of a kind comes from seed i.

    python benchmarks/random_qps.py --count 1000
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np
import scipy.sparse as sp

from common import run_pinned

import lagrangian as lg
from lagrangian.problems.random_qps import KINDS, check_certificate, check_solution, random_qp

COLUMNS = ("agree", "referee differs", "silent wrong", "refused ok", "refused wrong", "certificate valid",
           "honest failure", "crash")


def clarabel_solve(qp):
    """``(status, objective)`` from Clarabel on ``qp`` (rows and bounds stacked as cones)."""
    import clarabel

    n = qp.n
    A = sp.vstack([qp.A, sp.eye_array(n, format="csr")], format="csr")
    l, u = np.concatenate([qp.l, qp.lb]), np.concatenate([qp.u, qp.ub])
    eq = np.isfinite(l) & (l == u)
    up, lo = np.isfinite(u) & ~eq, np.isfinite(l) & ~eq
    stacked = sp.vstack([A[eq], A[up], -A[lo]], format="csc")
    b = np.concatenate([u[eq], u[up], -l[lo]])
    cones = [clarabel.ZeroConeT(int(eq.sum())), clarabel.NonnegativeConeT(int(up.sum() + lo.sum()))]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-9
    solution = clarabel.DefaultSolver(sp.triu(qp.P, format="csc"), qp.q, stacked, b, cones, settings).solve()
    return str(solution.status), solution.obj_val + qp.r


def _matches(f, f_star):
    return f_star is not None and abs(f - f_star) <= 1e-6 * max(1.0, abs(f_star))


def classify(case, solve=lg.solve_qp):
    """``(set of columns, our status name, Clarabel status)`` for one generated program."""
    qp, truth = case.qp, case.truth
    try:
        ours = solve(qp)
    except lg.ProblemError:
        return {"refused wrong" if case.convex else "refused ok"}, "ProblemError", ""
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome to count
        return {"crash"}, type(exc).__name__, ""
    referee, referee_f = clarabel_solve(qp) if case.convex else ("", np.nan)
    referee_ok = {
        "optimal": referee == "Solved" and _matches(referee_f, case.f_star),
        "infeasible": referee == "PrimalInfeasible",
        "unbounded": referee == "DualInfeasible",
    }[truth] if case.convex else True
    status = ours.status
    if status is lg.Status.SUCCESS:
        verified = truth == "optimal" and check_solution(qp, ours.x, ours.y, ours.z)["ok"] and _matches(ours.fun, case.f_star)
        if not verified:
            return {"silent wrong"}, status.name, referee
        return {"agree" if referee_ok else "referee differs"}, status.name, referee
    if status in (lg.Status.INFEASIBLE, lg.Status.UNBOUNDED):
        claimed = status.name.lower()
        if claimed != truth:
            return {"silent wrong"}, status.name, referee
        if not check_certificate(qp, ours.certificate):
            return {"honest failure"}, status.name + " (bad certificate)", referee
        return {"certificate valid", "agree" if referee_ok else "referee differs"}, status.name, referee
    return {"honest failure"}, status.name, referee


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="programs of each kind")
    parser.add_argument("--show", type=int, default=3, help="examples of each bad outcome to print")
    args = parser.parse_args()
    totals = {}
    print("| kind | programs | " + " | ".join(COLUMNS) + " | seconds |")
    print("|---|---:|" + "---:|" * (len(COLUMNS) + 1))
    for kind in KINDS:
        counts, shown = collections.Counter(), collections.Counter()
        started = time.perf_counter()
        for seed in range(args.count):
            case = random_qp(kind, seed)
            columns, ours, referee = classify(case)
            counts.update(columns)
            for bad in columns & {"silent wrong", "refused wrong", "crash", "honest failure"}:
                if shown[bad] < args.show:
                    shown[bad] += 1
                    print(f"    {kind} seed {seed}: {bad}: ours {ours}, Clarabel {referee or '-'}, truth {case.truth}")
        totals[kind] = counts
        row = " | ".join(str(counts[c]) for c in COLUMNS)
        print(f"| {kind} | {args.count} | {row} | {time.perf_counter() - started:.0f} |", flush=True)
    overall = sum(totals.values(), collections.Counter())
    print(f"| all | {args.count * len(KINDS)} | " + " | ".join(str(overall[c]) for c in COLUMNS) + " | |")
    without = sum(totals[k]["certificate valid"] for k in ("infeasible", "unbounded"))
    print(f"\nsilent wrong answers: {overall['silent wrong']}; infeasible/unbounded classified with a valid "
          f"certificate: {without}/{2 * args.count} ({100 * without / (2 * args.count):.1f}%)")


if __name__ == "__main__":
    run_pinned(main)
