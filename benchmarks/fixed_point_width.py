"""A deep-equilibrium layer's gradient as the layer widens: formed block vs Anderson + GMRES.

    z = tanh(W z + U x + b),   loss = 0.5 ||z - t||^2,   gradient with respect to x

W is random with spectral norm 0.6 (so z <- F(z) contracts). ``method="newton"`` forms
``I - dF/dz`` (one vector-Jacobian product per entry of z) and factors it; ``"anderson"``
iterates on untraced arrays forward and runs GMRES with one vector-Jacobian product per
step backward. The gradients are compared with each other; times are medians of
--repeats calls of ``lagrangian.graph.value_and_grad``, BLAS pinned to one thread.

    python benchmarks/fixed_point_width.py
"""

from __future__ import annotations

import argparse

import numpy as np

from common import run_pinned, timed

from lagrangian import graph as G


def layer(width, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((width, width))
    W *= 0.6 / np.linalg.norm(W, 2)
    return W, rng.standard_normal((width, 3)) / np.sqrt(3), 0.1 * rng.standard_normal(width), rng.standard_normal(width)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[50, 200, 1000, 3000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = np.array([0.3, -0.8, 0.5])
    print("| width | newton ms | anderson + GMRES ms | newton / anderson | max relative gradient difference |")
    print("|---:|---:|---:|---:|---:|")
    for width in args.widths:
        W, U, b, t = layer(width)
        results = {}
        for method in ("newton", "anderson"):
            def loss(x, method=method):
                z = G.fixed_point(lambda z, x: np.tanh(W @ z + U @ x + b), np.zeros(width), x, method=method)
                return 0.5 * np.sum((z - t) ** 2)

            results[method] = timed(lambda: G.value_and_grad(loss)(x), args.repeats)
        (tn, (_, gn)), (ta, (_, ga)) = results["newton"], results["anderson"]
        difference = np.abs(gn - ga).max() / np.abs(gn).max()
        print(f"| {width:,} | {1e3 * tn:.1f} | {1e3 * ta:.1f} | {tn / ta:.1f} | {difference:.1e} |", flush=True)


if __name__ == "__main__":
    run_pinned(main)
