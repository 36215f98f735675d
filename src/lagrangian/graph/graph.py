"""A traced computation graph: its values, its multipliers, and its gradients."""

from __future__ import annotations

import numpy as np

from ..errors import ProblemError
from ..inputs import real_scalar
from .arrays import Array, ArrayTape
from .tape import Node, Tape

__all__ = ["Graph", "trace", "node_kind"]

_NODE_KINDS = ("auto", "scalar", "array")


def argument_positions(argnums) -> tuple:
    """``argnums`` (an int or a sequence of ints) as a tuple of argument positions.

    Raises
    ------
    ProblemError
        ``argnums`` is not an int or a sequence of ints.
    """
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return (argnums,)
    if isinstance(argnums, (tuple, list)) and all(isinstance(i, int) and not isinstance(i, bool) for i in argnums):
        return tuple(argnums)
    raise ProblemError("argnums", f"expected an int or a tuple of ints (argument positions), got {argnums!r}")


def check_positions(positions, count: int):
    """Every traced position names one of the ``count`` arguments of the call, or a ProblemError naming argnums."""
    outside = [p for p in positions if not -count <= p < count]
    if outside:
        raise ProblemError(
            "argnums", f"{outside[0]} names no argument: the function was called with {count} argument{'s' * (count != 1)}"
        )


def node_kind(arguments) -> str:
    """``"array"`` when a traced argument has at least one dimension, else ``"scalar"``.

    The rule of ``nodes="auto"``, shared by :func:`trace` and the routes of
    :mod:`lagrangian.graph.routes`: numbers make scalar nodes (the lecture's
    program, exact Hessians), arrays make array nodes (vectorized code).
    """
    for a in arguments:  # a loop, and Python numbers first: this runs at every call of a gradient
        if type(a) is not float and type(a) is not int and np.ndim(a) > 0:
            return "array"
    return "scalar"


def trace(fn, *args, argnums=None, nodes="auto"):
    """Evaluate ``fn(*args)`` on traced inputs and return its computation graph.

    Parameters
    ----------
    fn : callable
        Built from arithmetic, ``@``, indexing, numpy's ufuncs and reductions, and the
        functions of :mod:`lagrangian.graph`; returns a scalar.
    *args : float or array_like
        The arguments. Those in ``argnums`` become traced inputs; the others are
        passed unchanged (data: no node, no derivative, no cost).
    argnums : int or tuple of int, optional
        Which arguments to trace (default: all).
    nodes : {"auto", "scalar", "array"}
        ``"scalar"``: every entry of every traced argument is its own node (each
        op acts on numbers; the graph is the scalar program of the lecture, with
        exact Hessians available). ``"array"``: each traced argument is one node
        and ops act on whole arrays with structured local Jacobians (fast on
        vectorized code). ``"auto"`` (default) picks ``"array"`` when a traced
        argument has at least one dimension.

    Returns
    -------
    Graph
    """
    if nodes not in _NODE_KINDS:
        raise ValueError(f"nodes must be one of {_NODE_KINDS}, got {nodes!r}")
    traced = range(len(args)) if argnums is None else argument_positions(argnums)
    check_positions(traced, len(args))
    arrays = [np.asarray(args[i]) for i in traced]
    if nodes == "auto":
        nodes = node_kind(arrays)
    tape = ArrayTape() if nodes == "array" else Tape()
    call, inputs = list(args), {}
    for i, array in zip(traced, arrays):
        if nodes == "array":
            node = tape.variable(array)
            inputs[i] = node.index
        elif array.ndim == 0:
            node = tape.variable(real_scalar(array, "traced argument"))  # complex, strings, None refused
            inputs[i] = np.array(node.index)
        else:
            node = tape.variables(array)
            inputs[i] = np.vectorize(lambda n: n.index, otypes=[int])(node)
        call[i] = node
    with np.errstate(all="ignore"):  # a non-finite value raises NonFiniteValueError naming its op
        output = fn(*call)
    return Graph(tape, output, inputs, [np.shape(a) for a in args])


class Graph:
    """The graph of one evaluation of a scalar function (see :func:`trace`).

    Attributes
    ----------
    tape : Tape or ArrayTape
        Scalar nodes (:class:`Tape`) or array nodes (:class:`ArrayTape`).
    value : float
        The output ``z_m``.
    output : int or None
        Index of the output node (``None`` when the function did not depend on
        its inputs).
    """

    def __init__(self, tape, output, inputs, shapes):
        self.tape = tape
        self._inputs = inputs  # argument position -> node index (array) or indices (scalar)
        self._shapes = shapes
        if isinstance(output, np.ndarray) and output.shape == () and output.dtype == object:
            output = output.item()
        if isinstance(output, (Node, Array)) and output.tape is tape:
            value = output._value  # .value would mark the tape as read
            if np.shape(value) != ():
                raise TypeError(f"the traced function must return a scalar, got an array of shape {np.shape(value)}")
            self.output, self.value = output.index, real_scalar(value, "the traced function's value")
        else:
            try:
                self.output, self.value = None, float(output)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"the traced function must return a scalar, got {type(output).__name__} {np.shape(output)}") from exc

    def __len__(self):
        return len(self.tape)

    @property
    def arrays(self) -> bool:
        """Whether nodes are arrays (:class:`ArrayTape`) rather than scalars."""
        return isinstance(self.tape, ArrayTape)

    def node_multipliers(self) -> list:
        """``y_j = d z_m / d z_j`` for every node ``j``, shaped like the node.

        Solves ``(I - J)^T y = e_m``: a triangular solve for scalar graphs, block
        substitution with vector-Jacobian products for array graphs.
        """
        if self.arrays:
            if self.output is None:
                return [np.zeros_like(v) for v in self.tape.values]
            return self.tape.multipliers(self.output)
        return list(self.multipliers())

    def multipliers(self) -> np.ndarray:
        """``y`` solving ``(I - J)^T y = e_m``, one entry per scalar of the program.

        Entries follow the numbering of :meth:`multiplier_matrix` (node after node,
        each array node's entries in C order).
        """
        if not self.arrays:
            if self.output is None:
                return np.zeros(len(self.tape))
            return self.tape.multipliers([self.output])[:, 0]
        return np.concatenate([np.ravel(y) for y in self.node_multipliers()])

    def multiplier_matrix(self):
        """``I - J`` as a sparse matrix over every scalar of the program."""
        return self.tape.multiplier_matrix()

    def gradients(self) -> list:
        """The gradient with respect to each argument (``None`` for untraced ones), shaped like it."""
        grads = [None] * len(self._shapes)
        if self.arrays:
            if self.output is None:
                y = {j: np.zeros_like(self.tape.values[j]) for j in self._inputs.values()}
            else:
                everything = self.tape.multipliers(self.output, keep=set(self._inputs.values()))
                y = {j: everything[j] for j in self._inputs.values()}
            for position, node in self._inputs.items():
                grads[position] = y[node]
            return grads
        y = self.multipliers()
        for position, indices in self._inputs.items():
            grads[position] = y[indices].reshape(self._shapes[position]) if indices.ndim else float(y[indices])
        return grads

    def as_problem(self):
        """The program ``min z_m s.t. F(z) - z = 0`` as a :class:`lagrangian.Problem`.

        Solving it returns the forward values as ``x`` and :meth:`multipliers` as the
        multipliers of its constraint ``"graph"`` (see :mod:`lagrangian.graph.program`).
        """
        from .program import as_problem

        return as_problem(self)

    def table(self):
        """Rows ``(index, op, value, multiplier)``: the forward and backward pass side by side."""
        y = self.node_multipliers()
        return [(i, op, value, y[i]) for i, (op, value) in enumerate(zip(self.tape.ops, self.tape.values))]
