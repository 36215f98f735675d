r"""
Worked example: training a network through its KKT system
=========================================================

The lecture's network :math:`f(x) = W^3 s(W^2 s(W^1 x))` is the recursion
:math:`z^0 = x`, :math:`h^l = W^l z^{l-1}`, :math:`z^l = s(h^l)`; written as
constraints :math:`W^l z^{l-1} - h^l = 0` and :math:`s(h^l) - z^l = 0`, its KKT
conditions are the forward pass (feasibility) and backpropagation (stationarity,
:math:`(I - J)^T y = e_m`). Traced node by node, :math:`I - J` is lower triangular in
the order the nodes were computed, layer after layer: the first figure is its
sparsity pattern for one sample.

The script then

1. checks that the multipliers of the parameters (the gradient the KKT solve gives)
   equal a hand-written numpy backpropagation to 1e-12;
2. trains the network with stochastic gradient descent on a two-class data set
   generated here (points inside or outside a circle), with the logistic loss
   :math:`\log(1 + e^{-y f(x)})`, and plots the loss curve.
"""

import numpy as np

from lagrangian import graph as G

SIZES = (3, 8, 8, 1)  # the input carries a constant 1, which plays the biases' part


def unpack(theta):
    """The weight matrices W1, W2, W3 from one flat parameter vector."""
    weights, start = [], 0
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        weights.append(theta[start : start + fan_in * fan_out].reshape(fan_out, fan_in))
        start += fan_in * fan_out
    return weights


def network(theta, x):
    """f(x) = W3 tanh(W2 tanh(W1 x)), written once for numbers and traced nodes alike."""
    W1, W2, W3 = unpack(theta)
    return (W3 @ G.tanh(W2 @ G.tanh(W1 @ x)))[0]


def batch_loss(theta, X, y):
    """Mean logistic loss log(1 + exp(-y f(x))) over the rows of X."""
    total = 0.0
    for xi, yi in zip(X, y):
        margin = -yi * network(theta, xi)
        total = total + G.log(1.0 + G.exp(margin))
    return total / len(X)


def hand_written_backprop(theta, x):
    """d f / d theta by the chain rule, layer by layer, in numpy (the independent truth)."""
    W1, W2, W3 = unpack(theta)
    h1 = W1 @ x
    z1 = np.tanh(h1)
    h2 = W2 @ z1
    z2 = np.tanh(h2)
    d2 = W3[0] * (1 - z2**2)  # df/dh2
    d1 = (W2.T @ d2) * (1 - z1**2)  # df/dh1
    return np.concatenate([np.outer(d1, x).ravel(), np.outer(d2, z1).ravel(), z2])


def data(seed=0, count=160):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.5, 1.5, (count, 2))
    y = np.where(np.sum(X**2, axis=1) < 1.0, 1.0, -1.0)
    # Without biases the network is an odd function of x, and no odd function separates a
    # disc from its outside; a constant third input gives the first layer its biases.
    return np.column_stack([X, np.ones(count)]), y


def main(steps=300, batch=16, rate=0.3):
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))) * 0.8
    X, y = data()

    # One sample's graph: its multiplier system (I - J)^T y = e_m is triangular.
    graph = G.trace(lambda t: network(t, X[0]), theta)
    M = graph.tape.multiplier_matrix()
    print(f"one sample: {len(graph)} nodes, I - J has {M.nnz} nonzeros, strictly lower part {M.nnz - M.shape[0]}")
    by_kkt = graph.gradients()[0]
    difference = float(np.abs(by_kkt - hand_written_backprop(theta, X[0])).max() / np.abs(by_kkt).max())
    print(f"multipliers of the parameters vs hand-written backprop: relative difference {difference:.1e}")

    losses = []
    # compile=True: the first minibatch's graph is written out once as Python code, and
    # every later minibatch (the same shapes) runs that code: the traced gradients, bit
    # for bit, at a third of the cost of tracing each step.
    value_and_grad = G.value_and_grad(lambda t, Xb, yb: batch_loss(t, Xb, yb), compile=True)
    for step in range(steps):
        rows = rng.choice(len(X), batch, replace=False)
        loss, gradient = value_and_grad(theta, X[rows], y[rows])
        theta = theta - rate * gradient
        losses.append(loss)
        if step % 60 == 0:
            print(f"step {step:4d}  minibatch loss {loss:.4f}")
    predictions = np.sign([network(theta, x) for x in X])
    accuracy = float(np.mean(predictions == y))
    full_loss = float(np.mean(np.log1p(np.exp(-y * np.array([network(theta, x) for x in X])))))
    print(f"after {steps} steps: training loss {full_loss:.4f}, accuracy {accuracy:.3f}")
    plot(M, losses)
    return {
        "backprop_relative_difference": difference,
        "initial_loss": losses[0],
        "final_loss": full_loss,
        "loss_ratio": full_loss / losses[0],
        "accuracy": accuracy,
    }


def plot(M, losses):
    """The sparsity of I - J for one sample, and the loss curve (when matplotlib is installed)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.spy(M.toarray(), markersize=2)
    left.set_title("I - J for one sample (nodes in traced order)")
    right.plot(losses)
    right.set_xlabel("SGD step")
    right.set_ylabel("minibatch logistic loss")
    right.set_title("training")
    fig.tight_layout()


if __name__ == "__main__":
    main()
