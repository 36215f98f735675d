r"""Which route computes a derivative: the one rule, for every entry point of the graph package.

Every route solves the same system, the multipliers of the graph's program
``(I - J)^T y = e_m`` (:mod:`lagrangian.graph.tape`); they differ in what they
record and what they write out beforehand. The entry points and the routes they
take, first to last (a route that cannot answer a call hands it to the next one;
a trace always answers, or raises an error that names the op):

.. list-table::
   :header-rows: 1
   :widths: 25 22 53

   * - call
     - routes, in the order tried
     - why each
   * - ``value_and_grad(fn)``, the traced arguments numbers
     - 1. source transformation (:mod:`~lagrangian.graph.source_adjoint`)
       2. scalar tape (a trace, :mod:`~lagrangian.graph.tape`)
     - 1. ``fn``'s own source rewritten once into a forward and a reverse sweep:
          a few times ``fn`` per call, following the branches ``fn`` takes at
          each call; only for code it can read (assignments, loops, branches,
          elementwise calls).
       2. any Python on numbers; also a call that was not clean on route 1 (a
          domain error, a non-finite value), so that the error names its op.
   * - ``value_and_grad(fn, compile=True)``, the traced arguments numbers
     - 1. source transformation
       2. compiled scalar tape (:mod:`~lagrangian.graph.compiled`)
       3. scalar tape
     - 2. code route 1 cannot read (calls of other Python functions,
          containers) and that never reads a traced value: one trace written
          out as straight-line code, tens of times faster than tracing.
       3. code that branches on values, other folded data, unclean points.
   * - ``value_and_grad(fn)``, a traced argument an array
     - array tape (a trace, :mod:`~lagrangian.graph.arrays`)
     - vectorized code: one node per array op, each local Jacobian applied as a
       vector-Jacobian product, never formed.
   * - ``value_and_grad(fn, compile=True)``, a traced argument an array
     - 1. compiled array tape (:mod:`~lagrangian.graph.compiled_arrays`)
       2. array tape
     - 1. the trace's own rules and VJPs without the tracing bookkeeping (a
          sixth of a small network's time); one compilation per shapes and dtypes.
       2. code that reads a value, fixed-point nodes, other folded data,
          unclean points.
   * - :class:`TracedProgram` (the Hock-Schittkowski problems, ``minimize``'s
       traced problems, :func:`~lagrangian.graph.lagrangian_hessian`)
     - 1. scalar tape at the first point
       2. compiled scalar tape from the second point
       3. scalar tape where route 2 is not clean
     - gradient, Jacobian and exact Hessian of the Lagrangian from one trace;
       compiled, with its Hessian, once a second point shows the program
       repeats.
   * - :func:`~lagrangian.graph.value_and_jacobian`
     - scalar tape
     - one multiplier solve with a column per output.
   * - :func:`~lagrangian.graph.value_and_sparse_jacobian`
     - array tape, forward substitution
     - sparse Jacobians of vectorized constraints: the cost follows the
       answer's nonzeros.
   * - :func:`~lagrangian.graph.trace`
     - scalar or array tape
     - ``nodes="auto"``: array nodes when a traced argument has a dimension
       (:func:`~lagrangian.graph.graph.node_kind`, the rule every row above uses).

No route serves every case of another: the source route refuses calls of other
Python functions, which the compiled scalar tape takes; the compiled tapes refuse
code that branches on values, which the source route (numbers) and tracing
(arrays) take; only tapes give Hessians and error messages naming an op. The
compiled routes are opt-in (``compile=True``) because they fold the data a
function closes over into their code.

:class:`Gradient` applies the rule for ``value_and_grad``: :meth:`Gradient.routes`
lists the routes a call tries, in the table's order, and each route is one method.
"""

from __future__ import annotations

import copy

import numpy as np

from .arrays import input_array
from .compiled import CompiledTape, CompileError
from .compiled_arrays import CompiledArrayTape
from .graph import argument_positions, check_positions, node_kind, trace
from .source_adjoint import SourceAdjoint, SourceTransformError, source_adjoint
from .tape import Node, Tape

__all__ = ["Gradient", "TracedProgram", "by_argnums", "output_derivatives", "ARRAY_CACHE_SIZE"]

#: Array compilations kept per function (one per combination of input shapes and dtypes).
ARRAY_CACHE_SIZE = 8


def by_argnums(argnums, value, grads):
    """``(value, gradient)`` for an int ``argnums``, ``(value, (gradients...))`` for a tuple."""
    return (value, grads[0]) if isinstance(argnums, int) else (value, tuple(grads))


class Gradient:
    """``value_and_grad(fn, argnums, compile=...)``: the routes of the module's table, tried in order.

    Attributes
    ----------
    compiled : CompiledTape or CompiledArrayTape or None
        The compiled code of the latest compilation (None before one, or when
        ``fn`` read a value).
    adjoint : SourceAdjoint or None
        The source route's generated function, once ``fn`` was transformed.
    reason : SourceTransformError or None
        Why the source route refused ``fn``, once it did.
    last_route : str or None
        The route that answered the latest call (a name of :meth:`routes`).
    """

    def __init__(self, fn, argnums=0, *, compile: bool = False):
        self.fn, self.argnums, self.compile = fn, argnums, bool(compile)
        self.traced = argument_positions(argnums)
        self._last = max(self.traced, default=-1)
        self.compiled = None
        self.adjoint: SourceAdjoint | None = None
        self.reason: SourceTransformError | None = None
        self.last_route: str | None = None
        self._scalar_key = None  # (folded data) the CompiledTape was written for
        self._arrays = {}  # (input positions, shapes and dtypes) -> (folded data, CompiledArrayTape or None)

    def routes(self, args) -> tuple:
        """The routes this call tries, in order (the table of the module docstring)."""
        traced = self.traced
        if not traced or len(args) <= self._last:
            return ("trace",)  # nothing to differentiate, or an argument missing: tracing says so
        if node_kind([args[i] for i in traced]) == "array":
            return ("compiled array tape", "trace") if self.compile else ("trace",)
        if self.reason is not None:  # the source route refused fn for good
            return ("compiled scalar tape", "trace") if self.compile else ("trace",)
        return ("source", "compiled scalar tape", "trace") if self.compile else ("source", "trace")

    def __call__(self, *args):
        check_positions(self.traced, len(args))
        for route in self.routes(args):
            found = self._ROUTES[route](self, args)
            if found is not None:
                self.last_route = route
                return by_argnums(self.argnums, *found)
        raise AssertionError("unreachable: a trace answers every call")  # pragma: no cover

    # -- the routes: each returns (value, [gradients]) or None ----------------------------
    def _source(self, args):
        if self.adjoint is None:
            try:
                self.adjoint = source_adjoint(self.fn, self.traced)
            except SourceTransformError as exc:
                self.reason = exc
                return None
        return self.adjoint(*args)

    def _trace(self, args):
        graph = trace(self.fn, *args, argnums=self.traced)
        grads = graph.gradients()
        return graph.value, [grads[i] for i in self.traced]

    def _compiled_scalar_tape(self, args):
        if self._scalar_key is None:
            self._scalar_key = _fold(args, self.traced)
            graph = trace(self.fn, *args, argnums=self.traced, nodes="scalar")
            output = graph.value if graph.output is None else Node(graph.tape, graph.output, graph.value)
            try:
                self.compiled = CompiledTape(graph.tape, [output], hessian=False)
            except CompileError:
                self.compiled = None
        if self.compiled is None or not _unchanged(args, self._scalar_key):
            return None
        found = self.compiled.derivatives(np.array([float(args[i]) for i in self.traced]))
        if found is None:
            return None
        values, D = found
        return float(values[0]), [float(d) for d in D[0]]

    def _compiled_array_tape(self, args):
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

    _ROUTES = {
        "source": _source,
        "compiled scalar tape": _compiled_scalar_tape,
        "compiled array tape": _compiled_array_tape,
        "trace": _trace,
    }


# -- data folded into compiled code ------------------------------------------------------
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


# -- programs: several outputs and the Lagrangian's Hessian ------------------------------
def output_derivatives(tape, outputs):
    """``(D, rows, Y)``: ``D[k] = d outputs[k] / d inputs`` from one multiplier solve with a column per output.

    ``rows`` are the outputs that are nodes of ``tape`` and ``Y`` their columns of
    :meth:`Tape.multipliers`; an output that does not depend on the inputs (a
    constant) has no node and a zero row.
    """
    rows = [k for k, o in enumerate(outputs) if isinstance(o, Node) and o.tape is tape]
    Y = tape.multipliers([outputs[k].index for k in rows]) if rows else np.zeros((len(tape), 0))
    D = np.zeros((len(outputs), len(tape.inputs)))
    if rows:
        D[rows] = Y[np.asarray(tape.inputs, dtype=int)].T
    return D, rows, Y


class TracedProgram:
    r"""``f`` and ``c_1, c_2, ...`` traced together at ``x``: value, gradient, Jacobian and Hessian of the Lagrangian from one tape.

    A solver asks for the gradient and the Jacobian at a new point and, an
    iteration later, for the Hessian of :math:`L = f + y^T c` at the same point.
    One trace of the objective and every constraint, and one multiplier solve
    with a right-hand side per output, ``(I - J)^T Y = [e_f, e_{c_1}, ...]``,
    answer all three: the gradient is ``Y``'s first column at the inputs, the
    Jacobian the others, and the Hessian is :meth:`Tape.hessian_from_multipliers`
    for the node multipliers :math:`Y (1, y)` of the Lagrangian's output. The last
    trace is kept and reused while ``x`` is the same point, so the functions must
    depend on ``x`` alone: data they close over must not change between calls.

    From the second point on, the trace is compiled
    (:class:`~lagrangian.graph.compiled.CompiledTape`): later points run the
    graph's forward pass, back substitutions and Hessian as straight-line Python,
    with no tape. A trace whose code read a traced value (compared it, branched
    on it) is never compiled, since another point may take another path; a
    point where the compiled code meets a domain error or an infinite value is
    traced, so that the error names its op. (The routes of the module's table.)

    Parameters
    ----------
    objective : callable
        ``objective(x) -> scalar``, written with Python arithmetic, :mod:`math`-like
        functions of this module, or numpy ufuncs on object arrays.
    constraints : sequence of callable
        Each ``c(x) -> array``; their outputs are stacked in order.
    compile : bool
        Compile the trace as above (default). On the Hock-Schittkowski set this
        makes the derivatives of a point several times cheaper than a trace.
    """

    def __init__(self, objective, constraints=(), *, compile: bool = True):
        self.objective, self.constraints = objective, list(constraints)
        self._x = self._tape = self._D = self._rows = self._Y = None
        self._compile, self._compiled, self._traces = compile, None, 0

    def _trace(self, x):
        tape = Tape()
        nodes = tape.variables(x)
        outputs = [self.objective(nodes)]
        for constraint in self.constraints:
            outputs.extend(np.atleast_1d(np.asarray(constraint(nodes), dtype=object)).ravel())
        outputs = [o.item() if isinstance(o, np.ndarray) and o.shape == () else o for o in outputs]
        # Rows in output order, objective first: computed once per point.
        self._D, self._rows, self._Y = output_derivatives(tape, outputs)
        self._tape, self._x = tape, x.copy()
        self._traces += 1
        if self._compile and self._traces == 2:
            # The second point is where tracing starts to repeat itself; a program
            # evaluated at one point never pays for compiling.
            try:
                self._compiled = CompiledTape(tape, outputs)
            except CompileError:
                self._compile = False

    def _at(self, x):
        x = np.asarray(x, dtype=float)
        if self._x is not None and self._x.shape == x.shape and (self._x == x).all():
            return
        found = self._compiled.derivatives(x.ravel()) if self._compiled is not None else None
        if found is None:  # not compiled, or not clean there: the trace names the failing op
            self._trace(x)
        else:
            self._D, self._tape, self._x = found[1], None, x.copy()

    @property
    def compiled(self) -> "CompiledTape | None":
        """The :class:`~lagrangian.graph.compiled.CompiledTape` serving new points, once there is one."""
        return self._compiled

    def gradient(self, x) -> np.ndarray:
        self._at(x)
        return self._D[0].copy()

    def jacobian(self, x) -> np.ndarray:
        self._at(x)
        return self._D[1:].copy()

    def hessian(self, x, y) -> np.ndarray:
        r""":math:`\nabla^2_x (f(x) + y^T c(x))`, exact, for the stacked multipliers ``y``."""
        self._at(x)
        weights = np.concatenate([[1.0], np.asarray(y, dtype=float)])
        if self._tape is None:
            H = self._compiled.hessian(self._x.ravel(), weights)
            if H is not None:
                return H
            self._trace(self._x)
        return self._tape.hessian_from_multipliers(self._Y @ weights[self._rows])
