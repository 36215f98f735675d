"""Gradient of an MLP 784-256-256-10 (tanh, squared loss): lagrangian.graph vs numpy vs PyTorch.

The same loss, 0.5 ||W3 tanh(W2 tanh(W1 X)) - T||^2 (columns of X are samples), is
differentiated with respect to W1, W2, W3 by

  lagrangian     lagrangian.graph.value_and_grad: array nodes, block substitution of
                 (I - J)^T y = e_m with each op's vector-Jacobian product, traced every call
  compiled       the same with compile=True: the first call traces and writes the forward
                 pass and the substitution out as one function, later calls run only that
  numpy          backprop written by hand (the floor: the same matrix products)
  torch          PyTorch CPU autograd (optional: the `bench` extra installs torch==2.13.0)

A second table times the flat form: the three weight matrices are reshaped slices of
one parameter vector theta (as layers and scipy-style code hold parameters), the
gradient is one vector, and "numpy" is hand-written backprop that writes each weight
gradient into its part of one vector. Its target is the first table's: within 1.10x
of numpy. A slice's multiplier is added into its part of the vector's multiplier
(lagrangian.graph.jacobians.scatter_add), not as a zero-padded full-size array.

Every library runs with one BLAS/OpenMP thread (threadpoolctl, torch.set_num_threads).
Times are medians over repeats in one process, the contenders timed in turn within
each round; "grad/fwd" is the gradient time over the forward-only time of the same
library.

    python benchmarks/mlp_gradient.py           # batch 1, 32, 256; float64 and float32
    python benchmarks/mlp_gradient.py --quick   # batch 32, float64
"""

from __future__ import annotations

import argparse

import numpy as np

from common import run_pinned, timed_together

from lagrangian import graph as G

SIZES = (784, 256, 256, 10)

try:
    import torch
except ImportError:  # the `bench` extra is not installed
    torch = None


def loss(W1, W2, W3, X, T):
    """The lecture's network and squared loss, written once for arrays and array nodes."""
    return G.squared_loss(W3 @ np.tanh(W2 @ np.tanh(W1 @ X)), T)


#: Where each weight matrix lives in the flat parameter vector: (start, stop, shape).
LAYOUT = []
for _n, _m in zip(SIZES[:-1], SIZES[1:]):
    _start = LAYOUT[-1][1] if LAYOUT else 0
    LAYOUT.append((_start, _start + _m * _n, (_m, _n)))


def unflatten(theta):
    """The three weight matrices as reshaped slices of one vector (views, for arrays and array nodes)."""
    return [theta[start:stop].reshape(shape) for start, stop, shape in LAYOUT]


def flat_loss(theta, X, T):
    """The same loss with every weight in one vector ``theta``, as layers and scipy-style code hold them."""
    return loss(*unflatten(theta), X, T)


def numpy_backprop(W1, W2, W3, X, T):
    Z1 = np.tanh(W1 @ X)
    Z2 = np.tanh(W2 @ Z1)
    R = W3 @ Z2 - T
    D2 = (W3.T @ R) * (1 - Z2 * Z2)
    D1 = (W2.T @ D2) * (1 - Z1 * Z1)
    return 0.5 * np.sum(R * R), (D1 @ X.T, D2 @ Z1.T, R @ Z2.T)


def numpy_flat_backprop(theta, X, T):
    """Hand-written backprop for the flat form: each weight gradient written into its part of one vector."""
    W1, W2, W3 = unflatten(theta)
    Z1 = np.tanh(W1 @ X)
    Z2 = np.tanh(W2 @ Z1)
    R = W3 @ Z2 - T
    D2 = (W3.T @ R) * (1 - Z2 * Z2)
    D1 = (W2.T @ D2) * (1 - Z1 * Z1)
    gradient = np.empty_like(theta)
    G1, G2, G3 = unflatten(gradient)
    # Assigned rather than np.matmul(..., out=G1): numpy's matmul into an out= view ran slower here.
    G1[...] = D1 @ X.T
    G2[...] = D2 @ Z1.T
    G3[...] = R @ Z2.T
    return 0.5 * np.sum(R * R), gradient


def torch_gradient(weights, X, T):
    W1, W2, W3 = weights
    R = W3 @ torch.tanh(W2 @ torch.tanh(W1 @ X)) - T
    value = 0.5 * torch.sum(R * R)
    return value, torch.autograd.grad(value, weights)


def torch_forward(weights, X, T):
    with torch.no_grad():
        W1, W2, W3 = weights
        R = W3 @ torch.tanh(W2 @ torch.tanh(W1 @ X)) - T
        return 0.5 * torch.sum(R * R)


def case(batch, dtype, repeats):
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((m, n)) / np.sqrt(n)).astype(dtype) for n, m in zip(SIZES[:-1], SIZES[1:])]
    X = rng.standard_normal((SIZES[0], batch)).astype(dtype)
    T = rng.standard_normal((SIZES[-1], batch)).astype(dtype)
    traced = G.value_and_grad(loss, argnums=(0, 1, 2))
    compiled = G.value_and_grad(loss, argnums=(0, 1, 2), compile=True)
    want_value, want = numpy_backprop(*weights, X, T)
    error = 0.0
    for ours in (traced, compiled):
        value, grads = ours(*weights, X, T)
        error = max([error] + [float(np.abs(g - w).max() / np.abs(w).max()) for g, w in zip(grads, want)])
    contenders = {
        "lagrangian": lambda: traced(*weights, X, T),
        "compiled": lambda: compiled(*weights, X, T),
        "numpy": lambda: numpy_backprop(*weights, X, T),
        "fwd": lambda: loss(*weights, X, T),
    }
    if torch is not None:
        tw = [torch.tensor(w, requires_grad=True) for w in weights]
        tX, tT = torch.tensor(X), torch.tensor(T)
        contenders["torch"] = lambda: torch_gradient(tw, tX, tT)
        contenders["torch fwd"] = lambda: torch_forward(tw, tX, tT)
    row = timed_together(contenders, repeats)
    row["error"] = error
    return row


def flat_case(batch, dtype, repeats):
    """The flat form: one parameter vector, sliced and reshaped into the three weight matrices."""
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((m, n)) / np.sqrt(n)).astype(dtype) for n, m in zip(SIZES[:-1], SIZES[1:])]
    theta = np.concatenate([w.ravel() for w in weights])
    X = rng.standard_normal((SIZES[0], batch)).astype(dtype)
    T = rng.standard_normal((SIZES[-1], batch)).astype(dtype)
    traced = G.value_and_grad(flat_loss)
    compiled = G.value_and_grad(flat_loss, compile=True)
    _, want = numpy_flat_backprop(theta, X, T)
    error = 0.0
    for ours in (traced, compiled):
        _, gradient = ours(theta, X, T)
        error = max(error, float(np.abs(gradient - want).max() / np.abs(want).max()))
    row = timed_together({
        "lagrangian": lambda: traced(theta, X, T),
        "compiled": lambda: compiled(theta, X, T),
        "numpy": lambda: numpy_flat_backprop(theta, X, T),
        "numpy arrays": lambda: numpy_backprop(*weights, X, T),
    }, repeats)  # fmt: skip
    row["error"] = error
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=101)
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(1)
    cases = [(32, np.float64)] if args.quick else [(b, d) for d in (np.float64, np.float32) for b in (1, 32, 256)]
    print(f"MLP {'-'.join(map(str, SIZES))}, tanh, squared loss; gradient wrt all weights; medians of {args.repeats}, interleaved")
    print("lagrangian: value_and_grad traced at every call; compiled: value_and_grad(..., compile=True) after its first call")
    print(f"{'dtype':>7} {'batch':>5} | {'lagrangian':>10} {'compiled':>9} {'numpy':>9} {'torch':>9} | {'lg/np':>6} {'comp/np':>7} "
          f"{'comp/torch':>10} | {'grad/fwd lg':>11} {'comp':>5} {'np':>5} {'torch':>5} | {'max rel err':>11}")
    for batch, dtype in cases:
        r = case(batch, dtype, args.repeats)
        t = r.get("torch", float("nan"))
        tf = r.get("torch fwd", float("nan"))
        print(
            f"{np.dtype(dtype).name:>7} {batch:>5} | {r['lagrangian'] * 1e3:8.3f}ms {r['compiled'] * 1e3:7.3f}ms "
            f"{r['numpy'] * 1e3:7.3f}ms {t * 1e3:7.3f}ms | {r['lagrangian'] / r['numpy']:6.3f} {r['compiled'] / r['numpy']:7.3f} "
            f"{r['compiled'] / t:10.3f} | {r['lagrangian'] / r['fwd']:11.2f} {r['compiled'] / r['fwd']:5.2f} "
            f"{r['numpy'] / r['fwd']:5.2f} {t / tf:5.2f} | {r['error']:11.1e}"
        )
    print()
    print("flat form: the weights are reshaped slices of one vector theta; gradient wrt theta (one vector)")
    print("numpy: hand-written backprop writing each weight gradient into its part of one vector;")
    print("np arrays: the three-array numpy backprop of the table above, in the same rounds")
    print(f"{'dtype':>7} {'batch':>5} | {'lagrangian':>10} {'compiled':>9} {'numpy':>9} {'np arrays':>9} | {'lg/np':>6} {'comp/np':>7} | {'max rel err':>11}")
    for batch, dtype in cases:
        r = flat_case(batch, dtype, args.repeats)
        print(
            f"{np.dtype(dtype).name:>7} {batch:>5} | {r['lagrangian'] * 1e3:8.3f}ms {r['compiled'] * 1e3:7.3f}ms "
            f"{r['numpy'] * 1e3:7.3f}ms {r['numpy arrays'] * 1e3:7.3f}ms | {r['lagrangian'] / r['numpy']:6.3f} "
            f"{r['compiled'] / r['numpy']:7.3f} | {r['error']:11.1e}"
        )


if __name__ == "__main__":
    run_pinned(main)
