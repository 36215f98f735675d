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

from ..inputs import real_array
from .arrays import Array, ArrayTape, concatenate
from .compiled import CompiledTape, CompileError
from .fixed_point import FixedPointError, fixed_point
from .graph import Graph, trace
from .routes import Gradient, TracedProgram, output_derivatives
from .source_adjoint import SourceAdjoint, SourceTransformError, source_adjoint
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

    Which route a call takes (source transformation, compiled or traced tapes)
    is decided in one place, :mod:`lagrangian.graph.routes`, whose docstring
    tabulates the rule; the paragraphs below describe it from the caller's side.

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
    (:class:`~lagrangian.graph.routes.Gradient`). The nodes are those :func:`trace`
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
    return Gradient(fn, argnums, compile=compile)


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
        x = real_array(x, "x")
        tape = Tape()
        out = np.atleast_1d(np.asarray(fn(tape.variables(x)), dtype=object)).ravel()
        values = np.array([o._value if isinstance(o, Node) else float(o) for o in out])
        return values, output_derivatives(tape, list(out))[0]

    return wrapped


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
        x = real_array(x, "x")
        tape = ArrayTape()
        node = tape.variable(x.ravel())
        with np.errstate(all="ignore"):
            out = fn(node.reshape(x.shape) if x.ndim != 1 else node)
        if not (isinstance(out, Array) and out.tape is tape):
            values = np.atleast_1d(real_array(out, "the function's value")).ravel()
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


def lagrangian_hessian(objective, constraints=()):
    r"""``(x, y) -> nabla^2_x (f(x) + sum_k y_k^T c_k(x))``, exact, from one trace.

    ``objective(x)`` returns a scalar and each ``constraints[k](x)`` an array; ``y``
    is the stacked multiplier vector in the package convention (blocks in order).
    The functions are traced once per point and differentiated twice by
    forward-over-reverse on the tape (:class:`TracedProgram`, which reuses the
    trace while ``x`` is unchanged: the functions must depend on ``x`` alone).
    """
    return TracedProgram(objective, constraints).hessian
