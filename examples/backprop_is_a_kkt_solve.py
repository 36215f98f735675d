r"""
Worked example: Tim Vieira's function, node by node
===================================================

The function

.. math::

    f(x) = \exp(\exp(x) + \exp(x)^2) + \sin(\exp(x) + \exp(x)^2)

written with intermediate variables

.. math::

    a = e^x,\quad b = a^2,\quad c = a + b,\quad d = e^c,\quad e = \sin c,\quad f = d + e

is the constrained program "minimize f subject to a = exp(x), b = a^2, ...". Its
Lagrangian :math:`L = f + \sum_i \mu_i (f_i(\text{parents}) - z_i)` is stationary in
every intermediate ``z_j`` exactly when :math:`(I - J)^T \mu = e_f`, a triangular
system; the multipliers solving it are the derivatives :math:`\mu_j = \partial f /
\partial z_j` (Theorem 15.1). Here the table of values and multipliers is computed by
the package's triangular solve and every multiplier is checked against the
derivative written by hand.
"""

import math


from lagrangian import graph as G


def blog_function(x):
    a = G.exp(x)
    b = a**2
    c = a + b
    d = G.exp(c)
    e = G.sin(c)
    return d + e


def main(x=0.1):
    graph = G.trace(blog_function, x)
    mu = graph.multipliers()

    # The same derivatives by hand, from the outside in.
    a = math.exp(x)
    c = a + a * a
    df_dc = math.exp(c) + math.cos(c)
    by_hand = {
        "x": df_dc * (1 + 2 * a) * a,
        "a": df_dc * (1 + 2 * a),
        "b": df_dc,
        "c": df_dc,
        "d": 1.0,
        "e": 1.0,
        "f": 1.0,
    }
    labels = ["x", "a", "b", "c", "d", "e", "f"]
    print(f"{'node':>4} {'op':>6} {'value':>16} {'multiplier mu':>18} {'df/dz by hand':>18}")
    worst = 0.0
    for label, (index, op, value, multiplier) in zip(labels, graph.table()):
        worst = max(worst, abs(multiplier - by_hand[label]) / abs(by_hand[label]))
        print(f"{label:>4} {op:>6} {value:16.10f} {multiplier:18.10f} {by_hand[label]:18.10f}")
    print(f"\nlargest relative difference between multiplier and hand derivative: {worst:.1e}")
    print(f"(I - J) is lower triangular with {graph.tape.multiplier_matrix().nnz} nonzeros for {len(graph)} nodes")
    return {"f": graph.value, "df/dx": mu[0], "max_relative_difference": worst}


if __name__ == "__main__":
    main()
