r"""
Ridge: is lambda found by optimization?
=======================================

Ridge regression fits weights :math:`W` to data :math:`X, Y` with a penalty on their
size:

.. math::

    \min_W \; \|XW - Y\|^2 + \lambda \|W\|^2 .

A forum question that brings many readers here asks two things: what the second
term *means*, and whether :math:`\lambda` "should be found by optimization". Short
answers: the penalty is the Lagrangian term of a budget on the weights, and its
:math:`\lambda` is that budget's multiplier (:doc:`lagrange_multipliers`); and
:math:`\lambda` is found by optimization only after you say *what* it should optimize,
which the training loss cannot decide. This page shows both, with numbers.

Two problems, one answer
------------------------

The **penalty form** above has a closed-form solution: setting its gradient
:math:`2X^T(XW - Y) + 2\lambda W` to zero gives
:math:`W(\lambda) = (X^T X + \lambda I)^{-1} X^T Y`.

The **constrained form** puts a budget :math:`t` on the squared size of the weights:

.. math::

    \min_W \; \|XW - Y\|^2 \quad \text{subject to} \quad \|W\|^2 \le t .

Its Lagrangian is :math:`\|XW - Y\|^2 + \lambda\,(\|W\|^2 - t)`, whose slope in
:math:`W` is *the same* :math:`2X^T(XW - Y) + 2\lambda W`. So if the budget binds, the
constrained solution is :math:`W(\lambda)` for the :math:`\lambda` that is its
multiplier, and :math:`t = \|W(\lambda)\|^2`. The penalty term is the constraint's
term of the Lagrangian (the constant :math:`-\lambda t` does not change where the
minimum is). The solver below never sees a penalty: it gets the budget and reports a
multiplier, which we compare with the :math:`\lambda` whose closed form spends exactly
that budget.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

from lagrangian.examples import check
from lagrangian.models import (
    ridge_constrained,
    ridge_leave_one_out,
    ridge_norm,
    ridge_penalized,
    ridge_validation_choice,
)

rng = np.random.default_rng(7)
n_train, n_validation, n_test, features = 60, 60, 2000, 30
true_W = np.zeros(features)
true_W[:6] = rng.normal(0, 2, 6)  # six features matter


def sample(n):
    X = rng.standard_normal((n, features))
    return X, X @ true_W + rng.normal(0, 3.0, n)


X, Y = sample(n_train)
X_val, Y_val = sample(n_validation)
X_test, Y_test = sample(n_test)

for lam in [0.5, 5.0, 50.0]:
    t = ridge_norm(X, Y, lam)  # ||W(lam)||^2: the budget W(lam) spends
    found = ridge_constrained(X, Y, t)  # the solver gets only the budget t
    print(
        f"lambda {lam:5.1f} -> budget t = {t:8.4f} -> multiplier of the budget {found.lam:.8f}"
    )
    check(f"the multiplier is lambda = {lam}", abs(found.lam - lam) / lam, "<=", 1e-7)
    check(
        "and the weights are W(lambda)",
        float(np.abs(found.W - ridge_penalized(X, Y, lam)).max()),
        "<=",
        1e-7,
    )

# %%
# The path :math:`\lambda(t)`
# ---------------------------
#
# Every budget :math:`t` has a price :math:`\lambda(t) = -\,\mathrm{d}f^*/\mathrm{d}t`: how
# much the training error would fall per unit of extra budget. A tight budget is
# expensive; a budget at least as large as the unpenalized (least-squares) solution's
# :math:`\|W_{LS}\|^2` does not bind, and its price is zero, by complementarity.

W_ls = np.linalg.lstsq(X, Y, rcond=None)[0]
t_ls = float(W_ls @ W_ls)
budgets = np.geomspace(0.05, 1.4 * t_ls, 18)
path = [ridge_constrained(X, Y, t).lam for t in budgets]
lams = np.geomspace(1e-3, 1e4, 300)
fig, ax = plt.subplots(figsize=(6.6, 4))
ax.plot(
    [ridge_norm(X, Y, lam) for lam in lams],
    lams,
    "k",
    lw=1,
    label=r"closed form: $t = \|W(\lambda)\|^2$",
)
ax.plot(
    budgets,
    np.maximum(path, 1e-3),
    "o",
    ms=4,
    color="C0",
    label="multiplier from the constrained solve",
)
ax.axvline(t_ls, ls=":", color="gray")
ax.annotate(
    r"$t \geq \|W_{LS}\|^2$: budget inactive,"
    "\n"
    r"$\lambda = 0$ (drawn at the bottom edge)",
    (t_ls * 0.85, 3e-3),
    fontsize=8,
    ha="right",
)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel(r"budget $t$ in $\|W\|^2 \leq t$")
ax.set_ylabel(r"multiplier $\lambda(t)$")
ax.set_title("The price of the weight budget is the ridge penalty")
ax.legend(fontsize=8)
fig.tight_layout()

inactive = [lam for t, lam in zip(budgets, path) if t > t_ls]
check(
    "budgets above ||W_LS||^2 cost nothing (lambda = 0)",
    max(abs(lam) for lam in inactive),
    "<=",
    1e-7,
)

# %%
# What "W^T W = 0" should have been
# ---------------------------------
#
# The forum thread wrote the constraint as :math:`W^T W = 0`. That is an equation, and
# its only solution is :math:`W = 0`: a model that predicts nothing. Worse, it has no
# multiplier. At :math:`W = 0` the constraint's gradient :math:`2W` is zero, so
# stationarity :math:`\nabla f + \lambda \cdot 2W = 0` would need
# :math:`\nabla f(0) = -2X^T Y = 0`, which is false for any data worth fitting. (A
# constraint whose gradient vanishes at the solution violates the *constraint
# qualification* under which multipliers are guaranteed to exist.) What the penalty
# stands for is a **budget**, an inequality :math:`\|W\|^2 \le t` with :math:`t > 0`.

gradient_at_zero = -2 * X.T @ Y
check(
    "at W = 0 the loss still has a slope, so no lambda balances it",
    float(np.abs(gradient_at_zero).max()),
    ">=",
    1.0,
)

# %%
# So, is :math:`\lambda` found by optimization?
# ---------------------------------------------
#
# Not by the training problem. Fixing :math:`t` makes :math:`\lambda` an output (the
# multiplier), fixing :math:`\lambda` makes :math:`t` one; either way one number is
# chosen from outside, and the training error alone always prefers a larger budget.
# It *is* found by optimization once you choose a second criterion, typically the
# error on data not used for fitting. Three ways, with their costs:
#
# * **grid search** on a validation set: fit :math:`W(\lambda)` for many values and keep
#   the best; one solve per value, and the answer is only as fine as the grid;
# * **leave-one-out** in closed form: no validation set; for ridge, deleting sample
#   :math:`i` changes its residual by the factor :math:`1/(1 - H_{ii})` of the hat matrix
#   :math:`H = X(X^TX + \lambda I)^{-1}X^T`, and one SVD gives every :math:`H_{ii}` for
#   every :math:`\lambda` (``lagrangian.models.ridge_leave_one_out``);
# * **hypergradient**: differentiate the validation error with respect to
#   :math:`\lambda` through the optimality condition
#   :math:`(X^T X + \lambda I) W = X^T Y`, which gives
#   :math:`\mathrm{d}W/\mathrm{d}\lambda = -(X^TX + \lambda I)^{-1} W`, one more solve
#   with the same factorized matrix (the implicit function theorem; the same idea as the
#   fixed point of :doc:`chain_rule_or_lagrangian`), then run Newton's method on
#   :math:`\log\lambda` (``lagrangian.models.ridge_validation_choice``).


def mse(W, A, b):
    return float(np.mean((A @ W - b) ** 2))


grid = np.geomspace(1e-2, 1e4, 200)
start = time.perf_counter()
validation_curve = np.array(
    [mse(ridge_penalized(X, Y, lam), X_val, Y_val) for lam in grid]
)
lam_grid = float(grid[np.argmin(validation_curve)])
grid_ms = 1e3 * (time.perf_counter() - start)

start = time.perf_counter()
loo_curve = ridge_leave_one_out(X, Y, grid) / n_train
lam_loo = float(grid[np.argmin(loo_curve)])
loo_ms = 1e3 * (time.perf_counter() - start)

start = time.perf_counter()
lam_hyper, history = ridge_validation_choice(X, Y, X_val, Y_val, lam0=1.0)
hyper_ms = 1e3 * (time.perf_counter() - start)

print(
    f"{'method':<34} {'lambda':>8} {'validation MSE':>15} {'test MSE':>9} {'factorizations':>15} {'ms':>6}"
)
rows = [
    ("validation grid, 200 values", lam_grid, 200, grid_ms),
    ("leave-one-out, closed form", lam_loo, 1, loo_ms),  # one SVD for every lambda
    (
        "hypergradient (Newton, log lambda)",
        lam_hyper,
        2 * len(history),
        hyper_ms,
    ),  # two per Newton step
]
for label, lam, solves, ms in rows:
    W = ridge_penalized(X, Y, lam)
    print(
        f"{label:<34} {lam:8.3f} {mse(W, X_val, Y_val):15.4f} {mse(W, X_test, Y_test):9.4f} {solves:15d} {ms:6.1f}"
    )

V = lambda lam: mse(ridge_penalized(X, Y, lam), X_val, Y_val)  # noqa: E731
check(
    "the hypergradient's lambda is a stationary point of the validation error",
    abs(V(lam_hyper * 1.001) - V(lam_hyper / 1.001)) / V(lam_hyper),
    "<=",
    1e-6,
)
check(
    "no grid value beats it on validation data",
    V(lam_hyper) - validation_curve.min(),
    "<=",
    1e-12,
)
check(
    "the grid's best lambda is within one grid step of it",
    abs(np.log(lam_grid / lam_hyper)),
    "<=",
    round(float(np.log(grid[1] / grid[0])), 4),
)

fig, ax = plt.subplots(figsize=(6.6, 4))
ax.semilogx(grid, validation_curve, label="validation error (grid of 200)")
ax.semilogx(grid, loo_curve, label="leave-one-out error (closed form)")
ax.semilogx(
    [h[0] for h in history],
    [h[1] / n_validation for h in history],
    "k.-",
    ms=6,
    lw=0.8,
    label="hypergradient iterates",
)
ax.plot(
    [lam_hyper],
    [V(lam_hyper)],
    "o",
    color="C3",
    ms=8,
    label=f"hypergradient's choice, lambda = {lam_hyper:.2f}",
)
ax.set_xlabel(r"$\lambda$")
ax.set_ylabel("mean squared error")
ax.set_title("Choosing lambda needs data the fit did not use")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The hypergradient reaches the validation optimum that the grid can only bracket,
# in a few solves; leave-one-out needs no held-out data (it uses every sample for
# fitting as well) and lands nearby. On a larger data set,
# ``benchmarks/ridge_lambda.py`` times the three (:doc:`/benchmarks`).
#
# Two details that trip people up
# -------------------------------
#
# * **The factor 2 or 1/2.** With the penalty :math:`\lambda\|W\|^2` on the loss
#   :math:`\|XW - Y\|^2` (or :math:`\tfrac12` on both) the multiplier equals
#   :math:`\lambda`; with :math:`\tfrac12` on the loss only, it is :math:`\lambda/2`.
# * **Feature scale.** :math:`\|W\|^2` adds up weights of features measured in different
#   units, so the same budget means different things after rescaling a column;
#   standardize the features first.
#
# :doc:`/auto_examples/ridge_penalty_is_a_multiplier` runs the path, the price
# :math:`\mathrm{d}f^*/\mathrm{d}t = -\lambda` and a comparison with cvxpy's dual as
# part of ``lagrangian demo``.
