"""``value_and_grad(fn, compile=True)``: trace once, then run compiled code.

Two kinds of compiled code serve it, matching the nodes :func:`~lagrangian.graph.trace`
would pick for the same arguments:

- scalar arguments (``nodes="scalar"``): the source transformation of
  :mod:`lagrangian.graph.source_adjoint` first, as without ``compile``; for a
  function it does not handle, :class:`~lagrangian.graph.compiled.CompiledTape`
  writes out every scalar op of a trace, for long loops of ``math``-like code. The data
  arguments are folded into the code as constants, so a call with other data is
  traced.
- an array argument (``nodes="array"``): :class:`~lagrangian.graph.compiled_arrays.CompiledArrayTape`
  runs the recorded array rules and vector-Jacobian products without the tracing
  bookkeeping. Float arrays among the data arguments (a batch, its targets) are
  inputs of the compiled code, so a new batch of the same shape reuses it; other
  data arguments are folded in and compared with the first call's. One compiled
  function is kept per combination of input shapes and dtypes.

Either way a call the compiled code cannot stand for (other folded data, a point
where a value is not finite) is traced, so its answer and its errors are
tracing's.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .arrays import input_array
from .compiled import CompiledTape, CompileError
from .compiled_arrays import CompiledArrayTape
from .graph import argument_positions, check_positions, trace
from .source_adjoint import SourceFirst
from .tape import Node

__all__ = ["CompiledGradient", "by_argnums"]

#: Array compilations kept per function (one per combination of input shapes and dtypes).
ARRAY_CACHE_SIZE = 8


def by_argnums(argnums, value, grads):
    """``(value, gradient)`` for an int ``argnums``, ``(value, (gradients...))`` for a tuple."""
    return (value, grads[0]) if isinstance(argnums, int) else (value, tuple(grads))


def _same(a, b) -> bool:
    """Whether a folded-in data argument is unchanged (the same object, or equal values)."""
    if a is b:
        return True
    try:
        return type(a) is type(b) and np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    except Exception:  # values numpy cannot compare count as changed: the call is traced
        return False


def _input(value) -> np.ndarray:
    """:func:`~lagrangian.graph.arrays.input_array`, without its conversions for a float ndarray (most calls)."""
    return value if type(value) is np.ndarray and value.dtype.kind == "f" else input_array(value)


def _fold(args, inputs) -> list:
    """``(position, copy)`` of every argument not among ``inputs``: the data folded into compiled code."""
    return [(i, _copy(a)) for i, a in enumerate(args) if i not in inputs]


def _unchanged(args, folded) -> bool:
    """Whether every folded-in data argument is as it was when the code was compiled."""
    return all(_same(args[i], value) for i, value in folded)


def _copy(value):
    """A copy of a folded-in data argument, so that changing it in place is seen as a change."""
    try:
        return copy.deepcopy(value)
    except Exception:  # objects that cannot be copied (a module, a lock) are compared as they are
        return value


class CompiledGradient:
    """``value_and_grad(fn, argnums, compile=True)``; see the module docstring."""

    def __init__(self, fn, argnums):
        self.fn, self.argnums = fn, argnums
        self.traced = argument_positions(argnums)
        #: the compiled code of the latest compilation (None before it, or when fn read a value)
        self.compiled = None
        self._key = None  # scalar path: (shapes, folded data) the CompiledTape was written for
        self._arrays = {}  # array path: (input positions, shapes and dtypes) -> (folded data, CompiledArrayTape or None)
        #: numbers go to the source transformation first; a compiled tape serves only what it cannot
        self.source = SourceFirst(fn, self.traced)

    def __call__(self, *args):
        check_positions(self.traced, len(args))
        if any(np.ndim(args[i]) > 0 for i in self.traced):  # the nodes trace() would pick
            found = self._array_call(args)
        else:
            found = self.source(args)
            if found is None:
                found = self._scalar_call(args)
        if found is not None:
            return by_argnums(self.argnums, *found)
        graph = trace(self.fn, *args, argnums=self.traced)
        grads = graph.gradients()
        return by_argnums(self.argnums, graph.value, [grads[i] for i in self.traced])

    # -- scalar nodes ------------------------------------------------------------------
    def _scalar_call(self, args):
        shapes = [np.shape(args[i]) for i in self.traced]
        if self._key is None:
            self._key = (shapes, _fold(args, self.traced))
            graph = trace(self.fn, *args, argnums=self.traced, nodes="scalar")
            output = graph.value if graph.output is None else Node(graph.tape, graph.output, graph.value)
            try:
                self.compiled = CompiledTape(graph.tape, [output], hessian=False)
            except CompileError:
                self.compiled = None
        if self.compiled is None or shapes != self._key[0] or not _unchanged(args, self._key[1]):
            return None
        x = np.concatenate([np.ravel(np.asarray(args[i], dtype=float)) for i in self.traced])
        found = self.compiled.derivatives(x)
        if found is None:
            return None
        values, D = found
        grads, start = [], 0
        for shape in shapes:
            size = math.prod(shape)
            grads.append(float(D[0, start]) if shape == () else D[0, start : start + size].reshape(shape))
            start += size
        return float(values[0]), grads

    # -- array nodes -------------------------------------------------------------------
    def _array_call(self, args):
        # The compiled code's inputs: the traced arguments and the float arrays among the data.
        positions = tuple(i for i, a in enumerate(args) if i in self.traced or (type(a) is np.ndarray and a.dtype.kind == "f"))
        inputs = [_input(args[i]) for i in positions]
        key = (positions, tuple([(a.shape, a.dtype) for a in inputs]))
        entry = self._arrays.get(key)
        if entry is None:
            entry = self._compile_arrays(args, positions)
            if len(self._arrays) >= ARRAY_CACHE_SIZE:
                self._arrays.pop(next(iter(self._arrays)))
            self._arrays[key] = entry
        folded, compiled = entry
        self.compiled = compiled
        if compiled is None or not _unchanged(args, folded):
            return None
        return compiled(*inputs)

    def _compile_arrays(self, args, positions):
        """``(folded data, CompiledArrayTape or None)`` from one trace with every input a node."""
        folded = _fold(args, positions)
        try:
            graph = trace(self.fn, *args, argnums=positions, nodes="array")
        except Exception:
            # Code that works on the data as plain arrays but not as nodes: it is traced
            # with the data as constants at every call, as without compile.
            return folded, None
        if graph.output is None:
            return folded, None
        try:
            inputs = [int(graph._inputs[i]) for i in positions]
            return folded, CompiledArrayTape(graph.tape, graph.output, inputs, [i in self.traced for i in positions])
        except CompileError:
            return folded, None
