r"""Ruiz equilibration of a quadratic program: balanced units for the convex QP solver."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..convexity import scaled
from .qp_form import farkas_certificate, ray_certificate

__all__ = ["Equilibration", "column_maxima"]


class Equilibration:
    r"""The QP in balanced units: ``x = D x'`` and rows multiplied by ``R``.

    Ruiz's iteration (Ruiz 2001; as in OSQP) on ``[[P, A^T], [A, 0]]``: each sweep
    divides every column of ``D P D`` and ``R A D`` by the square root of its largest
    entry and every row of ``R A D`` likewise, so the scaled matrix has entries of
    at most about one in every row and column. The scaled program

    .. math::

        \min \tfrac12 x'^T (D P D) x' + (D q)^T x' \quad \text{s.t.} \quad
        R l \le R A D x' \le R u, \quad D^{-1} l_x \le x' \le D^{-1} u_x

    has the same objective values at corresponding points, and its multipliers
    map back as ``y = R y'``, ``z = D^{-1} z'`` (stationarity
    ``D (P x + q + A^T R y' + D^{-1} z') = 0``); a Farkas vector maps the same way and
    a ray as ``d = D d'``. The interior-point method's starting point, step and
    stopping tests all measure residuals in the scaled units, where no row or
    variable dominates by its units alone.
    """

    _SWEEPS = 10
    _LIMITS = (1e-4, 1e4)  # no factor beyond these: they would amplify rounding more than they balance

    def __init__(self, qp):
        QuadraticProgram = type(qp)
        absolute_P, absolute_A = abs(sp.csr_array(qp.P)), abs(sp.csr_array(qp.A))
        D, R = np.ones(qp.n), np.ones(qp.A.shape[0])
        for _ in range(self._SWEEPS):
            scaled_P, scaled_A = scaled(absolute_P, D, D), scaled(absolute_A, R, D)
            columns = np.maximum(column_maxima(scaled_P), column_maxima(scaled_A))
            rows = column_maxima(sp.csr_array(scaled_A.T))
            D = np.clip(D / np.sqrt(np.where(columns > 0, columns, 1.0)), *self._LIMITS)
            R = np.clip(R / np.sqrt(np.where(rows > 0, rows, 1.0)), *self._LIMITS)
        self.D, self.R = D, R
        P, A = scaled(qp.P, D, D), scaled(qp.A, R, D)
        self.program = QuadraticProgram(P, D * qp.q, A, R * qp.l, R * qp.u, bounds=(qp.lb / D, qp.ub / D), r=qp.r)

    def restore(self, qp, x, y, z, certificate):
        """``(x, y, z, certificate)`` of the original ``qp`` from those of :attr:`program`."""
        if certificate is not None and certificate.kind == "infeasible":
            y_c, z_c = self.R * certificate.y, certificate.z / self.D
            # The bound multipliers that cancel A^T y exactly, wherever the side their sign needs
            # exists: the residual A^T y + z, which 1/D may have magnified, is then rounding only.
            cancel = -(qp.A.T @ y_c)
            usable = np.where(cancel > 0, np.isfinite(qp.ub), np.where(cancel < 0, np.isfinite(qp.lb), True))
            polished = farkas_certificate(qp, y_c, np.where(usable, cancel, z_c))
            certificate = polished or farkas_certificate(qp, y_c, z_c) or certificate
        elif certificate is not None:
            certificate = ray_certificate(qp, self.D * certificate.d)
        return self.D * x, self.R * y, z / self.D, certificate


def column_maxima(M):
    """Largest ``|M_ij|`` of each column of a non-negative sparse ``M`` (0 for an empty column)."""
    out = np.zeros(M.shape[1])
    if M.nnz:
        coo = sp.coo_array(M)
        np.maximum.at(out, coo.col, coo.data)
    return out
