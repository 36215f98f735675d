r"""Variable bounds :math:`l \le x \le u`: the one reader of every form they may be written in.

:func:`read_bounds` turns what a user passed as ``bounds`` into two float
arrays ``(lb, ub)`` of length ``n``; :class:`lagrangian.Problem` and
:func:`lagrangian.minimize` both call it, so a form means the same thing
through every entry point (or is refused by both with the same error).

Accepted forms, for ``n`` variables:

==================================  ==============================================
``None``                            no bounds
``scipy.optimize.Bounds(lb, ub)``   (or any object with ``lb`` and ``ub``): each
                                    side a number (every variable) or ``n`` numbers
a sequence of ``n`` pairs           ``[(lo_0, hi_0), ..., (lo_{n-1}, hi_{n-1})]``,
                                    scipy.optimize.minimize's form; also an
                                    ndarray of shape ``(n, 2)``
one pair ``[(lo, hi)]``             the same interval for every variable (scipy
                                    broadcasts it too)
``(lb, ub)``                        each side ``None``, a number, or ``n`` numbers
                                    (scipy.optimize.least_squares' form)
==================================  ==============================================

``None`` in place of a number, ``-inf`` and ``inf`` mean "no bound on that side".
Refused: NaN, complex numbers, strings, ragged or deeper nesting, a lower bound
above its upper bound, a lower bound of ``+inf`` or an upper bound of ``-inf``.

The ambiguous shapes
--------------------
The two sequence forms overlap only at ``n = 2``. First, for two entries of two numbers
each, ``[[a, b], [c, d]]``: as pairs it says ``x_0 in [a, b], x_1 in [c, d]``
(scipy's reading); as ``(lb, ub)`` it says ``x_0 in [a, c], x_1 in [b, d]``.
The rule:

1. A list or tuple of two 1-D NumPy arrays is ``(lb, ub)``: that is how code
   passes bound vectors around (e.g. ``(problem.lb, problem.ub)``).
2. Otherwise both readings are formed. A reading is dropped when it is not a
   valid box, or when it writes every variable's lower and upper bound
   identically (it would fix every variable, which nobody spells this way): so
   ``[(lo, hi), (lo, hi)]`` (the ``[(lo, hi)] * n`` idiom) is two pairs and
   ``([lo, lo], [hi, hi])`` is ``(lb, ub)``.
3. If the readings agree (``b == c``), or exactly one is left, it is used.
   Otherwise :class:`~lagrangian.errors.ProblemError`: the message shows both
   readings; ``scipy.optimize.Bounds(lb, ub)`` says which one is meant.

The same holds at ``n = 2`` for a list of a pair and ``None``, ``[(a, b), None]``: one
pair per variable with ``None`` for a free one (``x_0 in [a, b]``, a form scipy itself
refuses), or ``(lb, ub)`` (``a <= x_0, b <= x_1``). Both entry points refuse it
with both readings in the message, unless the pair is a NumPy array (rule 1), is
written ``(a, a)`` (rule 2: then it is ``lb``), or the readings agree. Written as a
tuple, ``([a, b], None)`` or ``(None, [a, b])``, it is ``(lb, ub)``, the form's own
spelling.

So ``Problem(..., bounds=[(0, 1), (2, 3)])`` with two variables is an error,
``[(0, 1), (2, 3), (4, 5)]`` with three is three pairs, and ``([0, 0], [5, 5])``
is ``0 <= x <= 5``.

:func:`lagrangian.minimize` promises scipy.optimize.minimize's meaning, in which a
sequence of two-entry sequences is only ever pairs; it reads with
``pairs=True``, which takes that reading at the ambiguous shape instead of the
rule. The two entry points then agree on every form except one that scipy
reads as fixing every variable (``[(lo, lo), (hi, hi)]``), which ``Problem``
reads as ``lo <= x <= hi``.

Starting inside
---------------
:func:`push_inside` moves a point strictly inside the bounds (IPOPT's
``bound_push`` and ``bound_frac``); ``Problem`` evaluates the user's functions
there, never outside ``[lb, ub]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ProblemError
from .inputs import describe, real_vector

__all__ = ["read_bounds", "push_inside", "empty_interval", "BOUND_PUSH"]

#: IPOPT's ``bound_push`` = ``bound_frac``: how far inside its bounds a point starts.
BOUND_PUSH = 1e-2

_ARGUMENT = "bounds"


def _is_sequence(value) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, (str, bytes))) or (
        isinstance(value, np.ndarray) and value.ndim >= 1
    )


def _is_number(value) -> bool:
    return (not _is_sequence(value)) and value is not None and np.ndim(value) == 0 and not isinstance(value, (str, bytes, dict, set))


def _shape_of(item):
    """``"none"``, ``"number"``, ``("vector", length)`` or ``"other"``: what one entry of ``bounds`` looks like."""
    if item is None:
        return "none"
    if _is_sequence(item):
        if isinstance(item, np.ndarray) and item.ndim != 1:
            return "other"
        if isinstance(item, np.ndarray) and item.dtype.kind in "iuf":
            return ("vector", item.size)  # numbers by their dtype: no loop over entries
        if all(entry is None or _is_number(entry) for entry in item):
            return ("vector", len(item))
        return "other"
    return "number" if _is_number(item) else "other"


def _one_entry_as_number(values):
    """A side of ``scipy.optimize.Bounds`` given as a number, which scipy stores as an array of one entry."""
    if isinstance(values, np.ndarray) and values.size == 1 and values.ndim <= 1:
        return values.reshape(())
    return values


def _side(values, default: float, n: int, label: str) -> np.ndarray:
    """One side (lower or upper) as ``n`` floats; ``None`` entries or a ``None`` side mean ``default``."""
    if values is None:
        return np.full(n, default)
    if _is_sequence(values) and not isinstance(values, np.ndarray):
        values = [default if v is None else v for v in values]
    try:
        return real_vector(values, _ARGUMENT, n, allow_inf=True)
    except ProblemError as exc:
        raise ProblemError(_ARGUMENT, f"{label}: {str(exc).split(': ', 1)[1]}") from None


def _pairs(items, n: int):
    items = list(items) * n if len(items) == 1 and n != 1 else list(items)
    lower = _side([pair[0] for pair in items], -np.inf, n, "the lower entries of the (lower, upper) pairs")
    upper = _side([pair[1] for pair in items], np.inf, n, "the upper entries of the (lower, upper) pairs")
    return lower, upper


def _lower_upper(items, n: int):
    return (
        _side(items[0], -np.inf, n, "lower side of (lb, ub)"),
        _side(items[1], np.inf, n, "upper side of (lb, ub)"),
    )


def empty_interval(lower, upper, what: str = "variable") -> str | None:
    """Why some interval ``[lower_i, upper_i]`` holds no number (or None when each holds one).

    ``what`` names an entry in the message ("variable", "row").
    """
    crossed = np.flatnonzero(lower > upper)
    if crossed.size:
        i = int(crossed[0])
        # scipy's sentence first: code written for scipy.optimize matches it.
        return (
            f"An upper bound is less than the corresponding lower bound: {what} {i} has lower "
            f"{float(lower[i])!r} > upper {float(upper[i])!r}"
        )
    if np.any(lower == np.inf):
        return f"a lower bound of +inf ({what} {int(np.flatnonzero(lower == np.inf)[0])}) admits no point"
    if np.any(upper == -np.inf):
        return f"an upper bound of -inf ({what} {int(np.flatnonzero(upper == -np.inf)[0])}) admits no point"
    return None


def _written_alike(first, second) -> bool:
    return all((a is None and b is None) or (a is not None and b is not None and a == b) for a, b in zip(first, second))


def _interval_text(lower, upper) -> str:
    return ", ".join(f"x{i} in [{lo:g}, {hi:g}]" for i, (lo, hi) in enumerate(zip(lower, upper)))


def _pair_and_none_at_two(bounds, items, shapes, n: int) -> bool:
    """``[(lo, hi), None]`` or ``[None, (lo, hi)]`` at n = 2 (a list: a tuple is ``(lb, ub)``), the pair not a NumPy array: the second ambiguous shape."""
    return (
        n == 2 and not isinstance(bounds, tuple) and len(items) == 2
        and "none" in shapes and ("vector", 2) in shapes
        and not any(isinstance(item, np.ndarray) for item in items)
    )  # fmt: skip


def _pair_or_lower_upper(items, n: int):
    """The second ambiguous shape (module docstring): ``(lb, ub)``, or one pair per variable with None for a free one."""
    pair = next(list(item) for item in items if item is not None)
    as_pairs = _pairs([(None, None) if item is None else item for item in items], n)
    as_lower_upper = _lower_upper(items, n)
    # as rule 2: a pair written (lo, lo) would fix its variable, which nobody spells this way
    readings = (as_lower_upper,) if _written_alike(pair[:1], pair[1:]) else (as_pairs, as_lower_upper)
    valid = [box for box in readings if empty_interval(*box) is None]
    if len(valid) == 2 and not (np.array_equal(as_pairs[0], as_lower_upper[0]) and np.array_equal(as_pairs[1], as_lower_upper[1])):
        shown = [None if item is None else [None if v is None else float(v) for v in item] for item in items]
        raise ProblemError(
            _ARGUMENT,
            f"{shown} with n = 2 variables reads two ways: as one (lower, upper) pair per variable, None for no bound "
            f"({_interval_text(*as_pairs)}), or as (lb, ub) ({_interval_text(*as_lower_upper)}); "
            "pass scipy.optimize.Bounds(lb, ub) to say which, or write (lb, ub) as a tuple",
        )
    return valid[0] if valid else as_lower_upper  # an empty box is reported by the caller's check


def _ambiguous(bounds, items, n: int):
    """The 2x2 form at n = 2: the module docstring's rule."""
    if not isinstance(bounds, np.ndarray) and all(isinstance(item, np.ndarray) for item in items):
        return _lower_upper(items, n)
    readings = {}
    rows = [list(item) for item in items]
    if not (_written_alike(rows[0][:1], rows[0][1:]) and _written_alike(rows[1][:1], rows[1][1:])):
        readings["pairs"] = _pairs(rows, n)
    if not _written_alike(rows[0], rows[1]):
        readings["(lb, ub)"] = _lower_upper(rows, n)
    valid = {name: box for name, box in readings.items() if empty_interval(*box) is None}
    if len(valid) == 2:
        (pl, pu), (ll, lu) = valid["pairs"], valid["(lb, ub)"]
        if np.array_equal(pl, ll) and np.array_equal(pu, lu):
            return pl, pu
        raise ProblemError(
            _ARGUMENT,
            f"{[[None if v is None else float(v) for v in r] for r in rows]} with n = 2 variables reads two ways: as (lower, upper) pairs "
            f"({_interval_text(pl, pu)}) or as (lb, ub) ({_interval_text(ll, lu)}); "
            "pass scipy.optimize.Bounds(lb, ub) to say which",
        )
    if valid:
        return next(iter(valid.values()))
    return readings.get("pairs") or readings.get("(lb, ub)") or _pairs(rows, n)  # reported by the caller's check


def read_bounds(bounds, n: int, *, pairs: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(lb, ub)``, two float arrays of length ``n``, from any accepted form of ``bounds``.

    See the module docstring for the forms and for the rule at the one ambiguous
    shape.

    Parameters
    ----------
    bounds : see the module docstring
    n : int
        The number of variables.
    pairs : bool
        For a caller whose documented contract is scipy.optimize.minimize's, where a
        sequence of two-entry sequences is always ``(lower, upper)`` pairs
        (:func:`lagrangian.minimize`): the ambiguous shape is then read as pairs,
        as scipy reads it, with no second reading. Every other form, and every
        error, is the same.

    Raises
    ------
    ProblemError
        ``argument == "bounds"``: a form that is not accepted, an ambiguous one,
        a non-real entry, or bounds that admit no point.
    """
    if bounds is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        # scipy's Bounds keeps a number as an array of one entry and broadcasts it.
        lower = _side(_one_entry_as_number(bounds.lb), -np.inf, n, "lb")
        upper = _side(_one_entry_as_number(bounds.ub), np.inf, n, "ub")
    elif _is_sequence(bounds):
        items = list(bounds)
        shapes = [_shape_of(item) for item in items]
        as_pairs = (len(items) == n or len(items) == 1) and all(s == ("vector", 2) for s in shapes) and n > 0
        as_lower_upper = len(items) == 2 and all(s in ("none", "number") or s == ("vector", n) for s in shapes)
        if as_pairs and as_lower_upper:
            lower, upper = _pairs(items, n) if pairs else _ambiguous(bounds, items, n)
        elif as_lower_upper and _pair_and_none_at_two(bounds, items, shapes, n):
            lower, upper = _pair_or_lower_upper(items, n)
        elif as_pairs:
            lower, upper = _pairs(items, n)
        elif as_lower_upper:
            lower, upper = _lower_upper(items, n)
        elif n == 0 and not items:
            lower, upper = np.zeros(0), np.zeros(0)
        else:
            raise ProblemError(_ARGUMENT, f"{_unreadable(items, shapes, n)}; {_FORMS.format(n=n)}")
    else:
        raise ProblemError(_ARGUMENT, f"got {describe(bounds)}; {_FORMS.format(n=n)}")
    problem = empty_interval(lower, upper)
    if problem is not None:
        raise ProblemError(_ARGUMENT, problem)
    return lower, upper


_FORMS = (
    "expected None, scipy.optimize.Bounds(lb, ub), a sequence of n = {n} (lower, upper) pairs, "
    "or a pair (lb, ub) whose sides are None, a number or {n} numbers"
)


def _unreadable(items, shapes, n: int) -> str:
    """What was found, for the error message."""
    for i, (item, shape) in enumerate(zip(items, shapes)):
        if shape == "other":
            if _is_sequence(item) and not (isinstance(item, np.ndarray) and item.ndim != 1):
                bad = next(e for e in item if not (e is None or _is_number(e)))
                return f"entry {i} ({describe(item)}) holds {describe(bad)}, not a number or None"
            return f"entry {i} is {describe(item)}, neither a number, None, nor a sequence of numbers"
    lengths = ["None" if s == "none" else "a number" if s == "number" else f"{s[1]} numbers" for s in shapes]
    return f"got {len(items)} entries ({', '.join(lengths)})"


def push_inside(values, lower, upper) -> np.ndarray:
    """``values`` moved at least ``min(1e-2 max(1, |bound|), 1e-2 width)`` inside ``[lower, upper]``.

    IPOPT's ``bound_push`` and ``bound_frac`` (both 1e-2; Waechter & Biegler 2006,
    section 3.6): the starting point must be strictly interior for the barrier,
    but not so close to a bound that the first barrier terms dominate. Intervals
    too narrow for both pushes get their midpoint, and a fixed variable
    (``lower == upper``) its value. A copy is returned; entries without finite
    bounds are unchanged.
    """
    values = np.array(values, dtype=float)
    width = upper - lower  # +inf unless both bounds are finite
    below, above = np.flatnonzero(np.isfinite(lower)), np.flatnonzero(np.isfinite(upper))
    low = lower[below] + np.minimum(BOUND_PUSH * np.maximum(1.0, np.abs(lower[below])), BOUND_PUSH * width[below])
    high = upper[above] - np.minimum(BOUND_PUSH * np.maximum(1.0, np.abs(upper[above])), BOUND_PUSH * width[above])
    values[below] = np.maximum(values[below], low)
    values[above] = np.minimum(values[above], high)
    raised, lowered = np.full(values.size, -np.inf), np.full(values.size, np.inf)
    raised[below], lowered[above] = low, high
    narrow = np.flatnonzero(raised > lowered)
    values[narrow] = 0.5 * (lower[narrow] + upper[narrow])
    return values
