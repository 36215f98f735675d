r"""Constraints: named blocks of rows :math:`c_l \le c(x) \le c_u`, validated when written.

:class:`Constraint` is the one type; :func:`Equality` and :func:`Inequality` spell
its two uses the way the mathematics reads. A :class:`~lagrangian.Problem` stacks
them in the order given, each keeping its name and its multipliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds import empty_interval
from .errors import ProblemError
from .inputs import check_finite, real_array

__all__ = ["Constraint", "Equality", "Inequality", "check_rows"]


def _row_bounds(value, label: str, default: float):
    """A constraint's ``lower`` or ``upper``: ``None`` (no bound), a number or a 1-D array, real, not NaN."""
    if value is None:
        return default
    array = real_array(value, label)
    if array.ndim > 1:
        raise ProblemError(label, f"expected a number or a 1-D array, got shape {array.shape}")
    check_finite(array, label, allow_inf=True)
    return float(array) if array.ndim == 0 else array


def check_rows(lower, upper, label: str):
    """``lower <= upper`` row by row, with a ProblemError naming the constraint's bounds when not."""
    problem = empty_interval(np.atleast_1d(lower), np.atleast_1d(upper), "row")
    if problem is not None:
        raise ProblemError(label, problem)


@dataclass(frozen=True, eq=False)
class Constraint:
    r"""One named block of constraint rows :math:`c_l \le c(x) \le c_u`.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array_like`` of shape (k,) or a scalar (k = 1).
    lower, upper : float, array_like or None
        Row bounds; ``-inf``/``inf`` (or ``None``) for one-sided rows; ``lower == upper``
        makes a row an equality. Real numbers, not NaN, ``lower <= upper``: checked here.
    jacobian : callable, optional
        ``jacobian(x)`` -> dense array or scipy.sparse matrix of shape (k, n).
        Central differences are used when omitted.
    name : str, optional
        How the constraint's multipliers are reached on a solution
        (``solution.multipliers[name]``). Defaults to ``"c0"``, ``"c1"``, ... by
        position in the problem.

    Notes
    -----
    Equality and inequality constraints are both this one type; see
    :func:`Equality` and :func:`Inequality` for spellings that read like the maths.
    The object itself is a handle: ``solution.multiplier(constraint)`` works too.
    """

    fun: object
    lower: object = -np.inf
    upper: object = np.inf
    jacobian: object = None
    name: str | None = None

    def __post_init__(self):
        if not callable(self.fun):
            raise ProblemError(self._label("fun"), f"expected a callable, got {type(self.fun).__name__}")
        if self.jacobian is not None and not callable(self.jacobian):
            raise ProblemError(self._label("jacobian"), "expected a callable or None")
        if self.name is not None and not isinstance(self.name, str):
            raise ProblemError("name", f"expected a string, got {type(self.name).__name__}")
        # frozen: the validated bounds replace what was given
        object.__setattr__(self, "lower", _row_bounds(self.lower, self._label("lower"), -np.inf))
        object.__setattr__(self, "upper", _row_bounds(self.upper, self._label("upper"), np.inf))
        if np.ndim(self.lower) and np.ndim(self.upper) and np.size(self.lower) != np.size(self.upper):
            raise ProblemError(
                self._label("lower/upper"), f"have different lengths ({np.size(self.lower)} and {np.size(self.upper)})"
            )
        check_rows(self.lower, self.upper, self._label("lower/upper"))

    def _label(self, what: str) -> str:
        return f"constraint {self.name!r} {what}" if self.name else f"constraint {what}"


def Equality(fun, value=0.0, *, jacobian=None, name: str | None = None) -> Constraint:
    """The constraint ``fun(x) == value`` (a :class:`Constraint` with equal bounds)."""
    if value is None:
        raise ProblemError("value", "expected a number or a 1-D array of numbers, got None")
    label = f"constraint {name!r} value" if isinstance(name, str) and name else "value"
    value = _row_bounds(value, label, None)
    check_finite(np.asarray(value), label)  # an equality with an infinite side holds nowhere
    return Constraint(fun, value, value, jacobian=jacobian, name=name)


def Inequality(fun, *, lower=-np.inf, upper=np.inf, jacobian=None, name: str | None = None) -> Constraint:
    """The constraint ``lower <= fun(x) <= upper``; give at least one finite side."""
    return Constraint(fun, lower, upper, jacobian=jacobian, name=name)
