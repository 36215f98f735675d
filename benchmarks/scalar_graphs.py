"""Scalar computation graphs: tracing cost on a long chain, and the multiplier solve at 1e6 nodes.

Part 1, the chain of the issue: 1,000 repetitions of

    a = sin x;  e = exp a;  s = e + e^2;  x <- x + 1e-3 (exp(-s) + sin s)

(10,000 scalar ops). Rows, as multiples of the pure-Python forward with `math` (the
unit): the forward traced on a tape, trace plus gradient on the tape, `value_and_grad`
(the source transformation of lagrangian.graph.source_adjoint: its first call on a new
function, then later calls), a compiled tape (first call, later calls), and PyTorch
autograd on 0-d tensors (optional: the `bench` extra).

Part 2, the multiplier solve alone on the same chain at 1e4, 1e5 and 1e6 nodes:
(I - J)^T y = e_m by the triangular path of lagrangian.linalg (structure found by
analysis), by scipy's splu and by spsolve (both with their default COLAMD ordering;
skipped above --lu-limit nodes), and the peak
memory of tracing and of the solve (tracemalloc), which must grow linearly.

    python benchmarks/scalar_graphs.py            # 1e4 .. 1e6 nodes
    python benchmarks/scalar_graphs.py --quick    # 1e4, 1e5 nodes
"""

from __future__ import annotations

import argparse
import math
import tracemalloc

import numpy as np
from scipy.sparse.linalg import splu, spsolve

from common import run_pinned, timed, timed_together

from lagrangian import graph as G
from lagrangian import linalg
from lagrangian.graph.source_adjoint import clear_cache

try:
    import torch
except ImportError:
    torch = None


def chain(x, repetitions=1000, exp=math.exp, sin=math.sin):
    """Ten scalar ops per repetition; ``exp`` and ``sin`` are math's (the unit) or torch's."""
    for _ in range(repetitions):
        a = sin(x)
        e = exp(a)
        s = e + e * e
        x = x + 1e-3 * (exp(-s) + sin(s))
    return x


def chain_traced(x, repetitions=1000):
    """The same ops with lagrangian.graph's functions, which record on a Node.

    Written out rather than as ``chain(x, repetitions, G.exp, G.sin)``: the source
    transformation reads this function's own source, and resolves the functions it
    calls by name (a function passed in as an argument is not known until it runs).
    """
    for _ in range(repetitions):
        a = G.sin(x)
        e = G.exp(a)
        s = e + e * e
        x = x + 1e-3 * (G.exp(-s) + G.sin(s))
    return x


def torch_gradient(x0, repetitions=1000):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    return torch.autograd.grad(chain(x, repetitions, torch.exp, torch.sin), x)[0]


def first_call(x):
    """``value_and_grad`` as on a function never seen before: its source read, transformed and compiled."""
    clear_cache()
    return G.value_and_grad(chain_traced)(x)


def part_one(repeats):
    h = 1e-6
    difference = (chain(0.3 + h) - chain(0.3 - h)) / (2 * h)
    value_and_grad = G.value_and_grad(chain_traced)
    tape = compiled_tape(0.3)
    points = iter(0.3 + 1e-4 * k for k in range(1, 100 * repeats))
    # The fast contenders are timed together, round by round, so every ratio sees the same
    # drift of this shared machine; the slow ones (compiling a tape, torch) after them.
    times = timed_together({
        "unit": lambda: chain(0.3),
        "trace": lambda: G.trace(chain_traced, 0.3),
        "trace + gradient": lambda: G.trace(chain_traced, 0.3).gradients(),
        # value_and_grad's route for numbers, the source transformation: on a new function
        # object (read the source, transform, compile, run), and on one already transformed
        "first": lambda: first_call(0.3),
        "later": lambda: value_and_grad(next(points)),
        "compiled": lambda: tape.derivatives(np.array([next(points)])),
    }, repeats)  # fmt: skip
    unit = times["unit"]
    print(f"chain of 10,000 scalar ops (medians of {repeats}); math forward {unit * 1e3:.3f} ms = 1x")

    def row(label, seconds, note=""):
        print(f"  {label:<52} {seconds * 1e3:8.2f} ms  {seconds / unit:7.1f}x   {note}")

    gradient = G.trace(chain_traced, 0.3).gradients()[0]
    row("tape: trace", times["trace"])
    row("tape: trace + gradient (back substitution)", times["trace + gradient"],
        f"gradient {gradient:.12f}, central difference {difference:.12f}")  # fmt: skip
    row("value_and_grad, first call of a new function", times["first"], "(reads the source, transforms, compiles)")
    reference = G.trace(chain_traced, 0.301).gradients()[0]
    row("value_and_grad, each later call (forward + reverse)", times["later"],
        f"gradient at 0.301 {value_and_grad(0.301)[1]:.12f}, traced {reference:.12f}")  # fmt: skip
    # A compiled tape: one trace written out as straight-line code (what compile=True does
    # for scalar code the source transformation does not handle).
    row("compiled tape: trace + writing + compile", timed(lambda: compiled_tape(0.3), 3)[0])
    row("compiled tape: each later call", times["compiled"])
    if torch is not None:
        torch.set_num_threads(1)
        row("torch autograd", timed(lambda: torch_gradient(0.3), max(3, repeats // 3))[0])


def compiled_tape(x):
    graph = G.trace(chain_traced, x)
    return G.CompiledTape(graph.tape, [G.Node(graph.tape, graph.output, graph.value)], hessian=False)


def peak_memory(fn):
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def part_two(sizes, lu_limit, repeats):
    print()
    print("multiplier solve (I - J)^T y = e_m on the chain, alone (the matrix is assembled beforehand)")
    print(f"{'nodes':>9} {'nnz':>9} | {'triangular':>10} {'splu':>9} {'spsolve':>9} | {'trace MB':>8} {'solve MB':>8} {'bytes/node':>10} | {'max |y - y_tri|':>15}")
    for size in sizes:
        repetitions = size // 10
        memory_trace, graph = peak_memory(lambda: G.trace(lambda x: chain_traced(x, repetitions), 0.3))
        M = graph.multiplier_matrix()
        n = M.shape[0]
        e_m = np.zeros(n)
        e_m[graph.output] = 1.0
        tri_time, y = timed(lambda: linalg.factorize(M, structure="auto").solve(e_m, transpose=True), repeats)
        memory_solve, _ = peak_memory(lambda: linalg.factorize(M).solve(e_m, transpose=True))
        worst = 0.0
        if n <= lu_limit:
            MT = M.T.tocsc()
            lu_time, y_lu = timed(lambda: splu(MT).solve(e_m), max(1, repeats // 3))
            sp_time, y_sp = timed(lambda: spsolve(MT, e_m), max(1, repeats // 3))
            worst = max(float(np.abs(y_lu - y).max()), float(np.abs(y_sp - y).max()))
            lu, sps = f"{lu_time * 1e3:7.1f}ms", f"{sp_time * 1e3:7.1f}ms"
        else:
            lu = sps = "skipped"
        print(f"{n:>9} {M.nnz:>9} | {tri_time * 1e3:8.1f}ms {lu:>9} {sps:>9} | {memory_trace / 2**20:8.1f} {memory_solve / 2**20:8.1f} "
              f"{memory_trace / n:10.0f} | {worst:15.1e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--lu-limit", type=int, default=2_000_000)
    args = parser.parse_args()
    part_one(args.repeats)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    part_two(sizes, args.lu_limit, max(1, args.repeats // 3))


if __name__ == "__main__":
    run_pinned(main)
