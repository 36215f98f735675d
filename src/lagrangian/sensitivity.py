r"""Sensitivity of a solution to parameters: one more solve with the KKT matrix.

Let ``(x*, y*, z*)`` solve ``min f(x, p) s.t. cl <= c(x, p) <= cu, lb <= x <= ub`` at
``p = p0``, with strict complementarity and linearly independent active
constraints. Differentiating the active KKT conditions

.. math::

    \nabla_x L(x, y, p) + z = 0, \qquad c_A(x, p) = b_A, \qquad x_B = \text{bound}_B

(``A``: active rows, ``B``: variables at a bound) with respect to ``p`` gives the
implicit function theorem's linear system

.. code-block:: text

    [ H     J_A^T   E_B^T ] [ dx/dp   ]     [ d(grad_x L)/dp ]
    [ J_A   0       0     ] [ dy_A/dp ] = - [ dc_A/dp        ]
    [ E_B   0       0     ] [ dz_B/dp ]     [ 0              ]

with the same KKT matrix as the last Newton step (Fiacco 1976). By the envelope
theorem the optimal value moves as ``d f*/dp = df/dp + y^T dc/dp``; for a bound
``c_i(x) <= b`` (``dc_i/db = -1``) this is the shadow price ``d f*/d b = -y_i``.

The active set, the factored matrix and the choices made at degenerate solutions
are those of :class:`lagrangian.active_kkt.ActiveKKT`, which reverse mode
(:func:`lagrangian.reverse_mode.adjoint`) solves with too: ``sensitivity`` is ``K^{-1}``
applied to ``-dF/dp``, ``adjoint`` is ``K^{-T}`` applied to a cotangent, and
``<u, J v> == <J^T u, v>`` holds to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import ProblemError
from .active_kkt import ActiveKKT

__all__ = ["Sensitivity", "sensitivity"]


@dataclass(frozen=True)
class Sensitivity:
    """Derivatives of a solution with respect to ``k`` parameters.

    Attributes
    ----------
    dx : ndarray (n, k)
    dy : ndarray (m, k)
        Zero on inactive rows (their multipliers stay zero).
    dz : ndarray (n, k)
    value : ndarray (k,) or None
        ``d f*/dp`` (envelope theorem), when ``objective_p`` was given or implied.
    active_rows, active_bounds : ndarray of int
    """

    dx: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    value: np.ndarray | None
    active_rows: np.ndarray
    active_bounds: np.ndarray


def _columns(values, rows, name, k=None):
    if values is None:
        return None
    M = np.asarray(values.toarray() if sp.issparse(values) else values, dtype=float)
    M = M.reshape(rows, -1) if M.ndim < 2 else M
    if M.shape[0] != rows or (k is not None and M.shape[1] != k):
        raise ProblemError(name, f"expected shape ({rows}, {'k' if k is None else k}), got {M.shape}")
    return M


def sensitivity(solution, *, lagrangian_gradient_p=None, constraints_p=None, objective_p=None, active_tol: float = 1e-6):
    """``d(x*, y*, z*)/dp`` of a solved problem, from one solve with its KKT matrix.

    Parameters
    ----------
    solution : Solution or ActiveKKT
        A successful solution of a problem with a Hessian (exact or
        ``hessian="finite-differences"``); quasi-Newton models are not exact
        enough for sensitivities and are refused. An
        :class:`~lagrangian.active_kkt.ActiveKKT` already built at the solution
        is reused (its factorization serves every call).
    lagrangian_gradient_p : (n, k) array, optional
        ``d/dp (grad f + J^T y)`` at the solution (zero when ``p`` enters only
        the constraints' values).
    constraints_p : (m, k) array, optional
        ``dc/dp``. To move a bound ``b`` of row ``i`` (``c_i(x) <= b``), set
        ``constraints_p[i] = -1``: the row is ``c_i(x) - b <= 0``.
    objective_p : (k,) array, optional
        ``df/dp`` at the solution; with it, ``value`` is ``d f*/dp``.
    active_tol : float
        A row or bound is active when its multiplier exceeds ``active_tol *
        max(1, largest multiplier)`` (strict complementarity assumed), or when
        it is an equality; see :mod:`lagrangian.active_kkt` for weakly active
        and dependent constraints.

    Returns
    -------
    Sensitivity
    """
    kkt = solution if isinstance(solution, ActiveKKT) else ActiveKKT.from_solution(solution, active_tol=active_tol)
    n, m = kkt.n, kkt.m
    if lagrangian_gradient_p is None and constraints_p is None:
        raise ProblemError("lagrangian_gradient_p/constraints_p", "give at least one of them")
    Lp = _columns(lagrangian_gradient_p, n, "lagrangian_gradient_p")
    k = Lp.shape[1] if Lp is not None else _columns(constraints_p, m, "constraints_p").shape[1]
    Lp = np.zeros((n, k)) if Lp is None else Lp
    Cp = _columns(constraints_p, m, "constraints_p", k)
    Cp = np.zeros((m, k)) if Cp is None else Cp
    dx, dy, dz = kkt.solve(-Lp, -Cp)
    value = None if objective_p is None else np.asarray(objective_p, dtype=float).reshape(k) + kkt.y @ Cp
    return Sensitivity(dx, dy, dz, value, kkt.rows, kkt.bounds)
