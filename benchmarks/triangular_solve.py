"""What each linear-algebra path costs on unit-triangular systems, against plain spsolve.

Systems: N unknowns, unit diagonal plus 3 random earlier columns per row (~4 nonzeros
per row), given with rows and columns in a random symmetric order, so the solver must
find the triangular structure itself. Each path solves the same right-hand side; times
are medians over repeats, BLAS pinned to one thread.

    python benchmarks/triangular_solve.py            # N = 1e3 .. 1e6
    python benchmarks/triangular_solve.py --quick    # N = 1e3, 1e4

Columns:
  analyze        strongly connected components + topological order (lagrangian.linalg.analyze)
  factor+solve   lagrangian.linalg.factorize(A).solve(b): analysis, triangular solve, residual check
  tri only       spsolve_triangular on the already-permuted matrix (the floor)
  splu natural   SuperLU, natural ordering, on the permuted matrix (no fill, but LU overhead)
  spsolve        scipy.sparse.linalg.spsolve(A, b) with its default COLAMD ordering
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu, spsolve, spsolve_triangular

from common import run_pinned, timed

from lagrangian import linalg

def unit_lower_triangular(n, per_row=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(1, n), per_row)
    cols = (rows * rng.random(rows.size)).astype(np.int64)
    L = sp.coo_array((rng.uniform(-0.5, 0.5, rows.size), (rows, cols)), shape=(n, n)) + sp.eye_array(n)
    L = sp.csr_array(L)
    L.sum_duplicates()
    p = rng.permutation(n)
    return L, sp.csr_array(L[p][:, p]), p


def run(sizes, repeats, spsolve_limit):
    header = f"{'N':>9} {'nnz':>9} {'analyze':>10} {'factor+solve':>13} {'tri only':>10} {'splu natural':>13} {'spsolve':>10} {'spsolve/ours':>13} {'max |Ax-b|':>11}"
    print(header)
    print("-" * len(header))
    for n in sizes:
        L, A, p = unit_lower_triangular(n)
        b = np.random.default_rng(1).standard_normal(n)
        t_analyze, _ = timed(lambda: linalg.analyze(A), repeats)
        t_ours, x = timed(lambda: linalg.factorize(A).solve(b), repeats)
        kind = linalg.factorize(A).kind
        permuted = sp.csr_array(A[np.argsort(p)][:, np.argsort(p)])  # back to the lower triangular order
        t_tri, _ = timed(lambda: spsolve_triangular(permuted, b, lower=True), repeats)
        t_splu, _ = timed(lambda: splu(sp.csc_array(permuted), permc_spec="NATURAL").solve(b), repeats)
        if n <= spsolve_limit:
            t_sp, x_sp = timed(lambda: spsolve(sp.csc_array(A), b), 1 if n >= 10_000 else repeats)
            sp_text, ratio = f"{t_sp:10.4f}", f"{t_sp / t_ours:12.0f}x"
            assert np.allclose(x_sp, x, atol=1e-8)
        else:
            sp_text, ratio = f"{'skipped':>10}", f"{'':>13}"
        residual = float(np.abs(A @ x - b).max())
        assert kind == "triangular"
        print(f"{n:>9} {A.nnz:>9} {t_analyze:10.4f} {t_ours:13.4f} {t_tri:10.4f} {t_splu:13.4f} {sp_text} {ratio} {residual:11.1e}")
    print("\nTimes in seconds (medians). spsolve is skipped above N =", spsolve_limit, "(its COLAMD fill grows superlinearly).")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--spsolve-limit", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    run_pinned(lambda: run(sizes, args.repeats, args.spsolve_limit))


if __name__ == "__main__":
    main()
