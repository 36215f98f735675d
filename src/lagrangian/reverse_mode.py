r"""Reverse mode through a solution: cotangents of the parameters from one transposed KKT solve.

For ``min f(x, p) s.t. cl <= c(x, p) <= cu, lb <= x <= ub`` solved at ``p``, the
active KKT conditions ``F(x, y_A, z_B, p) = 0`` of :mod:`lagrangian.active_kkt`
define the solution implicitly, and the forward derivative is
``d(x, y_A, z_B)/dp = -K^{-1} G`` with ``K`` the active KKT matrix and
``G = dF/dp = [d(grad_x L)/dp; dc_A/dp; 0]``. A loss ``l(x*, y*, f*)`` with
cotangents ``(x_bar, y_bar, f_bar)`` therefore has

.. math::

    \bar p = -G^T w + \bar f \left(\frac{\partial f}{\partial p} + y^T \frac{\partial c}{\partial p}\right),
    \qquad K^T w = \begin{bmatrix} \bar x \\ \bar y_A \\ \bar z_B \end{bmatrix}

(the second term is the envelope theorem, ``d f*/dp = f_p + y^T c_p``). ``K`` is
symmetric, so ``w`` is one more solve with the same factorization as forward
mode; ``G^T w`` is two vector-Jacobian products,

.. math::

    \bar p = -\Big(\frac{\partial (\nabla_x L)}{\partial p}\Big)^T w_x
             - \Big(\frac{\partial c}{\partial p}\Big)^T w_y + \dots ,

which a layer computes with its own automatic differentiation (``w_x`` and ``w_y``
are :attr:`Cotangents.adjoint_x`, :attr:`Cotangents.adjoint_y`), or passes here as
matrices or callables. Sign convention: that of :mod:`lagrangian.convention`
(``grad f + J^T y + z = 0``; ``y_i > 0`` at ``cu_i``). The sides themselves are
parameters too: an active row at its upper side is ``c_i - cu_i = 0``, so
``cu_bar_i = w_{y,i} - f_bar y_i``, and likewise for ``cl``, ``lb``, ``ub``
(:meth:`lagrangian.active_kkt.ActiveKKT.side_cotangents`).

``K`` is the KKT matrix of the *active set read from the final complementarity*, not
the interior point's last barrier system: the barrier system differentiates the
barrier problem at the final ``mu`` (off by ``O(mu / gap^2)`` near almost-active
constraints), exists for one solver only, and would tie reverse mode to its
internals; the active-set matrix is the exact derivative of the solution map and the
same for every solver (the full argument is in :mod:`lagrangian.active_kkt`). Solvers
do not hand out their last factorization, and it would be the barrier matrix anyway,
so ``K`` is factored once here and then reused for every cotangent and every forward
direction (pass the :class:`~lagrangian.active_kkt.ActiveKKT` back in).

The matrix, its active set and the choices at degenerate solutions (weakly active
constraints held active, a minimum-norm least-squares answer for dependent active
gradients, each with a :class:`~lagrangian.active_kkt.DegenerateSolutionWarning`) are
:class:`~lagrangian.active_kkt.ActiveKKT`'s, shared with
:func:`lagrangian.sensitivity.sensitivity`: the two agree in the dot-product test
``<u, S v> = <S^T u, v>`` to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .active_kkt import ActiveKKT
from .errors import ProblemError

__all__ = ["Cotangents", "adjoint"]


@dataclass(frozen=True)
class Cotangents:
    """What reverse mode returns for one cotangent of the solution.

    Attributes
    ----------
    p : ndarray (k,) or None
        ``p_bar``, when parameter derivatives were given.
    cl, cu : ndarray (m,)
        Cotangents of the row sides (zero on inactive sides).
    lb, ub : ndarray (n,)
        Cotangents of the variable bounds.
    adjoint_x, adjoint_y, adjoint_z : ndarray
        ``w``, the solution of ``K^T w = (x_bar, y_bar_A, z_bar_B)`` in full
        coordinates (zero off the active set): contract them with your own
        ``d(grad_x L)/dp`` and ``dc/dp`` as ``p_bar = -(L_p^T w_x + c_p^T w_y)``.
    kkt : ActiveKKT
        The factored matrix, for further cotangents or forward sensitivities.
    """

    p: np.ndarray | None
    cl: np.ndarray
    cu: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    adjoint_x: np.ndarray
    adjoint_y: np.ndarray
    adjoint_z: np.ndarray
    kkt: ActiveKKT


def _vector(value, size, name):
    if value is None:
        return np.zeros(size)
    v = np.asarray(value, dtype=float)
    if v.shape != (size,):
        raise ProblemError(name, f"expected shape ({size},), got {v.shape}")
    if not np.isfinite(v).all():
        raise ProblemError(name, "contains NaN or infinite entries")
    return v


def _transpose_product(derivative, w, rows, name):
    """``D^T w`` for a derivative given as an (rows, k) matrix or as a callable ``w -> D^T w``."""
    if derivative is None:
        return None
    if callable(derivative):
        product = np.asarray(derivative(w), dtype=float)
        if product.ndim != 1:
            raise ProblemError(name, f"a vector-Jacobian product must return a 1-D array, got shape {product.shape}")
        return product
    D = derivative if sp.issparse(derivative) else np.asarray(derivative, dtype=float)
    D = D.reshape(rows, -1) if D.ndim < 2 else D
    if D.shape[0] != rows:
        raise ProblemError(name, f"expected {rows} rows, got shape {D.shape}")
    return np.asarray(D.T @ w, dtype=float).ravel()


def adjoint(
    solution,
    x_bar=None,
    *,
    y_bar=None,
    z_bar=None,
    fun_bar: float = 0.0,
    lagrangian_gradient_p=None,
    constraints_p=None,
    objective_p=None,
    active_tol: float = 1e-6,
) -> Cotangents:
    r"""Cotangents of the parameters of a solved problem from those of its solution.

    Parameters
    ----------
    solution : Solution or ActiveKKT
        A successful solution of a problem with a Hessian, or the
        :class:`~lagrangian.active_kkt.ActiveKKT` built at one (reused: one
        factorization serves every cotangent).
    x_bar : (n,) array, optional
        Cotangent of ``x*`` (``d loss / d x*``).
    y_bar : (m,) array, optional
        Cotangent of the constraint multipliers ``y*``.
    z_bar : (n,) array, optional
        Cotangent of the bound multipliers ``z*``.
    fun_bar : float
        Cotangent of the optimal value ``f*``.
    lagrangian_gradient_p : (n, k) matrix or callable, optional
        ``d(grad_x L)/dp`` at the solution, or ``w -> (d(grad_x L)/dp)^T w``.
    constraints_p : (m, k) matrix or callable, optional
        ``dc/dp``, or ``w -> (dc/dp)^T w``.
    objective_p : (k,) array, optional
        ``df/dp`` (only read when ``fun_bar`` is nonzero).
    active_tol : float
        See :class:`~lagrangian.active_kkt.ActiveKKT`.

    Returns
    -------
    Cotangents
        ``p`` is ``None`` when no parameter derivative was given; the side
        cotangents ``cl, cu, lb, ub`` are always there.
    """
    kkt = solution if isinstance(solution, ActiveKKT) else ActiveKKT.from_solution(solution, active_tol=active_tol)
    n, m = kkt.n, kkt.m
    x_bar, y_bar, z_bar = _vector(x_bar, n, "x_bar"), _vector(y_bar, m, "y_bar"), _vector(z_bar, n, "z_bar")
    fun_bar = float(fun_bar)
    wx, wy, wz = kkt.solve(x_bar, y_bar, z_bar)
    terms = []
    for derivative, w, rows, name in ((lagrangian_gradient_p, wx, n, "lagrangian_gradient_p"), (constraints_p, wy, m, "constraints_p")):
        product = _transpose_product(derivative, -w, rows, name)
        if product is not None:
            terms.append(product)
    if fun_bar != 0.0:
        if objective_p is not None:
            terms.append(fun_bar * np.asarray(objective_p, dtype=float).ravel())
        product = _transpose_product(constraints_p, fun_bar * kkt.y, m, "constraints_p")
        if product is not None:
            terms.append(product)
    sizes = {t.size for t in terms}
    if len(sizes) > 1:
        raise ProblemError("lagrangian_gradient_p/constraints_p/objective_p", f"disagree on the number of parameters: {sorted(sizes)}")
    p_bar = np.sum(terms, axis=0) if terms else None
    cl, cu, lb, ub = kkt.side_cotangents(wy, wz, fun_bar)
    return Cotangents(p_bar, cl, cu, lb, ub, wx, wy, wz, kkt)
