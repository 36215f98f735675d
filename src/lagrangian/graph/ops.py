"""Scalar operations: each one's forward map next to its local derivative.

A unary entry is ``name: (forward(a), derivative(a, out))`` with ``derivative``
returning ``d out / d a``; a binary entry is ``name: (forward(a, b),
derivatives(a, b, out))`` returning ``(d out/d a, d out/d b)``. The output is
passed in so that, for example, ``exp`` reuses its value as its derivative.
These local derivatives are the entries of ``J = df/dz`` in the constraint
``f_i(z_parents(i)) - z_i = 0`` of a computation graph.
"""

from __future__ import annotations

import math

__all__ = ["UNARY", "BINARY"]


def _sigmoid(a):
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _power_exponent_derivative(a, b, out):
    # d(a^b)/db = a^b log a, defined for a > 0; at a == 0 the limit is 0 for b > 0.
    if a > 0:
        return out * math.log(a)
    return 0.0


UNARY = {
    "neg": (lambda a: -a, lambda a, out: -1.0),
    "exp": (math.exp, lambda a, out: out),
    "log": (math.log, lambda a, out: 1.0 / a),
    "sin": (math.sin, lambda a, out: math.cos(a)),
    "cos": (math.cos, lambda a, out: -math.sin(a)),
    "tan": (math.tan, lambda a, out: 1.0 + out * out),
    "sqrt": (math.sqrt, lambda a, out: 0.5 / out),
    "tanh": (math.tanh, lambda a, out: 1.0 - out * out),
    "sigmoid": (_sigmoid, lambda a, out: out * (1.0 - out)),
    "relu": (lambda a: a if a > 0 else 0.0, lambda a, out: 1.0 if a > 0 else 0.0),
    "abs": (abs, lambda a, out: 1.0 if a > 0 else (-1.0 if a < 0 else 0.0)),
    "asin": (math.asin, lambda a, out: 1.0 / math.sqrt(1.0 - a * a)),
    "erf": (math.erf, lambda a, out: 2.0 / math.sqrt(math.pi) * math.exp(-a * a)),
}

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b, out: (1.0, 1.0)),
    "sub": (lambda a, b: a - b, lambda a, b, out: (1.0, -1.0)),
    "mul": (lambda a, b: a * b, lambda a, b, out: (b, a)),
    "div": (lambda a, b: a / b, lambda a, b, out: (1.0 / b, -out / b)),
    "pow": (
        lambda a, b: a**b,
        lambda a, b, out: (b * a ** (b - 1) if b != 0 else 0.0, _power_exponent_derivative(a, b, out)),
    ),
}
