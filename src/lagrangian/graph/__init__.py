"""Computation graphs as constrained programs: backprop is the triangular multiplier solve.

A function ``z_m = f(x)`` traced into nodes ``z_i = f_i(z_parents(i))`` is the program
``minimize z_m s.t. f_i(z_parents(i)) - z_i = 0``; its stationarity conditions are
``(I - J)^T y = e_m`` with ``J = d f / d z`` strictly lower triangular in the order the
nodes were computed, so one back substitution gives the multipliers, and
``y_j = d z_m / d z_j`` (the gradient). :func:`lagrangian.grad` and
:func:`lagrangian.value_and_grad` are this module's :func:`grad` and
:func:`value_and_grad`.

>>> import math
>>> import lagrangian as lg
>>> from lagrangian import graph as G
>>> def f(x):
...     a = G.exp(x)
...     c = a + a**2
...     return G.exp(c) + G.sin(c)
>>> value, gradient = lg.value_and_grad(f)(0.0)
>>> print(f"{value:.10f} {gradient:.10f}")          # f(0) = e^2 + sin 2
8.2983535258 20.9187277872
>>> c = 2.0                                          # by hand: f'(0) = (e^c + cos c)(1 + 2a) a at a = 1
>>> abs(gradient - (math.exp(c) + math.cos(c)) * 3) < 1e-12
True
>>> graph = G.trace(f, 0.0)                          # nodes x, a, b = a**2, c, d, e, f: y_j = df/dz_j
>>> print([round(float(y), 6) for y in graph.multipliers()])
[20.918728, 20.918728, 6.972909, 6.972909, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .arrays import Array, ArrayTape, concatenate
from .compiled import CompiledTape, CompileError
from .compiled_gradient import CompiledGradient, by_argnums
from .fixed_point import FixedPointError, fixed_point
from .graph import Graph, argument_positions, trace
from .source_adjoint import SourceAdjoint, SourceFirst, SourceTransformError, source_adjoint
from .tape import _UNARY_METHODS, Node, NonFiniteValueError, Tape

__all__ = [
    "trace",
    "grad",
    "value_and_grad",
    "value_and_jacobian",
    "value_and_sparse_jacobian",
    "lagrangian_hessian",
    "TracedProgram",
    "CompiledTape",
    "CompileError",
    "SourceAdjoint",
    "SourceTransformError",
    "source_adjoint",
    "Graph",
    "Tape",
    "Node",
    "ArrayTape",
    "Array",
    "concatenate",
    "fixed_point",
    "FixedPointError",
    "softplus",
    "squared_loss",
    "logistic_loss",
    "NonFiniteValueError",
    "exp",
    "log",
    "sin",
    "cos",
    "tan",
    "sqrt",
    "tanh",
    "sigmoid",
    "relu",
    "absolute",
    "asin",
    "erf",
]


def _elementwise(op, numeric):
    """A function that records ``op`` on Nodes and falls back to ``numeric`` otherwise."""

    on_scalar = _UNARY_METHODS[op]

    def apply(x):
        if type(x) is Node:
            return on_scalar(x)
        if isinstance(x, Array):
            return x._unary(op)
        if isinstance(x, np.ndarray) and x.dtype == object:
            return np.vectorize(apply, otypes=[object])(x)
        return numeric(x)

    apply.__name__ = op
    apply.__doc__ = f"``{op}`` of a number, an array or a traced Node (recorded with its derivative)."
    return apply


def _sigmoid(x):
    # exp(-|x|) never overflows; the two branches are the same function.
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf(x):
    return np.vectorize(math.erf)(x) if np.ndim(x) else math.erf(x)


exp = _elementwise("exp", np.exp)
log = _elementwise("log", np.log)
sin = _elementwise("sin", np.sin)
cos = _elementwise("cos", np.cos)
tan = _elementwise("tan", np.tan)
sqrt = _elementwise("sqrt", np.sqrt)
tanh = _elementwise("tanh", np.tanh)
sigmoid = _elementwise("sigmoid", _sigmoid)
relu = _elementwise("relu", lambda x: np.maximum(x, 0.0))
absolute = _elementwise("abs", np.abs)
asin = _elementwise("asin", np.arcsin)
erf = _elementwise("erf", _erf)
softplus = _elementwise("softplus", lambda x: np.logaddexp(0.0, x))


def squared_loss(predictions, targets):
    r"""The lecture's squared loss :math:`\tfrac12 \sum_k (p_k - t_k)^2` (numbers or nodes)."""
    residual = predictions - targets
    return 0.5 * np.sum(residual * residual)


def logistic_loss(scores, labels):
    r"""The lecture's logistic loss :math:`\sum_k \log(1 + e^{-y_k s_k})`, labels :math:`y_k = \pm 1`.

    Written as ``softplus(-y s)``, which does not overflow for large margins.
    """
    return np.sum(softplus(-(labels * scores)))


def value_and_grad(fn, argnums=0, *, compile: bool = False):
    """``fn -> (lambda *args: (fn(*args), d fn / d args[argnums]))`` through the multiplier solve.

    The gradient is read off the multipliers of the graph's KKT system
    (``(I - J)^T y = e_m``), as :meth:`Graph.multipliers` computes them.
    ``argnums`` may be an int or a tuple of ints; only those arguments are traced,
    the others (data) enter as constants. Array arguments make array nodes
    (see :func:`trace`).

    When the traced arguments are numbers, ``fn`` is first offered to the source
    transformation of :mod:`lagrangian.graph.source_adjoint`: its source is
    rewritten once into a forward sweep that tapes each op's value-dependent
    partials and a reverse sweep that is the back substitution, which costs a
    few times ``fn`` itself on long loops of ``math``-like code and follows the
    branches ``fn`` takes at each call. A function it does not handle (it names
    the construct; typically a call of another Python function on a traced
    value) is traced at every call, and so is a call that meets a domain error
    or a non-finite result, so that the error names the op. Its multipliers are
    those of the trace, summed in the same order; they agree to rounding.

    With ``compile=True`` the first call traces and compiles; later calls run the
    compiled forward pass and back substitution, with no tape
    (:mod:`lagrangian.graph.compiled_gradient`). The nodes are those :func:`trace`
    picks: scalar arguments compile every scalar op
    (:class:`~lagrangian.graph.compiled.CompiledTape`, used when the source
    transformation does not apply), array arguments compile the array ops
    (:class:`~lagrangian.graph.compiled_arrays.CompiledArrayTape`, for networks;
    float arrays among the data, such as a batch, are inputs of the code, and one
    compilation is kept per combination of shapes and dtypes). The compiled code
    stands for ``fn`` only while ``fn`` depends on its arguments alone, so: data
    folded into the code is compared with the first call's (a call with other
    data is traced); a ``fn`` that compares or branches on a traced value, or
    reads ``.value``, is never compiled (every call is traced); and a call whose
    compiled evaluation meets a domain error or a non-finite value is traced, so
    that the error names its op. Array code gives the traced answers bit for bit;
    scalar code agrees with them to rounding (the compiled sums are ordered differently).
    """
    if compile:
        return CompiledGradient(fn, argnums)
    source = SourceFirst(fn, argument_positions(argnums))

    def wrapped(*args):
        found = source(args)
        if found is not None:
            return by_argnums(argnums, *found)
        graph = trace(fn, *args, argnums=argnums)
        grads = graph.gradients()
        return by_argnums(argnums, graph.value, [grads[i] for i in source.positions])

    return wrapped


def grad(fn, argnums=0, *, compile: bool = False):
    """The gradient of ``fn``; see :func:`value_and_grad`."""
    inner = value_and_grad(fn, argnums, compile=compile)
    return lambda *args: inner(*args)[1]


def value_and_jacobian(fn):
    """``fn -> (lambda x: (fn(x), d fn / d x))`` for a vector-valued ``fn`` of one vector.

    One trace records every output; the Jacobian's rows are the multipliers of
    ``(I - J)^T Y = [e_{m_1}, ..., e_{m_k}]``, one right-hand side per output, from
    a single triangular factorization. Outputs that do not depend on ``x`` give
    zero rows.
    """

    def wrapped(x):
        x = np.asarray(x, dtype=float)
        tape = Tape()
        out = np.atleast_1d(np.asarray(fn(tape.variables(x)), dtype=object)).ravel()
        values = np.array([o._value if isinstance(o, Node) else float(o) for o in out])
        return values, _output_derivatives(tape, list(out))[0]

    return wrapped


def _output_derivatives(tape, outputs):
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


def value_and_sparse_jacobian(fn):
    r"""``fn -> (lambda x: (fn(x), d fn / d x))`` for a vector function of one vector, the Jacobian sparse.

    ``fn`` is traced on array nodes (one node per op, whatever the size of
    ``x``), each op's local Jacobian is formed as a sparse matrix, as
    :meth:`ArrayTape.multiplier_matrix` forms it, and the Jacobian of every node
    with respect to the input is accumulated in tape order,

    .. math::

        D_{\mathrm{input}} = I, \qquad D_i = \sum_{p \in \mathrm{parents}(i)} J_{ip} D_p ,

    the forward substitution of :math:`(I - J) D = E` block by block (``E`` the
    input's columns). Vectorized constraint functions (elementwise ops, slices,
    sums, products with sparse or small matrices) keep every ``D_i`` sparse, so
    the cost follows the size of the answer, not ``m`` reverse sweeps as
    :func:`value_and_jacobian` needs. A node that did not come from the input
    (a constant) has no entry.

    Returns
    -------
    callable
        ``x -> (values (m,), J as a CSR array (m, n))``.

    Raises
    ------
    ValueError
        When ``fn`` contains a fixed-point node (its edges have no formed
        Jacobian here; use :func:`value_and_jacobian`).
    """

    def wrapped(x):
        x = np.asarray(x, dtype=float)
        tape = ArrayTape()
        node = tape.variable(x.ravel())
        with np.errstate(all="ignore"):
            out = fn(node.reshape(x.shape) if x.ndim != 1 else node)
        if not (isinstance(out, Array) and out.tape is tape):
            values = np.atleast_1d(np.asarray(out, dtype=float)).ravel()
            return values, sp.csr_array((values.size, x.size))
        if tape.cycles:
            raise ValueError("value_and_sparse_jacobian: fixed-point nodes have no formed local Jacobian; use value_and_jacobian")
        D = {node.index: sp.eye_array(x.size, format="csr")}
        for i in range(node.index + 1, out.index + 1):
            total = None
            for parent, jacobian in zip(tape.parents[i], tape.jacobians[i]):
                if parent in D:
                    term = sp.csr_array(jacobian.matrix()) @ D[parent]
                    total = term if total is None else total + term
            if total is not None:
                D[i] = total
        values = np.atleast_1d(np.asarray(out._value, dtype=float)).ravel()
        return values, sp.csr_array(D.get(out.index, sp.csr_array((values.size, x.size))))

    return wrapped


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
    traced, so that the error names its op.

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
        self._D, self._rows, self._Y = _output_derivatives(tape, outputs)
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


def lagrangian_hessian(objective, constraints=()):
    r"""``(x, y) -> nabla^2_x (f(x) + sum_k y_k^T c_k(x))``, exact, from one trace.

    ``objective(x)`` returns a scalar and each ``constraints[k](x)`` an array; ``y``
    is the stacked multiplier vector in the package convention (blocks in order).
    The functions are traced once per point and differentiated twice by
    forward-over-reverse on the tape (:class:`TracedProgram`, which reuses the
    trace while ``x`` is unchanged: the functions must depend on ``x`` alone).
    """
    return TracedProgram(objective, constraints).hessian
