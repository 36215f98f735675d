"""Choosing the ridge penalty: hypergradient descent vs a validation grid vs closed-form leave-one-out.

Data: 100 training, 80 validation and 2,000 test samples of y = X w + noise (sigma 3),
60 features of which 10 matter. The three ways to choose lambda:

* hypergradient: Newton on log lambda for the validation loss, its gradient from
  implicit differentiation of the KKT (normal) equations
  (`lagrangian.models.ridge_validation_choice`);
* grid: the validation loss at 200 values of lambda (log-spaced, 1e-4 to 1e4), one
  Cholesky solve each;
* leave-one-out: the closed-form leave-one-out error on training plus validation data
  over the same grid (`lagrangian.models.ridge_leave_one_out_choice`, one SVD).

Each chosen lambda is then refit on training plus validation data and scored on
the test set. Times are medians of --repeats runs in one process (BLAS pinned).

    python benchmarks/ridge_lambda.py
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.linalg as sla

from common import run_pinned, timed

from lagrangian.models import ridge_leave_one_out_choice, ridge_penalized, ridge_validation_choice


def data(seed=0, d=60, relevant=10, noise=3.0):
    rng = np.random.default_rng(seed)
    w = np.zeros(d)
    w[:relevant] = rng.standard_normal(relevant)
    X = rng.standard_normal((2180, d))
    y = X @ w + noise * rng.standard_normal(2180)
    return (X[:100], y[:100]), (X[100:180], y[100:180]), (X[180:], y[180:])


def grid_choice(X, y, X_val, y_val, lams):
    G, b = X.T @ X, X.T @ y
    losses = [np.sum((X_val @ sla.solve(G + lam * np.eye(G.shape[0]), b, assume_a="pos") - y_val) ** 2) for lam in lams]
    return float(lams[int(np.argmin(losses))])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    (X, y), (X_val, y_val), (X_test, y_test) = data()
    X_all, y_all = np.vstack([X, X_val]), np.concatenate([y, y_val])
    lams = np.logspace(-4, 4, 200)
    methods = {
        "hypergradient (Newton on log lambda)": lambda: ridge_validation_choice(X, y, X_val, y_val)[0],
        "validation grid, 200 values": lambda: grid_choice(X, y, X_val, y_val, lams),
        "leave-one-out, closed form, 200 values": lambda: ridge_leave_one_out_choice(X_all, y_all, lams),
    }
    print("| method | lambda | validation MSE | test MSE | median ms |")
    print("|---|---:|---:|---:|---:|")
    for name, choose in methods.items():
        seconds, lam = timed(choose, args.repeats)
        validation = np.mean((X_val @ ridge_penalized(X, y, lam) - y_val) ** 2)
        test = np.mean((X_test @ ridge_penalized(X_all, y_all, lam) - y_test) ** 2)
        print(f"| {name} | {lam:.4g} | {validation:.4f} | {test:.4f} | {1000 * seconds:.2f} |")
    _, history = ridge_validation_choice(X, y, X_val, y_val)
    print(f"\nhypergradient: {len(history)} solves (each one Cholesky factorization and two solves)")


if __name__ == "__main__":
    run_pinned(main)
