"""What tracing cannot record, said plainly: which function, and what to write instead.

A traced value meets numpy's machinery through three doors: ufuncs on arrays
(``Array.__array_ufunc__``), functions such as ``np.max`` (``__array_function__``),
and, for object arrays of scalar :class:`~lagrangian.graph.Node` values, a
method of the ufunc's name on each element (``np.exp2(a)`` calls
``a[i].exp2()``). Anything not in the package's op table used to fall through
to numpy's own message ("operand type(s) all returned NotImplemented from
__array_ufunc__ ..."), which names neither the unsupported function nor a way
around it. :func:`unsupported` builds the error that does both.
"""

from __future__ import annotations

import numpy as np

from ..errors import ProblemError

__all__ = ["UnsupportedOperationError", "UnsupportedAttributeError", "unsupported", "foreign_override", "NODE_UFUNC_METHODS"]

_SUPPORTED = (
    "+, -, *, /, ** and @, indexing, np.exp, np.log, np.sin, np.cos, np.tan, np.sqrt, np.tanh, "
    "np.arcsin, np.abs, np.sum, np.mean, np.dot, np.matmul, np.reshape, np.transpose, np.ravel, "
    "np.concatenate and the functions of lagrangian.graph (relu, sigmoid, softplus, erf, ...)"
)

_MAX = "(a + b + abs(a - b)) / 2, or lagrangian.graph.relu(x) for max(x, 0)"
_MIN = "(a + b - abs(a - b)) / 2"
_REDUCE_MAX = "x[i] with i = int(np.argmax(x.value)) (reading .value makes the trace data-dependent, as max is)"
_PIECEWISE_CONSTANT = "nothing: its derivative is zero almost everywhere; round the data before tracing"

#: What to write instead, by numpy name.
_INSTEAD = {
    "maximum": _MAX, "fmax": _MAX, "minimum": _MIN, "fmin": _MIN,
    "max": _REDUCE_MAX, "amax": _REDUCE_MAX, "min": _REDUCE_MAX.replace("argmax", "argmin"),
    "amin": _REDUCE_MAX.replace("argmax", "argmin"),
    "exp2": "2 ** x, or np.exp(x * np.log(2))", "expm1": "np.exp(x) - 1", "log1p": "np.log(1 + x)",
    "log2": "np.log(x) / np.log(2)", "log10": "np.log(x) / np.log(10)",
    "sinh": "(np.exp(x) - np.exp(-x)) / 2", "cosh": "(np.exp(x) + np.exp(-x)) / 2",
    "arctan": "np.arcsin(x / np.sqrt(1 + x * x))", "arccos": "np.pi / 2 - np.arcsin(x)",
    "arcsinh": "np.log(x + np.sqrt(x * x + 1))", "arccosh": "np.log(x + np.sqrt(x * x - 1))",
    "arctanh": "0.5 * np.log((1 + x) / (1 - x))", "cbrt": "x ** (1 / 3) (for x > 0)",
    "square": "x * x", "reciprocal": "1 / x", "fabs": "abs(x)", "hypot": "np.sqrt(a * a + b * b)",
    "deg2rad": "x * (np.pi / 180)", "radians": "x * (np.pi / 180)",
    "rad2deg": "x * (180 / np.pi)", "degrees": "x * (180 / np.pi)",
    "prod": "np.exp(np.sum(np.log(x))) for x > 0, or a product written out",
    "cumsum": "np.tril(np.ones((n, n))) @ x", "clip": _MAX + " twice",
    "floor": _PIECEWISE_CONSTANT, "ceil": _PIECEWISE_CONSTANT, "rint": _PIECEWISE_CONSTANT,
    "round": _PIECEWISE_CONSTANT, "trunc": _PIECEWISE_CONSTANT, "sign": _PIECEWISE_CONSTANT,
}  # fmt: skip

#: The methods numpy's object-dtype loops call for unary ufuncs that have no op here:
#: on scalar nodes each raises :func:`unsupported` instead of numpy's "no callable
#: exp2 method" (the supported ones, exp, log, sin, ..., are the op methods).
NODE_UFUNC_METHODS = (
    "arccos", "arccosh", "arcsinh", "arctan", "arctanh", "cbrt", "cosh", "deg2rad", "degrees",
    "exp2", "expm1", "fabs", "log10", "log1p", "log2", "rad2deg", "radians", "rint", "sinh",
)  # fmt: skip


class UnsupportedOperationError(ProblemError, TypeError):
    """A numpy function or ufunc that tracing does not record (a ``TypeError`` too, as numpy's was)."""


class UnsupportedAttributeError(ProblemError, AttributeError):
    """An ndarray method that traced arrays do not have (an ``AttributeError``, so ``hasattr`` still answers)."""


def unsupported(name: str, kind: str = "numpy function", error=UnsupportedOperationError) -> ProblemError:
    """The error for ``name`` (numpy's name, e.g. ``"maximum"``), saying what to write instead."""
    instead = _INSTEAD.get(name)
    if instead is None:
        advice = f"supported are {_SUPPORTED}"
    elif instead.startswith("nothing: "):
        advice = instead[len("nothing: "):]
    else:
        advice = f"write {instead} instead"
    label = f"ndarray.{name}" if kind == "method" else f"numpy.{name}"
    return error(label, f"is not supported on traced values (lagrangian.graph records only its own ops); {advice}")


def foreign_override(values, own_type) -> bool:
    """True when an operand other than ``own_type``, an ndarray or a number overrides numpy's protocol.

    Then returning ``NotImplemented`` lets that type handle the call, as numpy's
    protocol intends; only when no one else can is the call an error of ours.
    """
    for value in values:
        kind = type(value)
        if kind is own_type or isinstance(value, (np.ndarray, np.generic, int, float)):
            continue
        if hasattr(kind, "__array_ufunc__") or hasattr(kind, "__array_function__"):
            return True
    return False
