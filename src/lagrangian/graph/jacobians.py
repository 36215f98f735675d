r"""Structured local Jacobians of array operations: applied, never formed, unless asked.

An array node ``z_i = f_i(z_j, ...)`` contributes the block ``J_ij = d f_i / d z_j`` to
the graph's constraint Jacobian. For a 256 x 784 weight matrix and a batch of 32 that
block has 32*256 x 256*784 entries; it is only ever needed applied to a multiplier,
``J_ij^T y_i`` (the vector-Jacobian product of backprop), which costs what the forward
op costs. Each class below keeps the block in the form its op produced and offers

``vjp(g)``
    ``J_ij^T g`` reshaped like the parent: the block's share of the multiplier
    substitution ``y_j = sum_i J_ij^T y_i``;
``matrix()``
    the block as a ``scipy.sparse`` matrix (rows: output entries, columns: parent
    entries, both in C order), for assembling ``I - J`` entry by entry
    (:meth:`lagrangian.graph.ArrayTape.multiplier_matrix`) on graphs small enough to
    look at.

Every ``matrix()`` is checked against its ``vjp`` in the test suite (they must be the
same linear map).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .ops import template_function

__all__ = [
    "Elementwise", "MATMUL_LEFT_VJP", "MATMUL_RIGHT_VJP", "MatmulLeft", "MatmulRight", "Gather", "Rearrange", "Scatter",
    "SumOver", "unbroadcast", "add_vjp", "add_contribution", "scatter_add",
]  # fmt: skip


def unbroadcast(g, shape):
    """Sum ``g`` over the axes along which an array of ``shape`` was broadcast to ``g.shape``.

    Broadcasting copies an entry to many outputs; the transpose of a copy is a sum.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape) if n == 1 and g.shape[lead + k] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


def _broadcast_indices(shape, out_shape):
    """For each output entry, the parent entry it was broadcast from (C order)."""
    return np.broadcast_to(np.arange(int(np.prod(shape, dtype=int))).reshape(shape), out_shape).ravel()


class Elementwise:
    """``d out / d a = diag(d)`` after broadcasting ``a`` to ``out``'s shape.

    ``d`` is an array shaped like the output, or a Python number for ops whose
    derivative is constant (``+`` and ``-``), which then costs no multiplication.
    """

    __slots__ = ("derivative", "shape", "out_shape")

    def __init__(self, derivative, shape, out_shape):
        if derivative is not None and not isinstance(derivative, np.ndarray):
            derivative = float(derivative)  # a constant derivative: vjp skips the product for 1.0
        self.derivative, self.shape, self.out_shape = derivative, shape, out_shape

    def vjp(self, g):
        d = self.derivative
        if isinstance(d, float):
            return unbroadcast(g if d == 1.0 else d * g, self.shape)
        return unbroadcast(g * d, self.shape)

    def matrix(self):
        size = int(np.prod(self.out_shape, dtype=int))
        values = np.broadcast_to(self.derivative, self.out_shape).ravel().astype(float)
        columns = _broadcast_indices(self.shape, self.out_shape)
        parent_size = int(np.prod(self.shape, dtype=int))
        return sp.csr_array((values, (np.arange(size), columns)), shape=(size, parent_size))


def _as_matrices(a, b):
    """``a @ b`` as a product of 2-D arrays (numpy's rules for 1-D operands)."""
    return (a[None, :] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)


#: ``J^T g`` of ``A @ B`` toward ``A`` (in ``{g}`` and ``{b}``, B's value) and toward ``B``
#: (in ``{g}`` and ``{a}``), by ``(A.ndim, B.ndim)``: numpy's rules for 1-D operands. The
#: classes below run these expressions; a compiled tape (lagrangian.graph.compiled_arrays)
#: pastes them into its code.
MATMUL_LEFT_VJP = {(1, 1): "{g} * {b}", (2, 1): "multiply.outer({g}, {b})", (1, 2): "{b} @ {g}", (2, 2): "{g} @ {b}.T"}
MATMUL_RIGHT_VJP = {(1, 1): "{g} * {a}", (1, 2): "multiply.outer({a}, {g})", (2, 1): "{g} @ {a}", (2, 2): "{a}.T @ {g}"}


_MATMUL_LEFT = {ndims: template_function("g, b", t, {"multiply": np.multiply}) for ndims, t in MATMUL_LEFT_VJP.items()}
_MATMUL_RIGHT = {ndims: template_function("g, a", t, {"multiply": np.multiply}) for ndims, t in MATMUL_RIGHT_VJP.items()}


class MatmulLeft:
    """``d (A @ B) / d A = I kron B^T``; ``J^T g = g B^T`` (:data:`MATMUL_LEFT_VJP`)."""

    __slots__ = ("a_shape", "b")

    def __init__(self, a_shape, b):
        self.a_shape, self.b = a_shape, b

    @property
    def ndims(self):
        return len(self.a_shape), self.b.ndim

    def vjp(self, g):
        return _MATMUL_LEFT[self.ndims](g, self.b)

    def matrix(self):
        a2, b2 = _as_matrices(np.empty(self.a_shape), self.b)
        return sp.csr_array(sp.kron(sp.eye_array(a2.shape[0]), sp.csr_array(b2.T)))


class MatmulRight:
    """``d (A @ B) / d B = A kron I``; ``J^T g = A^T g`` (:data:`MATMUL_RIGHT_VJP`)."""

    __slots__ = ("a", "b_shape")

    def __init__(self, a, b_shape):
        self.a, self.b_shape = a, b_shape

    @property
    def ndims(self):
        return self.a.ndim, len(self.b_shape)

    def vjp(self, g):
        return _MATMUL_RIGHT[self.ndims](g, self.a)

    def matrix(self):
        a2, b2 = _as_matrices(self.a, np.empty(self.b_shape))
        return sp.csr_array(sp.kron(sp.csr_array(a2), sp.eye_array(b2.shape[1])))


class Gather:
    """``out = a[key]``: each output entry copies one entry of ``a``.

    The transpose scatters ``g`` back, adding where an entry was taken twice (only
    fancy indexing can take one twice; slices and integers assign directly).
    """

    __slots__ = ("shape", "key", "out_shape", "basic")

    def __init__(self, shape, key, out_shape):
        self.shape, self.key, self.out_shape = shape, key, out_shape
        parts = key if isinstance(key, tuple) else (key,)
        self.basic = all(isinstance(k, (int, np.integer, slice, type(None), type(Ellipsis))) for k in parts)

    def vjp(self, g):
        out = np.zeros(self.shape, dtype=g.dtype)
        if self.basic:
            out[self.key] = g
        else:
            np.add.at(out, self.key, g)
        return out

    def run(self):
        """``(start, stop)`` when the key is one slice of a vector with step 1, else ``None``."""
        key = self.key[0] if isinstance(self.key, tuple) and len(self.key) == 1 else self.key
        if len(self.shape) != 1 or not isinstance(key, slice) or key.step not in (None, 1):
            return None
        start, stop, _ = key.indices(self.shape[0])
        return start, max(start, stop)

    def add_into(self, total, g):
        """``total += J^T g`` in place: ``g`` added into the part of ``total`` it was taken from."""
        if self.basic:
            total[self.key] += g
        else:
            np.add.at(total, self.key, g)

    def matrix(self):
        size = int(np.prod(self.shape, dtype=int))
        return _selection(np.arange(size).reshape(self.shape)[self.key], size)


def scatter_add(total, owned: bool, gather: Gather, g):
    """A parent's multiplier plus ``J^T g`` of an indexing op, written into the parent's part.

    ``y_j += J_ij^T g`` where ``J_ij^T`` scatters ``g`` back to the entries ``z_i =
    z_j[key]`` took. Adding a dense ``J_ij^T g`` (zeros but for ``key``) costs a
    full-size allocation and addition per slice; a model whose parameters are
    slices of one vector would pay that for every slice. Instead the parent's
    multiplier is one buffer, zeros once, and each slice's multiplier is added
    into its part of it.

    ``total`` is the parent's multiplier so far (``None`` before any) and ``owned``
    whether it is a buffer this substitution allocated (anything else, such as a
    child's multiplier passed on unchanged, may be shared and is copied first).
    """
    dtype = g.dtype if total is None else np.result_type(total.dtype, g.dtype)
    if total is None:
        run = gather.run()
        if run is not None:
            # A run of a vector (the usual parameter slice): written once, the rest zeroed,
            # so that each page of a new buffer is written once rather than zeroed and added to.
            start, stop = run
            total = np.empty(gather.shape, dtype=dtype)
            total[:start] = 0.0
            total[stop:] = 0.0
            total[start:stop] = g
            return total
        total = np.zeros(gather.shape, dtype=dtype)
    elif not owned or total.dtype != dtype or not total.flags.writeable:
        total = total.astype(dtype)  # a copy: the substitution owns it from here on
    gather.add_into(total, g)
    return total


def add_contribution(total, owned: bool, contribution):
    """``total + contribution`` for a parent's multiplier: in place into a buffer the substitution owns."""
    if owned and contribution.dtype == total.dtype and contribution.shape == total.shape:
        total += contribution
        return total
    return total + contribution


def add_vjp(total, owned: bool, jacobian, g):
    """``(y_j + J_ij^T g, owned)``: one edge's share of the substitution ``y_j = sum_i J_ij^T y_i``.

    The sum is written so that no edge allocates more than its own result: the
    first contribution is the parent's multiplier as it comes (not owned: it may
    be a child's own array), an indexing op's is added into its part of one
    buffer (:func:`scatter_add`), and later contributions are added into a
    buffer already allocated. The values are those of ``total + J^T g`` entry by
    entry, added in the same order.
    """
    if type(jacobian) is Gather:
        return scatter_add(total, owned, jacobian, g), True
    contribution = jacobian.vjp(g)
    if total is None:
        return contribution, False
    return add_contribution(total, owned, contribution), True


class Rearrange:
    """``out = forward(a)`` for a reshape or transpose: a permutation of the entries."""

    __slots__ = ("shape", "forward", "inverse")

    def __init__(self, shape, forward, inverse):
        self.shape, self.forward, self.inverse = shape, forward, inverse

    def vjp(self, g):
        return self.inverse(g)

    def matrix(self):
        size = int(np.prod(self.shape, dtype=int))
        return _selection(self.forward(np.arange(size).reshape(self.shape)), size)


def _selection(columns, size):
    """The 0/1 matrix whose row k picks parent entry ``columns.flat[k]`` (of ``size``)."""
    columns = np.asarray(columns).ravel()
    return sp.csr_array((np.ones(columns.size), (np.arange(columns.size), columns)), shape=(columns.size, size))


class Scatter:
    """``out = concatenate(...)`` seen from one part: that part lands in ``out[key]``."""

    __slots__ = ("shape", "key", "out_shape")

    def __init__(self, shape, key, out_shape):
        self.shape, self.key, self.out_shape = shape, key, out_shape

    def vjp(self, g):
        return g[self.key]

    def matrix(self):
        out_size = int(np.prod(self.out_shape, dtype=int))
        rows = np.arange(out_size).reshape(self.out_shape)[self.key].ravel()
        return sp.csr_array((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(out_size, rows.size))


#: Up to this many entries a sum's multiplier is a filled array rather than a broadcast view.
_FILL_LIMIT = 1 << 16


class SumOver:
    """``out = scale * a.sum(axis)``: every entry of ``a`` feeds one output entry."""

    __slots__ = ("shape", "axis", "scale", "out_shape")

    def __init__(self, shape, axis, scale, out_shape):
        self.shape, self.axis, self.scale, self.out_shape = shape, axis, scale, out_shape

    def vjp(self, g):
        if self.axis is not None:
            g = np.expand_dims(g, self.axis)
        g = g if self.scale == 1.0 else self.scale * g
        if math.prod(self.shape) <= _FILL_LIMIT:
            # a filled array costs a third of a broadcast view's construction when small
            return np.full(self.shape, g)
        return np.broadcast_to(g, self.shape)

    def matrix(self):
        kept = list(self.shape)
        for axis in range(len(self.shape)) if self.axis is None else np.atleast_1d(self.axis):
            kept[axis] = 1
        rows = _broadcast_indices(tuple(kept), self.shape)
        size = rows.size
        out_size = int(np.prod(kept, dtype=int))
        return sp.csr_array((np.full(size, float(self.scale)), (rows, np.arange(size))), shape=(out_size, size))
