r"""
A fixed-point layer: the multiplier system with a cycle
=======================================================

A deep-equilibrium layer defines its output implicitly,

.. math::

    z^* = \tanh(W z^* + U x + b),

a graph with a cycle (``z`` depends on itself). As a constrained program its constraint
is :math:`g(z, x) = z - \tanh(Wz + Ux + b) = 0`, and for a loss
:math:`\ell(z) = \tfrac12 \|z - t\|^2` the Lagrangian :math:`\ell(z) + \lambda^T g(z, x)`
gives

* the forward pass: solve :math:`g(z, x) = 0` (Newton, with the block's own Jacobian
  :math:`I - D W`, :math:`D = \operatorname{diag}(1 - \tanh^2)`);
* the multipliers: :math:`(I - D W)^T \lambda = -\nabla \ell(z^*)`. The block is not
  triangular (its dependency graph is one strongly connected component), so this is a
  general sparse solve;
* the gradient: :math:`\mathrm{d}\ell/\mathrm{d}x = (\partial g/\partial x)^T \lambda
  = -(D U)^T \lambda`.

In code this is one call, ``lagrangian.graph.fixed_point(F, z0, x)``: it records the
cycle as one node whose forward pass is the Newton solve and whose block of the
multiplier system is the transposed solve above, so ``lagrangian.graph.grad`` of a
loss through it just works. The script writes the same solve out by hand once
(``implicit_gradient``), then compares the graph's gradient with it, with
differentiating through 200 unrolled iterations :math:`z_{k+1} = \tanh(W z_k + U x +
b)` (an acyclic graph of thousands of nodes), and with central differences. Formed
entry by entry, the cyclic graph's ``I - J`` is block triangular: linalg's
condensation into strongly connected components finds the cycle as one block.
"""

import time

import numpy as np

from lagrangian import graph as G
from lagrangian import linalg


def layer(seed=0, width=6, inputs=3):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((width, width))
    W *= 0.5 / np.linalg.norm(W, 2)  # a contraction: the fixed point exists and is unique
    return W, rng.standard_normal((width, inputs)), 0.1 * rng.standard_normal(width), rng.standard_normal(width)


def fixed_point(W, U, b, x, tol=1e-14, max_iterations=50):
    """Newton on g(z) = z - tanh(Wz + Ux + b) = 0, with the block's Jacobian I - D W."""
    z = np.zeros(W.shape[0])
    for _ in range(max_iterations):
        t = np.tanh(W @ z + U @ x + b)
        residual = z - t
        if np.abs(residual).max() <= tol:
            return z, t
        jacobian = np.eye(len(z)) - (1 - t**2)[:, None] * W
        z = z - linalg.factorize(jacobian).solve(residual)
    raise RuntimeError(f"the fixed-point iteration did not converge in {max_iterations} Newton steps")


def implicit_gradient(W, U, b, target, x):
    """d loss / d x from the multipliers of the fixed-point constraint: one transposed solve."""
    z, t = fixed_point(W, U, b, x)
    D = 1 - t**2
    block = np.eye(len(z)) - D[:, None] * W  # d g / d z: one strongly connected component
    factor = linalg.factorize(block)
    multipliers = factor.solve(-(z - target), transpose=True)
    return 0.5 * float(np.sum((z - target) ** 2)), -(D[:, None] * U).T @ multipliers, factor.kind


def equilibrium_loss(W, U, b, target, x):
    """The same loss through a fixed-point node of the graph (the cycle is one block)."""
    z = G.fixed_point(lambda z, x: G.tanh(W @ z + U @ x + b), np.zeros(W.shape[0]), x)
    r = z - target
    return 0.5 * np.sum(r * r)


def unrolled_loss(W, U, b, target, x, iterations=200):
    z = np.zeros(W.shape[0])
    for _ in range(iterations):
        z = G.tanh(W @ z + U @ x + b)
    r = z - target
    return 0.5 * np.sum(r * r)


def main():
    W, U, b, target = layer()
    x = np.array([0.3, -0.8, 0.5])

    start = time.perf_counter()
    loss, by_multipliers, kind = implicit_gradient(W, U, b, target, x)
    implicit_seconds = time.perf_counter() - start
    print(f"fixed-point block: linalg chose the {kind!r} path (the dependency graph is a cycle)")

    start = time.perf_counter()
    graph_value, by_graph = G.value_and_grad(lambda v: equilibrium_loss(W, U, b, target, v))(x)
    graph_seconds = time.perf_counter() - start
    cyclic = G.trace(lambda v: equilibrium_loss(W, U, b, target, v), x)
    formed_kind = linalg.factorize(cyclic.multiplier_matrix()).kind
    print(f"through lagrangian.graph.fixed_point: I - J formed has {cyclic.multiplier_matrix().shape[0]} rows; linalg chose {formed_kind!r}")

    start = time.perf_counter()
    unrolled_value, by_unrolling = G.value_and_grad(lambda v: unrolled_loss(W, U, b, target, v))(x)
    unrolled_seconds = time.perf_counter() - start
    graph = G.trace(lambda v: unrolled_loss(W, U, b, target, v), x)

    h = 1e-6
    by_differences = np.array(
        [(implicit_gradient(W, U, b, target, x + h * e)[0] - implicit_gradient(W, U, b, target, x - h * e)[0]) / (2 * h) for e in np.eye(3)]
    )
    print(f"loss at the fixed point {loss:.15f}; after 200 unrolled iterations {float(unrolled_value):.15f}")
    print("gradient, implicit (one transposed solve):", np.array2string(by_multipliers, precision=12))
    print("gradient, graph with a fixed-point node  :", np.array2string(by_graph, precision=12))
    print("gradient, 200 unrolled iterations        :", np.array2string(by_unrolling, precision=12))
    print(
        f"unrolled graph: {len(graph)} nodes; implicit by hand {implicit_seconds * 1e3:.1f} ms, "
        f"fixed-point node {graph_seconds * 1e3:.1f} ms, unrolled {unrolled_seconds * 1e3:.1f} ms"
    )
    graph_gap = float(np.abs(by_multipliers - by_graph).max())
    print(f"max |by hand - fixed-point node| = {graph_gap:.1e}")
    unrolled_gap = float(np.abs(by_multipliers - by_unrolling).max())
    difference_gap = float(np.abs(by_multipliers - by_differences).max())
    print(f"max |implicit - unrolled| = {unrolled_gap:.1e}; max |implicit - central differences| = {difference_gap:.1e}")
    return {
        "unrolled_gap": unrolled_gap,
        "difference_gap": difference_gap,
        "graph_gap": graph_gap,
        "graph_value_gap": abs(graph_value - loss),
        "formed_kind": formed_kind,
        "block_kind": kind,
        "unrolled_nodes": len(graph),
    }


if __name__ == "__main__":
    main()
