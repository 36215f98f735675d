r"""Tracing Python functions into computation graphs, and backprop as a KKT solve.

A traced function records every intermediate value ``z_i = f_i(z_parents(i))``.
The graph is the constrained program

.. math::

    \min_z \; z_m \quad \text{s.t.} \quad f_i(z_{\mathrm{parents}(i)}) - z_i = 0
    \quad (i \text{ not an input}),

whose Lagrangian is :math:`L = z_m + \sum_i y_i (f_i - z_i)`. Setting
:math:`\partial L / \partial z_j = 0` for every node gives

.. math::

    (I - J)^T y = e_m, \qquad J_{ij} = \partial f_i / \partial z_j ,

and in the order nodes were created ``J`` is strictly lower triangular: one
triangular solve gives every multiplier, and :math:`y_j = \partial z_m / \partial
z_j` (the multipliers are the gradients; LeCun 1988). An input has no constraint
of its own; its row of the same system, :math:`y_j = \sum_i y_i J_{ij}`, is the
gradient with respect to that input. The solve goes through
:func:`lagrangian.linalg.factorize`, which recognises the triangular structure.
"""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp

from .. import linalg
from ..errors import ProblemError
from ..inputs import real_array
from .ops import BINARY, UNARY
from .unsupported import NODE_UFUNC_METHODS, unsupported

__all__ = ["Tape", "Node", "NonFiniteValueError"]


class NonFiniteValueError(ProblemError, ArithmeticError):
    """An operation produced NaN or inf (or was outside its domain); names the op."""


#: Up to this many (partial derivatives x outputs), multipliers come by substitution in
#: tape order on Python floats; beyond it ``I - J`` is assembled and solved by linalg's
#: triangular path (same system, same answer; see ``Tape.multipliers``). On the
#: 10,000-op chain of benchmarks/scalar_graphs.py substitution takes 1.2 ms against
#: 4.2 ms for assembly, analysis and the sparse solve; at 1e6 nodes the sparse path wins.
SUBSTITUTION_LIMIT = 200_000


def second_derivative_entries(op, arguments, out, weight, rows, cols, data):
    """Append ``weight * d^2 f / (d a d b)`` of one op, at its arguments, as node-space triplets.

    ``arguments`` is ``((index or None, value), ...)`` (``None`` marks a constant,
    which gets no entry); ``out`` is the op's value there.
    """
    if len(arguments) == 1:
        (index, value), = arguments
        second = UNARY[op][2](value, out)
        if second != 0.0:
            rows.append(index)
            cols.append(index)
            data.append(weight * second)
        return
    (a, va), (b, vb) = arguments
    aa, ab, bb = BINARY[op][2](va, vb, out)
    for r, c, value in ((a, a, aa), (b, b, bb), (a, b, ab), (b, a, ab)):
        if r is not None and c is not None and value != 0.0:
            rows.append(r)
            cols.append(c)
            data.append(weight * value)


class Tape:
    """The record of one evaluation: values, parents and local partial derivatives.

    Storage is flat Python lists appended once per operation (no per-node
    objects beyond the lightweight :class:`Node` handles), turned into one sparse
    matrix when the multipliers are asked for.
    """

    def __init__(self):
        self.values: list[float] = []
        self.ops: list[str] = []
        self.inputs: list[int] = []
        #: Set when the traced code read a value (compared, branched on or printed it).
        self.data_dependent = False
        # triplets of J: (child, parent, d child / d parent)
        self._child: list[int] = []
        self._parent: list[int] = []
        self._partial: list[float] = []
        # per node, its arguments as (node index or None for a constant, value): what
        # the second derivatives of its op are evaluated at
        self._arguments: list = []

    def __len__(self):
        return len(self.values)

    def variable(self, value: float) -> "Node":
        index = len(self.values)
        self.values.append(float(value))
        self.ops.append("input")
        self.inputs.append(index)
        self._arguments.append(())
        return Node(self, index, float(value))

    def variables(self, values) -> np.ndarray:
        """Input nodes for every entry of ``values``, as an object array of the same shape."""
        values = real_array(values, "traced argument")  # complex, strings, None refused, not cast
        nodes = np.empty(values.shape, dtype=object)
        for idx, value in np.ndenumerate(values):
            nodes[idx] = self.variable(value)
        return nodes

    def jacobian(self) -> sp.csr_array:
        """``J = df/dz`` over all nodes (rows of inputs are empty), strictly lower triangular."""
        n = len(self.values)
        return sp.csr_array(
            sp.coo_array((np.asarray(self._partial, dtype=float), (self._child, self._parent)), shape=(n, n))
        )

    def multiplier_matrix(self) -> sp.csr_array:
        """``I - J``: the constraint block of the graph's KKT system (built from triplets)."""
        n = len(self.values)
        diagonal = np.arange(n)
        rows = np.concatenate([diagonal, np.asarray(self._child, dtype=np.int64)])
        cols = np.concatenate([diagonal, np.asarray(self._parent, dtype=np.int64)])
        data = np.concatenate([np.ones(n), -np.asarray(self._partial, dtype=float)])
        return sp.csr_array((data, (rows, cols)), shape=(n, n))

    def multipliers(self, outputs) -> np.ndarray:
        """Solve ``(I - J)^T Y = [e_m1, e_m2, ...]`` for the multipliers of each output.

        Returns
        -------
        ndarray, shape (n_nodes, len(outputs))
            Column k holds ``d z_{m_k} / d z_j`` for every node ``j``.
        """
        n = len(self.values)
        rhs = np.zeros((n, len(outputs)))
        rhs[np.asarray(outputs, dtype=int), np.arange(len(outputs))] = 1.0
        if len(self._partial) * len(outputs) <= SUBSTITUTION_LIMIT:
            return self._substitute(rhs)
        factor = linalg.factorize(self.multiplier_matrix(), structure="triangular")
        return factor.solve(rhs, transpose=True)

    def hessian(self, output: int) -> np.ndarray:
        r"""The Hessian of node ``output`` with respect to the inputs, by forward-over-reverse.

        The backward pass is the multiplier solve ``(I - J)^T y = e_m``. Differentiating
        it along the input directions ``E`` (the columns of the identity at the
        inputs) gives the tangents and second-order adjoints of the graph's Lagrangian,

        .. math::

            (I - J) \dot Z = E, \qquad (I - J)^T \dot Y = S \dot Z, \qquad
            S = \sum_i y_i \nabla^2 f_i ,

        with ``S`` in node space (each op's second derivatives with respect to its
        arguments, weighted by its multiplier), and the Hessian is
        :math:`E^T \dot Y = \dot Z^T S \dot Z` (Griewank & Walther 2008, ch. 5):
        the second-order adjoints need not be formed. The tangents come by forward
        substitution in tape order, all ``n`` directions at once as rows of ``n``
        numbers, and ``Z^T S Z`` is one product over the entries of ``S``.

        Returns
        -------
        ndarray (n_inputs, n_inputs), symmetric
        """
        return self.hessian_from_multipliers(self.multipliers([output])[:, 0])

    def hessian_from_multipliers(self, y) -> np.ndarray:
        """The Hessian with respect to the inputs of the output whose node multipliers are ``y``.

        ``y`` is any column of :meth:`multipliers`, or a weighted sum of columns
        (the Hessian of the same weighted sum of outputs: of a Lagrangian, say);
        see :meth:`hessian` for the method.
        """
        count, n = len(self.values), len(self.inputs)
        rows, cols, data = [], [], []
        for i in np.flatnonzero(y).tolist():
            if self._arguments[i]:
                second_derivative_entries(self.ops[i], self._arguments[i], self.values[i], y[i], rows, cols, data)
        if not data:
            return np.zeros((n, n))
        # (I - J) is unit lower triangular in tape order: substitution, one row per
        # triplet (a sparse triangular solve costs more than this on small tapes).
        tangents = np.zeros((count, n))
        tangents[np.asarray(self.inputs, dtype=int), np.arange(n)] = 1.0
        for child, parent, partial in zip(self._child, self._parent, self._partial):
            tangents[child] += partial * tangents[parent]
        H = (tangents[rows] * np.asarray(data)[:, None]).T @ tangents[cols]
        return 0.5 * (H + H.T)

    def _substitute(self, rhs):
        """Back substitution on ``(I - J)^T Y = rhs`` in tape order.

        The tape is a topological order, so ``(I - J)^T`` is upper triangular as
        recorded: walking the triplets ``(i, j, J_ij)`` backwards, every
        contribution to ``Y_i`` has arrived before ``Y_i`` is passed on to its
        parents, ``Y_j += J_ij Y_i``. This is the triangular solve of
        :func:`lagrangian.linalg.factorize` without building the matrix, which on
        a small tape costs more than the solve (the large-tape path builds it).
        """
        columns = []
        triplets = list(zip(reversed(self._child), reversed(self._parent), reversed(self._partial)))
        for k in range(rhs.shape[1]):
            y = rhs[:, k].tolist()  # Python floats: a list update costs a tenth of an ndarray one
            for child, parent, partial in triplets:
                y[parent] += partial * y[child]
            columns.append(y)
        return np.array(columns, dtype=float).T.reshape(rhs.shape)


class Node:
    """A traced scalar. Arithmetic and the math functions below record onto its tape.

    numpy applies its ufuncs to object arrays of Nodes element by element by
    calling the methods of the same name (``np.exp(a)`` calls ``a[i].exp()``), so
    arrays of Nodes trace too.
    """

    __slots__ = ("tape", "index", "_value")
    __array_priority__ = 1000  # so that ndarray (op) Node defers to Node

    def __init__(self, tape: Tape, index: int, value: float):
        self.tape, self.index, self._value = tape, index, value

    def __repr__(self):
        return f"Node({self._value!r}, #{self.index} {self.tape.ops[self.index]})"

    @property
    def value(self) -> float:
        """The traced number. Reading it marks the tape as data-dependent (see :meth:`_looked`)."""
        self._looked()
        return self._value

    def _looked(self):
        # Code that reads a traced number (to compare it, branch on it, print it) may
        # take another path at another point, so this trace must not stand for the
        # function elsewhere: a compiled tape (lagrangian.graph.compiled) refuses it.
        self.tape.data_dependent = True

    def __float__(self):
        # Converting would cut the graph here and silently zero every derivative upstream.
        raise TypeError(
            f"float() of a traced value ({self!r}) would detach it from the computation graph; "
            "use node.value to read the number, or keep computing with the node"
        )

    # -- recording -----------------------------------------------------------------
    def _unary(self, op):
        return _UNARY_METHODS[op](self)

    def _binary(self, op, other, reverse=False):
        return _BINARY_METHODS[op, reverse](self, other)

    def __neg__(self):
        return _UNARY_METHODS["neg"](self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self._unary("abs")

    # Comparisons read the value: control flow may branch on traced values, and the
    # trace records the branch taken (as every tracing autodiff does).
    def __lt__(self, other):
        self._looked()
        return self._value < _number(other)

    def __le__(self, other):
        self._looked()
        return self._value <= _number(other)

    def __gt__(self, other):
        self._looked()
        return self._value > _number(other)

    def __ge__(self, other):
        self._looked()
        return self._value >= _number(other)

    def __bool__(self):
        self._looked()
        return self._value != 0.0


# The recording methods below run once per traced scalar op, so they are written for
# speed: each op's forward and derivative functions are bound once, and the tape's
# lists (value, op, arguments; triplets of J) are appended to directly.
def _unary_method(op: str):
    forward, derivative, _ = UNARY[op]

    def method(self):
        a = self._value
        try:
            out = float(forward(a))
            partial = derivative(a, out)
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            raise NonFiniteValueError(op, f"{_failure(exc)} at {a!r}") from None
        if out - out != 0.0:  # inf or nan, without a function call
            raise NonFiniteValueError(op, f"produced {out} from input {a!r}")
        tape, index = self.tape, len(self.tape.values)
        tape.values.append(out)
        tape.ops.append(op)
        tape._arguments.append(((self.index, a),))
        tape._child.append(index)
        tape._parent.append(self.index)
        tape._partial.append(partial)
        return Node(tape, index, out)

    method.__name__ = op
    return method


def _binary_method(op: str, reverse: bool):
    forward, derivatives, _ = BINARY[op]

    def method(self, other):
        tape = self.tape
        if type(other) is Node:
            if other.tape is not tape:
                raise ProblemError(op, "combines values from two different traces")
            other_index, other_value = other.index, other._value
        elif isinstance(other, (int, float, np.integer, np.floating)):
            other_index, other_value = None, float(other)
        else:
            return NotImplemented
        if reverse:
            (ia, va), (ib, vb) = (other_index, other_value), (self.index, self._value)
        else:
            (ia, va), (ib, vb) = (self.index, self._value), (other_index, other_value)
        try:
            out = float(forward(va, vb))
            da, db = derivatives(va, vb, out)
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            raise NonFiniteValueError(op, f"{_failure(exc)} at ({va!r}, {vb!r})") from None
        if out - out != 0.0:  # inf or nan, without a function call
            raise NonFiniteValueError(op, f"produced {out} from inputs ({va!r}, {vb!r})")
        index = len(tape.values)
        tape.values.append(out)
        tape.ops.append(op)
        tape._arguments.append(((ia, va), (ib, vb)))
        if ia is not None:
            tape._child.append(index)
            tape._parent.append(ia)
            tape._partial.append(da)
        if ib is not None:
            tape._child.append(index)
            tape._parent.append(ib)
            tape._partial.append(db)
        return Node(tape, index, out)

    method.__name__ = f"__{'r' if reverse else ''}{op}__"
    return method


_UNARY_METHODS = {op: _unary_method(op) for op in UNARY}
_BINARY_METHODS = {(op, reverse): _binary_method(op, reverse) for op in BINARY for reverse in (False, True)}

# Arithmetic: Python's operator name -> the op in ops.BINARY.
for _python_name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow")):
    setattr(Node, f"__{_python_name}__", _BINARY_METHODS[_op, False])
    setattr(Node, f"__r{_python_name}__", _BINARY_METHODS[_op, True])

# numpy's ufuncs on object arrays call a method of the ufunc's name on each element
# (np.exp(a) calls a[i].exp()): numpy's name -> the op in ops.UNARY.
for _numpy_name, _op in (
    ("exp", "exp"), ("log", "log"), ("sin", "sin"), ("cos", "cos"), ("tan", "tan"),
    ("sqrt", "sqrt"), ("tanh", "tanh"), ("arcsin", "asin"),
):  # fmt: skip
    setattr(Node, _numpy_name, _UNARY_METHODS[_op])


def _unsupported_method(name: str):
    def method(self):
        raise unsupported(name)

    method.__name__ = name
    return method


# numpy calls these on each element of an object array of nodes (np.exp2(a) calls
# a[i].exp2()); without them its message names neither the function nor a way around it.
for _numpy_name in NODE_UFUNC_METHODS:
    setattr(Node, _numpy_name, _unsupported_method(_numpy_name))


def _number(value) -> float:
    return value._value if isinstance(value, Node) else float(value)


def _failure(exc: Exception) -> str:
    return "overflows" if isinstance(exc, OverflowError) else "is undefined"
