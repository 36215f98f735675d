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
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ProblemError
from ..problem import Equality, Problem
from .arrays import ArrayTape
from .ops import BINARY, UNARY

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
            _, _, second, _ = self._evaluate(z, i)
            arguments = [index for index, _ in self.tape._arguments[i]]
            if len(arguments) == 1:
                pairs = [((arguments[0], arguments[0]), second)]
            else:
                (a, b), (aa, ab, bb) = arguments, second
                pairs = [((a, a), aa), ((b, b), bb), ((a, b), ab), ((b, a), ab)]
            for (r, c), value in pairs:
                if r is not None and c is not None and value != 0.0:
                    rows.append(r)
                    cols.append(c)
                    data.append(y[i] * value)
        return sp.csr_array((data, (rows, cols)), shape=(self.size, self.size))


class _ArrayProgram:
    """Re-evaluation of an array tape: each node's rule on its parents' blocks of ``z``."""

    def __init__(self, tape):
        if tape.cycles:
            raise ProblemError(
                "graph", "as_problem does not expand fixed-point nodes yet; multiplier_matrix() shows their cycles"
            )
        self.tape = tape
        self.offsets = tape.offsets()
        self.size = int(self.offsets[-1])
        self.point = np.concatenate([np.ravel(v).astype(float) for v in tape.values])

    def start(self, node):
        return int(self.offsets[node])

    def _block(self, z, node):
        return z[self.offsets[node] : self.offsets[node + 1]].reshape(np.shape(self.tape.values[node]))

    def _evaluate(self, z, i):
        rule, constants, parameters = self.tape.replays[i]
        parents = iter(self.tape.parents[i])
        values = [self._block(z, next(parents)) if c is None else c for c in constants]
        wanted = tuple(c is None for c in constants)
        out, jacobians = rule(*values, wanted, **parameters)
        return out, [j for j, w in zip(jacobians, wanted) if w]

    def residual(self, z):
        F = self.point.copy()
        for i, replay in enumerate(self.tape.replays):
            if replay is not None:
                F[self.offsets[i] : self.offsets[i + 1]] = np.ravel(self._evaluate(z, i)[0])
        return F - z

    def jacobian(self, z):
        rows, cols, data = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
        for i, replay in enumerate(self.tape.replays):
            if replay is None:
                continue
            _, jacobians = self._evaluate(z, i)
            for parent, jacobian in zip(self.tape.parents[i], jacobians):
                block = sp.coo_array(jacobian.matrix())
                rows.append(block.row + self.offsets[i])
                cols.append(block.col + self.offsets[parent])
                data.append(block.data)
        J = sp.csr_array((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(self.size, self.size))
        return J - sp.eye_array(self.size, format="csr")
