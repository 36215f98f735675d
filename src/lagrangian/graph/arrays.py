r"""Array nodes: a computation graph whose nodes are whole arrays.

The graph and its program are the scalar tape's (:mod:`lagrangian.graph.tape`), read
block-wise: node ``i`` is an array ``z_i = f_i(z_parents(i))``, and the multiplier
system ``(I - J)^T y = e_m`` is block lower triangular in tape order, so the blocks
of ``y`` come by substitution,

.. math::

    y_m = 1, \qquad y_j = \sum_{i \,:\, j \in \mathrm{parents}(i)} J_{ij}^T y_i ,

walking the tape backwards. Each ``J_{ij}^T y_i`` is the vector-Jacobian product of
op ``i`` (:mod:`lagrangian.graph.jacobians`): backpropagation, with each local
Jacobian kept in the form its op produced (a diagonal, ``I kron B^T``, a selection)
and never formed. :meth:`ArrayTape.multiplier_matrix` forms them all, entry by
entry, so that the same multipliers can be checked against the sparse triangular
solve of :mod:`lagrangian.linalg` on graphs small enough to look at.

A fixed-point node (:func:`fixed_point`) is a cycle: its forward pass is a Newton
solve and its block of the multiplier system a linear solve with the cycle's own
matrix ``I - dF/dz``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ProblemError
from ..inputs import real_array
from .jacobians import Elementwise, Gather, MatmulLeft, MatmulRight, Rearrange, Scatter, SumOver, add_vjp
from .ops import UNARY
from .tape import NonFiniteValueError
from .unsupported import UnsupportedAttributeError, UnsupportedOperationError, foreign_override, unsupported

__all__ = ["Array", "ArrayTape"]


def _sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(a):
    # log(1 + e^a) without overflow: max(a, 0) + log1p(e^-|a|)
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def _erf(a):
    from scipy.special import erf

    return erf(a)


#: name: (numpy forward, d out / d a given (a, out)). Derivatives written in plain
#: arithmetic are the scalar ops' own (``ops.UNARY``), which hold elementwise on arrays.
ARRAY_UNARY = {
    "neg": (np.negative, lambda a, out: -1.0),
    "exp": (np.exp, UNARY["exp"][1]),
    "log": (np.log, UNARY["log"][1]),
    "sin": (np.sin, lambda a, out: np.cos(a)),
    "cos": (np.cos, lambda a, out: -np.sin(a)),
    "tan": (np.tan, UNARY["tan"][1]),
    "sqrt": (np.sqrt, UNARY["sqrt"][1]),
    "tanh": (np.tanh, UNARY["tanh"][1]),
    "sigmoid": (_sigmoid, UNARY["sigmoid"][1]),
    "softplus": (_softplus, lambda a, out: _sigmoid(a)),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, out: (a > 0).astype(out.dtype)),
    "abs": (np.abs, lambda a, out: np.sign(a)),
    "asin": (np.arcsin, lambda a, out: 1.0 / np.sqrt(1.0 - a * a)),
    "erf": (_erf, lambda a, out: 2.0 / np.sqrt(np.pi) * np.exp(-a * a)),
}


def _power_derivatives(a, b, out, wanted):
    da = b * a ** (b - 1) if wanted[0] else None
    db = None
    if wanted[1]:
        with np.errstate(divide="ignore", invalid="ignore"):
            db = np.where(a > 0, out * np.log(np.where(a > 0, a, 1.0)), 0.0)
    return da, db


#: name: (forward, (d out/d a, d out/d b) given (a, b, out, wanted)); a derivative that
#: is not wanted (its operand is a constant) may be returned as None.
ARRAY_BINARY = {
    "add": (np.add, lambda a, b, out, wanted: (1.0, 1.0)),
    "sub": (np.subtract, lambda a, b, out, wanted: (1.0, -1.0)),
    "mul": (np.multiply, lambda a, b, out, wanted: (b, a)),
    "div": (np.divide, lambda a, b, out, wanted: (1.0 / b if wanted[0] else None, -out / b if wanted[1] else None)),
    "pow": (np.power, _power_derivatives),
}


#: Ops whose value is entries of their operand, selected or moved: finite wherever the
#: operand is, whose value was checked when it was recorded (or is an input, which is not
#: checked), so theirs is not checked again (a model's parameter slices would cost a
#: pass over the whole parameter vector per call).
SELECTIONS = frozenset({"index", "reshape", "transpose"})


class ArrayTape:
    """The record of one evaluation with array nodes.

    Per node: its value, op name, parents (node indices) and the local Jacobians
    ``J_ij`` toward each parent, plus what re-evaluates it (the op and its
    constant operands) for :meth:`lagrangian.graph.Graph.as_problem`.
    """

    def __init__(self):
        self.values: list[np.ndarray] = []
        self.ops: list[str] = []
        self.parents: list[tuple] = []
        self.jacobians: list[tuple] = []
        self.inputs: list[int] = []
        self.replays: list = []
        #: Set when the traced code read a value (compared, branched on or printed it):
        #: another evaluation may take another path, so the tape is not compiled.
        self.data_dependent = False
        #: fixed-point nodes: index -> their cycle (lagrangian.graph.fixed_point)
        self.cycles: dict = {}

    def __len__(self):
        return len(self.values)

    def variable(self, value) -> "Array":
        value = input_array(value)
        index = len(self.values)
        self.values.append(value)
        self.ops.append("input")
        self.parents.append(())
        self.jacobians.append(())
        self.replays.append(None)
        self.inputs.append(index)
        return Array(self, index, value)

    def record(self, op, value, parents, jacobians, replay=None) -> "Array":
        # A sum is finite exactly when every entry is, unless finite entries overflow it:
        # one reduction without a boolean array, and the entrywise test only then.
        if op not in SELECTIONS and not np.isfinite(value.sum()) and not np.isfinite(value).all():
            raise NonFiniteValueError(op, f"produced non-finite values (first at entry {int(np.argmin(np.isfinite(value).ravel()))})")
        index = len(self.values)
        self.values.append(value)
        self.ops.append(op)
        self.parents.append(parents)
        self.jacobians.append(jacobians)
        self.replays.append(replay)
        return Array(self, index, value)

    # -- the multiplier system -------------------------------------------------------
    def multipliers(self, output: int, keep=None, seed=None) -> list:
        """Blocks of ``y`` solving ``(I - J)^T y = e_m`` by substitution in tape order.

        Parameters
        ----------
        output : int
            The node ``m`` (a scalar node: ``e_m`` is its unit vector).
        keep : set of int, optional
            Nodes whose multipliers are returned; the others are dropped as soon as
            they have been passed to their parents (peak memory is then that of the
            live adjoints, as in backprop). Default: every node.
        seed : ndarray, optional
            The right-hand side's block at ``output`` when it is not a scalar node:
            ``(I - J)^T y = e_m seed`` gives ``y_j = seed^T d z_m / d z_j``, one row
            of a vector-valued node's Jacobian per unit seed.

        Returns
        -------
        list
            ``y_j`` shaped like node ``j`` (``None`` where it was not kept, zeros where
            node ``j`` does not reach the output). A fixed-point node's entry is the
            multiplier of its constraint ``F(z, p) - z = 0``, ``w`` in
            ``(I - dF/dz)^T w = y_bar`` (see :mod:`lagrangian.graph.fixed_point`).
        """
        count = len(self.values)
        y = [None] * count
        owned = [False] * count  # y[j] is a buffer this substitution allocated (see add_vjp)
        y[output] = np.ones_like(self.values[output]) if seed is None else seed
        parents, jacobians = self.parents, self.jacobians
        for i in range(output, -1, -1):
            g = y[i]
            if g is None:
                continue
            for parent, jacobian in zip(parents[i], jacobians[i]):
                y[parent], owned[parent] = add_vjp(y[parent], owned[parent], jacobian, g)
            if i in self.cycles:
                # the multiplier of the cycle's constraint F(z, p) - z = 0 is w, with
                # (I - dF/dz)^T w = g: what the program's KKT system holds for this node
                y[i] = self.cycles[i].constraint_multiplier(g)
            if keep is not None and i not in keep:
                y[i] = None
        for j in range(count) if keep is None else keep:
            if y[j] is None:
                y[j] = np.zeros_like(self.values[j])
        return y

    def offsets(self) -> np.ndarray:
        """Where each node's entries start in the flat (scalar) numbering of all nodes."""
        return np.concatenate([[0], np.cumsum([v.size for v in self.values])])

    def multiplier_matrix(self) -> sp.csr_array:
        """``I - J`` with every local Jacobian formed: the scalar graph of the same program.

        Rows and columns number the entries of all nodes, node after node, each
        node's entries in C order (:meth:`offsets`). A fixed-point node adds the
        nodes of its cycle after all the others (see :func:`fixed_point`).
        """
        blocks = _Blocks(self.offsets(), self.parents)
        for i, (parents, jacobians) in enumerate(zip(self.parents, self.jacobians)):
            for parent, jacobian in zip(parents, jacobians):
                if hasattr(jacobian, "expand"):
                    jacobian.expand(blocks, i, parent)
                else:
                    blocks.add(i, parent, jacobian.matrix())
        return blocks.matrix()


class _Blocks:
    """Triplets of ``J`` in the flat numbering; extra entries (cycles) appended at the end."""

    def __init__(self, offsets, parents):
        self.offsets = list(offsets[:-1])
        self.parents = parents
        self.expanded = set()  # cycles already written (a cycle has one edge per parameter)
        self.size = int(offsets[-1])
        self.rows, self.cols, self.data = [], [], []

    def allocate(self, count: int) -> int:
        start = self.size
        self.size += count
        return start

    def add(self, row_start, col_start, block, *, flat=False):
        if not flat:
            row_start, col_start = self.offsets[row_start], self.offsets[col_start]
        block = sp.coo_array(block)
        self.rows.append(block.row + row_start)
        self.cols.append(block.col + col_start)
        self.data.append(block.data)

    def matrix(self):
        n = self.size
        rows = np.concatenate([np.arange(n)] + self.rows)
        cols = np.concatenate([np.arange(n)] + self.cols)
        data = np.concatenate([np.ones(n)] + [-d for d in self.data])
        return sp.csr_array((data, (rows, cols)), shape=(n, n))


def input_array(value) -> np.ndarray:
    """An input's array as a tape holds it: float32 stays float32 (the benchmarks compare
    both precisions); anything else becomes float64.

    A float array is referenced, not copied (a 784 x 256 weight copy costs as much as a
    tenth of a gradient): do not modify it while its graph is in use.
    """
    return np.asarray(value) if _is_float(value) else real_array(value, "traced argument")  # complex, strings, None refused


def _is_float(value) -> bool:
    try:
        return np.asarray(value).dtype.kind == "f"
    except (TypeError, ValueError):  # ragged: real_array says so
        return False


def _constant(value):
    """A non-node operand as the rules take it."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        raise TypeError("an object array cannot be combined with an array node; trace with arrays throughout")
    if isinstance(value, (int, float)):
        return value  # a Python number stays weakly typed: float32 arrays stay float32
    return np.asarray(value)


def apply(op, rule, *operands, **parameters):
    """Record ``op``: ``rule(*values, wanted, **parameters) -> (out, local Jacobians)``.

    ``wanted[k]`` says whether operand ``k`` is a node (a constant needs no
    derivative). The same ``rule`` re-evaluates the node at other parent values
    (:meth:`Graph.as_problem`).
    """
    tape, values, parents, constants, wanted = None, [], [], [], []
    for operand in operands:  # one pass, no per-operand calls: this runs once per traced op
        if type(operand) is Array:
            if tape is None:
                tape = operand.tape
            elif operand.tape is not tape:
                raise ProblemError(op, "combines values from two different traces")
            values.append(operand._value)
            parents.append(operand.index)
            constants.append(None)
            wanted.append(True)
        else:
            value = _constant(operand)
            values.append(value)
            constants.append(value)
            wanted.append(False)
    if tape is None:
        raise TypeError(f"{op}: no traced array among the operands")
    wanted = tuple(wanted)
    try:
        out, jacobians = rule(*values, wanted, **parameters)
    except (ValueError, FloatingPointError) as exc:
        raise NonFiniteValueError(op, str(exc)) from None
    if len(parents) != len(jacobians):
        jacobians = tuple(j for j, w in zip(jacobians, wanted) if w)
    return tape.record(op, out, tuple(parents), jacobians, (rule, tuple(constants), parameters))


# -- rules: forward value and local Jacobians, side by side -------------------------------
def unary_rule(name):
    forward, derivative = ARRAY_UNARY[name]

    def rule(a, wanted):
        out = forward(a)
        d = derivative(a, out)
        return out, (Elementwise(d, a.shape, out.shape),)

    return rule


def binary_rule(name):
    forward, derivatives = ARRAY_BINARY[name]

    def rule(a, b, wanted):
        out = forward(a, b)
        da, db = derivatives(a, b, out, wanted)
        return out, (
            Elementwise(da, np.shape(a), out.shape),
            Elementwise(db, np.shape(b), out.shape),
        )

    return rule


UNARY_RULES = {name: unary_rule(name) for name in ARRAY_UNARY}
BINARY_RULES = {name: binary_rule(name) for name in ARRAY_BINARY}


def matmul_rule(a, b, wanted):
    if a.ndim > 2 or b.ndim > 2 or a.ndim == 0 or b.ndim == 0:
        raise ProblemError("matmul", f"operands must be 1-D or 2-D, got shapes {a.shape} and {b.shape}")
    return a @ b, (MatmulLeft(a.shape, b), MatmulRight(a, b.shape))


def getitem_rule(a, wanted, key):
    out = a[key]
    return out, (Gather(a.shape, key, out.shape),)


def reshape_rule(a, wanted, shape):
    out = a.reshape(shape)
    return out, (Rearrange(a.shape, lambda v: v.reshape(shape), lambda g: g.reshape(a.shape)),)


def transpose_rule(a, wanted):
    return a.T, (Rearrange(a.shape, lambda v: v.T, lambda g: g.T),)


def sum_forward(a, axis, scale):
    """``scale * a.sum(axis)`` as an array (a sum or, with ``scale = 1/count``, a mean)."""
    return np.asarray(a.sum(axis=axis) * scale if scale != 1.0 else a.sum(axis=axis))


def sum_rule(a, wanted, axis, scale):
    out = sum_forward(a, axis, scale)
    return out, (SumOver(a.shape, axis, scale, out.shape),)


def concatenate_rule(*parts, axis):
    parts = parts[:-1]  # the last positional argument is ``wanted``
    out = np.concatenate(parts, axis=axis)
    jacobians, start = [], 0
    for part in parts:
        key = [slice(None)] * out.ndim
        key[axis] = slice(start, start + part.shape[axis])
        jacobians.append(Scatter(part.shape, tuple(key), out.shape))
        start += part.shape[axis]
    return out, tuple(jacobians)


class Array:
    """A traced array. Arithmetic, ``@``, indexing, numpy's ufuncs and reductions record.

    numpy hands its ufuncs (``np.tanh(z)``, ``W @ z`` with ``W`` an ndarray) to
    ``__array_ufunc__`` and functions like ``np.sum`` to ``__array_function__``, so
    code written for ndarrays traces unchanged.
    """

    __slots__ = ("tape", "index", "_value")
    __array_priority__ = 1000

    def __init__(self, tape, index, value):
        self.tape, self.index, self._value = tape, index, value

    def __repr__(self):
        return f"Array(shape={self._value.shape}, #{self.index} {self.tape.ops[self.index]})"

    @property
    def value(self) -> np.ndarray:
        """The traced numbers. Reading them marks the tape as data-dependent, as for scalar nodes."""
        self.tape.data_dependent = True
        return self._value

    # Shapes and dtypes are part of what a compiled tape is specialized to, not data.
    shape = property(lambda self: self._value.shape)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    dtype = property(lambda self: self._value.dtype)

    def __len__(self):
        return len(self._value)

    def __float__(self):
        raise TypeError(
            f"float() of a traced value ({self!r}) would detach it from the computation graph; "
            "use .value to read the number, or keep computing with the node"
        )

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"converting a traced array ({self!r}) to an ndarray would detach it from the computation graph; "
            "use .value to read the numbers"
        )

    # -- recording ---------------------------------------------------------------
    def _unary(self, op):
        return apply(op, UNARY_RULES[op], self)

    def _binary(self, op, other, reverse=False):
        return apply(op, BINARY_RULES[op], *((other, self) if reverse else (self, other)))

    def __neg__(self):
        return self._unary("neg")

    def __pos__(self):
        return self

    def __abs__(self):
        return self._unary("abs")

    def __matmul__(self, other):
        return apply("matmul", matmul_rule, self, other)

    def __rmatmul__(self, other):
        return apply("matmul", matmul_rule, other, self)

    def __getitem__(self, key):
        return apply("index", getitem_rule, self, key=key)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply("reshape", reshape_rule, self, shape=tuple(shape))

    def ravel(self):
        return self.reshape(-1)

    @property
    def T(self):
        return apply("transpose", transpose_rule, self)

    def transpose(self):
        return self.T

    def sum(self, axis=None):
        return apply("sum", sum_rule, self, axis=axis, scale=1.0)

    def mean(self, axis=None):
        count = self._value.size if axis is None else np.prod([self._value.shape[k] for k in np.atleast_1d(axis)])
        return apply("mean", sum_rule, self, axis=axis, scale=1.0 / float(count))

    def dot(self, other):
        return self @ other

    # Comparisons read values (control flow may branch on them), as for scalar nodes.
    def __lt__(self, other):
        return self.value < _values(other)

    def __le__(self, other):
        return self.value <= _values(other)

    def __gt__(self, other):
        return self.value > _values(other)

    def __ge__(self, other):
        return self.value >= _values(other)

    # -- numpy protocol -------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            if ufunc is np.matmul:
                return apply("matmul", matmul_rule, *inputs)
            if ufunc in _UFUNC_BINARY:
                return apply(_UFUNC_BINARY[ufunc], BINARY_RULES[_UFUNC_BINARY[ufunc]], *inputs)
            if ufunc in _UFUNC_UNARY:
                return apply(_UFUNC_UNARY[ufunc], UNARY_RULES[_UFUNC_UNARY[ufunc]], *inputs)
        if foreign_override(inputs, Array):
            return NotImplemented
        if kwargs:
            raise UnsupportedOperationError(f"numpy.{ufunc.__name__}", f"with keyword arguments {sorted(kwargs)} is not supported on traced values; call it without them")
        raise unsupported(ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}")

    def __array_function__(self, func, types, args, kwargs):
        if func not in _FUNCTIONS:
            if any(not issubclass(t, (Array, np.ndarray)) for t in types):
                return NotImplemented
            raise unsupported(func.__name__)
        return _FUNCTIONS[func](*args, **kwargs)

    def __getattr__(self, name):
        # Only reached for names the class does not have: an ndarray method gets an
        # error that says what to write instead (an AttributeError, so hasattr works).
        if not name.startswith("_") and hasattr(np.ndarray, name):
            raise unsupported(name, "method", UnsupportedAttributeError)
        raise AttributeError(f"'Array' object has no attribute {name!r}")


def _values(value):
    """The numbers of ``value``; reading an array node's marks its tape (see :attr:`Array.value`)."""
    return value.value if isinstance(value, Array) else value


def _binary_method(op: str, reverse: bool):
    def method(self, other):
        if isinstance(other, np.ndarray) and other.dtype == object:
            return NotImplemented
        return self._binary(op, other, reverse)

    return method


for _python_name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow")):
    setattr(Array, f"__{_python_name}__", _binary_method(_op, reverse=False))
    setattr(Array, f"__r{_python_name}__", _binary_method(_op, reverse=True))

_UFUNC_BINARY = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div", np.power: "pow"}
_UFUNC_UNARY = {
    np.negative: "neg", np.exp: "exp", np.log: "log", np.sin: "sin", np.cos: "cos", np.tan: "tan",
    np.sqrt: "sqrt", np.tanh: "tanh", np.arcsin: "asin", np.absolute: "abs",
}  # fmt: skip


def concatenate(parts, axis=0):
    """``np.concatenate`` of arrays and traced arrays along ``axis``."""
    if not any(isinstance(p, Array) for p in parts):
        return np.concatenate(parts, axis=axis)
    return apply("concatenate", concatenate_rule, *parts, axis=axis)


_FUNCTIONS = {
    np.sum: lambda a, axis=None: a.sum(axis=axis),
    np.mean: lambda a, axis=None: a.mean(axis=axis),
    np.dot: lambda a, b: apply("matmul", matmul_rule, a, b),
    np.matmul: lambda a, b: apply("matmul", matmul_rule, a, b),
    np.reshape: lambda a, shape: a.reshape(shape),
    np.transpose: lambda a: a.T,
    np.ravel: lambda a: a.reshape(-1),
    np.concatenate: concatenate,
}
