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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import ProblemError
from .linalg.kkt_factorization import factorize_kkt

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
    solution : Solution
        A successful solution of a problem with a Hessian (exact or
        ``hessian="finite-differences"``); quasi-Newton models are not exact
        enough for sensitivities and are refused.
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
        it is an equality.

    Returns
    -------
    Sensitivity
    """
    problem = solution._problem
    if problem is None or not solution.success:
        raise ProblemError("solution", "needs a successful Solution that still knows its problem")
    if not problem.has_hessian:
        raise ProblemError(
            "solution", "sensitivities need the Hessian of the Lagrangian; build the problem with hessian= "
            "(a callable or 'finite-differences')"
        )
    n, m = problem.n, problem.m
    given = [a for a in (lagrangian_gradient_p, constraints_p) if a is not None]
    if not given:
        raise ProblemError("lagrangian_gradient_p/constraints_p", "give at least one of them")
    Lp = _columns(lagrangian_gradient_p, n, "lagrangian_gradient_p")
    k = Lp.shape[1] if Lp is not None else _columns(constraints_p, m, "constraints_p").shape[1]
    Lp = np.zeros((n, k)) if Lp is None else Lp
    Cp = _columns(constraints_p, m, "constraints_p", k)
    Cp = np.zeros((m, k)) if Cp is None else Cp

    x, y, z = solution.x, solution.y, solution.z
    scale = max(1.0, np.abs(y).max(initial=0.0), np.abs(z).max(initial=0.0))
    rows = np.flatnonzero((problem.cl == problem.cu) | (np.abs(y) > active_tol * scale))
    bounds = np.flatnonzero(np.abs(z) > active_tol * scale)
    H = problem.hessian(x, y)
    J = sp.vstack([problem.jacobian(x)[rows], sp.eye_array(n, format="csr")[bounds]], format="csr")
    F = factorize_kkt(H, J)
    rhs = -np.vstack([Lp, Cp[rows], np.zeros((bounds.size, k))])
    step = F.solve(rhs)
    dx = step[:n]
    dy, dz = np.zeros((m, k)), np.zeros((n, k))
    dy[rows] = step[n : n + rows.size]
    dz[bounds] = step[n + rows.size :]
    value = None if objective_p is None else np.asarray(objective_p, dtype=float).reshape(k) + y @ Cp
    return Sensitivity(dx, dy, dz, value, rows, bounds)
