r"""Fixed-point nodes: a cycle in the computation graph, solved as one block.

A node defined implicitly by ``z = F(z, p)`` (a deep-equilibrium layer, an implicit
equation) makes the graph cyclic: ``z`` is a parent of itself through ``F``. In the
program ``min z_m s.t. f_i(z_parents(i)) - z_i = 0`` it contributes the constraint
``F(z, p) - z = 0``, and the condensation of the graph into strongly connected
components puts ``z`` and the nodes of ``F`` in one component. That block is solved

* forward by Newton on ``r(z) = z - F(z, p)`` with the block's own Jacobian
  ``I - dF/dz`` (a clear :class:`FixedPointError` when it does not converge);
* backward by one linear solve with the transposed block,

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

from .. import linalg
from ..errors import SingularMatrixError, SolverError
from .arrays import Array, ArrayTape

__all__ = ["fixed_point", "FixedPointError"]


class FixedPointError(SolverError):
    """Newton on a fixed-point node ``z = F(z, p)`` did not converge."""


def fixed_point(F, z0, *parameters, tol=1e-12, max_iterations=50):
    r"""The solution ``z*`` of ``z = F(z, *parameters)``, recorded as one cyclic block.

    Parameters
    ----------
    F : callable
        ``F(z, *parameters) -> array`` shaped like ``z``, written with the ops of
        :mod:`lagrangian.graph` (numpy code on arrays traces).
    z0 : array_like
        Starting point of Newton's method.
    *parameters : Array or array_like
        Traced array nodes (their multipliers are computed) or constants.
    tol : float
        Stop when ``max |z - F(z)| <= tol * (1 + max |z|)``.
    max_iterations : int
        Newton steps before :class:`FixedPointError` is raised.

    Returns
    -------
    Array or ndarray
        A node of the parameters' tape (an ndarray when no parameter is traced).
    """
    traced = [p for p in parameters if isinstance(p, Array)]
    z = np.array(z0, dtype=float)
    for _ in range(max_iterations + 1):
        cycle = _Cycle(F, z, parameters)
        residual = z - cycle.value
        if np.abs(residual).max(initial=0.0) <= tol * (1.0 + np.abs(z).max(initial=0.0)):
            break
        z = z - cycle.factor().solve(residual.ravel()).reshape(z.shape)
    else:
        raise FixedPointError(
            f"fixed_point: Newton did not converge in {max_iterations} steps "
            f"(max |z - F(z)| = {np.abs(residual).max():.3e}); try a better z0, or check that F has a fixed point"
        )
    if not traced:
        return cycle.value
    tape = traced[0].tape
    parents = tuple(p.index for p in traced)
    node = tape.record("fixed_point", cycle.value, parents, tuple(_CycleEdge(cycle, k) for k in range(len(traced))))
    tape.cycles[node.index] = cycle
    return node


class _Cycle:
    """``F`` traced once at ``z`` (with the parameters), its block ``I - dF/dz``, and its adjoint."""

    def __init__(self, F, z, parameters):
        self.tape = ArrayTape()
        self.z = self.tape.variable(z)
        self.parameters = [self.tape.variable(p.value) for p in parameters if isinstance(p, Array)]
        # keep the parameter nodes in the order of the outer node's parents
        inner_iter = iter(self.parameters)
        inner = [next(inner_iter) if isinstance(p, Array) else p for p in parameters]
        with np.errstate(all="ignore"):
            out = F(self.z, *inner)
        if not (isinstance(out, Array) and out.tape is self.tape) or out.shape != self.z.shape:
            raise ValueError(f"fixed_point: F must return a traced array shaped like z {self.z.shape}, got {out!r}")
        self.output, self.value = out.index, out.value
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

    def _solve(self, g):
        """``w`` with ``(I - dF/dz)^T w = g``, and the parameters' multipliers ``(dF/dp)^T w``."""
        if self._last[0] is not g:
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
