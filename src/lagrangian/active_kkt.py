r"""The KKT matrix of the active constraints at a solution: the one matrix that both
forward sensitivities (:mod:`lagrangian.sensitivity`) and reverse-mode cotangents
(:mod:`lagrangian.reverse_mode`) solve with.

At a solution ``(x*, y*, z*)`` of ``min f(x, p) s.t. cl <= c(x, p) <= cu, lb <= x <= ub``
with strict complementarity, the constraints that hold as equalities nearby are the
*active set*: the rows ``A`` with a nonzero multiplier ``y_i`` (and every equality
row), each sitting at the side its multiplier's sign names (``y_i > 0`` at ``cu_i``,
``y_i < 0`` at ``cl_i``, :mod:`lagrangian.convention`), and the variables ``B`` with a
nonzero bound multiplier ``z_j``. The solution then solves the square system

.. math::

    F(x, y_A, z_B, p) =
    \begin{bmatrix} \nabla_x f + J_A^T y_A + E_B^T z_B \\ c_A(x, p) - b_A \\ x_B - d_B \end{bmatrix} = 0

(``b_A``: the active sides of the rows, ``d_B`` of the bounds, ``E_B`` the rows of the
identity that pick ``x_B``), whose Jacobian in ``(x, y_A, z_B)`` is the symmetric
matrix

.. code-block:: text

    K = [ H     J_A^T   E_B^T ]      H = Hessian of the Lagrangian at (x*, y*)
        [ J_A   0       0     ]
        [ E_B   0       0     ]

By the implicit function theorem the solution moves as ``K d(x, y_A, z_B) = -dF/dp dp``
(Fiacco 1976). :class:`ActiveKKT` reads the active set, factors ``K`` once and solves
with it for any number of right-hand sides; ``K`` is symmetric, so the same solve
serves the forward (``K^{-1}``) and the transposed (``K^{-T}``) derivative.

Why the active set and not the interior point's last barrier system
--------------------------------------------------------------------
The barrier system ``[[H + Sigma, J^T], [J, -D]]`` at the last iterate is the
derivative of the *barrier* problem's solution at the final ``mu``, not of the
solution: every inactive constraint contributes a ``Sigma = z/s`` of about ``mu/s^2``
and every active one a diagonal of about ``z^2/mu``, so the derivative it gives is
off by ``O(mu / s^2)`` near constraints that are almost active and its conditioning
grows like ``1/mu``. It exists only for the interior point, not for Newton-KKT or
the convex QP solver, and it would tie this module to a solver's internals. The
active-set matrix is the exact derivative of the solution map wherever that map is
differentiable (strict complementarity, independent active gradients, second-order
sufficiency), the same for every solver that produced the solution, and it is what
forward :func:`lagrangian.sensitivity.sensitivity` has always used, so forward and
reverse mode agree to rounding (a dot-product test, not a tolerance on ``mu``).

Degenerate solutions: the documented choices
--------------------------------------------
Where the solution map is not differentiable, the answer is one element of its
generalized Jacobian, chosen as follows, and a :class:`DegenerateSolutionWarning`
says which case was met; no result is NaN.

- **Weakly active** constraints (at a side within ``active_tol`` of it, with a
  multiplier below ``active_tol`` of the largest) are *held active*: the derivative is that
  of the problem with the constraint kept at its bound, i.e. the one-sided
  derivative for perturbations that push into the constraint; it keeps ``x* + dx``
  feasible to first order for every perturbation.
- **Rank-deficient active Jacobian** (more active constraints than variables, or
  dependent active gradients): ``K`` is singular and the multipliers are not
  unique. The answer is the minimum-norm least-squares solution ``K^+ r`` (the
  pseudo-inverse, symmetric, so forward and reverse still agree): ``dx`` is the
  exact derivative wherever it exists, ``dy`` the minimum-norm multiplier change,
  and a cotangent of ``y`` along a direction in which ``y`` is not determined is
  ignored. Dense up to :data:`PSEUDO_INVERSE_LIMIT` unknowns; above that, a
  ``1e-8`` regularization of both blocks (the Tikhonov path to the same limit).
- **A singular reduced Hessian** (``x*`` not unique, as for an LP whose cost is
  parallel to a face) is met when a solve fails: the same least-squares answer, with
  the warning.
- **No second-order sufficiency** (``K``'s inertia is not ``(n, |A|+|B|, 0)``: the
  point is a saddle or a non-strict minimum): the linear system is still solved
  exactly when ``K`` is nonsingular; its answer is the derivative of the stationary
  point, which is then not a local minimizer's.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from .errors import ProblemError, SingularMatrixError
from .linalg import as_csr
from .linalg.kkt_factorization import factorize_kkt

__all__ = ["ActiveKKT", "DegenerateSolutionWarning", "PSEUDO_INVERSE_LIMIT"]

#: Up to this many unknowns a singular active KKT matrix is solved by a dense
#: pseudo-inverse (minimum-norm least squares); above it, by a small dual regularization.
PSEUDO_INVERSE_LIMIT = 3000


class DegenerateSolutionWarning(UserWarning):
    """The solution map is not differentiable here; a documented choice was returned
    (see :mod:`lagrangian.active_kkt`)."""


def _classify(values, lower, upper, multipliers, scale, active_tol):
    """Active indices, whether each sits at its upper side, and which are only weakly active.

    ``values`` are the constrained quantities (``c(x)`` or ``x``). Each entry is tested
    at its side: the one its multiplier's sign names (``y > 0``: upper), or the nearer
    one when the multiplier is zero or names an infinite side. With the multiplier
    relative to the largest, ``|y| / scale``, and the gap to the side relative to the
    side, ``gap / max(1, |side|)``, an entry is

    - active when the relative multiplier exceeds both ``active_tol`` and the relative
      gap (complementarity ``y * gap ~ 0`` says which of the two is the zero one: an
      interior point at tolerance 1e-8 leaves multipliers of 1e-6 on inactive rows
      whose gap is 1e-3, and gaps of 1e-9 on active rows);
    - weakly active when both are at most ``active_tol`` (then it is held active);
    - inactive otherwise. An equality (``lower == upper``) is always active.
    """
    finite_upper, finite_lower = np.isfinite(upper), np.isfinite(lower)
    with np.errstate(invalid="ignore"):
        gap_upper = np.where(finite_upper, np.abs(upper - values) / np.maximum(1.0, np.abs(upper)), np.inf)
        gap_lower = np.where(finite_lower, np.abs(values - lower) / np.maximum(1.0, np.abs(lower)), np.inf)
    # The side: the multiplier's sign where it names a finite side (an equality's too:
    # y > 0 means the row presses on cu, which is what moving cu alone would feel);
    # else the nearer side.
    named_upper = (multipliers > 0.0) & finite_upper
    named_lower = (multipliers < 0.0) & finite_lower
    at_upper = np.where(named_upper | named_lower, named_upper, gap_upper <= gap_lower)
    gap = np.where(at_upper, gap_upper, gap_lower)
    strength = np.abs(multipliers) / scale
    equality = lower == upper
    strong = equality | ((strength > active_tol) & (strength > gap))
    weak = ~strong & (strength <= active_tol) & (gap <= active_tol)
    active = np.flatnonzero(strong | weak)
    return active, at_upper[active], np.flatnonzero(weak)


class ActiveKKT:
    r"""The active-set KKT matrix at a solution, factored once, solved with many times.

    Build it with :meth:`from_solution` (from a :class:`~lagrangian.Solution`) or
    directly from the arrays at the solution (a layer that solved elsewhere and only
    kept ``x, y, z``).

    Parameters
    ----------
    hessian : (n, n) matrix
        Hessian of the Lagrangian at ``(x*, y*)``.
    jacobian : (m, n) matrix
        ``dc/dx`` at ``x*``.
    constraint_values : (m,) array
        ``c(x*)``.
    x, y, z : arrays
        The solution, in the convention of :mod:`lagrangian.convention`.
    cl, cu, lb, ub : arrays
        Row and variable bounds.
    active_tol : float
        Relative threshold of the active-set test (see the module docstring).

    Attributes
    ----------
    rows, bounds : ndarray of int
        Active rows and active variable bounds.
    rows_at_upper, bounds_at_upper : ndarray of bool
        Which side each one sits at.
    weak_rows, weak_bounds : ndarray of int
        The weakly active ones among them.
    degenerate : tuple of str
        The degenerate cases met (empty for a regular solution).
    """

    def __init__(self, hessian, jacobian, constraint_values, x, y, z, cl, cu, lb, ub, *, active_tol: float = 1e-6):
        x, y, z = (np.asarray(v, dtype=float) for v in (x, y, z))
        self.n, self.m = n, m = x.size, y.size
        self.x, self.y, self.z = x, y, z
        scale = max(1.0, np.abs(y).max(initial=0.0), np.abs(z).max(initial=0.0))
        c = np.asarray(constraint_values, dtype=float)
        self.rows, self.rows_at_upper, self.weak_rows = _classify(c, np.asarray(cl, float), np.asarray(cu, float), y, scale, active_tol)
        self.bounds, self.bounds_at_upper, self.weak_bounds = _classify(x, np.asarray(lb, float), np.asarray(ub, float), z, scale, active_tol)
        H = as_csr(hessian)
        J = as_csr(jacobian)
        if H.shape != (n, n) or J.shape != (m, n):
            raise ProblemError("hessian/jacobian", f"expected shapes ({n}, {n}) and ({m}, {n}), got {H.shape} and {J.shape}")
        self._H = H
        self._J = sp.vstack([J[self.rows], sp.eye_array(n, format="csr")[self.bounds]], format="csr")
        degenerate = []
        if self.weak_rows.size or self.weak_bounds.size:
            degenerate.append(
                f"weakly active constraints (rows {self.weak_rows[:8].tolist()}, bounds {self.weak_bounds[:8].tolist()}) are held active"
            )
        self._pseudo_inverse = None
        self._factorization = None
        active = self._J.shape[0]
        if self._rank_deficient():
            degenerate.append(
                f"the {active} active constraint gradients are linearly dependent: minimum-norm least-squares derivative "
                "(multipliers not unique; cotangents of y along undetermined directions are ignored)"
            )
            self._least_squares()
        else:
            try:
                self._factorization = factorize_kkt(H, self._J)
            except SingularMatrixError:
                self._factorization = None
            inertia = None if self._factorization is None else self._factorization.inertia
            if inertia is not None and inertia != (n, active, 0):
                degenerate.append(
                    f"the active KKT matrix has inertia {inertia}, not ({n}, {active}, 0): second-order sufficiency fails, "
                    "the derivative is that of a stationary point"
                )
        self.degenerate = tuple(degenerate)
        if degenerate:
            warnings.warn("; ".join(degenerate), DegenerateSolutionWarning, stacklevel=3)

    @classmethod
    def from_solution(cls, solution, *, active_tol: float = 1e-6) -> "ActiveKKT":
        """The active KKT matrix of a successful :class:`~lagrangian.Solution` (its problem needs a Hessian)."""
        problem = getattr(solution, "_problem", None)
        if problem is None:
            raise ProblemError("solution", "needs a Solution that still knows its problem (one from solve, or from solve_many's list form)")
        if not solution.success:
            raise ProblemError(
                "solution", f"is {solution.status.name}, not SUCCESS: the KKT conditions the derivative differentiates do not hold there"
            )
        if not problem.has_hessian:
            raise ProblemError(
                "solution", "sensitivities need the Hessian of the Lagrangian; build the problem with hessian= "
                "(a callable or 'finite-differences')"
            )
        x = solution.x
        return cls(
            problem.hessian(x, solution.y), problem.jacobian(x), problem.constraint_values(x), x, solution.y, solution.z,
            problem.cl, problem.cu, problem.lb, problem.ub, active_tol=active_tol,
        )

    # -- the degenerate paths ------------------------------------------------------
    def _rank_deficient(self) -> bool:
        """More active constraints than variables, or (small problems) dependent active gradients."""
        active = self._J.shape[0]
        if active > self.n:
            return True
        if active == 0 or active * self.n > PSEUDO_INVERSE_LIMIT**2:
            return False
        # Active gradients are dependent exactly when the smallest singular value of J_A
        # is at rounding level relative to the largest (the rank test of numpy.linalg.matrix_rank).
        return bool(np.linalg.matrix_rank(self._J.toarray()) < active)

    def _least_squares(self):
        size = self.n + self._J.shape[0]
        if size <= PSEUDO_INVERSE_LIMIT:
            K = sp.block_array([[self._H, self._J.T], [self._J, None]]).toarray()
            self._pseudo_inverse = np.linalg.pinv(0.5 * (K + K.T), hermitian=True)
        else:
            # Tikhonov on both blocks: also covers a singular reduced Hessian (non-unique x*)
            self._factorization = factorize_kkt(self._H, self._J, primal_regularization=1e-8, dual_regularization=1e-8)

    # -- solves --------------------------------------------------------------------
    def _solve_reduced(self, rhs):
        if self._pseudo_inverse is not None:
            return self._pseudo_inverse @ rhs
        if self._factorization is not None:
            try:
                return self._factorization.solve(rhs)
            except SingularMatrixError:
                pass
        # The factorization could not solve this right-hand side accurately: K is singular
        # in a way the rank test did not see (a singular reduced Hessian, or a problem too
        # large for the dense test).
        warnings.warn(
            "the active KKT matrix is numerically singular: minimum-norm least-squares derivative",
            DegenerateSolutionWarning,
            stacklevel=3,
        )
        self.degenerate = self.degenerate + ("numerically singular active KKT matrix",)
        self._factorization = None
        self._least_squares()
        return self._solve_reduced(rhs)

    def solve(self, rx, ry=None, rz=None):
        r"""Solve ``K (dx, dy_A, dz_B) = (rx, ry_A, rz_B)`` in full coordinates.

        ``rx`` is (n,) or (n, k); ``ry`` (m, ...) and ``rz`` (n, ...) default to zero
        and only their active entries are read. Returns ``(dx, dy, dz)`` with the
        shapes of ``(rx, ry, rz)``, zero on inactive rows and bounds. ``K`` is
        symmetric, so this is also the transposed solve of reverse mode.
        """
        rx = np.asarray(rx, dtype=float)
        vector = rx.ndim == 1
        rx = rx.reshape(self.n, -1)
        k = rx.shape[1]
        ry = np.zeros((self.m, k)) if ry is None else np.asarray(ry, dtype=float).reshape(self.m, k)
        rz = np.zeros((self.n, k)) if rz is None else np.asarray(rz, dtype=float).reshape(self.n, k)
        a = self.rows.size
        step = self._solve_reduced(np.vstack([rx, ry[self.rows], rz[self.bounds]]))
        step = step.reshape(-1, k)
        dx = step[: self.n]
        dy, dz = np.zeros((self.m, k)), np.zeros((self.n, k))
        dy[self.rows] = step[self.n : self.n + a]
        dz[self.bounds] = step[self.n + a :]
        if vector:
            return dx[:, 0], dy[:, 0], dz[:, 0]
        return dx, dy, dz

    def side_cotangents(self, wy, wz, fun_bar=0.0):
        r"""Cotangents of the sides ``cl, cu, lb, ub`` from the adjoint solution ``(w_y, w_z)``.

        An active row at its upper side is ``c_i(x) - cu_i = 0``, so
        ``d F / d cu_i = -e_i`` and ``cu_bar_i = -(dF/dcu_i)^T w = w_{y,i}``; likewise
        at the lower side and for bounds. The optimal value moves as ``d f*/d cu_i =
        -y_i`` (the multiplier is minus the shadow price), which ``fun_bar`` adds.
        Inactive sides get zero. ``wy`` (m,) and ``wz`` (n,) may carry a trailing
        batch axis.
        """
        wy = np.asarray(wy, dtype=float) - fun_bar * (self.y if np.ndim(wy) == 1 else self.y[:, None])
        wz = np.asarray(wz, dtype=float) - fun_bar * (self.z if np.ndim(wz) == 1 else self.z[:, None])
        cl, cu, lb, ub = np.zeros_like(wy), np.zeros_like(wy), np.zeros_like(wz), np.zeros_like(wz)
        for index, at_upper, w, lower, upper in (
            (self.rows, self.rows_at_upper, wy, cl, cu),
            (self.bounds, self.bounds_at_upper, wz, lb, ub),
        ):
            upper[index[at_upper]] = w[index[at_upper]]
            lower[index[~at_upper]] = w[index[~at_upper]]
        return cl, cu, lb, ub
