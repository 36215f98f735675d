r"""A traced scalar tape compiled to straight-line Python: the same solves, without the tape.

A :class:`~lagrangian.graph.Tape` records one evaluation. Tracing again at the next
point builds the same graph again (same ops, same parents) whenever the traced code
did not look at a value (no comparison, no branch, no ``node.value``): only the
numbers change. :class:`CompiledTape` writes that graph out once as Python source,
one statement per node, and compiles it, so that each later point costs a run of
plain float arithmetic instead of a trace. It keeps the package's mathematics:

- the forward pass is primal feasibility of the graph's program, ``z_i = f_i(z_parents(i))``;
- each output's gradient is its multiplier solve ``(I - J)^T y = e_m``, written out
  as the back substitution in reverse tape order, ``y_j += J_ij y_i``, with each
  partial ``J_ij`` pasted from the op's rule in :mod:`lagrangian.graph.ops`;
- the Hessian of a weighted sum of outputs (a Lagrangian ``f + y^T c``) is
  :math:`\dot Z^T S \dot Z`, as in :meth:`Tape.hessian_from_multipliers`, with the
  tangents :math:`\dot Z = d z / d x` propagated forward only along the inputs
  each node depends on, which are known when compiling, so a sparse graph gives
  short code.

Constants are folded while writing (``1.0 * y`` is ``y``, an ``add`` has no
partials to compute), so the code is a little shorter than the tape.

A compiled evaluation is *clean* when no math function raised and no arithmetic
result was infinite or NaN; the tape raises
:class:`~lagrangian.graph.NonFiniteValueError` in exactly those cases. Where an
evaluation is not clean the compiled functions return ``None``, and the caller
traces that point instead, so that the error names the op that failed.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..errors import ProblemError
from .ops import BINARY_RULES, NAMESPACE, UNARY_RULES
from .tape import Node, Tape

__all__ = ["CompiledTape", "CompileError", "COMPILE_LIMIT"]

#: Above this many generated statements (or output-by-input entries of the gradients) a
#: tape is not compiled. Writing and compiling cost about 20 us per statement (0.4 s for
#: the 20,000 of a 10,000-op chain), so this caps the one-off cost near 4 s.
COMPILE_LIMIT = 200_000

# Ops whose result may be infinite or NaN without raising (Python float arithmetic);
# math's functions raise instead, and neg, abs and relu keep finite numbers finite.
_SILENT = {"add", "sub", "mul", "div", "pow"}
_NAME = re.compile(r"[A-Za-z_]\w*\Z")
_TERMS_PER_STATEMENT = 32


class CompileError(ProblemError):
    """The tape cannot stand for its function at other points (or is too large to compile)."""

    def __init__(self, message: str):
        super().__init__("tape", message)


def _literal(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def _simple(expression: str) -> bool:
    return bool(_NAME.match(expression)) or _literal(expression) is not None


def _product(factors) -> str:
    """``f1 * f2 * ...`` with the literal factors multiplied out now."""
    coefficient, names = 1.0, []
    for factor in factors:
        value = _literal(factor)
        if value is None:
            names.append(factor if _simple(factor) else f"({factor})")
        else:
            coefficient *= value
    if coefficient == 0.0 or not names:
        return repr(coefficient)
    body = " * ".join(names)
    if coefficient == 1.0:
        return body
    if coefficient == -1.0:
        return f"-{body}"
    return f"{coefficient!r} * {body}"


def _bind(lines, name: str, expression: str) -> str:
    """A simple expression (a name, a number) as itself; any other is assigned to ``name`` first."""
    if _simple(expression):
        return expression
    lines.append(f"    {name} = {expression}")
    return name


def _sums(target: str, terms, lines):
    """``target = t1 + t2 + ...`` in statements of a few dozen terms (deep expressions
    overflow Python's compiler)."""
    for start in range(0, len(terms), _TERMS_PER_STATEMENT):
        chunk = " + ".join(terms[start : start + _TERMS_PER_STATEMENT])
        lines.append(f"    {target} {'=' if start == 0 else '+='} {chunk}")


class _Writer:
    """The source of the forward pass and the partials of one tape, shared by both functions."""

    def __init__(self, tape: Tape):
        if tape.data_dependent:
            raise CompileError(
                "the traced code read a traced value (a comparison, a branch or node.value), so another point may "
                "take another path; it is traced at every point instead"
            )
        self.tape = tape
        self.position = {node: k for k, node in enumerate(tape.inputs)}
        self.lines = [f"    {', '.join(f'v{i}' for i in tape.inputs)}{',' if len(tape.inputs) == 1 else ''} = x"] if tape.inputs else []
        #: every edge of J in tape order: (child, parent, the partial as an expression)
        self.edges = []
        #: (node, its second-derivative expressions, its argument nodes (None for constants))
        #: of every op with a nonzero second derivative
        self.nonlinear = []
        checked = [f"v{i}" for i in tape.inputs]
        for i, (op, arguments) in enumerate(zip(tape.ops, tape._arguments)):
            if op == "input":
                continue
            names = [self._argument(index, value) for index, value in arguments]
            if len(arguments) == 1 and op in UNARY_RULES:
                forward, first, second = UNARY_RULES[op]
                firsts, seconds = (first,), (second,)
            elif len(arguments) == 2 and op in BINARY_RULES:
                forward, firsts, seconds = BINARY_RULES[op]
            else:
                raise CompileError(f"op {op!r} has no rule to compile")
            fill = dict(zip("ab", names), out=f"v{i}")
            expression = forward.format(**fill)
            # The tape stores float(forward(...)); only ** can make a non-float: a complex
            # number, from a negative base and an exponent that is not a whole number.
            if op == "pow" and not (arguments[1][0] is None and float(arguments[1][1]).is_integer()):
                expression = f"float({expression})"
            self.lines.append(f"    v{i} = {expression}")
            if op in _SILENT:
                checked.append(f"v{i}")
            for (index, _), first in zip(arguments, firsts):
                if index is not None:
                    self.edges.append((i, index, _bind(self.lines, f"d{len(self.edges)}", first.format(**fill))))
            if any(s != "0.0" for s in seconds):
                self.nonlinear.append((i, [s.format(**fill) for s in seconds], [index for index, _ in arguments]))
        # One finiteness test for every result that could be inf or NaN without raising.
        if checked:
            _sums("_check", checked, self.lines)
            self.lines.append("    if _check - _check != 0.0:\n        return None")

    @staticmethod
    def _argument(index, value) -> str:
        if index is not None:
            return f"v{index}"
        if not math.isfinite(value):
            raise CompileError(f"the constant {value} cannot be compiled")
        return repr(value) if value >= 0 else f"({value!r})"

    def reverse(self, seeds: dict, lines) -> dict:
        """Back substitution ``y_j += J_ij y_i`` in reverse tape order from ``seeds``
        (node -> expression); returns every node's multiplier expression."""
        adjoint = dict(seeds)
        for child, parent, partial in reversed(self.edges):
            if child not in adjoint:
                continue
            term = _product([partial, adjoint[child]])
            if term == "0.0":
                continue
            name = f"a{parent}"
            if parent not in adjoint:
                if _simple(term):
                    adjoint[parent] = term  # final already: its child's multiplier is
                else:
                    lines.append(f"    {name} = {term}")
                    adjoint[parent] = name
            elif adjoint[parent] != name:
                lines.append(f"    {name} = {adjoint[parent]} + {term}")
                adjoint[parent] = name
            else:
                lines.append(f"    {name} += {term}")
        return adjoint

    def inputs_row(self, adjoint) -> str:
        entries = ", ".join(adjoint.get(node, "0.0") for node in self.tape.inputs)
        return f"({entries}{',' if len(self.tape.inputs) == 1 else ''})"

    def compile(self, name: str, lines):
        if len(lines) > COMPILE_LIMIT:
            raise CompileError(f"the compiled tape would have {len(lines):,} statements (limit {COMPILE_LIMIT:,})")
        source = f"def {name}(x, w):\n" + "\n".join(lines) + "\n"
        namespace = dict(NAMESPACE)
        exec(compile(source, f"<compiled tape: {name}>", "exec"), namespace)
        return namespace[name], source


class CompiledTape:
    r"""A scalar tape's outputs, their gradients and their weighted Hessian as compiled Python.

    Parameters
    ----------
    tape : Tape
        A finished trace whose code did not read a traced value
        (``tape.data_dependent`` is False).
    outputs : sequence
        The outputs: :class:`Node` objects of ``tape``, or numbers (a constant
        output has a zero gradient).
    hessian : bool
        Also compile :meth:`hessian` (longer code: one tangent per node and input it
        depends on).

    Raises
    ------
    CompileError
        The trace read a value, holds an op without a rule or a non-finite
        constant, or the code would exceed :data:`COMPILE_LIMIT` statements.

    Notes
    -----
    The functions return ``None`` where an evaluation is not clean (see the module
    docstring): trace that point instead to have the op named.
    """

    def __init__(self, tape: Tape, outputs, *, hessian: bool = True):
        writer = _Writer(tape)
        self.n = len(tape.inputs)
        if any(isinstance(o, Node) and o.tape is not tape for o in outputs):
            raise CompileError("an output belongs to another trace")
        self._constants = [None if isinstance(o, Node) else float(o) for o in outputs]
        nodes = [o.index for o in outputs if isinstance(o, Node)]
        self._rows = [k for k, c in enumerate(self._constants) if c is None]
        if len(nodes) * self.n > COMPILE_LIMIT:
            raise CompileError(f"the gradients have {len(nodes) * self.n:,} entries (limit {COMPILE_LIMIT:,})")

        lines = list(writer.lines)
        for k, node in enumerate(nodes):
            lines.append(f"    r{k} = {writer.inputs_row(writer.reverse({node: '1.0'}, lines))}")
        lines.append(f"    return ({''.join(f'v{node}, ' for node in nodes)}), ({''.join(f'r{k}, ' for k in range(len(nodes)))})")
        self._first, self.source = writer.compile("first_derivatives", lines)

        self._second = None
        if hessian:
            try:
                self._second, self._entries = self._hessian(writer, nodes)
            except CompileError:
                pass  # too long: hessian() answers None and callers trace for it

    @staticmethod
    def _hessian(writer, nodes):
        """Source of ``sum_k w_k grad^2 output_k`` as ``Zdot^T S Zdot`` over sparse tangents."""
        lines = list(writer.lines)
        seeds = {}
        for k, node in enumerate(nodes):
            lines.append(f"    a{node} {'+=' if node in seeds else '='} w[{k}]")
            seeds[node] = f"a{node}"
        adjoint = writer.reverse(seeds, lines)
        tape, position = writer.tape, writer.position
        # The inputs each node depends on (known now), and which tangents are needed:
        # those of the arguments of weighted nonlinear ops, and of their ancestors.
        depends = [()] * len(tape)
        parents = [[] for _ in range(len(tape))]
        for child, parent, partial in writer.edges:
            parents[child].append((parent, partial))
        for i in range(len(tape)):
            if i in position:
                depends[i] = (position[i],)
            elif parents[i]:
                depends[i] = tuple(sorted(set().union(*(depends[p] for p, _ in parents[i]))))
        weighted = [(i, seconds, arguments) for i, seconds, arguments in writer.nonlinear if i in adjoint]
        needed = {a for _, _, arguments in weighted for a in arguments if a is not None}
        for i in range(len(tape) - 1, -1, -1):
            if i in needed:
                needed.update(p for p, _ in parents[i])
        tangent = {}
        for i in sorted(needed):
            for j in depends[i]:
                if i in position:
                    tangent[i, j] = "1.0"
                    continue
                terms = [_product([partial, tangent[p, j]]) for p, partial in parents[i] if (p, j) in tangent]
                terms = [t for t in terms if t != "0.0"]
                if terms:
                    tangent[i, j] = _bind(lines, f"t{i}_{j}", " + ".join(terms))
        # H_jl += s Zdot_p,j Zdot_q,l for each second derivative s = d^2 f_i / (dz_p dz_q);
        # every (p, q) and (q, p) is listed, so the upper triangle holds all of H.
        entries = {}
        for i, seconds, arguments in weighted:
            if len(arguments) == 1:
                pairs = [(seconds[0], arguments[0], arguments[0])]
            else:
                (aa, ab, bb), (a, b) = seconds, arguments
                pairs = [(aa, a, a), (ab, a, b), (ab, b, a), (bb, b, b)]
            weights = {}
            for expression, p, q in pairs:
                if expression == "0.0" or p is None or q is None:
                    continue
                if expression not in weights:
                    weights[expression] = _bind(lines, f"s{i}_{len(weights)}", _product([adjoint[i], expression]))
                weight = weights[expression]
                for j in depends[p]:
                    for l in depends[q]:
                        if j <= l and (p, j) in tangent and (q, l) in tangent:
                            entries.setdefault((j, l), []).append(_product([weight, tangent[p, j], tangent[q, l]]))
        keys = sorted(entries)
        for j, l in keys:
            _sums(f"h{j}_{l}", entries[j, l], lines)
        lines.append(f"    return ({''.join(f'h{j}_{l}, ' for j, l in keys)})")
        function, _ = writer.compile("lagrangian_hessian", lines)
        rows = np.array([j for j, _ in keys], dtype=np.intp)
        cols = np.array([l for _, l in keys], dtype=np.intp)
        return function, (rows, cols)

    def derivatives(self, x):
        """``(values, D)`` of the outputs at ``x`` (flat, in the tape's input order),
        ``D[k] = d output_k / d x``; ``None`` where the evaluation is not clean."""
        result = _run(self._first, x, None)
        if result is None:
            return None
        values, rows = np.array(result[0], dtype=float), np.array(result[1], dtype=float).reshape(len(self._rows), self.n)
        if len(self._rows) == len(self._constants):
            return values, rows
        all_values = np.array([0.0 if c is None else c for c in self._constants])
        all_values[self._rows] = values
        D = np.zeros((len(self._constants), self.n))
        D[self._rows] = rows
        return all_values, D

    def hessian(self, x, weights):
        r""":math:`\sum_k w_k \nabla^2 \mathrm{output}_k` at ``x``, dense and symmetric.

        ``None`` where the evaluation is not clean, or when the Hessian was not
        compiled (``hessian=False``, or its code would have exceeded :data:`COMPILE_LIMIT`).
        """
        if self._second is None:
            return None
        values = _run(self._second, x, np.asarray(weights, dtype=float)[self._rows].tolist())
        if values is None:
            return None
        values = np.array(values, dtype=float)
        rows, cols = self._entries
        H = np.zeros((self.n, self.n))
        H[rows, cols] = values
        H[cols, rows] = values
        return H


def _run(function, x, w):
    """A compiled function's result at ``x``, or ``None`` where the evaluation is not clean:
    it said so itself, math raised (a domain error, an overflow), or ``**`` made a complex."""
    try:
        return function(x.tolist() if isinstance(x, np.ndarray) else list(x), w)
    except (ValueError, ArithmeticError, TypeError):
        return None
