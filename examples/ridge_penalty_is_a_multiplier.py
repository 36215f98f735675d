r"""
The ridge penalty is a multiplier
=================================

Ridge regression is usually written with a penalty,

.. math::

    \min_W \; \|XW - Y\|_F^2 + \lambda \|W\|_F^2 ,
    \qquad W(\lambda) = (X^T X + \lambda I)^{-1} X^T Y ,

and asked about as "what does the second term mean, and should lambda be found by
optimization?". Written as a constrained problem with a budget on the norm,

.. math::

    \min_W \; \|XW - Y\|_F^2 \quad \text{s.t.} \quad \|W\|_F^2 \le t ,

its Lagrangian is :math:`\|XW - Y\|^2 + y (\|W\|^2 - t)`: the same function as the
penalized objective with :math:`y = \lambda`. So the penalty is the multiplier of
the norm budget (the price of the budget, :math:`\lambda = -\partial f^* / \partial
t`), not the multiplier of an equation :math:`W^T W = 0`. This script

1. solves the constrained problem for a path of budgets ``t(lambda) = ||W(lambda)||^2``
   with the interior-point solver and reads ``lambda`` back off the multiplier;
2. checks the price interpretation by the implicit function theorem
   (``d f*/d t = -lambda``, one more solve with the KKT matrix);
3. has cvxpy (Clarabel) solve the same budgeted problem independently;
4. chooses lambda by minimizing a validation loss with its hypergradient.
"""

import numpy as np

from lagrangian.models import ridge_constrained, ridge_norm, ridge_penalized, ridge_validation_choice
from lagrangian.sensitivity import sensitivity


def data(seed=0, samples=25, features=15, targets=2):
    rng = np.random.default_rng(seed)
    W = 0.3 * rng.standard_normal((features, targets))
    X, X_val = rng.standard_normal((samples, features)), rng.standard_normal((30, features))
    return X, X @ W + rng.standard_normal((samples, targets)), X_val, X_val @ W + rng.standard_normal((30, targets))


def plot_path(X, Y):
    """The regularization path: lambda against the budget t, and the coefficients against lambda.

    Drawn when matplotlib is installed (the documentation build has it; a plain
    install of the package does not need it).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    lams = np.logspace(-2, 3, 60)
    budgets = [ridge_norm(X, Y, lam) for lam in lams]
    multipliers = [ridge_constrained(X, Y, t).lam for t in budgets[::6]]
    coefficients = np.array([ridge_penalized(X, Y, lam)[:, 0] for lam in lams])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.loglog(budgets, lams, label="closed form: t = ||W(lambda)||^2")
    left.loglog(budgets[::6], multipliers, "o", label="multiplier of ||W||^2 <= t")
    left.set_xlabel("budget t")
    left.set_ylabel("lambda")
    left.legend()
    right.semilogx(lams, coefficients)
    right.set_xlabel("lambda")
    right.set_ylabel("coefficients of the first target")
    fig.suptitle("The ridge penalty is the price of the norm budget")
    fig.tight_layout()


def main():
    X, Y, X_val, Y_val = data()

    print("lambda      t = ||W(lambda)||^2   multiplier y*(t)   |y* - lambda| / lambda")
    worst = 0.0
    for lam in np.logspace(-2, 3, 11):
        t = ridge_norm(X, Y, lam)
        found = ridge_constrained(X, Y, t)
        error = abs(found.lam - lam) / lam
        worst = max(worst, error)
        print(f"{lam:9.3e}   {t:18.10g}   {found.lam:16.10g}   {error:.1e}")

    plot_path(X, Y)

    # The price of the budget: d f*/d t = -y (the row is ||W||^2 - t <= 0, so dc/dt = -1).
    lam = 3.0
    found = ridge_constrained(X, Y, ridge_norm(X, Y, lam))
    price = sensitivity(found.solution, constraints_p=[[-1.0]], objective_p=[0.0]).value[0]
    print(f"\nd f*/d t by the implicit function theorem: {price:.10g}  (-lambda = {-lam})")

    import cvxpy as cp

    W = cp.Variable((X.shape[1], Y.shape[1]))
    budget = cp.sum_squares(W) <= ridge_norm(X, Y, lam)
    tight = dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    cp.Problem(cp.Minimize(cp.sum_squares(X @ W - Y)), [budget]).solve(solver=cp.CLARABEL, **tight)
    dual = float(np.ravel(budget.dual_value)[0])  # an upper bound: cvxpy's sign is ours
    print(f"cvxpy/Clarabel: dual of the budget {dual:.8g}, |W - W_ours| {np.abs(W.value - found.W).max():.1e}")

    chosen, history = ridge_validation_choice(X, Y, X_val, Y_val)
    grid = np.logspace(-3, 4, 701)
    losses = [np.sum((X_val @ ridge_penalized(X, Y, g) - Y_val) ** 2) for g in grid]
    print(f"\nlambda by hypergradient: {chosen:.6g} in {len(history)} solves; best of a 701-point grid: {grid[int(np.argmin(losses))]:.6g}")
    return {
        "worst_relative_multiplier_error": worst,
        "price_error": abs(price + lam),
        "cvxpy_dual_error": abs(dual - found.lam),
        "lambda_by_hypergradient": chosen,
    }


if __name__ == "__main__":
    main()
