r"""Solving with a KKT matrix through a factorization of its scaled, shifted version.

:class:`ScaledFactorization` holds a factorization of ``S K S`` plus a small
quasidefinite shift (:mod:`lagrangian.linalg.kkt_factorization` makes it) and solves
with ``K`` itself by refinement; :class:`LowRankCorrectedFactorization` adds a
limited-memory quasi-Newton term ``-W M W^T`` to ``K`` by Sherman-Morrison-Woodbury.
"""

from __future__ import annotations

import numpy as np

from ..errors import SingularMatrixError
from .factorization_base import right_hand_side

__all__ = ["ScaledFactorization", "LowRankCorrectedFactorization"]


class ScaledFactorization:
    r"""A factorization of ``S K S`` used to solve with ``K``: ``x = S (S K S)^{-1} S b``.

    The factored matrix is a perturbation of ``S K S`` (a quasidefinite shift), so
    every solve is refined, ``x <- x + S F^{-1} S (b - K x)`` (at most
    ``refinement_steps`` times):

    - while the scaled residual ``||S (b - K x)||`` or the unscaled one
      ``||b - K x||`` at least halves, neither growing (infinity norms). The scaled
      residual weighs every row by its own size after equilibration; the unscaled
      one keeps refining a constraint row whose right-hand side is a tiny
      violation next to Hessian entries of 1e8 in the user's units;
    - until the normwise backward error below is at rounding level and the
      componentwise one, ``max_i |r_i| / (|K| |x| + |b|)_i`` (Oettli & Prager
      1964), is below 1e-10. A normwise test alone let a linear row of the
      scaling benchmark keep a residual of 4e-9, 1e-9 of its own size, through
      every iteration of the interior point.

    Each step contracts the error by about ``||shift|| ||(S K S)^{-1}||``, which
    comes close to 1 on the ill-conditioned matrices of an interior point near
    its end; there refinement stops early and the check below decides.

    The answer is then checked by its normwise backward error in the scaled
    space, ``||S r|| / (||S K S|| ||S^{-1} x|| + ||S b||)``, against the
    factorization's ``accept_residual``, and in the user's rows
    (:meth:`_grossly_wrong`): a singular ``K`` shows up as a solve that
    refinement cannot make small, and raises
    :class:`~lagrangian.errors.SingularMatrixError` instead of answering.
    """

    refinement_steps = 10
    #: A normwise backward error this small is rounding level: no refinement step can improve it.
    rounding = 4 * np.finfo(float).eps

    #: Every row solved to ten digits of its own size (componentwise backward error).
    rounding_componentwise = 1e-10

    #: IPOPT's ``residual_ratio_singular``: past it, in both measures of :meth:`_grossly_wrong`, a solve is no answer.
    gross_residual = 1e-5

    def __init__(self, factorization, scale, matrix, magnitude, scaled_norm):
        self.factorization, self.scale, self.matrix, self.magnitude = factorization, scale, matrix, magnitude
        self.scaled_norm = scaled_norm

    @property
    def inertia(self):
        """``(n_positive, n_negative, n_zero)`` of ``K`` (a congruence keeps it), or None if unknown."""
        return self.factorization.inertia

    @property
    def singular(self) -> bool:
        return self.factorization.singular

    def _rows_accurate(self, b, x, r, bound: float | None = None) -> bool:
        r"""Whether the componentwise backward error :math:`\max_i |r_i| / (|K| |x| + |b|)_i`
        (Oettli & Prager 1964) is at most ``bound`` (default ``rounding_componentwise``)."""
        bound = self.rounding_componentwise if bound is None else bound
        return bool((np.abs(r) <= bound * (self._magnitude_times(np.abs(x)) + np.abs(b))).all())

    # The three operations the refinement below is made of; LowRankCorrectedFactorization
    # overrides them to refine against a low-rank corrected K with the same loop.
    def _magnitude_times(self, v):
        """``|K| v``."""
        return self.magnitude @ v

    def _times(self, x):
        """``K x``."""
        return self.matrix @ x

    def _approximate_solve(self, r):
        """``S F^{-1} S r``: one solve with the (shifted) factorization, not refined."""
        s = self.scale if r.ndim == 1 else self.scale[:, None]
        return s * self.factorization.direct_solve(s * r)

    def solve(self, b):
        b = right_hand_side(b, self.scale.size)
        s = self.scale if b.ndim == 1 else self.scale[:, None]
        scaled_b = np.abs(s * b).max(initial=0.0)
        # b is checked once here; every later right-hand side is a residual of finite vectors.

        def measure(x):
            """``(r, ||S r||, ||r||)`` and the normwise backward error ``||S r|| / (||S K S|| ||S^{-1} x|| + ||S b||)``."""
            r = b - self._times(x)
            scaled = np.abs(s * r).max(initial=0.0)
            denominator = self.scaled_norm * np.abs(x / s).max(initial=0.0) + scaled_b
            return r, scaled, np.abs(r).max(initial=0.0), (scaled / denominator if denominator > 0 else 0.0)

        with np.errstate(over="ignore", invalid="ignore"):
            x = self._approximate_solve(b)
            residual, scaled, unscaled, error = measure(x)
            for _ in range(self.refinement_steps):
                # Normwise accuracy can hide a row solved only to 1e-9 of its own size
                # (a linear constraint next to barrier terms of 1e8): stop only when every
                # row is at rounding level too.
                if unscaled == 0.0 or (error <= self.rounding and self._rows_accurate(b, x, residual)):
                    break
                candidate = x + self._approximate_solve(residual)
                candidate_residual, candidate_scaled, candidate_unscaled, candidate_error = measure(candidate)
                progress = candidate_scaled < 0.5 * scaled or candidate_unscaled < 0.5 * unscaled
                # (NaN compares False: a solve that overflowed stops here)
                if not (progress and candidate_scaled <= scaled and candidate_unscaled <= unscaled):
                    break
                x, residual, scaled, unscaled, error = candidate, candidate_residual, candidate_scaled, candidate_unscaled, candidate_error
        if not (np.isfinite(x).all() and error <= self.factorization.accept_residual):
            raise SingularMatrixError(
                f"KKT solve left a relative residual of {error:.2e} after refinement: the matrix is numerically "
                "singular or too ill-conditioned for this right-hand side",
                pivot=self.factorization.pivot_ratio,
            )
        if self._grossly_wrong(b, x, residual, unscaled):
            raise SingularMatrixError(
                f"KKT solve left a residual of {unscaled:.2e} (right-hand side {np.abs(b).max(initial=0.0):.2e}) in rows "
                "that the scaled test weighed as nothing: the scaling or the factorization has lost those rows",
                pivot=self.factorization.pivot_ratio,
            )
        return x

    def _grossly_wrong(self, b, x, r, unscaled) -> bool:
        r"""Whether a solve that passed the scaled normwise test is still wrong in the user's rows.

        The scaled test weighs each row by ``S``; where ``S`` is extreme (a barrier term
        of 1e17 next to Hessian rows of 1e2, or an equilibration carried over from such
        a matrix) a component of ``S^{-1} x`` can dominate its denominator and hide a
        residual as large as the right-hand side in another row. CUTEst POLAK3 took
        700 steps of 6e-10 that way, each leaving ``|r| = 44`` against ``|b| = 1``. A solve
        is rejected when both of these exceed ``gross_residual``: IPOPT's residual ratio
        ``||r|| / (min(||x||, 1e6 ||b||) + ||b||)`` (its ``residual_ratio_singular``,
        infinity norms) and the componentwise backward error
        ``max_i |r_i| / (|K| |x| + |b|)_i`` (Oettli & Prager 1964). Either alone
        misjudges accurate solves: IPOPT's at rows with barrier terms of 1e17, whose
        rounding alone is large in absolute terms; the componentwise one at rows whose
        own terms cancel.
        """
        if unscaled == 0.0:
            return False
        size_b = np.abs(b).max(initial=0.0)
        ratio = unscaled / (min(np.abs(x).max(initial=0.0), 1e6 * size_b) + size_b)
        return bool(ratio > self.gross_residual) and not self._rows_accurate(b, x, r, self.gross_residual)


class LowRankCorrectedFactorization(ScaledFactorization):
    r"""Solves with ``K - U M U^T`` from a factorization of ``K`` (Sherman-Morrison-Woodbury).

    .. math::

        (K - U M U^T)^{-1} b = x_0 + Z \, C^{-1} U^T x_0, \qquad
        x_0 = K^{-1} b, \quad Z = K^{-1} U, \quad C = M^{-1} - U^T Z .

    A limited-memory BFGS Hessian ``B = sigma I - W M W^T``
    (:class:`~lagrangian.derivatives.LimitedMemoryBFGS`) enters the KKT matrix this
    way: ``K`` is factored sparse with ``sigma I`` in ``B``'s place and ``U`` is
    ``W`` padded with zero rows. ``Z`` costs ``r`` solves with the factorization
    (``r = 2k`` columns) once. The formula with the factorization's unrefined
    solves is an approximate inverse of the corrected matrix; the refinement of
    :class:`ScaledFactorization`, run against the corrected matrix, makes it exact
    and checks the answer, so each solve costs what a solve with ``K`` costs plus
    ``O(r N)``. A singular capacitance ``C`` or corrected matrix raises
    :class:`~lagrangian.errors.SingularMatrixError`. The inertia reported is
    ``K``'s: with ``B`` positive definite it is also the corrected matrix's.
    """

    def __init__(self, base: ScaledFactorization, W: np.ndarray, middle_inverse: np.ndarray):
        # U = [W; 0]: only W's rows (the variables') are stored and multiplied.
        self.base, self.W, self._rows = base, W, W.shape[0]
        super().__init__(base.factorization, base.scale, base.matrix, base.magnitude, base.scaled_norm)
        U = np.zeros((base.scale.size, W.shape[1]))
        U[: self._rows] = W
        self.Z = base._approximate_solve(U)
        try:
            self._capacitance = np.linalg.inv(middle_inverse - W.T @ self.Z[: self._rows])
            self._middle = np.linalg.inv(middle_inverse)
        except np.linalg.LinAlgError:
            raise SingularMatrixError("the low-rank corrected KKT matrix is singular (Sherman-Morrison-Woodbury capacitance)", pivot=None) from None
        self._absolute_W, self._absolute_middle = np.abs(W), np.abs(self._middle)
        # ||S (K - U M U^T) S|| <= ||S K S|| + ||S U|| ||M|| ||U^T S||  (infinity norms)
        SW = np.abs(base.scale[: self._rows, None] * W)
        self.scaled_norm = base.scaled_norm + float(
            SW.sum(axis=1).max(initial=0.0) * self._absolute_middle.sum(axis=1).max(initial=0.0) * SW.sum(axis=0).max(initial=0.0)
        )

    def _low_rank_times(self, W, middle, x):
        """``[W; 0] middle [W; 0]^T x``."""
        y = np.zeros_like(x)
        y[: self._rows] = W @ (middle @ (W.T @ x[: self._rows]))
        return y

    def _times(self, x):
        return self.base._times(x) - self._low_rank_times(self.W, self._middle, x)

    def _magnitude_times(self, v):
        return self.base._magnitude_times(v) + self._low_rank_times(self._absolute_W, self._absolute_middle, v)

    def _approximate_solve(self, r):
        x = self.base._approximate_solve(r)
        return x + self.Z @ (self._capacitance @ (self.W.T @ x[: self._rows]))
