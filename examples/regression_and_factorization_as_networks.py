r"""
Two networks with closed-form answers
=====================================

The lecture's two special cases of :math:`f(x) = W^L s(\cdots s(W^1 x))`:

* **Linear regression** is a network with no hidden layer, :math:`f(x) = W x`, trained
  on the squared loss :math:`\sum_i \|W x_i - y_i\|^2`. Its minimizer is the
  least-squares solution, which ``numpy.linalg.lstsq`` computes independently.
* **Matrix factorization** :math:`D \approx U V^T` is a network with one hidden layer
  and no activation, :math:`f(e_j) = U (V^T e_j)`, trained on
  :math:`\|D - U V^T\|_F^2`. The problem is not convex, but by Eckart-Young its optimal
  value is the sum of the squared singular values of :math:`D` beyond the rank
  :math:`k`, which ``numpy.linalg.svd`` gives independently.

Both are trained here by ``lagrangian.minimize`` on the traced loss, whose gradient
(the multipliers of the graph) and exact Hessian (forward-over-reverse on the same
tape) come from the computation graph, with no derivative written by hand.
"""

import numpy as np

import lagrangian as lg


def linear_regression(seed=0, samples=40, features=4, targets=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, features))
    Y = X @ rng.standard_normal((features, targets)) + 0.1 * rng.standard_normal((samples, targets))

    def loss(w):
        R = X @ w.reshape(features, targets) - Y
        return np.sum(R * R)

    result = lg.minimize(loss, np.zeros(features * targets), tol=1e-12)
    W = result.x.reshape(features, targets)
    W_lstsq = np.linalg.lstsq(X, Y, rcond=None)[0]
    error = float(np.abs(W - W_lstsq).max())
    print(f"linear regression: {result.nit} iterations, derivatives {result.derivatives['gradient']!r}/"
          f"{result.derivatives['hessian']!r}; max |W - W_lstsq| = {error:.1e}")
    return error


def matrix_factorization(seed=0, rows=8, columns=6, rank=2):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((rows, columns))

    def loss(theta):
        U = theta[: rows * rank].reshape(rows, rank)
        V = theta[rows * rank :].reshape(columns, rank)
        R = D - U @ V.T
        return np.sum(R * R)

    start = 0.1 * rng.standard_normal((rows + columns) * rank)
    result = lg.minimize(loss, start, tol=1e-12)
    singular_values = np.linalg.svd(D, compute_uv=False)
    eckart_young = float(np.sum(singular_values[rank:] ** 2))
    relative = abs(result.fun - eckart_young) / eckart_young
    print(f"matrix factorization (rank {rank} of {rows}x{columns}): loss {result.fun:.12f}, "
          f"Eckart-Young optimum {eckart_young:.12f}, relative difference {relative:.1e} ({result.status_name})")
    return relative


def main():
    return {"regression_weight_error": linear_regression(), "factorization_relative_gap": matrix_factorization()}


if __name__ == "__main__":
    main()
