r"""The source transformation's writer: a function's statements as a forward and a reverse sweep.

:mod:`lagrangian.graph.source_adjoint` reads a function's source and runs what is
written here; this module turns its syntax tree into lines of Python. Each traced
expression becomes three-address code, one op per line (the nodes a trace would
record), followed by the pushes of its value-dependent partials from the op
rules of :mod:`lagrangian.graph.ops`; each op's reverse is its row of the back
substitution of ``(I - J)^T y = e_m``, ``y_j += J_ij y_i``, popping those
partials. Loops and branches tape their trip counts and the side taken, and
replay them backwards. What is and is not transformed is listed in
:mod:`lagrangian.graph.source_adjoint`; anything else a traced value reaches
raises :class:`SourceTransformError` naming the line.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ProblemError
from .ops import BINARY_RULES, NAMESPACE, UNARY_RULES

__all__ = ["PREFIX", "SourceTransformError", "Transformer", "adjoint_name", "indent", "lookup", "number"]

#: Every name the generated code adds starts with this; a function that uses such a name is not transformed.
PREFIX = "_lg_"

_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*")
_BINARY_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}


class SourceTransformError(ProblemError):
    """The function's source cannot be transformed (it is traced instead); the message names the line."""

    def __init__(self, message: str, resolved=()):
        super().__init__("fn", message)
        #: the dotted names resolved before the failure, with what they were (see :func:`source_adjoint`)
        self.resolved = list(resolved)


def _mangled(template: str) -> str:
    """An op rule with the namespace's functions renamed ``_lg_exp``, ..., so no user name shadows them."""
    return _IDENTIFIER.sub(lambda m: PREFIX + m.group() if m.group() in NAMESPACE else m.group(), template)


# The op rules of lagrangian.graph.ops, ready to paste: name -> (forward, (first partials...)).
_RULES = {name: (_mangled(forward), (_mangled(first),)) for name, (forward, first, _) in UNARY_RULES.items()}
_RULES.update({name: (_mangled(forward), tuple(map(_mangled, first))) for name, (forward, first, _) in BINARY_RULES.items()})


def _elementwise_functions() -> dict:
    """Function object -> op name, for the calls the transform knows (built on first use)."""
    from .. import graph as G

    spellings = {
        "exp": (math.exp, np.exp, G.exp), "log": (math.log, np.log, G.log), "sin": (math.sin, np.sin, G.sin),
        "cos": (math.cos, np.cos, G.cos), "tan": (math.tan, np.tan, G.tan), "sqrt": (math.sqrt, np.sqrt, G.sqrt),
        "tanh": (math.tanh, np.tanh, G.tanh), "asin": (math.asin, np.arcsin, G.asin), "erf": (math.erf, G.erf),
        "abs": (abs, math.fabs, np.absolute, G.absolute), "sigmoid": (G.sigmoid,), "relu": (G.relu,),
        "softplus": (G.softplus,),
    }  # fmt: skip
    return {function: op for op, functions in spellings.items() for function in functions}


_FUNCTIONS: dict = {}


@dataclass(frozen=True)
class _Operand:
    """One argument of an op in the generated code.

    ``kind`` is ``"name"`` (a variable of the function holding a traced value),
    ``"temp"`` (an intermediate of the three-address form, used exactly once),
    ``"const"`` (a literal; ``value`` is its number) or ``"data"`` (an untraced
    value computed at run time).
    """

    code: str
    kind: str
    value: float | None = None

    @property
    def traced(self) -> bool:
        return self.kind in ("name", "temp")


def number(value) -> float:
    """A data operand of a traced op as a float: a number, or a 0-d numeric array (numpy's result on a number)."""
    if isinstance(value, (int, float, np.integer, np.floating)) or (
        type(value) is np.ndarray and value.ndim == 0 and value.dtype.kind in "biuf"
    ):
        return float(value)
    raise TypeError(f"a {type(value).__name__} of shape {np.shape(value)} where a number was expected")


def adjoint_name(name: str) -> str:
    """The variable holding the multiplier of ``name``'s node: ``_lg_b_x`` for ``x``, ``_lg_bt3`` for ``_lg_t3``."""
    return f"{PREFIX}b{name[len(PREFIX):]}" if name.startswith(PREFIX) else f"{PREFIX}b_{name}"


def indent(lines):
    return ["    " + line for line in lines]


def _names_in(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _target_names(target) -> list:
    """The plain names a target assigns (``a`` or ``a, b``); subscripts and attributes assign none."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for element in target.elts for n in _target_names(element)]
    return []


class Transformer:
    """Writes the forward and reverse sweeps of one function (see the module docstring)."""

    def __init__(self, definition, fn, traced_names, first_line):
        self.fn, self.first_line = fn, first_line
        #: every dotted name looked up in the function's globals, closure or builtins, with what it was
        self.resolved: list = []
        self.body = definition.body
        self.locals = set(fn.__code__.co_varnames) | set(fn.__code__.co_cellvars)
        self.active = self._activity(traced_names)
        self._reached = self._traced_nodes(ast.Module(body=self.body, type_ignores=[]))
        self._count = 0

    # -- which names hold traced values ---------------------------------------------------
    def _activity(self, traced_names) -> set:
        """Names that may hold a traced value: the traced arguments, and every name assigned from one.

        Flow-insensitive (a name is traced everywhere if it is anywhere), iterated to
        a fixed point because a loop may carry a value back to an earlier line.
        """
        flows = []  # (assigned names, expression they are assigned from)
        for node in ast.walk(ast.Module(body=self.body, type_ignores=[])):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) and len(target.elts) == len(node.value.elts):
                        flows.extend((_target_names(t), v) for t, v in zip(target.elts, node.value.elts))
                    else:
                        flows.append((_target_names(target), node.value))
            elif isinstance(node, ast.AugAssign):
                flows.append((_target_names(node.target), ast.BinOp(node.target, node.op, node.value)))
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                flows.append((_target_names(node.target), node.value))
            elif isinstance(node, (ast.For, ast.comprehension)):
                flows.append((_target_names(node.target), node.iter))
            elif isinstance(node, ast.NamedExpr):
                flows.append((_target_names(node.target), node.value))
        flows = [(set(names), _names_in(value)) for names, value in flows]
        active, changed = set(traced_names), True
        while changed:
            changed = False
            for names, read in flows:
                if not names <= active and read & active:
                    active.update(names)
                    changed = True
        return active

    def _traced(self, node) -> bool:
        """Whether a traced value reaches ``node`` (looked up for the source's nodes, walked for made ones)."""
        found = self._reached.get(node)
        if found is None:
            found = any(isinstance(n, ast.Name) and n.id in self.active for n in ast.walk(node))
        return found

    def _fail(self, node, what: str):
        line = getattr(node, "lineno", None)
        where = f"line {line + self.first_line - 1}" if line is not None else "the function"
        raise SourceTransformError(f"{self.fn.__qualname__}, {where}: {what} (it is traced instead)", self.resolved)

    def _temp(self, stem="t") -> str:
        self._count += 1
        return f"{PREFIX}{stem}{self._count}"

    # -- statements -------------------------------------------------------------------------
    def function(self):
        """``(forward lines, reverse lines, output operand)`` of the whole body."""
        body = [s for s in self.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
            self._fail(body[-1] if body else None, "the function must end with `return <value>`")
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.NamedExpr) and node.target.id in self.active:
                # `:=` can hide an assignment inside a test, where no op would record it
                self._fail(node, "an assignment expression `:=` of a traced value")
        forward, reverse = self.block(body[:-1])
        value = body[-1].value
        if self._traced(value):
            output_forward, output_reverse, output = self.expression(value)
            return forward + output_forward, output_reverse + reverse, output
        return forward, reverse, _Operand(f"({ast.unparse(value)})", "data")

    def block(self, statements):
        """Forward lines, and the reverse lines: each statement's reverse, last statement first.

        Recursion here follows the nesting of blocks in the source, which Python's
        compiler limits to 20; expressions, which may nest deeply, are flattened by
        :meth:`expression` with an explicit stack.
        """
        forward, reverse = [], []
        for statement in statements:
            f, r = self.statement(statement)
            forward.extend(f)
            reverse[:0] = r
        return forward, reverse

    def statement(self, node):
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                return self._untraced(node, "a chained assignment `a = b = ...`")
            return self.assign(node, node.targets[0], node.value)
        if isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name) and node.target.id in self.active:
                target = ast.Name(node.target.id, ast.Load())
                return self.assign(node, node.target, ast.copy_location(ast.BinOp(target, node.op, node.value), node))
            return self._untraced(node, "an augmented assignment to a subscript or attribute")
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            return self.assign(node, node.target, node.value)
        if isinstance(node, (ast.For, ast.While)):
            return self.loop(node)
        if isinstance(node, ast.If):
            return self.branch(node)
        if isinstance(node, (ast.Assert, ast.Raise, ast.Pass)):
            return [ast.unparse(node)], []  # they only read values
        if isinstance(node, (ast.Return, ast.Global, ast.Nonlocal)):
            self._fail(node, f"a `{type(node).__name__.lower()}` statement before the end of the function")
        return self._untraced(node, f"a `{type(node).__name__}` statement")

    def _untraced(self, node, what):
        """A statement that no traced value reaches runs as written; otherwise it cannot be transformed."""
        if self._traced(node) or self._assigns_traced(node):
            self._fail(node, f"{what} involving a traced value")
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for inner in ast.walk(node):  # the generated function's own return must stay the only one
                if isinstance(inner, (ast.Return, ast.Yield, ast.YieldFrom)):
                    self._fail(inner, f"a `{type(inner).__name__.lower()}` inside {what}")
        return ast.unparse(node).splitlines(), []

    def _assigns_traced(self, node) -> bool:
        return any(
            isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in self.active for n in ast.walk(node)
        )

    def assign(self, node, target, value):
        names = _target_names(target)
        if not set(names) & self.active:
            if isinstance(target, (ast.Name, ast.Tuple, ast.List)) or not self._traced(value):
                return self._untraced(node, "an assignment")
        if isinstance(target, ast.Name):
            return self.assign_name(target.id, value)
        if not all(isinstance(t, ast.Name) for t in getattr(target, "elts", [target])):
            self._fail(node, "an assignment of a traced value to something other than a plain name")
        if not self._traced(value):  # `a, b = pair` of data: values without nodes
            return ast.unparse(node).splitlines(), [f"{adjoint_name(name)} = 0.0" for name in names if name in self.active]
        if not (isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts)):
            self._fail(node, "a tuple assignment of traced values from something other than a tuple of the same length")
        # Every right-hand side is evaluated (and held) before any name is rebound, as Python does.
        forward, reverse, held = [], [], []
        for element in value.elts:
            if not self._traced(element):
                lines, operand = self.constant(element)
                forward += lines
            elif isinstance(element, ast.Name):
                operand = _Operand(self._temp("h"), "temp")
                f, r = self.bind(operand.code, _Operand(element.id, "name"))
                forward += f
                reverse[:0] = r
            else:
                f, r, operand = self.expression(element)
                forward += f
                reverse[:0] = r
            held.append(operand)
        for t, operand in zip(target.elts, held):
            f, r = self.bind(t.id, operand)
            forward += f
            reverse[:0] = r
        return forward, reverse

    def assign_name(self, name, value):
        """``name = value``. A traced right-hand side becomes ops writing into ``name``'s node."""
        if not self._traced(value):
            if name not in self.active:
                return [f"{name} = {ast.unparse(value)}"], []
            lines, operand = self.constant(value)
            forward, reverse = self.bind(name, operand)
            return lines + forward, reverse
        if isinstance(value, ast.Name):
            return self.bind(name, _Operand(value.id, "name"))
        forward, reverse, _ = self.expression(value, target=name)
        return forward, reverse

    def bind(self, name, operand):
        """``name = operand``: the name now holds the operand's node (or a value without one)."""
        if operand.code == name:
            return [], []
        forward = [f"{name} = {operand.code}"]
        if name not in self.active and not name.startswith(PREFIX):
            return forward, []
        mine, theirs = adjoint_name(name), adjoint_name(operand.code)
        if operand.kind == "name":  # a copy: both names' multipliers belong to one node
            return forward, [f"{theirs} += {mine}", f"{mine} = 0.0"]
        if operand.kind == "temp":  # an intermediate has one use: this is its whole multiplier
            return forward, [f"{theirs} = {mine}", f"{mine} = 0.0"]
        return forward, [f"{mine} = 0.0"]  # a value without a node: the name's multiplier ends here

    def loop(self, node):
        """A loop runs its reverse body as many times as the forward one ran (the count is taped)."""
        body_forward, body_reverse = self.block(node.body)
        else_forward, else_reverse = self.block(node.orelse)
        if else_reverse or (body_reverse and node.orelse):
            self._fail(node, "an `else` clause on a loop that computes traced values")
        if isinstance(node, ast.For) and self._traced(node.iter):
            self._fail(node, "a `for` loop over traced values")
        if isinstance(node, ast.For) and set(_target_names(node.target)) & self.active:
            self._fail(node, "a `for` loop whose variable is assigned a traced value")
        if not body_reverse:
            return self._untraced_loop(node, body_forward, else_forward)
        for inner in self._same_loop(node.body):
            if isinstance(inner, (ast.Break, ast.Continue, ast.Return)):
                self._fail(inner, f"`{type(inner).__name__.lower()}` in a loop that computes traced values")
        count = self._temp("n")
        if isinstance(node, ast.For):
            header = f"for {ast.unparse(node.target)} in {count}:"
            if self._is_builtin_range(node.iter):
                # the trip count of a range is its length: no counter in the loop
                forward = [f"{count} = {ast.unparse(node.iter)}", header, *indent(body_forward), f"{PREFIX}push({PREFIX}len({count}))"]
            else:
                items = self._temp("i")
                header = f"for {ast.unparse(node.target)} in {items}:"
                forward = [f"{items} = {ast.unparse(node.iter)}", f"{count} = 0", header,
                           *indent(body_forward + [f"{count} += 1"]), f"{PREFIX}push({count})"]  # fmt: skip
        else:
            forward = [f"{count} = 0", f"while {ast.unparse(node.test)}:", *indent(body_forward + [f"{count} += 1"]),
                       f"{PREFIX}push({count})"]  # fmt: skip
        reverse = [f"for {PREFIX}k in range({PREFIX}pop()):", *indent(body_reverse)]
        return forward, reverse

    @staticmethod
    def _untraced_loop(node, body_forward, orelse):
        header = f"for {ast.unparse(node.target)} in {ast.unparse(node.iter)}:" if isinstance(node, ast.For) else f"while {ast.unparse(node.test)}:"
        return [header, *indent(body_forward or ["pass"])] + (["else:", *indent(orelse)] if orelse else []), []

    @staticmethod
    def _same_loop(statements):
        """Every node of a loop body that belongs to this loop: not those inside nested loops or definitions."""
        pending = list(statements)
        while pending:
            node = pending.pop()
            yield node
            if not isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.Lambda, ast.ClassDef)):
                pending.extend(ast.iter_child_nodes(node))

    def _is_builtin_range(self, node) -> bool:
        return (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and node.func.id not in self.locals and self._resolve(node.func) is range
        )  # fmt: skip

    def branch(self, node):
        """An ``if`` tapes the side taken (when either side computes traced values) and replays it backwards."""
        body_forward, body_reverse = self.block(node.body)
        else_forward, else_reverse = self.block(node.orelse)
        test = f"if {ast.unparse(node.test)}:"
        if not body_reverse and not else_reverse:
            return [test, *indent(body_forward or ["pass"])] + (["else:", *indent(else_forward)] if else_forward else []), []
        forward = [test, *indent(body_forward + [f"{PREFIX}push(1)"]), "else:", *indent(else_forward + [f"{PREFIX}push(0)"])]
        reverse = [f"if {PREFIX}pop():", *indent(body_reverse or ["pass"]), "else:", *indent(else_reverse or ["pass"])]
        return forward, reverse

    # -- expressions ------------------------------------------------------------------------
    def constant(self, node):
        """``(forward lines, operand)`` for an expression no traced value reaches."""
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = None
        if type(value) in (int, float, bool) and math.isfinite(value):
            value = float(value)
            code = repr(value)
            return [], _Operand(f"({code})" if value < 0 else code, "const", value)
        # Converted as a trace converts a constant operand: anything but a number fails, and the call is traced.
        temp = self._temp("d")
        return [f"{temp} = {PREFIX}number({ast.unparse(node)})"], _Operand(temp, "data")

    def expression(self, root, target=None):
        """Three-address code for a traced expression: ``(forward, reverse, operand holding its value)``.

        Post-order over the expression tree with an explicit stack, so that each
        op's operands are written before it, in Python's order of evaluation (the
        order a trace records them in). The root writes into ``target`` when given.
        """
        forward, reverse_chunks = [], []
        operands, stack = [], [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if not expanded:
                if not self._traced(node):
                    lines, operand = self.constant(node)
                    forward += lines
                    operands.append(operand)
                elif isinstance(node, ast.Name):
                    operands.append(_Operand(node.id, "name"))
                else:
                    stack.append((node, True))
                    stack.extend((child, False) for child in reversed(self._children(node)))
                continue
            op, arity = self._op(node)
            arguments = operands[len(operands) - arity :]
            del operands[len(operands) - arity :]
            if op is None:  # unary +
                operands.append(arguments[0])
                continue
            f, r, out = self.operation(op, arguments, target if node is root else None)
            forward += f
            reverse_chunks.append(r)
            operands.append(out)
        (out,) = operands
        if target is not None and out.code != target:
            # the root was a bare operand (`x = +y`): a copy
            f, r = self.bind(target, out)
            forward += f
            reverse_chunks.append(r)
        reverse = [line for chunk in reversed(reverse_chunks) for line in chunk]
        return forward, reverse, out

    def _traced_nodes(self, root) -> dict:
        """Node -> whether a traced value reaches it, for every node under ``root``, in one pass."""
        nodes = list(ast.walk(root))  # breadth first: every node after its parent
        reached = {}
        for node in reversed(nodes):  # children first
            reached[node] = (isinstance(node, ast.Name) and node.id in self.active) or any(
                reached[c] for c in ast.iter_child_nodes(node)
            )
        return reached

    def _children(self, node):
        if isinstance(node, ast.BinOp):
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            return [node.operand]
        if isinstance(node, ast.Call):
            return list(node.args)
        self._fail(node, f"a traced value inside `{ast.unparse(node)}` (a {type(node).__name__})")

    def _op(self, node):
        """``(op name or None for unary +, number of operands)`` of a traced expression node."""
        if isinstance(node, ast.BinOp):
            op = _BINARY_OPS.get(type(node.op))
            if op is None:
                self._fail(node, f"the operator of `{ast.unparse(node)}` on a traced value")
            return op, 2
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return "neg", 1
            if isinstance(node.op, ast.UAdd):
                return None, 1
            self._fail(node, f"the operator of `{ast.unparse(node)}` on a traced value")
        # a call: one positional argument, and a function the transform knows
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            self._fail(node, f"the call `{ast.unparse(node)}` (one positional argument is transformed)")
        if not _FUNCTIONS:
            _FUNCTIONS.update(_elementwise_functions())
        function = self._resolve(node.func)
        try:
            op = _FUNCTIONS.get(function)
        except TypeError:  # unhashable
            op = None
        if op is None:
            self._fail(node, f"the call `{ast.unparse(node)}` of a traced value (only the elementwise functions of "
                             "lagrangian.graph, math and numpy are transformed)")  # fmt: skip
        return op, 1

    def _resolve(self, node):
        """The object a name or dotted name refers to now; recorded, so that a cached transform can be checked."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id in self.locals:
            return None
        name = (node.id, *reversed(parts))
        value = lookup(self.fn, name)
        self.resolved.append((name, value))
        return value

    def operation(self, op, arguments, target):
        """One node: its forward statement, the pushes of its value-dependent partials, and its reverse.

        The reverse is :math:`y_j \\mathrel{+}= J_{ij} y_i` for each traced operand
        ``j``, last operand first (the order of the tape's back substitution). A
        constant partial is written in: ``y_j += y_i`` for ``+``.
        """
        forward_rule, partial_rules = _RULES[op]
        codes = dict(zip("ab", (a.code for a in arguments)))
        out = target or self._temp()
        partials = self._partials(arguments, partial_rules, codes, out)
        # Write into the target directly unless a pushed partial still needs an operand the target overwrites.
        if target is not None and target in codes.values() and any(isinstance(p, str) for p in partials):
            out = self._temp()
            partials = self._partials(arguments, partial_rules, codes, out)
        forward = [f"{out} = {forward_rule.format(**codes)}"] + [f"{PREFIX}push({p})" for p in partials if isinstance(p, str)]
        if target is not None and out != target:
            forward.append(f"{target} = {out}")
        reverse = self._back_substitution(out, target, arguments, partials)
        return forward, reverse, _Operand(target or out, "name" if target else "temp")

    @staticmethod
    def _partials(arguments, rules, codes, out) -> list:
        """Per operand: ``None`` (untraced), a float (a constant partial) or the code of a value to push."""
        partials = []
        for argument, rule in zip(arguments, rules):
            text = rule.format(out=out, **codes) if argument.traced else None
            if text is not None and not _IDENTIFIER.search(text):  # digits and operators only
                try:
                    text = float(eval(text, {"__builtins__": {}}))
                except ArithmeticError:  # left to run time, where the call is then traced
                    pass
            partials.append(text)
        return partials

    def _back_substitution(self, out, target, arguments, partials):
        adjoint = adjoint_name(target or out)
        lines, multiplier = [], adjoint
        overwrites = target is not None and any(a.code == target for a in arguments if a.traced)
        if overwrites:
            # the target's old node is an operand: take the new node's multiplier first
            multiplier = f"{PREFIX}g"
            lines += [f"{multiplier} = {adjoint}", f"{adjoint} = 0.0"]
        for argument, partial in reversed(list(zip(arguments, partials))):
            if partial is None:
                continue
            operand = adjoint_name(argument.code)
            first = argument.kind == "temp"  # an intermediate has one use: this is its whole multiplier
            if partial == 1.0:
                lines.append(f"{operand} {'=' if first else '+='} {multiplier}")
            elif partial == -1.0:
                lines.append(f"{operand} = -{multiplier}" if first else f"{operand} -= {multiplier}")
            else:
                factor = f"{PREFIX}pop()" if isinstance(partial, str) else repr(partial)
                lines.append(f"{operand} {'=' if first else '+='} {factor} * {multiplier}")
        if target is not None and not overwrites:
            lines.append(f"{adjoint} = 0.0")
        return lines


def lookup(fn, name: tuple):
    """What the dotted ``name`` refers to in ``fn``'s closure, globals or builtins (``None`` if nothing)."""
    head, code = name[0], fn.__code__
    if head in code.co_freevars:
        try:
            value = fn.__closure__[code.co_freevars.index(head)].cell_contents
        except ValueError:  # an empty cell
            return None
    elif head in fn.__globals__:
        value = fn.__globals__[head]
    else:
        value = getattr(builtins, head, None)
    for attribute in name[1:]:
        value = getattr(value, attribute, None)
    return value
