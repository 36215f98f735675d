"""Scalar operations: each one's forward map next to its local derivatives, written once.

Every op is a rule of expression templates in its arguments ``{a}`` (and ``{b}``)
and its output ``{out}``:

- a unary rule is ``name: (forward, d out/d a, d^2 out/d a^2)``;
- a binary rule is ``name: (forward, (d out/d a, d out/d b), (d^2/da^2, d^2/da db, d^2/db^2))``.

The output is an argument so that, for example, ``exp`` reuses its value as its
derivative. The first derivatives are the entries of ``J = df/dz`` in the
constraint ``f_i(z_parents(i)) - z_i = 0`` of a computation graph; the second
derivatives weight the multipliers in the Hessian of the graph's Lagrangian
(:meth:`lagrangian.graph.Tape.hessian`).

The templates serve twice, so that an op's mathematics is never written out a
second time: :data:`UNARY` and :data:`BINARY` are the same rules as Python
functions, which a :class:`~lagrangian.graph.Tape` calls while it traces; and
:mod:`lagrangian.graph.compiled` pastes them, with node names for the arguments,
into the straight-line code of a compiled tape.
"""

from __future__ import annotations

import math

__all__ = ["UNARY", "BINARY", "UNARY_RULES", "BINARY_RULES", "NAMESPACE", "template_function"]


def _sigmoid(a):
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _softplus(a):
    # log(1 + e^a) = max(a, 0) + log1p(e^-|a|): no overflow for large |a|
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _power_exponent(a, out):
    # d(a^b)/db = a^b log a, defined for a > 0; at a == 0 the limit is 0 for b > 0.
    return out * math.log(a) if a > 0 else 0.0


def _power_base_exponent(a, b):
    # d/db (b a^(b-1)) = a^(b-1) (1 + b log a)
    return a ** (b - 1) * (1 + b * math.log(a)) if a > 0 else 0.0


def _power_exponent_exponent(a, out):
    return out * math.log(a) ** 2 if a > 0 else 0.0


#: What the templates may call: :mod:`math`'s functions and the helpers above.
NAMESPACE = {
    "exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "sqrt": math.sqrt, "tanh": math.tanh, "asin": math.asin, "erf": math.erf, "abs": abs,
    "_sigmoid": _sigmoid, "_softplus": _softplus, "_power_exponent": _power_exponent,
    "_power_base_exponent": _power_base_exponent, "_power_exponent_exponent": _power_exponent_exponent,
    "_TWO_OVER_ROOT_PI": 2.0 / math.sqrt(math.pi),
}  # fmt: skip

UNARY_RULES = {
    "neg": ("-{a}", "-1.0", "0.0"),
    "exp": ("exp({a})", "{out}", "{out}"),
    "log": ("log({a})", "1.0 / {a}", "-1.0 / ({a} * {a})"),
    "sin": ("sin({a})", "cos({a})", "-{out}"),
    "cos": ("cos({a})", "-sin({a})", "-{out}"),
    "tan": ("tan({a})", "1.0 + {out} * {out}", "2.0 * {out} * (1.0 + {out} * {out})"),
    "sqrt": ("sqrt({a})", "0.5 / {out}", "-0.25 / ({out} * {out} * {out})"),
    "tanh": ("tanh({a})", "1.0 - {out} * {out}", "-2.0 * {out} * (1.0 - {out} * {out})"),
    "sigmoid": ("_sigmoid({a})", "{out} * (1.0 - {out})", "{out} * (1.0 - {out}) * (1.0 - 2.0 * {out})"),
    "relu": ("({a} if {a} > 0 else 0.0)", "(1.0 if {a} > 0 else 0.0)", "0.0"),
    "abs": ("abs({a})", "(1.0 if {a} > 0 else (-1.0 if {a} < 0 else 0.0))", "0.0"),
    "softplus": ("_softplus({a})", "_sigmoid({a})", "_sigmoid({a}) * (1.0 - _sigmoid({a}))"),
    "asin": ("asin({a})", "1.0 / sqrt(1.0 - {a} * {a})", "{a} / (1.0 - {a} * {a}) ** 1.5"),
    "erf": ("erf({a})", "_TWO_OVER_ROOT_PI * exp(-{a} * {a})", "-2.0 * _TWO_OVER_ROOT_PI * {a} * exp(-{a} * {a})"),
}

BINARY_RULES = {
    "add": ("{a} + {b}", ("1.0", "1.0"), ("0.0", "0.0", "0.0")),
    "sub": ("{a} - {b}", ("1.0", "-1.0"), ("0.0", "0.0", "0.0")),
    "mul": ("{a} * {b}", ("{b}", "{a}"), ("0.0", "1.0", "0.0")),
    "div": ("{a} / {b}", ("1.0 / {b}", "-{out} / {b}"), ("0.0", "-1.0 / ({b} * {b})", "2.0 * {out} / ({b} * {b})")),
    "pow": (
        "{a} ** {b}",
        # written out rather than called: x ** 2 is the commonest op of the HS formulas.
        # The conditions avoid 0 * a^-1 and 0 * a^-2 at a == 0.
        ("({b} * {a} ** ({b} - 1) if {b} != 0 else 0.0)", "_power_exponent({a}, {out})"),
        (
            "({b} * ({b} - 1) * {a} ** ({b} - 2) if {b} != 0 and {b} != 1 else 0.0)",
            "_power_base_exponent({a}, {b})",
            "_power_exponent_exponent({a}, {out})",
        ),
    ),
}


class _OwnNames(dict):
    """Formats every ``{name}`` of a template as the plain name ``name``."""

    def __missing__(self, key):
        return key


def template_function(parameters: str, template: str, namespace: dict):
    """The template as ``lambda parameters: ...``, each ``{name}`` standing for the parameter ``name``.

    One template then serves twice: as this function, and pasted with other names
    into compiled code (:mod:`lagrangian.graph.compiled`, :mod:`lagrangian.graph.compiled_arrays`).
    """
    # Naming this module as the lambda's home spares pickling (cloudpickle, solve_many) a
    # search of every loaded module for a function that has none: 3 ms per function.
    scope = {**namespace, "__name__": __name__}
    return eval(f"lambda {parameters}: {template.format_map(_OwnNames())}", scope)


def _function(parameters: str, body: str):
    """The rule ``body`` as a Python function of ``parameters``; a bare call of a
    namespace function (``exp({a})``) is that function itself, without a wrapper."""
    if body.endswith("({a})") and body[:-5] in NAMESPACE and parameters == "a":
        return NAMESPACE[body[:-5]]
    return template_function(parameters, body, NAMESPACE)


#: ``name: (forward(a), derivative(a, out), second(a, out))``, the unary rules as functions.
UNARY = {
    name: (_function("a", forward), _function("a, out", first), _function("a, out", second))
    for name, (forward, first, second) in UNARY_RULES.items()
}

#: ``name: (forward(a, b), derivatives(a, b, out) -> (da, db), seconds(a, b, out) -> (aa, ab, bb))``.
BINARY = {
    name: (
        _function("a, b", forward),
        _function("a, b, out", "({}, {})".format(*first)),
        _function("a, b, out", "({}, {}, {})".format(*second)),
    )
    for name, (forward, first, second) in BINARY_RULES.items()
}
