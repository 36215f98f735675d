r"""Fixed-point nodes: a cycle in the computation graph, solved as one block.

A node defined implicitly by ``z = F(z, p)`` (a deep-equilibrium layer, an implicit
equation) makes the graph cyclic: ``z`` is a parent of itself through ``F``. In the
program ``min z_m s.t. f_i(z_parents(i)) - z_i = 0`` it contributes the constraint
``F(z, p) - z = 0``, and the condensation of the graph into strongly connected
components puts ``z`` and the nodes of ``F`` in one component. That block is solved

* forward by Newton on ``r(z) = z - F(z, p)`` with the block's own Jacobian
  ``I - dF/dz`` (a clear :class:`FixedPointError` when it does not converge), or,
  for wide blocks, by Anderson acceleration, which never forms the block;
* backward by one linear solve with the transposed block (factored, or GMRES with
  one vector-Jacobian product per iteration for wide blocks),

.. math::

    (I - \partial F / \partial z)^T w = \bar z, \qquad
    \bar p = (\partial F / \partial p)^T w ,

where ``z̄`` is the multiplier arriving at ``z`` from the rest of the graph. The
block's matrix is factored by :func:`lagrangian.linalg.factorize` (general LU: a
cycle is not triangular); a singular block raises a
:class:`~lagrangian.errors.SingularMatrixError` that names the nodes of the cycle.
Every other block of the graph is substituted as in backprop.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, gmres

from .. import linalg
from ..errors import SingularMatrixError, SolverError
from .arrays import Array, ArrayTape

__all__ = ["fixed_point", "FixedPointError", "NEWTON_SIZE_LIMIT"]


class FixedPointError(SolverError):
    """The iteration for a fixed-point node ``z = F(z, p)`` did not converge (forward or backward)."""


#: ``method="auto"`` forms and factors the block ``I - dF/dz`` up to this many entries of
#: ``z``; above, forming it costs one vector-Jacobian product per entry and a dense LU
#: (benchmarks/fixed_point_width.py: at width 200 Newton takes 6x Anderson + GMRES's time).
NEWTON_SIZE_LIMIT = 100

_ANDERSON_MEMORY = 5


def fixed_point(F, z0, *parameters, tol=1e-12, max_iterations=None, method="auto"):
    r"""The solution ``z*`` of ``z = F(z, *parameters)``, recorded as one cyclic block.

    Parameters
    ----------
    F : callable
        ``F(z, *parameters) -> array`` shaped like ``z``, written with the ops of
        :mod:`lagrangian.graph` (numpy code on arrays traces).
    z0 : array_like
        Starting point of the iteration.
    *parameters : Array or array_like
        Traced array nodes (their multipliers are computed) or constants.
    tol : float
        Stop when ``max |z - F(z)| <= tol * (1 + max |z|)``.
    max_iterations : int, optional
        Iterations before :class:`FixedPointError` is raised (default 50 Newton
        steps, or 1000 Anderson steps).
    method : {"auto", "newton", "anderson"}
        ``"newton"`` forms the block ``I - dF/dz`` (one vector-Jacobian product
        per entry of ``z``) and factors it, for Newton forward and one transposed
        solve backward. ``"anderson"`` never forms it: forward, Anderson
        acceleration of ``z <- F(z)`` (Walker & Ni 2011, memory 5) on untraced
        arrays, which needs ``F`` to be a contraction near ``z*``; backward, GMRES
        on ``(I - dF/dz)^T w = z̄`` with one vector-Jacobian product per
        iteration, the usual choice for wide deep-equilibrium layers.
        ``"auto"`` is Newton up to :data:`NEWTON_SIZE_LIMIT` entries, Anderson
        above.

    Returns
    -------
    Array or ndarray
        A node of the parameters' tape (an ndarray when no parameter is traced).

    Raises
    ------
    FixedPointError
        When the forward iteration or the backward GMRES does not converge.
    SingularMatrixError
        When the formed block is singular (naming the cycle's nodes).
    """
    if method not in ("auto", "newton", "anderson"):
        raise ValueError(f"fixed_point: method must be 'auto', 'newton' or 'anderson', got {method!r}")
    z = np.array(z0, dtype=float)
    if method == "auto":
        method = "newton" if z.size <= NEWTON_SIZE_LIMIT else "anderson"
    traced = [p for p in parameters if isinstance(p, Array)]
    if method == "newton":
        cycle = _newton(F, z, parameters, tol, 50 if max_iterations is None else max_iterations)
    else:
        z = _anderson(F, z, parameters, tol, 1000 if max_iterations is None else max_iterations)
        cycle = _Cycle(F, z, parameters, iterative=True)
    if not traced:
        return cycle.value
    tape = traced[0].tape
    parents = tuple(p.index for p in traced)
    node = tape.record("fixed_point", cycle.value, parents, tuple(_CycleEdge(cycle, k) for k in range(len(traced))))
    tape.cycles[node.index] = cycle
    return node


def _converged(z, residual, tol):
    return np.abs(residual).max(initial=0.0) <= tol * (1.0 + np.abs(z).max(initial=0.0))


def _newton(F, z, parameters, tol, max_iterations):
    """Newton on ``z - F(z) = 0`` with the formed block; the cycle traced at the solution."""
    for _ in range(max_iterations + 1):
        cycle = _Cycle(F, z, parameters)
        residual = z - cycle.value
        if _converged(z, residual, tol):
            return cycle
        z = z - cycle.factor().solve(residual.ravel()).reshape(z.shape)
    raise FixedPointError(
        f"fixed_point: Newton did not converge in {max_iterations} steps "
        f"(max |z - F(z)| = {np.abs(residual).max():.3e}); try a better z0, or check that F has a fixed point"
    )


def _anderson(F, z, parameters, tol, max_iterations):
    r"""Anderson acceleration of ``z <- F(z)`` on plain arrays (Walker & Ni 2011, type II, no damping).

    With ``g_k = F(z_k) - z_k`` and the last differences ``dZ``, ``dG`` of iterates
    and residuals, ``gamma = argmin ||g_k - dG gamma||`` and
    ``z_{k+1} = z_k + g_k - (dZ + dG) gamma``.
    """
    values = [p._value if isinstance(p, Array) else p for p in parameters]
    shape = z.shape

    def G(v):
        with np.errstate(all="ignore"):
            out = np.asarray(F(v.reshape(shape), *values), dtype=float)
        if out.shape != shape:
            raise ValueError(f"fixed_point: F must return an array shaped like z {shape}, got shape {out.shape}")
        return out.ravel() - v

    x = z.ravel().copy()
    g = G(x)
    dX, dG = [], []
    for _ in range(max_iterations):
        if not np.all(np.isfinite(g)):
            break
        if _converged(x, g, tol):
            return x.reshape(shape)
        if dG:
            gamma = np.linalg.lstsq(np.column_stack(dG), g, rcond=None)[0]
            step = g - (np.column_stack(dX) + np.column_stack(dG)) @ gamma
        else:
            step = g
        x_new = x + step
        g_new = G(x_new)
        dX.append(x_new - x)
        dG.append(g_new - g)
        del dX[:-_ANDERSON_MEMORY], dG[:-_ANDERSON_MEMORY]
        x, g = x_new, g_new
    raise FixedPointError(
        f"fixed_point: Anderson acceleration did not converge in {max_iterations} steps "
        f"(max |z - F(z)| = {np.abs(g).max():.3e}); F may not be a contraction near its fixed point: "
        "try method='newton' or a better z0"
    )


class _Cycle:
    """``F`` traced once at ``z`` (with the parameters), its block ``I - dF/dz``, and its adjoint."""

    def __init__(self, F, z, parameters, iterative=False):
        self.iterative = iterative
        self.tape = ArrayTape()
        self.z = self.tape.variable(z)
        self.parameters = [self.tape.variable(p._value) for p in parameters if isinstance(p, Array)]
        # keep the parameter nodes in the order of the outer node's parents
        inner_iter = iter(self.parameters)
        inner = [next(inner_iter) if isinstance(p, Array) else p for p in parameters]
        with np.errstate(all="ignore"):
            out = F(self.z, *inner)
        if not (isinstance(out, Array) and out.tape is self.tape) or out.shape != self.z.shape:
            raise ValueError(f"fixed_point: F must return a traced array shaped like z {self.z.shape}, got {out!r}")
        self.output, self.value = out.index, out._value
        self._factor, self._last = None, (None, None)

    def nodes(self):
        """``'#index op'`` for each node of the cycle: what an error message names."""
        names = {self.z.index: "z"} | {p.index: f"p{k}" for k, p in enumerate(self.parameters)}
        return [f"#{i} {names.get(i, op)}" for i, op in enumerate(self.tape.ops)]

    def block(self) -> np.ndarray:
        """``I - dF/dz`` at this ``z``, one row per vector-Jacobian product."""
        n = self.value.size
        rows = np.empty((n, n))
        for k in range(n):
            seed = np.zeros(n)
            seed[k] = 1.0
            rows[k] = self.tape.multipliers(self.output, keep={self.z.index}, seed=seed.reshape(self.value.shape))[self.z.index].ravel()
        return np.eye(n) - rows

    def factor(self):
        if self._factor is None:
            try:
                self._factor = linalg.factorize(sp.csr_array(self.block()), structure="general")
            except SingularMatrixError as exc:
                raise SingularMatrixError(
                    f"fixed_point: the cycle z = F(z, p) through nodes {', '.join(self.nodes())} has a singular "
                    f"block I - dF/dz ({exc}); the fixed point is not isolated, so neither Newton nor its "
                    "multipliers are defined",
                    block=exc.block,
                ) from None
        return self._factor

    def _transposed_gmres(self, g):
        """``w`` with ``(I - dF/dz)^T w = g`` by GMRES, one vector-Jacobian product per iteration."""
        shape, n = self.value.shape, self.value.size

        def apply(w):
            jt_w = self.tape.multipliers(self.output, keep={self.z.index}, seed=w.reshape(shape))[self.z.index]
            return w - np.ravel(jt_w)

        b = np.ravel(g).astype(float)
        w, info = gmres(LinearOperator((n, n), matvec=apply, dtype=float), b, rtol=1e-13, atol=0.0, restart=min(n, 50), maxiter=200)
        residual = np.abs(b - apply(w)).max(initial=0.0)
        if info != 0 and residual > 1e-10 * max(np.abs(b).max(initial=0.0), 1e-300):
            raise FixedPointError(
                f"fixed_point: GMRES on the transposed block (I - dF/dz)^T of the cycle through nodes "
                f"{', '.join(self.nodes())} stopped at a residual of {residual:.2e}: the block is singular or "
                "badly conditioned; method='newton' factors it instead"
            )
        return w.reshape(shape)

    def _solve(self, g):
        """``w`` with ``(I - dF/dz)^T w = g``, and the parameters' multipliers ``(dF/dp)^T w``."""
        if self._last[0] is not g:
            if self.iterative:
                w = self._transposed_gmres(g)
            else:
                w = self.factor().solve(np.ravel(g), transpose=True).reshape(self.value.shape)
            keep = {p.index for p in self.parameters}
            y = self.tape.multipliers(self.output, keep=keep, seed=w)
            self._last = (g, (w, [y[p.index] for p in self.parameters]))
        return self._last[1]

    def constraint_multiplier(self, g):
        return self._solve(g)[0]

    def adjoint(self, g):
        """Multipliers of the parameters for the multiplier ``g`` arriving at ``z``."""
        return self._solve(g)[1]

    def expand(self, blocks, node, parent):
        """Write the cycle's entries of ``J`` into ``blocks`` (once per assembly)."""
        if id(self) in blocks.expanded:
            return
        blocks.expanded.add(id(self))
        inner = self.tape.offsets()
        # inner inputs are the outer nodes themselves; the other inner nodes are new rows
        where = {self.z.index: blocks.offsets[node]}
        outer_parents = blocks.parents[node]
        for p, outer in zip(self.parameters, outer_parents):
            where[p.index] = blocks.offsets[outer]
        start = blocks.allocate(int(inner[-1]) - sum(self.tape.values[i].size for i in where))
        for i in range(len(self.tape)):
            if i not in where:
                where[i] = start
                start += self.tape.values[i].size
        for i, (parents, jacobians) in enumerate(zip(self.tape.parents, self.tape.jacobians)):
            for parent, jacobian in zip(parents, jacobians):
                blocks.add(where[i], where[parent], jacobian.matrix(), flat=True)
        # the cycle's closing edge: z = F(z, p), an identity block from F's output to z
        blocks.add(blocks.offsets[node], where[self.output], sp.eye_array(self.value.size), flat=True)


class _CycleEdge:
    """The local Jacobian ``dz*/dp_k`` of a fixed-point node, applied through its cycle."""

    __slots__ = ("cycle", "k")

    def __init__(self, cycle, k):
        self.cycle, self.k = cycle, k

    def vjp(self, g):
        return self.cycle.adjoint(g)[self.k]

    def expand(self, blocks, node, parent):
        self.cycle.expand(blocks, node, parent)
