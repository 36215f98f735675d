"""QP layers in PyTorch: lagrangian's QPLayer against cvxpylayers, forward and backward.

    python benchmarks/layers.py [--batch 64] [--n 100] [--m 50] [--rounds 5]

A batch of random strictly convex QPs ``min 1/2 x'Px + q'x s.t. A x <= u`` (``P =
M M'/n + 0.1 I`` dense, ``A`` dense Gaussian, ``u = A x0 + U(0, 1)`` so that every
problem is feasible and a part of the rows is active at the solution). The loss is
``sum(x* . w)`` for a fixed ``w``; gradients with respect to ``P`` (or cvxpylayers'
Cholesky factor ``L``, its DPP form of the same objective), ``q``, ``A`` and ``u``.

Contenders, each timed forward and backward separately, rounds interleaved (medians):

- ``lagrangian serial``: :class:`lagrangian.interfaces.torch_layer.QPLayer`, the
  batch solved in this process (Mehrotra, tol 1e-10, the layer's default), backward by one active-set KKT
  solve per item;
- ``lagrangian 2 procs``: the same with ``executor=`` a ProcessPoolExecutor of 2
  workers kept between calls (the forward goes through ``solve_many``);
- ``cvxpylayers``: ``CvxpyLayer`` from the ``bench`` extra, default solver (diffcp
  over SCS) with ``eps=1e-8``.

BLAS threads pinned to one (threadpoolctl), torch to one thread. The solutions of the
two packages are compared (largest |x_ours - x_theirs|) and so are the gradients of q.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread in every process, the worker processes and Dask's workers
# included (they read these when they start; threadpoolctl pins only this process).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from common import run_pinned

from lagrangian.interfaces.torch_layer import QPLayer
from lagrangian.layers import solve_qp_batch


def random_batch(batch, n, m, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((batch, n, n))
    P = M @ M.transpose(0, 2, 1) / n + 0.1 * np.eye(n)
    q = rng.standard_normal((batch, n))
    A = rng.standard_normal((batch, m, n))
    x0 = rng.standard_normal((batch, n))
    u = np.einsum("bmn,bn->bm", A, x0) + rng.uniform(0.0, 1.0, (batch, m))
    return [torch.tensor(a, dtype=torch.float64) for a in (P, q, A, u)]


def cvxpylayer(n, m):
    try:
        import cvxpy as cp
        from cvxpylayers.torch import CvxpyLayer
    except ImportError:
        return None
    x = cp.Variable(n)
    L, q, A, u = cp.Parameter((n, n)), cp.Parameter(n), cp.Parameter((m, n)), cp.Parameter(m)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(L.T @ x) + q @ x), [A @ x <= u])
    return CvxpyLayer(problem, parameters=[L, q, A, u], variables=[x])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--m", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    P, q, A, u = random_batch(args.batch, args.n, args.m)
    L = torch.linalg.cholesky(P)
    l = torch.full((args.m,), -np.inf, dtype=torch.float64)
    w = torch.linspace(-1.0, 1.0, args.n, dtype=torch.float64)
    pool = ProcessPoolExecutor(max_workers=2)

    def ours(executor):
        layer = QPLayer(executor=executor)  # its default tolerance, 1e-10

        def forward():
            inputs = [t.clone().requires_grad_() for t in (P, q, A, u)]
            return inputs, layer(inputs[0], inputs[1], inputs[2], l, inputs[3])

        return forward

    theirs_layer = cvxpylayer(args.n, args.m)

    def theirs():
        inputs = [t.clone().requires_grad_() for t in (L, q, A, u)]
        (x,) = theirs_layer(*inputs, solver_args={"eps": 1e-8})
        return inputs, x

    contenders = {"lagrangian serial": ours("serial"), "lagrangian 2 procs": ours(pool)}
    if theirs_layer is not None:
        contenders["cvxpylayers"] = theirs
    times = {name: ([], []) for name in contenders}
    last = {}
    for round_ in range(args.rounds + 1):
        for name, forward in contenders.items():
            start = time.perf_counter()
            inputs, x = forward()
            middle = time.perf_counter()
            (x @ w).sum().backward()
            end = time.perf_counter()
            if round_:  # the first round warms up (process start, cvxpy canonicalization)
                times[name][0].append(middle - start)
                times[name][1].append(end - middle)
            last[name] = (x.detach(), inputs[1].grad)
    pool.shutdown()

    print(f"batch {args.batch} QPs, n = {args.n}, {args.m} inequality rows; medians of {args.rounds} rounds (ms)\n")
    print("| contender | forward | backward | backward / forward | forward + backward |")
    print("|---|---:|---:|---:|---:|")
    totals = {}
    for name, (forward, backward) in times.items():
        f, b = statistics.median(forward), statistics.median(backward)
        totals[name] = f + b
        print(f"| {name} | {1e3 * f:.1f} | {1e3 * b:.1f} | {b / f:.3f} | {1e3 * (f + b):.1f} |")
    if "cvxpylayers" in totals:
        for name in ("lagrangian serial", "lagrangian 2 procs"):
            print(f"\n{name}: forward + backward = {totals[name] / totals['cvxpylayers']:.2f}x cvxpylayers'")
        x_ours, g_ours = last["lagrangian serial"]
        x_theirs, g_theirs = last["cvxpylayers"]
        print(f"largest |x_ours - x_cvxpylayers| = {float((x_ours - x_theirs).abs().max()):.2e}, "
              f"largest |dq_ours - dq_cvxpylayers| = {float((g_ours - g_theirs).abs().max()):.2e}")
        # the referee: central differences of re-solves (tol 1e-12) along a random direction of q
        rng = np.random.default_rng(1)
        worst = {"lagrangian": 0.0, "cvxpylayers": 0.0}
        for i in range(min(8, args.batch)):
            d = rng.standard_normal(args.n)
            h = 1e-5

            def loss(t):
                x = solve_qp_batch(P[i].numpy(), q[i].numpy() + t * d, A[i].numpy(), l.numpy(), u[i].numpy(), tol=1e-12).x[0]
                return float(w.numpy() @ x)

            reference = (loss(h) - loss(-h)) / (2 * h)
            for name, g in (("lagrangian", g_ours), ("cvxpylayers", g_theirs)):
                worst[name] = max(worst[name], abs(float(g[i].numpy() @ d) - reference) / abs(reference))
        print("largest relative error of d loss / dq along a random direction against central differences of "
              f"re-solves, items 0-7: lagrangian {worst['lagrangian']:.1e}, cvxpylayers {worst['cvxpylayers']:.1e}")
    else:
        print("\n(cvxpylayers not installed: pip install '.[bench]')")


if __name__ == "__main__":
    run_pinned(main)
