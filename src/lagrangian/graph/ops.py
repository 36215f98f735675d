"""Scalar operations: each one's forward map next to its local derivative.

A unary entry is ``name: (forward(a), derivative(a, out), second(a, out))`` with
``derivative`` returning ``d out / d a`` and ``second`` returning ``d^2 out / d a^2``;
a binary entry is ``name: (forward(a, b), derivatives(a, b, out), seconds(a, b,
out))`` returning ``(d out/d a, d out/d b)`` and ``(d^2/da^2, d^2/da db, d^2/db^2)``.
The output is passed in so that, for example, ``exp`` reuses its value as its
derivative. The first derivatives are the entries of ``J = df/dz`` in the
constraint ``f_i(z_parents(i)) - z_i = 0`` of a computation graph; the second
derivatives weight the multipliers in the Hessian of the graph's Lagrangian
(:meth:`lagrangian.graph.Tape.hessian`).
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


def _power_second(a, b, out):
    # d2/da2 = b (b-1) a^(b-2); d2/da db = a^(b-1) (1 + b log a); d2/db2 = a^b (log a)^2.
    if a > 0:
        log_a = math.log(a)
        return b * (b - 1) * a ** (b - 2), a ** (b - 1) * (1 + b * log_a), out * log_a * log_a
    return (b * (b - 1) * a ** (b - 2) if b not in (0, 1) else 0.0), 0.0, 0.0


def _sigmoid_second(a, out):
    return out * (1.0 - out) * (1.0 - 2.0 * out)


def _softplus(a):
    # log(1 + e^a) = max(a, 0) + log1p(e^-|a|): no overflow for large |a|
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


UNARY = {
    "neg": (lambda a: -a, lambda a, out: -1.0, lambda a, out: 0.0),
    "exp": (math.exp, lambda a, out: out, lambda a, out: out),
    "log": (math.log, lambda a, out: 1.0 / a, lambda a, out: -1.0 / (a * a)),
    "sin": (math.sin, lambda a, out: math.cos(a), lambda a, out: -out),
    "cos": (math.cos, lambda a, out: -math.sin(a), lambda a, out: -out),
    "tan": (math.tan, lambda a, out: 1.0 + out * out, lambda a, out: 2.0 * out * (1.0 + out * out)),
    "sqrt": (math.sqrt, lambda a, out: 0.5 / out, lambda a, out: -0.25 / (out * out * out)),
    "tanh": (math.tanh, lambda a, out: 1.0 - out * out, lambda a, out: -2.0 * out * (1.0 - out * out)),
    "sigmoid": (_sigmoid, lambda a, out: out * (1.0 - out), _sigmoid_second),
    "relu": (lambda a: a if a > 0 else 0.0, lambda a, out: 1.0 if a > 0 else 0.0, lambda a, out: 0.0),
    "abs": (abs, lambda a, out: 1.0 if a > 0 else (-1.0 if a < 0 else 0.0), lambda a, out: 0.0),
    "softplus": (_softplus, lambda a, out: _sigmoid(a), lambda a, out: _sigmoid(a) * (1.0 - _sigmoid(a))),
    "asin": (math.asin, lambda a, out: 1.0 / math.sqrt(1.0 - a * a), lambda a, out: a / (1.0 - a * a) ** 1.5),
    "erf": (
        math.erf,
        lambda a, out: 2.0 / math.sqrt(math.pi) * math.exp(-a * a),
        lambda a, out: -4.0 * a / math.sqrt(math.pi) * math.exp(-a * a),
    ),
}

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), lambda a, b, out: (0.0, 0.0, 0.0)),
    "sub": (lambda a, b: a - b, lambda a, b, out: (1.0, -1.0), lambda a, b, out: (0.0, 0.0, 0.0)),
    "mul": (lambda a, b: a * b, lambda a, b, out: (b, a), lambda a, b, out: (0.0, 1.0, 0.0)),
    "div": (
        lambda a, b: a / b,
        lambda a, b, out: (1.0 / b, -out / b),
        lambda a, b, out: (0.0, -1.0 / (b * b), 2.0 * out / (b * b)),
    ),
    "pow": (
        lambda a, b: a**b,
        lambda a, b, out: (b * a ** (b - 1) if b != 0 else 0.0, _power_exponent_derivative(a, b, out)),
        _power_second,
    ),
}
