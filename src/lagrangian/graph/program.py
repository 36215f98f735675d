r"""A traced graph as the constrained program it is (:meth:`Graph.as_problem`).

Every scalar of the graph is a variable ``z``; the program is

.. math::

    \min_z \; z_m \quad \text{s.t.} \quad c(z) = F(z) - z = 0 ,

where ``F_i`` re-evaluates node ``i``'s op on its parents' entries of ``z``, and an
input's ``F_i`` is the value it was traced at (so ``c`` pins the inputs). The
constraint Jacobian is ``J(z) - I``, square and, in tape order, unit lower
triangular, so the constraints fix ``z`` to the forward pass, and the
stationarity condition ``e_m + (J - I)^T y = 0`` of the package convention
(``grad f + A^T y = 0``) is

.. math::

    (I - J)^T y = e_m ,

the multiplier system of :meth:`Graph.multipliers`. Solving this Problem with the
package's Newton-KKT solver therefore returns the forward values as ``x`` and the
backprop multipliers as ``y`` (one Newton step from the traced point: the step in
``z`` is zero and the step's multiplier block is the triangular solve).

A fixed-point node ``z = F(z, p)`` (:func:`lagrangian.graph.fixed_point`) makes the
graph cyclic. Its program has the nodes of ``F``'s trace as extra variables, each
with its own equation, and the closing equation ``z = F``'s output. The Jacobian is
then no longer triangular in any order, and the multiplier block is a general
sparse solve.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ProblemError
from ..problem import Equality, Problem
from .arrays import ArrayTape
from .ops import BINARY, UNARY
from .tape import second_derivative_entries

__all__ = ["as_problem"]


def as_problem(graph) -> Problem:
    """The program ``min z_m s.t. F(z) - z = 0`` of a traced graph, as a :class:`Problem`.

    The constraint block is named ``"graph"``; its multipliers, in the package
    convention, are :meth:`Graph.multipliers`. Scalar graphs carry the exact
    Hessian of the Lagrangian (from each op's second derivatives); array graphs
    use differences of the exact Jacobian (``hessian="finite-differences"``).
    """
    if graph.output is None:
        raise ProblemError("graph", "the traced function does not depend on its inputs: there is no program")
    program = _ArrayProgram(graph.tape) if isinstance(graph.tape, ArrayTape) else _ScalarProgram(graph.tape)
    e_m = np.zeros(program.size)
    e_m[program.start(graph.output)] = 1.0
    return Problem(
        lambda z: float(z[program.start(graph.output)]),
        program.point,
        gradient=lambda z: e_m,
        constraints=[Equality(program.residual, jacobian=program.jacobian, name="graph")],
        hessian=program.hessian if hasattr(program, "hessian") else "finite-differences",
        name="computation graph",
    )


class _ScalarProgram:
    """Re-evaluation of a scalar tape: each node's op on its parents' entries of ``z``."""

    def __init__(self, tape):
        self.tape = tape
        self.size = len(tape)
        self.point = np.asarray(tape.values, dtype=float)
        inputs = set(tape.inputs)
        self.nodes = [i for i in range(self.size) if i not in inputs]

    def start(self, node):
        return node

    def _arguments(self, z, i):
        return [z[index] if index is not None else value for index, value in self.tape._arguments[i]]

    def _evaluate(self, z, i):
        op, args = self.tape.ops[i], self._arguments(z, i)
        table = UNARY if len(args) == 1 else BINARY
        forward, first, second = table[op]
        out = forward(*args)
        return out, first(*args, out), second(*args, out), args

    def residual(self, z):
        F = self.point.copy()  # inputs keep their traced values
        for i in self.nodes:
            F[i] = self._evaluate(z, i)[0]
        return F - z

    def jacobian(self, z):
        rows, cols, data = [], [], []
        for i in self.nodes:
            _, first, _, _ = self._evaluate(z, i)
            first = first if isinstance(first, tuple) else (first,)
            for (index, _), partial in zip(self.tape._arguments[i], first):
                if index is not None:
                    rows.append(i)
                    cols.append(index)
                    data.append(partial)
        J = sp.csr_array((data, (rows, cols)), shape=(self.size, self.size))
        return J - sp.eye_array(self.size, format="csr")

    def hessian(self, z, y):
        """``sum_i y_i grad^2 F_i(z)``: each op's second derivatives at its arguments."""
        rows, cols, data = [], [], []
        for i in self.nodes:
            if y[i] == 0.0:
                continue
            out, _, _, args = self._evaluate(z, i)
            arguments = [(index, value) for (index, _), value in zip(self.tape._arguments[i], args)]
            second_derivative_entries(self.tape.ops[i], arguments, out, y[i], rows, cols, data)
        return sp.csr_array((data, (rows, cols)), shape=(self.size, self.size))


class _ArrayProgram:
    """Re-evaluation of an array tape: each node's rule on its parents' blocks of ``z``.

    A fixed-point node ``z = F(z, p)`` is expanded as :meth:`ArrayTape.multiplier_matrix`
    expands it: the nodes of ``F``'s trace become variables after all the tape's
    nodes, each with its own equation, and the node itself gets the closing
    equation ``z_node = F``'s output. The constraint Jacobian is then exactly
    ``-(I - J)`` of the multiplier matrix, cycles included.
    """

    def __init__(self, tape):
        self.tape = tape
        offsets = tape.offsets()
        self.offsets = offsets
        self.size = int(offsets[-1])
        blocks = [(slice(int(a), int(b)), np.shape(v)) for a, b, v in zip(offsets[:-1], offsets[1:], tape.values)]
        points = [np.ravel(v).astype(float) for v in tape.values]
        #: (output block, replay or None for a copy, parent blocks): F[output] = rule(parents)
        self.equations = []
        for i, replay in enumerate(tape.replays):
            if i in tape.cycles:
                closing = self._expand(tape.cycles[i], blocks[i], [blocks[p] for p in tape.parents[i]], points)
                self.equations.append((blocks[i][0], None, [closing]))
            elif replay is not None:
                self.equations.append((blocks[i][0], replay, [blocks[p] for p in tape.parents[i]]))
        self.point = np.concatenate(points) if points else np.zeros(0)

    def _expand(self, cycle, node_block, parent_blocks, points):
        """Give the cycle's inner nodes blocks after the others and their equations; return the block of ``F``'s output."""
        inner = cycle.tape
        if inner.cycles:
            raise ProblemError("graph", "as_problem does not expand a fixed-point node nested inside another one's F")
        where = {cycle.z.index: node_block} | {p.index: block for p, block in zip(cycle.parameters, parent_blocks)}
        for k, value in enumerate(inner.values):
            if k not in where:
                where[k] = (slice(self.size, self.size + value.size), np.shape(value))
                self.size += value.size
                points.append(np.ravel(value).astype(float))
        for k, replay in enumerate(inner.replays):
            if replay is not None:
                self.equations.append((where[k][0], replay, [where[p] for p in inner.parents[k]]))
        return where[cycle.output]

    def start(self, node):
        return int(self.offsets[node])

    @staticmethod
    def _evaluate(z, replay, parents):
        """``(value, Jacobians toward the parents)`` of one equation's right-hand side at ``z``."""
        if replay is None:
            (block, shape), = parents
            return z[block], [sp.eye_array(block.stop - block.start)]
        rule, constants, parameters = replay
        values = iter(z[block].reshape(shape) for block, shape in parents)
        operands = [next(values) if c is None else c for c in constants]
        wanted = tuple(c is None for c in constants)
        out, jacobians = rule(*operands, wanted, **parameters)
        return out, [j.matrix() for j, w in zip(jacobians, wanted) if w]

    def residual(self, z):
        F = self.point.copy()  # inputs keep their traced values
        for out, replay, parents in self.equations:
            F[out] = np.ravel(self._evaluate(z, replay, parents)[0])
        return F - z

    def jacobian(self, z):
        rows, cols, data = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
        for out, replay, parents in self.equations:
            _, jacobians = self._evaluate(z, replay, parents)
            for (block, _), jacobian in zip(parents, jacobians):
                jacobian = sp.coo_array(jacobian)
                rows.append(jacobian.row + out.start)
                cols.append(jacobian.col + block.start)
                data.append(jacobian.data)
        J = sp.csr_array((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(self.size, self.size))
        return J - sp.eye_array(self.size, format="csr")
