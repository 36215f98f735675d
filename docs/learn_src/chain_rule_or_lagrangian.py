r"""
Chain rule or Lagrangian?
=========================

A recurring argument: one side says backpropagation "is just the chain rule", the
other, with Tim Vieira's post
`Backprop is not just the chain rule <https://timvieira.github.io/blog/post/2017/08/18/backprop-is-not-just-the-chain-rule/>`_
(2017) and LeCun's "A theoretical framework for back-propagation" (1988), that it is
the method of Lagrange multipliers. This page answers it fairly: both compute the
same numbers with the same arithmetic; the Lagrangian view explains *why* one
backward pass suffices and keeps working where the chain rule runs out of order to
follow; it costs a little more notation and, on graphs with cycles, a linear solve.

Same numbers
------------

Take the function of :doc:`backprop`,
:math:`f(x) = e^{c} + \sin c` with :math:`c = e^x + e^{2x}`, and compute
:math:`\mathrm{d}f/\mathrm{d}x` at :math:`x = 0.1` four ways:

* **chain rule, forward**: carry each node's derivative with respect to :math:`x`
  along with its value (:math:`\dot a = e^x`, :math:`\dot b = 2a\dot a`, ...);
* **chain rule, backward**: recursion (2) of the theorem, from the output back;
* **multipliers**: solve :math:`(I - J)^T \mu = e_m` (what ``lagrangian.grad`` does);
* **finite differences**: :math:`(f(x + h) - f(x - h)) / 2h`, which uses no
  derivative rule at all.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

import lagrangian as lg
from lagrangian import graph as G
from lagrangian.examples import check

x0 = 0.1

# chain rule, forward: (value, derivative) pairs
a, da = math.exp(x0), math.exp(x0)
b, db = a * a, 2 * a * da
c, dc = a + b, da + db
forward = math.exp(c) * dc + math.cos(c) * dc

# chain rule, backward: adjoints from the output
bar_c = math.exp(c) * 1.0 + math.cos(c) * 1.0  # through d = e^c and e = sin c
bar_b = bar_c
bar_a = bar_c + 2 * a * bar_b
backward = math.exp(x0) * bar_a


def blog_function(x, nudge_c=0.0):
    a = G.exp(x)
    b = a**2
    c = a + b + nudge_c  # nudge_c: an error made on line c, for the price below
    return G.exp(c) + G.sin(c)


multiplier = lg.grad(blog_function)(x0)
h = 1e-6
difference = (blog_function(x0 + h) - blog_function(x0 - h)) / (2 * h)
for label, value in [
    ("chain rule, forward", forward),
    ("chain rule, backward", backward),
    ("multipliers", multiplier),
    ("finite differences", difference),
]:
    print(f"{label:>22}: {value:.12f}")
check(
    "forward chain rule = multipliers",
    abs(forward - multiplier) / multiplier,
    "<=",
    1e-14,
)
check(
    "backward chain rule = multipliers",
    abs(backward - multiplier) / multiplier,
    "<=",
    1e-14,
)
check(
    "finite differences agree to their own accuracy",
    abs(difference - multiplier) / multiplier,
    "<=",
    1e-8,
)

# %%
# The backward chain rule and the multiplier solve are not merely equal, they are the
# same arithmetic: the lines computing ``bar_c``, ``bar_b``, ``bar_a`` are the
# stationarity equations of the Lagrangian solved in order. So on a graph without
# cycles, taking the Lagrangian view costs nothing at run time. The "chain rule" side
# is right that each step is the multivariable chain rule; the "Lagrangian" side is
# right that the steps are the equations :math:`\partial L/\partial z = 0`, and that
# this says why the backward order works: the system is triangular.
#
# What the Lagrangian view buys
# -----------------------------
#
# **1. Multipliers are prices, for every node at once.** The multiplier of the line
# :math:`c = a + b` is what an error on that line would cost at the output: compute
# :math:`c = a + b + \delta` and the output moves by :math:`\mu_c \delta`. The chain
# rule gives this too, but the price reading is what makes the next two points natural.

mu = G.trace(blog_function, x0).node_multipliers()
mu_c = mu[3]  # nodes: x, a, b, c, d, e, f
delta = 1e-6
price = (blog_function(x0, nudge_c=delta) - blog_function(x0, nudge_c=-delta)) / (
    2 * delta
)
print(f"mu_c = {mu_c:.10f}; output change per unit error on line c = {price:.10f}")
check("mu_c is the price of an error on line c", abs(price - mu_c) / mu_c, "<=", 1e-8)

# %%
# **2. Cycles and implicit layers.** Some models define a value by an equation rather
# than a formula: a *fixed point* :math:`z = F(z, x)`, here
# :math:`z = \tfrac12 \cos z + x`, with loss :math:`\ell = z^2`. There is no order of
# lines to run the chain rule along, because :math:`z` depends on itself. The chain
# rule can only be applied to an approximation: run the iteration
# :math:`z_{k+1} = \tfrac12 \cos z_k + x` for :math:`k` steps and differentiate
# through all of them (*unrolling*), which records :math:`k` copies of the graph.
#
# The Lagrangian does not need an order. The constraint :math:`F(z, x) - z = 0` has a
# multiplier, and stationarity in :math:`z` is one equation,
#
# .. math::
#
#     \frac{\partial \ell}{\partial z} - \mu + \mu \frac{\partial F}{\partial z} = 0
#     \quad \Rightarrow \quad
#     \mu = \frac{2z}{1 - \partial F/\partial z} = \frac{2z}{1 + \tfrac12 \sin z},
#     \qquad \frac{\mathrm{d}\ell}{\mathrm{d}x} = \mu \frac{\partial F}{\partial x} = \mu .
#
# For a vector :math:`z` the division becomes a linear solve with
# :math:`(I - \partial F/\partial z)^T`: no longer triangular, but one block
# (:doc:`/cycles`). ``lagrangian.graph.fixed_point`` records the cycle as that block.


def implicit_loss(x):
    z = G.fixed_point(lambda z, x: 0.5 * np.cos(z) + x, np.zeros(1), x)
    return np.sum(z**2)


def unrolled_loss(x, k):
    z = 0.0
    for _ in range(k):
        z = 0.5 * G.cos(z) + x
    return z * z


x = 0.3
implicit = float(lg.grad(implicit_loss)(np.array([x]))[0])
z = 0.0
for _ in range(200):
    z = 0.5 * math.cos(z) + x
by_hand = 2 * z / (1 + 0.5 * math.sin(z))
steps = np.arange(1, 41)
unrolled = np.array([lg.grad(unrolled_loss)(x, int(k)) for k in steps])
print(
    f"implicit gradient {implicit:.12f}; by hand {by_hand:.12f}; unrolled 40 steps {unrolled[-1]:.12f}"
)
check(
    "the multiplier solve gives the gradient by hand",
    abs(implicit - by_hand),
    "<=",
    1e-12,
)
check("unrolling converges to it (40 steps)", abs(unrolled[-1] - implicit), "<=", 1e-12)
check(
    "the contraction factor |sin z*| / 2 is about 0.32",
    abs(0.5 * math.sin(z) - 0.32),
    "<=",
    0.01,
)

fig, ax = plt.subplots(figsize=(6.4, 3.8))
# errors against the gradient by hand (the fixed point iterated to rounding, then the formula)
ax.semilogy(
    steps,
    np.abs(unrolled - by_hand) + 1e-17,
    "o-",
    ms=3,
    label="chain rule through k unrolled steps",
)
ax.axhline(
    abs(implicit - by_hand) + 1e-17,
    color="C3",
    ls="--",
    label="multiplier solve: one equation, no unrolling",
)
ax.set_xlabel("unrolled steps k (graph size grows with k)")
ax.set_ylabel("|gradient error|")
ax.set_title("Fixed point z = cos(z)/2 + x: error of the gradient")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The error of unrolling shrinks by the factor
# :math:`|\partial F/\partial z| = \tfrac12 |\sin z^*| \approx 0.32` per step, so it
# reaches rounding error after about 30 steps here; a slowly contracting :math:`F`
# (a factor near 1) takes thousands. The multiplier equation gives the exact
# gradient of the exact fixed point from one solve, with no stored iterations.
#
# **3. Constraints on what the network computes.** Once a network is a constrained
# problem, further constraints on its intermediate values (an activation's range, a
# budget on a weight norm, a conservation law) are just more rows of the same KKT
# system, each with its own multiplier and price. :doc:`ridge_lambda` is the simplest
# case: a budget on the weights whose multiplier is the ridge penalty. The chain rule
# alone has no word for "the price of this constraint".
#
# What each view costs
# --------------------
#
# .. list-table::
#    :header-rows: 1
#
#    * -
#      - chain rule (reverse accumulation)
#      - Lagrangian (multiplier solve)
#    * - acyclic graphs
#      - one backward pass; store every intermediate value
#      - the same pass, the same storage: the triangular solve *is* the backward pass
#    * - cycles, fixed points
#      - only by unrolling: memory and time grow with the iterations, the gradient is
#        approximate
#      - one linear solve with the cycle's block of :math:`I - J` (a factorization,
#        :math:`O(w^3)` for a dense block of width :math:`w`, or an iterative solve);
#        exact only if the forward fixed point is solved accurately, and needs
#        :math:`I - \partial F/\partial z` invertible
#    * - prices of constraints, sensitivities
#      - not part of the view
#      - every multiplier is one; sensitivities of a whole optimization reuse its KKT
#        matrix (:mod:`lagrangian.sensitivity`)
#    * - what a learner pays
#      - the multivariable chain rule
#      - multipliers and the KKT conditions (:doc:`lagrange_multipliers`)
#
# Verdict: for ordinary feed-forward code, say whichever you find clearer; the numbers
# and the work are identical. The Lagrangian view earns its keep at cycles, implicit
# layers and constraints, where there is no chain to follow.
