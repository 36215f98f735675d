r"""
Backprop is a KKT solve
=======================

Backpropagation computes the derivative of a program's output with respect to every
intermediate value. This page shows that those derivatives are the Lagrange
multipliers of the program, written as a constrained optimization problem: the
multipliers of :doc:`lagrange_multipliers` applied to a program in which every line is
a constraint. The idea is Yann LeCun's ("A theoretical framework for
back-propagation", 1988); the example is Tim Vieira's, from his post
`Backprop is not just the chain rule <https://timvieira.github.io/blog/post/2017/08/18/backprop-is-not-just-the-chain-rule/>`_
(2017); the result is the lecture notes' Theorem 15.1, stated and proved below.

The function and its program
----------------------------

.. math::

    f(x) = e^{\,e^x + e^{2x}} + \sin\!\big(e^x + e^{2x}\big)

is computed, one operation per line, by the program

.. math::

    a = e^x, \quad b = a^2, \quad c = a + b, \quad d = e^c, \quad e = \sin c,
    \quad f = d + e .

Each line names an intermediate value (a *node*) and says how it is computed from
earlier ones (its *parents*). In Python, as the worked example
:doc:`/auto_examples/backprop_is_a_kkt_solve` writes it (``G.exp`` and ``G.sin`` are
``exp`` and ``sin`` that also record the operation):

.. literalinclude:: ../../examples/backprop_is_a_kkt_solve.py
   :pyobject: blog_function

Drawn as a graph, with each node's value at :math:`x = 0.1`:
"""

import math

import matplotlib.pyplot as plt
import numpy as np

from lagrangian import graph as G
from lagrangian.examples import check
from lagrangian.examples.backprop_is_a_kkt_solve import blog_function

x0 = 0.1
graph = G.trace(blog_function, x0)  # runs the program, recording every node
names = ["x", "a", "b", "c", "d", "e", "f"]
values = {name: row[2] for name, row in zip(names, graph.table())}
multipliers = {name: row[3] for name, row in zip(names, graph.table())}

position = {
    "x": (0, 0),
    "a": (1, 0),
    "b": (2, 0.9),
    "c": (3, 0),
    "d": (4, 0.9),
    "e": (4, -0.9),
    "f": (5, 0),
}
formula = {
    "x": "x",
    "a": "a = exp(x)",
    "b": "b = a²",
    "c": "c = a + b",
    "d": "d = exp(c)",
    "e": "e = sin(c)",
    "f": "f = d + e",
}
edges = [
    ("x", "a"),
    ("a", "b"),
    ("a", "c"),
    ("b", "c"),
    ("c", "d"),
    ("c", "e"),
    ("d", "f"),
    ("e", "f"),
]


def draw_graph(ax, labels):
    for parent, child in edges:
        ax.annotate(
            "",
            position[child],
            position[parent],
            arrowprops=dict(
                arrowstyle="-|>", color="0.4", shrinkA=22, shrinkB=22, lw=1.2
            ),
        )
    for name, (px, py) in position.items():
        ax.add_patch(plt.Circle((px, py), 0.3, color="white", ec="C0", lw=2, zorder=2))
        ax.text(px, py, name, ha="center", va="center", fontsize=14, zorder=3)
        ax.text(px, py - 0.42, labels[name], ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-0.6, 5.6)
    ax.set_ylim(-1.9, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")


fig, ax = plt.subplots(figsize=(9, 4.6))
draw_graph(ax, {n: f"{formula[n]}\n= {values[n]:.4f}" for n in names})
ax.set_title(
    "The program as a graph: forward pass at x = 0.1 (arrows from parents to children)"
)
fig.tight_layout()

# %%
# The program as a constrained problem
# ------------------------------------
#
# Treat every node as an unknown and every line as a constraint "this node equals
# its formula", written as *formula minus node equals zero*. The program's output
# :math:`f` is the objective:
#
# .. math::
#
#     \begin{aligned}
#     \min_{x, a, \dots, f} \; f \quad \text{subject to} \quad
#     & e^x - a = 0, \quad a^2 - b = 0, \quad a + b - c = 0, \\
#     & e^c - d = 0, \quad \sin c - e = 0, \quad d + e - f = 0, \quad x_0 - x = 0 .
#     \end{aligned}
#
# The last constraint pins the input to the point :math:`x_0 = 0.1` where we want the
# derivative. Only one point satisfies all seven constraints (the forward pass computes
# it), so the "minimization" is trivial; what is not trivial is the multipliers. Give
# each constraint its multiplier :math:`\mu` (named after the node it defines) and write
# the Lagrangian term by term:
#
# .. math::
#
#     \begin{aligned}
#     L = f &+ \mu_a (e^x - a) + \mu_b (a^2 - b) + \mu_c (a + b - c) \\
#           &+ \mu_d (e^c - d) + \mu_e (\sin c - e) + \mu_f (d + e - f) + \mu_x (x_0 - x) .
#     \end{aligned}
#
# .. admonition:: "Isn't the term in parentheses zero?"
#
#    Yes, at every point that runs the program correctly each bracket is zero, so
#    :math:`L = f` there, and the extra terms seem to add nothing. That is exactly why
#    the multipliers can carry information without changing the value: they sit in
#    front of quantities that are zero, and only their *slopes* matter. The slope of
#    :math:`L` with respect to a node collects every place the node appears; setting it
#    to zero is an equation for the multipliers. And by
#    :doc:`lagrange_multipliers`, a multiplier is a price: if line :math:`i` were
#    computed with a small error, :math:`z_i = f_i(\dots) + \delta`, the output would
#    move by :math:`\mu_i \delta`. That is what "the derivative of :math:`f` with respect
#    to :math:`z_i`" means.
#
# Stationarity, solved by hand
# ----------------------------
#
# Set the slope of :math:`L` with respect to each node to zero. A node appears in its
# own bracket (with a minus sign) and in its children's brackets, so each equation
# involves the node's multiplier and its children's multipliers only. Start from the
# output and go backwards, and each equation has exactly one new unknown:
#
# .. math::
#
#     \begin{aligned}
#     \partial L / \partial f &= 1 - \mu_f = 0 &&\Rightarrow \mu_f = 1 \\
#     \partial L / \partial e &= -\mu_e + \mu_f = 0 &&\Rightarrow \mu_e = 1 \\
#     \partial L / \partial d &= -\mu_d + \mu_f = 0 &&\Rightarrow \mu_d = 1 \\
#     \partial L / \partial c &= -\mu_c + \mu_d e^c + \mu_e \cos c = 0 &&\Rightarrow \mu_c = e^c + \cos c \\
#     \partial L / \partial b &= -\mu_b + \mu_c = 0 &&\Rightarrow \mu_b = \mu_c \\
#     \partial L / \partial a &= -\mu_a + 2a\,\mu_b + \mu_c = 0 &&\Rightarrow \mu_a = (1 + 2a)\,\mu_c \\
#     \partial L / \partial x &= -\mu_x + e^x \mu_a = 0 &&\Rightarrow \mu_x = e^x \mu_a
#     \end{aligned}
#
# These are the lines of backpropagation. The package solves the same equations
# (``graph.multipliers()``); the table puts them next to the formulas above and next
# to the derivative :math:`\mathrm{d}f/\mathrm{d}x` computed from the closed form.

a, c = math.exp(x0), math.exp(x0) + math.exp(2 * x0)
by_hand = {"f": 1.0, "e": 1.0, "d": 1.0, "c": math.exp(c) + math.cos(c)}
by_hand["b"] = by_hand["c"]
by_hand["a"] = (1 + 2 * a) * by_hand["c"]
by_hand["x"] = math.exp(x0) * by_hand["a"]
print(f"{'node':>4}  {'value':>12}  {'multiplier (package)':>21}  {'by hand':>14}")
for name in names:
    print(
        f"{name:>4}  {values[name]:12.6f}  {multipliers[name]:21.10f}  {by_hand[name]:14.10f}"
    )

closed_form = (math.exp(c) + math.cos(c)) * (
    math.exp(x0) + 2 * math.exp(2 * x0)
)  # d/dx of e^c + sin c, c = e^x + e^2x
h = 1e-6
central = (blog_function(x0 + h) - blog_function(x0 - h)) / (2 * h)
check(
    "every multiplier equals the hand solution",
    max(abs(multipliers[n] - by_hand[n]) / abs(by_hand[n]) for n in names),
    "<=",
    1e-14,
)
check(
    "mu_x equals df/dx from the closed form",
    abs(multipliers["x"] - closed_form) / closed_form,
    "<=",
    1e-14,
)
check(
    "mu_x equals a central difference of f",
    abs(multipliers["x"] - central) / central,
    "<=",
    1e-8,
)

# %%
# The same graph, now labelled with each node's multiplier, which is the derivative of
# the output with respect to that node:

fig, ax = plt.subplots(figsize=(9, 4.6))
draw_graph(ax, {n: f"μ_{n} = df/d{n}\n= {multipliers[n]:.4f}" for n in names})
ax.set_title("Backward pass: each node's multiplier, solved from the output back")
fig.tight_layout()

# %%
# The theorem
# -----------
#
# Nothing above was special to this function. Number the nodes :math:`z_1, \dots, z_m`
# in the order the program computes them (inputs first, the output :math:`z_m` last),
# so that node :math:`i` is computed as :math:`z_i = f_i(z_{\text{parents}(i)})` from
# nodes with smaller numbers. Define the program's Lagrangian
#
# .. math::
#
#     L(z, \mu) = z_m + \sum_{i \text{ not an input}} \mu_i \big(f_i(z_{\text{parents}(i)}) - z_i\big)
#                      + \sum_{i \text{ an input}} \mu_i \,(x_i - z_i)
#
# and, for each node :math:`j`, the *total derivative* :math:`D_j`: the rate at which
# the output :math:`z_m` changes when a small amount :math:`\delta` is added to
# :math:`z_j` as it is computed, and every later node is recomputed from it.
#
# **Theorem** (LeCun 1988; the lecture notes' Theorem 15.1). The equations
# :math:`\partial L / \partial z_j = 0`, :math:`j = 1, \dots, m`, have exactly one
# solution :math:`\mu`, and it is :math:`\mu_j = D_j` for every node :math:`j`. In
# particular the multipliers of the inputs are the gradient of the output.
#
# **Proof.** Node :math:`z_j` appears in :math:`L` in three places: in the objective
# if :math:`j = m`, in its own bracket with coefficient :math:`-\mu_j`, and in the
# bracket of each child :math:`i` (each node that uses it) through
# :math:`f_i`. So
#
# .. math::
#
#     \frac{\partial L}{\partial z_j} = [j = m] - \mu_j
#         + \sum_{i \in \text{children}(j)} \mu_i \frac{\partial f_i}{\partial z_j} ,
#
# where :math:`[j = m]` is 1 for the output and 0 otherwise. Setting it to zero,
#
# .. math::
#
#     \mu_j = [j = m] + \sum_{i \in \text{children}(j)} \mu_i \frac{\partial f_i}{\partial z_j} . \qquad (1)
#
# Every child of :math:`j` comes after :math:`j`, so (1) gives :math:`\mu_j` from
# multipliers with larger numbers: taking :math:`j = m, m - 1, \dots, 1` in turn
# determines each :math:`\mu_j` once, and the solution exists and is unique.
#
# The total derivatives satisfy the same recursion. Add :math:`\delta` to :math:`z_j`.
# The node :math:`z_j` enters the rest of the program only through the formulas of its
# children, so to first order in :math:`\delta` the effect is the same as adding
# :math:`\frac{\partial f_i}{\partial z_j} \delta` to each child :math:`z_i` as it is
# computed; first-order effects of several small changes add up, and a change of
# :math:`\varepsilon` added to node :math:`i` moves the output by
# :math:`D_i \varepsilon`. If :math:`j = m`, the output itself moves by
# :math:`\delta`. Hence
#
# .. math::
#
#     D_j = [j = m] + \sum_{i \in \text{children}(j)} D_i \frac{\partial f_i}{\partial z_j} . \qquad (2)
#
# Now induct backwards over the order. For :math:`j = m` (no children) both (1) and (2)
# give 1. If :math:`\mu_i = D_i` for every node after :math:`j`, then the right-hand
# sides of (1) and (2) agree term by term, so :math:`\mu_j = D_j`. :math:`\blacksquare`
#
# Recursion (2) is what people mean when they say "backprop is the chain rule"; what
# the theorem adds is *which* equations those are: the stationarity conditions of a
# Lagrangian. The next page, :doc:`chain_rule_or_lagrangian`, weighs the two views.
#
# Why one pass is enough: the matrix is triangular
# ------------------------------------------------
#
# Collect the partial derivatives in a matrix :math:`J` with
# :math:`J_{ij} = \partial f_i / \partial z_j` (zero unless :math:`j` is a parent of
# :math:`i`). The equations (1) for all :math:`j` at once read
#
# .. math::
#
#     (I - J)^T \mu = e_m ,
#
# with :math:`e_m` the vector that is 1 at the output and 0 elsewhere. Parents come
# before children, so :math:`J` has entries only below the diagonal: :math:`I - J` is
# lower triangular, and :math:`(I - J)^T` upper triangular. A triangular system is
# solved by *back substitution*, one row at a time from the last, each row using only
# the answers already found. That single backward sweep is backpropagation; it touches
# each edge of the graph once, so it costs about as much as the forward pass.

M = graph.multiplier_matrix().toarray()
mu = np.array([multipliers[n] for n in names])
e_m = np.zeros(len(names))
e_m[-1] = 1.0
check("(I - J)^T mu = e_m", float(np.abs(M.T @ mu - e_m).max()), "<=", 1e-12)
check(
    "I - J is lower triangular (nothing above the diagonal)",
    float(np.abs(np.triu(M, 1)).max()),
    "==",
    0.0,
)

fig, ax = plt.subplots(figsize=(4.8, 4.4))
shown = np.where(M == 0, np.nan, M)
ax.imshow(
    shown, cmap="coolwarm", vmin=-np.nanmax(abs(shown)), vmax=np.nanmax(abs(shown))
)
for (i, j), value in np.ndenumerate(M):
    if value:
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
ax.set_xticks(range(len(names)), names)
ax.set_yticks(range(len(names)), names)
ax.set_title("I - J: ones on the diagonal, -∂f_i/∂z_j below it")
fig.tight_layout()

# %%
# Reading the picture: row :math:`i` holds node :math:`i`'s equation, with
# :math:`-\partial f_i / \partial z_j` in the column of each parent :math:`j`. Row
# :math:`c`, for example, has :math:`-1` under :math:`a` and under :math:`b`
# (:math:`c = a + b`). The transposed system is solved from the bottom-right corner up.
#
# Where next
# ----------
#
# * :doc:`chain_rule_or_lagrangian`: what the Lagrangian view buys over "just the chain
#   rule", and what it costs.
# * :doc:`/auto_examples/backprop_is_a_kkt_solve`: the same function as a runnable
#   script, part of ``lagrangian demo``.
# * :doc:`/inside/graphs`: how the package traces Python code into this system and
#   solves it fast (array nodes, source transformation, compiled tapes).
#
# In code, ``lagrangian.grad(f)(x)`` and ``lagrangian.value_and_grad(f)(x)`` return the
# input multipliers of this system.
