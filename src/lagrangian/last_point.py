r"""The user's functions evaluated once per point: a solve's memory of the last value of each.

A solve asks for the same value at the same point more than once: the interior point
reads :math:`\nabla f(x_0)` and :math:`J(x_0)` to choose its scaling and again for its
first iterate, and at the end the polish and the second-order check read
:math:`c, \nabla f, J` at the point the iteration just evaluated. A user's function
may cost far more than the solver's own arithmetic (on CUTEst, most of a solve's
time), so each such repeat is paid in full. scipy answers the same problem the same
way: its ``ScalarFunction`` and ``VectorFunction`` re-evaluate only when ``x``
changes.

:class:`LastPoint` keeps, for each kind of value (objective, gradient, constraint
values, Jacobian, Hessian), the last point it was evaluated at and the value there. It
is active only inside a solve (:meth:`lagrangian.Problem.reusing_evaluations`):
between solves the user may change what a function computes (a parameter captured in
a closure, a data array refilled in place), and a value kept from before would then
be silently wrong. Points compare by their bytes, exactly: a point that differs in the
last bit is a new point.

Values are kept as private copies and handed out as copies: a user's function may
hand back a buffer it refills at the next call (the joint objective-and-gradient
pattern), and a caller may write into a value it was given (the gradient a result
reports as ``jac`` is the user's to change). Counts (``Problem.counts``, a result's
``evaluations``) count the user's calls, so a value read from here is not counted
again.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LastPoint"]


def _copy(value):
    """A copy of an evaluation's value: a float, a 1-D or 2-D ndarray, or a sparse array."""
    return value if isinstance(value, float) else value.copy()


class LastPoint:
    """The last ``(point, value)`` of each kind of evaluation, looked up by the point's bytes.

    ``key`` is made of the arrays the value depends on (``x``, or ``x`` and ``y`` for the
    Hessian of the Lagrangian). A Jacobian or Hessian is kept in the form it was
    computed in (dense or sparse); :class:`~lagrangian.Problem` converts it when a caller
    asks for the other.
    """

    __slots__ = ("_values",)

    def __init__(self):
        self._values = {}

    @staticmethod
    def key(*arrays) -> bytes:
        # The bytes of each array (x[:n] of an iterate is contiguous, so tobytes is one copy);
        # their lengths are fixed by the problem, so the concatenation is unambiguous.
        return b"".join(np.ascontiguousarray(a, dtype=float).tobytes() for a in arrays)

    def get(self, kind: str, key: bytes):
        """A copy of the value kept for ``kind`` at ``key``, or None."""
        kept = self._values.get(kind)
        return _copy(kept[1]) if kept is not None and kept[0] == key else None

    def latest(self, kind: str):
        """``(key, value)``: the key and a copy of the value last kept for ``kind``, wherever it was taken; or None."""
        kept = self._values.get(kind)
        return None if kept is None else (kept[0], _copy(kept[1]))

    def put(self, kind: str, key: bytes, value):
        """Keep a copy of ``value`` as ``kind`` at ``key``; return ``value`` as it was given."""
        self._values[kind] = (key, _copy(value))
        return value
