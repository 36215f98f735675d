r"""
Lagrange multipliers from zero
==============================

This page assumes school calculus: a derivative is a slope, and at the lowest point
of a smooth curve the slope is zero. It builds the one idea the rest of this site
uses, the *multiplier* of a constraint, in four steps: a picture, an equation, a
price, and what changes when the constraint is an inequality. Every number on the
page is computed while the site is built, and every claim is checked by a line that
says ``pass`` (the build stops if one fails).

The problem
-----------

Find the point on the unit circle closest to :math:`P = (2, 1)`. In symbols, with
:math:`x = (x_1, x_2)`,

.. math::

    \min_x \; f(x) = (x_1 - 2)^2 + (x_2 - 1)^2
    \quad \text{subject to} \quad c(x) = x_1^2 + x_2^2 = 1 .

:math:`f` is the squared distance to :math:`P`; its *level sets* (the points where
:math:`f` has one value) are circles around :math:`P`. The answer is visible: the
point where the smallest such circle just touches the unit circle.
"""

import numpy as np
import matplotlib.pyplot as plt

import lagrangian as lg
from lagrangian.examples import check

P = np.array([2.0, 1.0])


def distance_problem(radius_squared=1.0, *, inequality=False):
    """min |x - P|^2 on the circle |x|^2 = r (or inside the disc |x|^2 <= r)."""
    circle = dict(jacobian=lambda x: 2 * x[None, :], name="circle")
    if inequality:
        constraint = lg.Inequality(lambda x: x @ x, upper=radius_squared, **circle)
    else:
        constraint = lg.Equality(lambda x: x @ x, radius_squared, **circle)
    return lg.Problem(
        lambda x: (x - P) @ (x - P),
        x0=[0.5, -0.5],
        gradient=lambda x: 2 * (x - P),
        hessian=lambda x, y: 2 * (1 + y[0]) * np.eye(2),  # of f + y c
        constraints=[constraint],
    )


solution = lg.solve(distance_problem())
x_star, y_star = solution.x, solution.multipliers["circle"][0]
print(
    f"closest point x* = {x_star.round(6)}, f(x*) = {solution.fun:.6f}, multiplier y* = {y_star:.6f}"
)

# %%
# Why the touching point: the picture
# -----------------------------------
#
# Walk along the unit circle and watch :math:`f`. Where :math:`f` is smallest along
# the walk, its slope *along the circle* is zero. The slope of :math:`f` in a direction
# is the component of its gradient :math:`\nabla f` (the arrow pointing uphill, at a
# right angle to the level set) along that direction. So at the best point,
# :math:`\nabla f` has no component along the circle: it is at a right angle to the
# circle, just as :math:`\nabla c` is (:math:`\nabla c = 2x` points straight out of the
# circle). Two arrows at a right angle to the same curve are parallel:
#
# .. math::
#
#     \nabla f(x^*) = -y \, \nabla c(x^*) \quad \text{for some number } y .
#
# That number :math:`y` is the **Lagrange multiplier**. The figure draws it.

t = np.linspace(0, 2 * np.pi, 400)
g1, g2 = np.meshgrid(np.linspace(-1.6, 2.8, 300), np.linspace(-1.6, 2.0, 300))
fig, ax = plt.subplots(figsize=(6.4, 5.2))
levels = ax.contour(
    g1,
    g2,
    (g1 - 2) ** 2 + (g2 - 1) ** 2,
    levels=[0.25, 0.75, 1.5279, 2.5, 4, 6],
    cmap="viridis",
)
ax.clabel(levels, fmt="f=%.2f", fontsize=8)
ax.plot(np.cos(t), np.sin(t), "k", lw=2, label="constraint  $c(x) = x_1^2 + x_2^2 = 1$")
ax.plot(*P, "ko")
ax.annotate("P = (2, 1)", P, textcoords="offset points", xytext=(6, 6))
grad_f, grad_c = 2 * (x_star - P), 2 * x_star
ax.quiver(
    *x_star,
    *(-grad_f),
    angles="xy",
    scale_units="xy",
    scale=2.5,
    color="C3",
    width=0.008,
    label=r"$-\nabla f(x^*)$ (downhill)",
)
ax.quiver(
    *x_star,
    *grad_c,
    angles="xy",
    scale_units="xy",
    scale=2.5,
    color="C0",
    width=0.008,
    label=r"$\nabla c(x^*)$",
)
ax.plot(*x_star, "o", color="C3", ms=8)
ax.annotate("x*", x_star, textcoords="offset points", xytext=(-18, 6))
ax.set_aspect("equal")
ax.set_title("The smallest level set of f that meets the circle touches it at x*")
ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()

# %%
# The arrows are parallel and point the same way, :math:`-\nabla f = y^* \nabla c`
# with :math:`y^* > 0`. Checked with the solver's numbers:

check(
    "grad f + y* grad c = 0 at x*",
    float(np.abs(grad_f + y_star * grad_c).max()),
    "<=",
    1e-9,
)

# %%
# The Lagrangian: one function whose slopes say it all
# ----------------------------------------------------
#
# Joseph-Louis Lagrange's trick packs the picture into one function of
# :math:`x` and :math:`y`,
#
# .. math::
#
#     L(x, y) = f(x) + y \,\big(c(x) - 1\big) .
#
# Its slope in :math:`x` is zero when :math:`\nabla f + y \nabla c = 0` (the arrows are
# parallel), and its slope in :math:`y` is :math:`c(x) - 1`, zero when the constraint
# holds. So "all slopes of :math:`L` are zero" is the whole answer: three equations for
# three unknowns :math:`x_1, x_2, y`. These are the **KKT conditions** (Karush, Kuhn,
# Tucker) of the problem.
#
# Here they can be solved by hand. :math:`\nabla f + y \nabla c = 2(x - P) + 2 y x = 0`
# gives :math:`x = P / (1 + y)`: :math:`x^*` lies on the line from the origin to
# :math:`P`. Putting it on the circle, :math:`|P| / (1 + y) = 1`, so
# :math:`y^* = |P| - 1 = \sqrt 5 - 1`, :math:`x^* = P / \sqrt 5` and
# :math:`f(x^*) = (\sqrt 5 - 1)^2 = 6 - 2\sqrt 5`.

check(
    "x* = P / sqrt(5), by hand",
    float(np.abs(x_star - P / np.sqrt(5)).max()),
    "<=",
    1e-9,
)
check("y* = sqrt(5) - 1, by hand", abs(y_star - (np.sqrt(5) - 1)), "<=", 1e-9)
check(
    "f(x*) = 6 - 2 sqrt(5), by hand",
    abs(solution.fun - (6 - 2 * np.sqrt(5))),
    "<=",
    1e-9,
)

# %%
# The multiplier is a price
# -------------------------
#
# Why care about :math:`y`? Because it says what the constraint *costs*. Loosen the
# constraint a little, :math:`c(x) = 1 + \varepsilon`, and solve again: the best value
# :math:`f^*` moves by about :math:`-y^* \varepsilon`. (Reason: at the optimum
# :math:`L = f`, and changing the right-hand side by :math:`\varepsilon` changes
# :math:`L` by :math:`-y \varepsilon` while, to first order, moving :math:`x` and
# :math:`y` does not change :math:`L` at all, because all its slopes are zero there.)
# So :math:`y^* = -\,\mathrm{d}f^*/\mathrm{d}\varepsilon`: the amount the objective
# improves per unit of extra room. Economists call it a *shadow price*; this package
# uses this sign for every multiplier (:mod:`lagrangian.convention`).

eps = 1e-5
moved = lg.solve(distance_problem(1 + eps)).fun - solution.fun
print(f"f* moved by {moved:.4e}; -y* eps = {-y_star * eps:.4e}")
check(
    "f*(1 + eps) - f*(1) = -y* eps to first order",
    abs(moved / eps + y_star),
    "<=",
    1e-4,
)

# %%
# Inequalities: a price that can be zero
# --------------------------------------
#
# Now let the point be anywhere *inside* a disc, :math:`x_1^2 + x_2^2 \le r`. Two
# things can happen.
#
# * :math:`P` lies outside the disc (:math:`r < |P|^2 = 5`). The best point is on the
#   edge, exactly as before: the constraint is **active**, and its price is positive.
#   Enlarging the disc helps.
# * :math:`P` lies inside (:math:`r \ge 5`). The best point is :math:`P` itself, the
#   constraint does not bind, and enlarging the disc changes nothing: its price is zero.
#
# Both cases are one rule, **complementarity**: :math:`y \,(c(x) - r) = 0` and
# :math:`y \ge 0`. Either the constraint is tight, or its multiplier is zero (or both).
# The sign is part of the rule: for an upper bound :math:`c(x) \le r`, the price of
# more room is never negative. (In this package's convention a lower bound
# :math:`c(x) \ge l` gets :math:`y \le 0`; textbooks differ in where they put the
# minus sign, so check which one a book uses: Bishop's *Pattern Recognition and
# Machine Learning*, appendix E, writes constraints as :math:`g(x) \ge 0` with
# :math:`\lambda \ge 0` and :math:`L = f + \lambda g` for a maximization.)
#
# By hand, with :math:`s = \sqrt r`: for :math:`r < 5`,
# :math:`f^*(r) = (\sqrt 5 - s)^2` and :math:`y^*(r) = \sqrt 5 / s - 1`; for
# :math:`r \ge 5`, both are zero. The solver (an interior-point method, which treats
# the disc as an inequality) traces the same curves.

budgets = np.linspace(0.3, 8.0, 32)
found = [lg.solve(distance_problem(r, inequality=True), tol=1e-10) for r in budgets]
y_found = np.array([s.multipliers["circle"][0] for s in found])
f_found = np.array([s.fun for s in found])
s_ = np.sqrt(budgets)
y_exact = np.where(budgets < 5, np.sqrt(5) / s_ - 1, 0.0)
f_exact = np.where(budgets < 5, (np.sqrt(5) - s_) ** 2, 0.0)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
fine = np.linspace(0.25, 8, 300)
left.plot(
    fine,
    np.where(fine < 5, (np.sqrt(5) - np.sqrt(fine)) ** 2, 0),
    "k",
    lw=1,
    label="by hand",
)
left.plot(budgets, f_found, "o", ms=4, color="C3", label="solver")
left.set_xlabel("room r in $x_1^2 + x_2^2 \\leq r$")
left.set_title("best value $f^*(r)$")
right.plot(
    fine,
    np.where(fine < 5, np.sqrt(5) / np.sqrt(fine) - 1, 0),
    "k",
    lw=1,
    label="by hand",
)
right.plot(budgets, y_found, "o", ms=4, color="C0", label="solver")
right.axvline(5, ls=":", color="gray")
right.annotate("P inside the disc:\nconstraint inactive, y = 0", (5.2, 0.6), fontsize=9)
right.set_xlabel("room r")
right.set_title("multiplier $y^*(r) = -\\mathrm{d}f^*/\\mathrm{d}r$")
for axis in (left, right):
    axis.legend()
fig.tight_layout()

# %%
# Checked: the solver's prices are the slopes of the left curve, and complementarity
# holds at every budget.

check(
    "y*(r) equals sqrt(5)/sqrt(r) - 1 (or 0) at 32 budgets",
    float(np.abs(y_found - y_exact).max()),
    "<=",
    1e-6,
)
check(
    "f*(r) equals the closed form at 32 budgets",
    float(np.abs(f_found - f_exact).max()),
    "<=",
    1e-6,
)
slack = np.array([r - s.x @ s.x for r, s in zip(budgets, found)])
check(
    "complementarity: y* (r - |x*|^2) = 0 at every budget",
    float(np.abs(y_found * slack).max()),
    "<=",
    1e-6,
)
check("y* >= 0 for an upper bound", float(y_found.min()), ">=", -1e-8)

# %%
# What to take away
# -----------------
#
# * At a constrained optimum the gradient of the objective is balanced by the
#   gradients of the active constraints; the balancing weights are the multipliers.
# * The Lagrangian :math:`L = f + y\,(c - \text{bound})` turns "optimize subject to a
#   constraint" into "find where every slope of one function is zero".
# * A multiplier is the price of its constraint: :math:`y = -\,\mathrm{d}f^*/\mathrm{d}(\text{bound})`.
#   An inactive inequality costs nothing, so its price is zero.
#
# The next page, :doc:`backprop`, applies exactly this to a program in
# which *every line* is a constraint, and finds that the prices are the derivatives
# that backpropagation computes. For more, Bishop's *Pattern Recognition and Machine
# Learning* (2006), appendix E, gives the same geometric argument in a few pages.
