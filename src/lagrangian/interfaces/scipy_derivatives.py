r"""The derivatives ``minimize`` hands to a :class:`~lagrangian.Problem`, from scipy's arguments.

Every first derivative the Problem receives is a callable made here, so that no
evaluation leaves the bounds: a given one (``jac=callable`` or ``True``), a trace
through :mod:`lagrangian.graph` (exact), or differences that stay inside
``[lb, ub]`` (:func:`lagrangian.derivatives.finite_difference_jacobian`, one-sided
at a bound). A trace is accepted after a directional check at ``x0`` that also
stays inside the bounds, and it is never trusted further than it runs: a function
that branches on ``x`` may take, at a later point, a path the trace cannot follow
(``math.exp`` of a traced value, say); :class:`TracedOrDifferences` then switches
to differences for good instead of failing.

The Hessian of the Lagrangian ``L = f + y^T c`` is assembled from terms: the
objective's (``hess``, ``hessp`` or differences of its exact gradient), each
nonlinear constraint's ``hess(x, v) = sum_i v_i nabla^2 c_i`` (scipy's convention,
with ``v`` our ``y`` of that block), zero for linear constraints, and differences
of ``J_k^T y_k`` where a block's Jacobian is exact but its Hessian unknown. Where a
term can only come from differences of differences, a quasi-Newton model
replaces the whole Hessian.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import HessianUpdateStrategy, SR1
from scipy.sparse.linalg import LinearOperator

from .. import graph as G
from ..derivatives import DENSE_QUASI_NEWTON_LIMIT, finite_difference_jacobian
from ..errors import ProblemError
from ..inputs import real_array
from ..testing import check_derivative

__all__ = ["HessianProduct", "CountedObjective", "TracedOrDifferences", "objective_derivative", "traced_derivative", "lagrangian_hessian"]

FINITE_DIFFERENCE_NAMES = ("2-point", "3-point", "cs")
# Up to this many variables, constraint Jacobians and the Lagrangian's Hessian are
# traced on scalar tapes (one node per entry, one multiplier solve per row, exact
# Hessians). Above, a constraint's Jacobian is accumulated sparse on array nodes
# (graph.value_and_sparse_jacobian) and the Hessian is a quasi-Newton model.
TRACE_LIMIT = 2000
# A trace may fail in these ways where the function takes a path it cannot follow.
_TRACE_FAILURES = (TypeError, ValueError, ArithmeticError, AttributeError, IndexError, G.NonFiniteValueError)


class CountedObjective:
    """scipy's ``fun(x, *args)`` as a scalar function that counts every call (``nfev``).

    A size-1 array return (``np.array([f])``) is taken as its one number, as
    scipy does.
    """

    def __init__(self, fun, args, *, returns_gradient: bool = False):
        self.fun, self.args, self.returns_gradient = fun, tuple(args), returns_gradient
        self.calls = 0
        self._last = None

    def _call(self, x):
        x = np.asarray(x, dtype=float)
        if self._last is not None and np.array_equal(self._last[0], x):
            return self._last[1]
        self.calls += 1
        out = self.fun(x.copy(), *self.args)
        if self.returns_gradient:
            value, gradient = out
            out = (_scalar(value), real_array(gradient, "jac").reshape(-1))
        self._last = (x.copy(), out)
        return out

    def __call__(self, x):
        out = self._call(x)
        return out[0] if self.returns_gradient else _scalar(out)

    def gradient(self, x):
        """The gradient returned together with the value (``jac=True``)."""
        return self._call(x)[1]

    def raw(self, x):
        """``fun(x, *args)`` as the user wrote it, counted: what tracing sees."""
        self.calls += 1
        return self.fun(x, *self.args)


def _scalar(value) -> float:
    array = real_array(value, "fun")
    if array.size != 1:
        raise ProblemError("fun", f"must return a scalar (or an array of size 1), got shape {array.shape}")
    return float(array.reshape(-1)[0])


class TracedOrDifferences:
    """A traced derivative that hands over to bounded differences the first time the trace fails.

    ``sources[label]`` records which one is in use, so the result can say where
    its derivatives came from.
    """

    def __init__(self, traced, differences, sources: dict, label: str):
        self.traced, self.differences, self.sources, self.label = traced, differences, sources, label

    def __call__(self, *args):
        if self.traced is not None:
            try:
                with np.errstate(all="ignore"):
                    return self.traced(*args)
            except _TRACE_FAILURES:
                self.traced = None
                self.sources[self.label] = "finite differences (the trace stopped matching the function)"
        return self.differences(*args)


def differences(fun, lower, upper):
    """``x -> J(x)`` by differences that stay inside ``[lower, upper]``."""
    return lambda x: finite_difference_jacobian(fun, x, lower=lower, upper=upper)


def traced_derivative(fun, x0, *, vector: bool, lower, upper):
    """``fun``'s exact derivative through the package's computation graphs, or None if it cannot be traced.

    The trace must reproduce ``fun(x0)`` to 1e-12 relative and pass a
    directional-difference check inside the bounds; functions that call into
    compiled code, or return other types, are left to differences.
    """
    x0 = np.asarray(x0, dtype=float)
    if vector:
        derivative = G.value_and_jacobian(fun) if x0.size <= TRACE_LIMIT else G.value_and_sparse_jacobian(fun)
    else:
        derivative = G.value_and_grad(fun)
    try:
        with np.errstate(all="ignore"):
            traced_value, _ = derivative(x0)
            plain = np.atleast_1d(real_array(fun(x0), "fun")).ravel()
    except Exception:  # noqa: BLE001 - any failure to trace means "not traceable"
        return None
    traced_value = np.atleast_1d(np.asarray(traced_value, dtype=float)).ravel()
    if traced_value.shape != plain.shape or not np.allclose(traced_value, plain, rtol=1e-12, atol=1e-300):
        return None
    # One directional difference guards against a trace that ran but lost part of the
    # graph (a value taken out through a C routine and put back as a constant, say).
    try:
        with np.errstate(all="ignore"):
            check_derivative(fun, x0, jacobian=lambda x: derivative(x)[1], rtol=1e-5, atol=1e-8, lower=lower, upper=upper)
    except (AssertionError, *_TRACE_FAILURES):
        return None
    if vector:
        return lambda x: derivative(x)[1]
    return lambda x: np.asarray(derivative(x)[1], dtype=float).reshape(-1)


def objective_derivative(objective: CountedObjective, jac, x0, *, lower, upper, sources: dict, trace: bool = True):
    """The gradient callable for scipy's ``jac``; ``sources["gradient"]`` says where it comes from.

    ``trace=False`` leaves ``jac=None``/``False`` to differences without trying a trace.
    """
    by_columns = differences(objective, lower, upper)
    by_differences = lambda x: by_columns(x)[0]  # noqa: E731 - the gradient is the 1 x n Jacobian's row
    if jac is True:
        sources["gradient"] = "exact"
        return objective.gradient
    if callable(jac):
        sources["gradient"] = "exact"
        args = objective.args
        return lambda x: real_array(jac(x, *args), "jac").reshape(-1)
    if jac is None or jac is False:
        traced = traced_derivative(objective.raw, x0, vector=False, lower=lower, upper=upper) if trace else None
        if traced is not None:
            sources["gradient"] = "computation graph"
            return TracedOrDifferences(traced, by_differences, sources, "gradient")
        sources["gradient"] = "finite differences"
        return by_differences
    if isinstance(jac, str) and jac in FINITE_DIFFERENCE_NAMES:
        sources["gradient"] = "finite differences"
        return by_differences
    raise ProblemError("jac", f"expected a callable, True, False, None or one of {FINITE_DIFFERENCE_NAMES}, got {jac!r}")


def as_matrix(H, n, label: str = "hess"):
    """A Hessian term (dense, sparse, LinearOperator or scalar ``s``, meaning ``s I``) as an (n, n) dense or CSR matrix.

    Any other shape is refused by name: numpy would broadcast a 1-D return of length n,
    or an (n, 1) column, into an (n, n) matrix that is not the Hessian, and the solve
    would go on with wrong curvature (scipy's ``trust-constr`` does the same, or fails
    later on a product of mismatched shapes).
    """
    return _as_stored(hessian_term(H, n, label), n)


def _as_stored(H, n):
    """A checked Hessian term (:func:`hessian_term`) as a matrix: a LinearOperator applied to the identity."""
    return H.matmat(np.eye(n)) if isinstance(H, LinearOperator) else H


def hessian_term(H, n, label: str = "hess"):
    """:func:`as_matrix`'s shape check, a LinearOperator kept as it is (the matrix-free path multiplies it)."""
    if isinstance(H, LinearOperator):
        if H.shape != (n, n):
            raise ProblemError(label, f"returned a LinearOperator of shape {H.shape}, expected ({n}, {n})")
        return H
    if sp.issparse(H):
        H = sp.csr_array(H)
    else:
        H = real_array(H, label)
        if H.ndim == 0 or (n == 1 and H.size == 1):
            return H.reshape(()) * np.eye(n)  # a number, or one of shape (1,) for one variable: scipy takes both
    if H.shape != (n, n):
        raise ProblemError(label, f"returned shape {H.shape}, expected ({n}, {n}): a 2-D array, sparse matrix, LinearOperator or scalar")
    return H


def as_product(Hv, n, label: str = "hessp"):
    """A Hessian-vector product returned by the user's ``hessp`` as a vector of length n (shape (n,), (n, 1) or (1, n))."""
    Hv = real_array(Hv, label)
    if Hv.size != n or Hv.ndim > 2 or (Hv.ndim == 2 and 1 not in Hv.shape):
        raise ProblemError(label, f"returned shape {Hv.shape}, expected ({n},)")
    return Hv.reshape(-1)


def _is_update_strategy(hess) -> bool:
    return isinstance(hess, HessianUpdateStrategy)


def _hessian_product(hessp, args, blocks):
    """``(x, y, v) -> nabla_x^2 L v`` from ``hessp`` and the blocks' exact terms (the matrix-free path
    for large n), or the quasi-Newton model when a block's term is unknown."""
    if any(kind not in ("linear", "exact") for _, kind, _, _, _ in blocks):
        return None, "auto", None
    exact_terms = [(rows, term) for rows, kind, term, _, _ in blocks if kind == "exact"]

    def product(x, y, v):
        Hv = as_product(hessp(x, v, *args), v.size)
        for rows, term in exact_terms:
            Hv = Hv + np.asarray(term(x, np.asarray(y[rows], dtype=float)) @ v, dtype=float).reshape(-1)
        return Hv

    return HessianProduct(product), "auto", "exact product"


class HessianProduct:
    """Marks a Hessian-vector product ``(x, y, v) -> H v`` for ``Problem(hessian_product=...)``."""

    def __init__(self, product):
        self.product = product


def lagrangian_hessian(*, hess, hessp, args, gradient, exact_gradient, blocks, n, lower, upper):
    """``(hessian, quasi_newton, source)`` for the Problem, from the objective's and the blocks' Hessian terms.

    ``blocks`` is a list of ``(rows, kind, term, jacobian, exact_jacobian)``:
    ``kind`` is ``"linear"`` (no Hessian term), ``"exact"`` (``term(x, v)``) or
    ``"unknown"``. The result's ``hessian`` is ``(x, y) -> matrix``, a
    :class:`HessianProduct` (``hessp`` above the dense limit: the matrix-free steps),
    or None (then ``quasi_newton`` names the model).
    """
    strategies = [hess] + [term for _, kind, term, _, _ in blocks if kind == "strategy"]
    if any(_is_update_strategy(s) for s in strategies):
        # scipy's BFGS() is dense; at a size where a dense model does not fit, the
        # limited-memory one answers the same request ("auto").
        return None, ("sr1" if any(isinstance(s, SR1) for s in strategies) else "auto"), None
    if callable(hess):
        objective_term = lambda x: as_matrix(hess(x, *args), n)  # noqa: E731
    elif callable(hessp):
        # n Hessian-vector products form the matrix: the KKT solve needs it (up to
        # the dense limit; above, the quasi-Newton model).
        objective_term = lambda x: np.column_stack([as_product(hessp(x, e, *args), n) for e in np.eye(n)]) if n else np.zeros((0, 0))  # noqa: E731
        if n > DENSE_QUASI_NEWTON_LIMIT:
            return _hessian_product(hessp, args, blocks)
    elif hess is None or (isinstance(hess, str) and hess in FINITE_DIFFERENCE_NAMES):
        objective_term = None  # by differences of the gradient, if it is exact
    else:
        raise ProblemError("hess", f"expected a callable, a HessianUpdateStrategy, None or one of {FINITE_DIFFERENCE_NAMES}, got {hess!r}")

    differenced = []  # (rows, jacobian) whose J^T y is differenced
    exact_terms = []
    for rows, kind, term, jacobian, exact_jacobian in blocks:
        if kind == "exact":
            exact_terms.append((rows, term))
        elif kind == "unknown":
            if not exact_jacobian:
                return None, "auto", None
            differenced.append((rows, jacobian))
    if objective_term is None and not exact_gradient:
        return None, "auto", None
    if (objective_term is None or differenced) and n > DENSE_QUASI_NEWTON_LIMIT:
        return None, "auto", None

    differenced_gradient = lagrangian_gradient_of(gradient if objective_term is None else None, differenced, n)

    by_differences = objective_term is None or bool(differenced)

    def hessian(x, y):
        H = objective_term(x) if objective_term is not None else np.zeros((n, n))
        for rows, term in exact_terms:
            H = H + _as_stored(term(x, np.asarray(y[rows], dtype=float)), n)  # term: checked by hessian_term
        if by_differences:
            D = finite_difference_jacobian(lambda z: differenced_gradient(z, y), x, lower=lower, upper=upper)
            H = H + 0.5 * (D + D.T)
        return H

    source = "exact" if not by_differences else "finite differences of exact gradients (inside the bounds)"
    return hessian, "auto", source


def lagrangian_gradient_of(gradient, pieces, n):
    """``(x, y) -> grad f(x) + sum_k J_k(x)^T y[rows_k]`` for ``pieces = [(rows_k, jacobian_k)]``
    (``gradient`` None leaves the objective out)."""

    def lagrangian_gradient(x, y):
        g = np.zeros(n) if gradient is None else np.asarray(gradient(x), dtype=float)
        for rows, jacobian in pieces:
            J = jacobian(x)
            J = J if sp.issparse(J) else np.atleast_2d(np.asarray(J, dtype=float))
            g = g + np.asarray(J.T @ np.asarray(y[rows], dtype=float)).ravel()
        return g

    return lagrangian_gradient


def _row_slices(sizes):
    starts = np.cumsum([0, *sizes])
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


def difference_hessian(gradient, jacobians, sizes, *, lower, upper):
    """``(x, y) -> nabla_x^2 L`` by bounded differences of ``grad f + sum_k J_k^T y_k`` (symmetrized).

    What a traced Hessian falls back to when the trace stops matching the function.
    """
    lagrangian_gradient = lagrangian_gradient_of(gradient, list(zip(_row_slices(sizes), jacobians)), None)

    def hessian(x, y):
        D = finite_difference_jacobian(lambda z: lagrangian_gradient(z, y), x, lower=lower, upper=upper)
        return 0.5 * (D + D.T)

    return hessian


def traced_program(objective, gradient, blocks, x0, *, lower, upper):
    """The objective and constraints traced together (:class:`lagrangian.graph.TracedProgram`), or None.

    Accepted only if its Hessian of ``f + y^T c`` passes a directional check
    (inside the bounds) against differences of the exact Lagrangian gradient at
    ``x0`` with all multipliers 1.
    """
    x0 = np.asarray(x0, dtype=float)
    if x0.size > TRACE_LIMIT:
        return None
    program = G.TracedProgram(objective, [block.fun for block in blocks])
    sizes = [np.atleast_1d(block.fun(x0)).size for block in blocks]
    y = np.ones(sum(sizes))
    pieces = list(zip(_row_slices(sizes), [block.jacobian for block in blocks]))
    lagrangian_gradient = lagrangian_gradient_of(gradient, pieces, x0.size)

    try:
        with np.errstate(all="ignore"):
            check_derivative(lambda x: lagrangian_gradient(x, y), x0, jacobian=lambda x: program.hessian(x, y), rtol=1e-5, atol=1e-8, lower=lower, upper=upper)
    except (AssertionError, *_TRACE_FAILURES):
        return None
    return program, sizes
