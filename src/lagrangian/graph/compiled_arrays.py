r"""Compiled array tapes: an array graph's forward pass and back substitution as one function.

A traced array graph (:class:`lagrangian.graph.ArrayTape`) is, read as a program,

.. code-block:: text

    z_i = f_i(z_parents(i))          (forward: one rule per node, in tape order)
    y_m = 1,   y_j = sum_i J_ij^T y_i (backward: (I - J)^T y = e_m by substitution)

Tracing pays for more than this program: every op goes through numpy's dispatch to
:class:`~lagrangian.graph.Array`, through :func:`~lagrangian.graph.arrays.apply`,
records itself and checks its value, and the substitution walks Python lists of
every node. On a network with a batch of 32 that bookkeeping is a sixth of the
gradient's time. When the traced code never looked at a value
(``tape.data_dependent`` is False) and has no fixed-point node, every evaluation at
arrays of the same shapes and dtypes runs the same rules in the same order, so the
program can be written out once as straight-line Python::

    def compiled(v0, v1, v2):
        v3, j3 = r3(v0, c3_1, w3)        # the recorded rule of node 3, its constants
        ...
        g10 = j11[1].vjp(g11)             # J_{11,10}^T y_11
        ...

The rules and their local Jacobians are the ones tracing uses (one definition per
op, :mod:`lagrangian.graph.arrays`); the compiled function only leaves out the
bookkeeping, and adds up the multipliers in the order
:meth:`~lagrangian.graph.ArrayTape.multipliers` does, so its gradients equal the
traced ones bit for bit.

Only the gradients asked for are formed: a node gets a multiplier when it depends
on a wanted input and reaches the output (data passed in as inputs, such as a
batch, get none).

Non-finite values: tracing checks every node's value. The compiled function checks
the output and only those nodes whose non-finite values might not reach it: a
node is covered when one of its consumers maps a non-finite operand to a
non-finite value (``+ - * @``, sums, ``neg``, ``sin``, ``log``, ... see
:data:`PROPAGATING`) and is itself covered; ``tanh``, ``exp``, ``relu``, indexing and
the like can turn an ``inf`` into a finite number, so their operands are checked
(one summed test: a sum is finite when every entry is, unless finite entries
overflow it, and then the caller merely traces). When a check fails or a rule
raises, the function answers None and the caller traces that call, so the error
names the op exactly as tracing does.
"""

from __future__ import annotations

import numpy as np

from .arrays import ARRAY_BINARY, ARRAY_UNARY, BINARY_RULES, UNARY_RULES, ArrayTape, matmul_rule, sum_forward, sum_rule
from .compiled import CompileError
from .jacobians import MATMUL_LEFT_VJP, MATMUL_RIGHT_VJP, Gather, add_contribution, scatter_add, unbroadcast

__all__ = ["CompiledArrayTape", "PROPAGATING"]

#: Ops whose value is non-finite wherever an operand is (for an output with at least
#: one entry): a non-finite operand of these needs no check of its own.
PROPAGATING = frozenset(
    {"add", "sub", "mul", "neg", "matmul", "sum", "mean", "reshape", "transpose", "concatenate", "sin", "cos", "tan", "log", "sqrt", "abs"}
)


class CompiledArrayTape:
    """An array tape's forward pass and gradients as one compiled Python function.

    Parameters
    ----------
    tape : ArrayTape
        A tape that did not read a value and has no fixed-point node.
    output : int
        The scalar output node ``m``.
    inputs : sequence of int
        The input nodes, in the order the compiled function takes their values.
    wanted : sequence of bool
        Per input, whether its gradient is returned (False for data).

    Raises
    ------
    CompileError
        For a data-dependent tape, a fixed-point node, or a node without a
        recorded rule.
    """

    def __init__(self, tape: ArrayTape, output: int, inputs, wanted):
        if tape.data_dependent:
            raise CompileError(
                "the traced code read a traced value (a comparison, a branch or .value), so other arrays may take "
                "another path; it is traced at every call instead"
            )
        if tape.cycles:
            raise CompileError("a fixed-point node's forward pass is a Newton solve with its own iterations; it is not compiled")
        self.inputs, self.wanted = list(inputs), [bool(w) for w in wanted]
        self.source, namespace = _write(tape, output, self.inputs, self.wanted)
        exec(compile(self.source, "<lagrangian compiled array tape>", "exec"), namespace)
        self._function = namespace["compiled"]

    def __call__(self, *values):
        """``(value, [gradient per wanted input])`` at the inputs' ``values``, or None.

        The values must have the shapes and dtypes of the trace: the code is written
        for them (:class:`~lagrangian.graph.routes.Gradient` keeps one
        compilation per combination). None means: a rule raised or a checked value is
        not finite; trace this call.
        """
        with np.errstate(all="ignore"):
            try:
                return self._function(*values)
            except (ArithmeticError, ValueError):
                return None


def _write(tape, output, inputs, wanted):
    """The source of ``compiled(*inputs) -> (value, gradients) or None`` and its namespace."""
    # Nodes after the output cannot reach it, but tracing computed and checked them, so they are kept.
    count = len(tape)
    position = {node: k for k, node in enumerate(inputs)}
    # needs[i]: node i depends on a wanted input and reaches the output, so it gets a multiplier
    depends = [False] * count
    for node, want in zip(inputs, wanted):
        depends[node] = want
    for i in range(count):
        if tape.ops[i] != "input":
            depends[i] = any(depends[p] for p in tape.parents[i])
    reaches = [False] * count
    reaches[output] = True
    for i in range(output, -1, -1):
        if reaches[i]:
            for p in tape.parents[i]:
                reaches[p] = True
    needs = [d and r for d, r in zip(depends, reaches)]

    namespace = {
        "ones_like": np.ones_like, "zeros_like": np.zeros_like, "isfinite": np.isfinite, "multiply": np.multiply,
        "unbroadcast": unbroadcast, "scatter_add": scatter_add, "add_contribution": add_contribution,
    }  # fmt: skip
    lines = [f"def compiled({', '.join(f'v{i}' for i in inputs)}):"]
    operand_nodes = {}  # node -> per operand, its node (None for a constant)
    vjps = {}  # node -> per operand position, J_ik^T g as a template in {g}
    scatters = {}  # node -> its one local Jacobian, where it has one (an indexing op's Gather is added in place)
    for i in range(count):
        if tape.ops[i] == "input":
            if i not in position:
                raise CompileError(f"input node #{i} is not among the compiled function's inputs")
            continue
        replay = tape.replays[i]
        if replay is None:
            raise CompileError(f"node #{i} ({tape.ops[i]}) has no recorded rule")
        rule, constants, parameters = replay
        parents = iter(tape.parents[i])
        arguments, operands = [], []
        for k, constant in enumerate(constants):
            if constant is None:
                node = next(parents)
                arguments.append(f"v{node}")
                operands.append(node)
            else:
                namespace[f"c{i}_{k}"] = constant
                arguments.append(f"c{i}_{k}")
                operands.append(None)
        operand_nodes[i] = operands
        recorded = iter(tape.jacobians[i])
        jacobians = {k: next(recorded) for k, o in enumerate(operands) if o is not None}
        if len(jacobians) == 1:
            scatters[i] = next(iter(jacobians.values()))
        wanted_here = any(needs[o] for o in operands if o is not None)
        namespace[f"w{i}"] = tuple(o is not None for o in operands)
        written = _inline(tape.ops[i], rule, i, arguments, parameters, jacobians, wanted_here, namespace)
        if written is None:
            # any other op: its rule, called as tracing calls it, and its Jacobians' vjp
            namespace[f"r{i}"] = rule
            call = arguments + [f"w{i}"] + ([f"**p{i}"] if parameters else [])
            if parameters:
                namespace[f"p{i}"] = parameters
            written = [f"v{i}, j{i} = r{i}({', '.join(call)})"], {k: f"j{i}[{k}].vjp({{g}})" for k in jacobians}
        forward, vjps[i] = written
        lines.extend(f"    {line}" for line in forward)

    terms = " + ".join(f"v{i}.sum()" for i in _checked(tape, output))
    lines.append(f"    if not isfinite({terms}):")
    lines.append("        return None")

    # Back substitution in the order of ArrayTape.multipliers: the same sums in the same order,
    # each edge added as jacobians.add_vjp adds it (whether a multiplier is a buffer the
    # substitution owns is known here, since the order is fixed).
    if needs[output]:
        lines.append(f"    g{output} = ones_like(v{output})")
    owned = {output: False}
    for i in range(output, -1, -1):
        if not needs[i] or tape.ops[i] == "input":
            continue
        for k, parent in enumerate(operand_nodes[i]):
            if parent is None or not needs[parent]:
                continue
            total = f"g{parent}" if parent in owned else "None"
            if isinstance(scatters.get(i), Gather):
                lines.append(f"    g{parent} = scatter_add({total}, {owned.get(parent, False)}, j{i}[{k}], g{i})")
                owned[parent] = True
                continue
            term = vjps[i][k].format(g=f"g{i}")
            if parent not in owned:
                lines.append(f"    g{parent} = {term}")
                owned[parent] = False
            elif owned[parent]:
                lines.append(f"    g{parent} = add_contribution(g{parent}, True, {term})")
            else:
                lines.append(f"    g{parent} = g{parent} + {term}")
                owned[parent] = True
    gradients = [f"g{node}" if needs[node] else f"zeros_like(v{node})" for node, want in zip(inputs, wanted) if want]
    lines.append(f"    return float(v{output}), [{', '.join(gradients)}]")
    return "\n".join(lines) + "\n", namespace


def _inline(op, rule, i, arguments, parameters, jacobians, wanted, namespace):
    """``(forward lines, {operand: J^T {g} template})`` for an elementwise op, a matmul or a sum, else None.

    These ops make up most of a network, and their rules' Jacobian objects and
    ``vjp`` calls cost more than their arithmetic on small arrays. The code written
    here is what the rule and :class:`~lagrangian.graph.jacobians.Elementwise` or
    the matmul Jacobians compute, from the same functions and templates, for the
    operand shapes of the trace (which every call shares). Only the forms that
    vary with values are computed at run time; a derivative that is a constant of
    the op (``+``, ``-``, negation) is written in.
    """
    if op in ARRAY_UNARY and rule is UNARY_RULES[op]:
        forward, derivative = ARRAY_UNARY[op]
        namespace[f"forward_{op}"], namespace[f"derivative_{op}"] = forward, derivative
        lines = [f"v{i} = forward_{op}({arguments[0]})"]
        if op in _CONSTANT_DERIVATIVES:
            return lines, {0: _elementwise(float(derivative(None, None)), jacobians[0])}
        if wanted:
            lines.append(f"d{i} = derivative_{op}({arguments[0]}, v{i})")
        return lines, {0: _elementwise(f"d{i}", jacobians[0])}
    if op in ARRAY_BINARY and rule is BINARY_RULES[op]:
        forward, derivatives = ARRAY_BINARY[op]
        namespace[f"forward_{op}"], namespace[f"derivatives_{op}"] = forward, derivatives
        lines = [f"v{i} = forward_{op}({arguments[0]}, {arguments[1]})"]
        if op in _CONSTANT_DERIVATIVES:
            constants = derivatives(None, None, None, (True, True))
            return lines, {k: _elementwise(float(constants[k]), J) for k, J in jacobians.items()}
        if wanted:
            lines.append(f"d{i} = derivatives_{op}({arguments[0]}, {arguments[1]}, v{i}, w{i})")
        return lines, {k: _elementwise(f"d{i}[{k}]", J) for k, J in jacobians.items()}
    if op == "matmul" and rule is matmul_rule:
        a, b = arguments[:2]
        templates = {}
        if 0 in jacobians:
            templates[0] = MATMUL_LEFT_VJP[jacobians[0].ndims].format(g="{g}", b=b)
        if 1 in jacobians:
            templates[1] = MATMUL_RIGHT_VJP[jacobians[1].ndims].format(g="{g}", a=a)
        return [f"v{i} = {a} @ {b}"], templates
    if op in ("sum", "mean") and rule is sum_rule:
        # SumOver holds shapes only: the recorded one serves every call
        namespace["sum_forward"], namespace[f"J{i}"] = sum_forward, jacobians[0]
        axis, scale = parameters["axis"], parameters["scale"]
        return [f"v{i} = sum_forward({arguments[0]}, {axis!r}, {scale!r})"], {0: f"J{i}.vjp({{g}})"}
    return None


#: Ops whose local derivatives are numbers that do not depend on the operands.
_CONSTANT_DERIVATIVES = frozenset({"neg", "add", "sub"})


def _elementwise(derivative, J) -> str:
    """``Elementwise.vjp`` as a template in ``{g}``: ``unbroadcast(g * d, shape)``.

    ``derivative`` is a float (a constant of the op, written in) or the expression
    that holds it at run time. ``J`` is the recorded Jacobian, whose derivative's
    kind (an array, or a number that ``Elementwise`` turns into a float) and shapes
    hold at every call. A number multiplies as a Python float, as in
    ``Elementwise``, so float32 stays float32.
    """
    if isinstance(derivative, float):
        product = "{g}" if derivative == 1.0 else f"{derivative!r} * {{g}}"
    elif isinstance(J.derivative, float):
        product = f"float({derivative}) * {{g}}"
    else:
        product = f"{{g}} * {derivative}"
    return product if J.shape == J.out_shape else f"unbroadcast({product}, {J.shape!r})"


def _checked(tape, output) -> list:
    """The nodes whose values the compiled function checks (see the module docstring).

    A node needs no check of its own when some consumer ``c`` is :data:`PROPAGATING`
    and has an entry: a non-finite operand makes ``c`` non-finite, and ``c`` is
    either checked or, by the same argument from the output back, reaches a checked
    node. Inputs are the caller's arrays, which tracing does not check either.
    """
    propagated = [False] * len(tape)
    for c in range(len(tape)):
        if tape.ops[c] in PROPAGATING and tape.values[c].size > 0:
            for p in tape.parents[c]:
                propagated[p] = True
    return [output] + [i for i in range(len(tape)) if i != output and tape.ops[i] != "input" and not propagated[i]]
