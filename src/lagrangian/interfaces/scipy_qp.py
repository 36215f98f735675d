r"""A convex QP or LP stated through ``minimize`` goes to the convex method.

``minimize`` with only ``LinearConstraint``\ s, and an objective whose Hessian is
constant (a ``hess`` that returns the same matrix, or a trace of ``fun``), is the
quadratic program

.. math::

    \min_x \tfrac12 x^T P x + q^T x + r \quad \text{s.t.} \quad l \le A x \le u, \quad lb \le x \le ub,

with ``P = H``, ``q = g(x_0) - P x_0`` and ``r = f(x_0) - g(x_0)^T x_0 + \tfrac12 x_0^T P x_0``.
The claim "quadratic" is checked, not assumed: at a second point ``x_1`` inside the
bounds, ``H(x_1) = H(x_0)``, ``g(x_1) - g(x_0) = P (x_1 - x_0)`` and ``f(x_1)`` equal to
the quadratic model, each to 1e-9 relative, and again at the convex method's answer
(a function that branches on ``x`` can be quadratic near ``x_0`` only); convexity is checked by an ``L D L^T``
factorization of ``P + \delta I`` (``\delta`` = 1e-10 of the largest entry), whose
pivots must all be positive. Such a problem is solved by Mehrotra's method
(:func:`lagrangian.solve_qp`), which also proves infeasibility or unboundedness
with a certificate; its answer is restated as a solution of the original problem
(KKT residuals recomputed from the user's functions), with the convex method's
status whatever it is, so that ``minimize`` and ``solve_qp`` give the same verdict on
the same QP. Anything else goes on to the nonlinear interior point.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..fixed_variables import restated_solution
from ..qp import QuadraticProgram, solve_qp
from ..result import Status

__all__ = ["solve_if_quadratic", "is_positive_semidefinite"]

_CONVEX_OPTIONS = ("tol", "max_iterations", "max_time", "log", "callback")


def is_positive_semidefinite(P) -> bool:
    """True when every pivot of ``P + delta I`` (``delta`` = 1e-10 of max |P|) is positive."""
    import qdldl

    P = sp.csc_array(P)
    n = P.shape[0]
    if n == 0:
        return True
    scale = float(abs(P).max()) if P.nnz else 1.0
    shifted = sp.triu(P + 1e-10 * max(scale, 1.0) * sp.eye_array(n), format="csc")
    try:
        _, pivots, _ = qdldl.Solver(sp.csc_matrix(shifted), upper=True).factors()
    except RuntimeError:
        return False
    return bool(np.all(pivots > 0))


def _probe_point(x0, lb, ub):
    """A second point, inside the bounds, away from ``x0`` in every free coordinate."""
    pattern = 0.1 * (1 + np.abs(x0)) * np.where(np.arange(x0.size) % 2 == 0, 1.0, -0.7)
    x1 = x0 + pattern
    # Mirror the step where it would cross a bound, then clip what still does.
    x1 = np.where(x1 > ub, x0 - pattern, x1)
    x1 = np.where(x1 < lb, x0 + np.abs(pattern), x1)
    return np.clip(x1, lb, ub)


def _close(a, b, scale) -> bool:
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= 1e-9 * scale))


def _constant_hessian(problem):
    """``(P, q, r)`` when ``problem``'s objective is quadratic (checked at a second point), else None."""
    x0 = problem.x0
    zero = np.zeros(problem.m)
    H0 = problem.hessian(x0, zero)
    H0 = sp.csr_array(H0) if sp.issparse(H0) else sp.csr_array(np.asarray(H0, dtype=float))
    x1 = _probe_point(x0, problem.lb, problem.ub)
    d = x1 - x0
    H1 = problem.hessian(x1, zero)
    H1 = sp.csr_array(H1) if sp.issparse(H1) else sp.csr_array(np.asarray(H1, dtype=float))
    scale = max(1.0, float(abs(H0).max()) if H0.nnz else 0.0)
    if (H1 - H0).nnz and not _close(abs(H1 - H0).max(), 0.0, scale):
        return None
    f0, g0 = problem.objective(x0), problem.gradient(x0)
    f1, g1 = problem.objective(x1), problem.gradient(x1)
    Hd = H0 @ d
    if not _close(g1 - g0, Hd, max(1.0, np.abs(g0).max(initial=0), np.abs(g1).max(initial=0))):
        return None
    model = f0 + g0 @ d + 0.5 * d @ Hd
    if not _close(f1, model, max(1.0, abs(f0), abs(f1))):
        return None
    P = 0.5 * (H0 + H0.T)
    q = g0 - P @ x0
    return P, q, f0 - g0 @ x0 + 0.5 * x0 @ (P @ x0)


def solve_if_quadratic(problem, *, hess, hessp, terms, program, options):
    """The convex method's solution of ``problem`` when it is a convex QP/LP stated through ``minimize``, else None.

    ``terms`` are the constraint blocks' Hessian kinds from ``minimize`` (all must
    be ``"linear"``); the objective's Hessian must be exact: a ``hess`` callable
    or the traced ``program``.
    """
    if any(kind != "linear" for kind, _, _ in terms) or hessp is not None:
        return None
    if not (callable(hess) or program is not None) or not problem.has_hessian:
        return None
    try:
        with np.errstate(all="ignore"):
            found = _constant_hessian(problem)
    except (ValueError, TypeError, ArithmeticError):
        return None
    if found is None:
        return None
    P, q, r = found
    if not is_positive_semidefinite(P):
        return None
    A = problem.jacobian(problem.x0) if problem.m else sp.csr_array((0, problem.n))
    qp = QuadraticProgram(P, q, A, problem.cl, problem.cu, bounds=(problem.lb, problem.ub), r=r, x0=problem.x0)
    solution = solve_qp(qp, **{key: options[key] for key in _CONVEX_OPTIONS if key in options})
    # An infeasible-start method ends within its tolerance of the bounds, possibly just
    # outside; the user's functions are never evaluated there, so x is put back inside.
    x = np.clip(solution.x, problem.lb, problem.ub)
    if solution.status is Status.STOPPED:
        # the caller's callback asked to stop: that is the answer, whatever f is beyond here
        return restated_solution(problem, solution, x=x, y=solution.y, z=solution.z)
    # Two points cannot prove a function quadratic everywhere (it may branch on x): the
    # answer must also agree with the user's own objective and gradient where it landed.
    g = P @ x + q
    value = 0.5 * x @ (P @ x) + q @ x + r
    with np.errstate(all="ignore"):
        agrees = _close(problem.objective(x), value, max(1.0, abs(value))) and _close(problem.gradient(x), g, max(1.0, np.abs(g).max(initial=0)))
    if not agrees:
        return None
    # A checked convex QP keeps the convex method's verdict, whatever it is: the same
    # as solve_qp's on the same data (the nonlinear method would not do better).
    # solve_qp has already polished a SUCCESS onto its active set (weakly active bounds met exactly).
    return restated_solution(problem, solution, x=x, y=solution.y, z=solution.z)
