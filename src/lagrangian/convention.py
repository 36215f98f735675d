r"""The Lagrangian and the one sign convention of this package.

For the problem

.. math::

    \min_x f(x) \quad \text{s.t.} \quad c_l \le c(x) \le c_u, \quad l \le x \le u

the Lagrangian is

.. math::

    L(x, y, z) = f(x) + y^T c(x) + z^T x ,

and a KKT point satisfies

* stationarity: :math:`\nabla f(x) + J(x)^T y + z = 0`, with ``J = dc/dx``;
* primal feasibility: :math:`c_l \le c(x) \le c_u`, :math:`l \le x \le u`;
* sign and complementarity: :math:`y_i \ge 0` only if row ``i`` is at its upper
  bound :math:`c_{u,i}`, :math:`y_i \le 0` only if it is at its lower bound
  :math:`c_{l,i}`, :math:`y_i` free for an equality; likewise :math:`z_j \ge 0` at
  :math:`u_j` and :math:`z_j \le 0` at :math:`l_j`.

So a multiplier is the rate at which the optimal value falls as its bound is
relaxed outward: :math:`y_i = -\partial f^* / \partial c_{u,i}` for an active upper
bound. (For ``minimize f s.t. g(x) <= 0`` this is the textbook :math:`y \ge 0`.)

Every other part of the package (solvers, computation graphs, the scipy and cvxpy
interfaces, the documentation) converts to and from this convention explicitly, and
only the functions in this module encode it.
"""

from __future__ import annotations

import numpy as np

from . import linalg

__all__ = [
    "lagrangian_value",
    "lagrangian_gradient",
    "bound_violation",
    "complementarity_violation",
]


def lagrangian_value(f: float, c: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """``L = f + y^T c + z^T x``: the constants of the bounds drop out of every derivative."""
    return float(f + y @ c + z @ x)


def lagrangian_gradient(gradient: np.ndarray, jacobian, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``grad_x L = grad f + J^T y + z``: the stationarity residual."""
    return gradient + linalg.transpose_times(jacobian, y) + z


def bound_violation(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Element-wise distance outside ``[lower, upper]`` (zero inside)."""
    return np.maximum(0.0, np.maximum(lower - values, values - upper))


def complementarity_violation(values, lower, upper, multipliers) -> np.ndarray:
    """Element-wise complementarity and sign violation of multipliers on two-sided bounds.

    The positive part ``y+`` of a multiplier belongs to the upper bound and must
    vanish unless the value sits there; the negative part ``y-`` likewise at the
    lower bound::

        v_i = max( y+_i * |u_i - v_i|,  y-_i * |v_i - l_i| ),

    where a multiplier pushing toward an infinite bound counts in full (the
    distance is taken as 1), since it has the wrong sign. Equalities (``l == u``)
    contribute nothing: their multipliers are free.
    """
    positive = np.maximum(multipliers, 0.0)
    negative = np.maximum(-multipliers, 0.0)
    with np.errstate(invalid="ignore"):
        to_upper = np.where(np.isfinite(upper), np.abs(upper - values), 1.0)
        to_lower = np.where(np.isfinite(lower), np.abs(values - lower), 1.0)
    violation = np.maximum(positive * to_upper, negative * to_lower)
    return np.where(lower == upper, 0.0, violation)
