r"""Reverse mode by source transformation: the multiplier solve written next to the function's own code.

A traced :class:`~lagrangian.graph.Tape` records every operation of one call as a
node, and on scalar code the recording is most of the cost: a Python object and
a few list appends per operation, against about twenty nanoseconds for the
operation itself. For a function of scalars written as assignments, ``for`` and
``while`` loops and ``if`` branches, the same computation can be written once,
from the function's source, as one Python function that runs two sweeps:

- **forward**: the function's own statements in three-address form
  (``s = e + e * e`` becomes ``t = e * e; s = e + t``), so that each operation
  is one node ``z_i = f_i(z_parents(i))`` of the graph a trace would record.
  Each partial derivative :math:`J_{ij} = \partial f_i / \partial z_j` that
  depends on the values is computed as the operation runs, from the op's rule in
  :mod:`lagrangian.graph.ops`, and appended to one list; so is each branch taken
  and the trip count of each loop. The constant partials (``1`` for ``+``,
  ``c`` for ``c * z``) are written into the code instead.
- **reverse**: the statements in reverse order, each the back substitution
  :math:`y_j \mathrel{+}= J_{ij} y_i` of :math:`(I - J)^T y = e_m` for its own
  node, popping its partials from the list. A variable that is assigned again
  holds a new node; its multiplier is handed to the operands and reset to zero,
  so one adjoint variable per name serves every node that name held.

Loops run backwards their recorded number of times and branches replay the
recorded side, so unlike a compiled tape (:mod:`lagrangian.graph.compiled`) the
code is right at every point, whatever path the values take, and its length
follows the source, not the number of operations executed. The multipliers are
those of :meth:`Tape.multipliers`, summed in the same order: they agree with a
trace to rounding, and bit for bit unless a variable is copied to another name.

What is transformed
-------------------
The traced arguments (``argnums``) must be numbers. A statement or expression
that involves no traced value (call it *data*: loop bounds, arrays read by
index, printing) is run as written. Traced values may flow only through

- assignments to plain names: ``x = ...``, ``x += ...``, ``a, b = b, a + b``;
- ``+ - * / **``, unary ``-`` and ``+``, and one-argument calls of the
  elementwise functions of :mod:`lagrangian.graph`, :mod:`math` and numpy with an
  op in :mod:`lagrangian.graph.ops` (``exp``, ``log``, ``sin``, ..., ``abs``);
- ``for`` loops over data, ``while`` loops and ``if`` statements, whose tests may
  read traced values;
- one ``return`` at the end of the function (or a ``lambda``'s expression).

Anything else a traced value reaches (a call of another function, a container,
an attribute, ``break``) raises :class:`SourceTransformError` naming the line,
and :func:`lagrangian.graph.value_and_grad` traces such a function instead.
Calls are resolved when the function is first transformed.

A call whose evaluation raises (a domain error such as ``log(-1)``, an overflow)
or ends with a value or gradient that is not finite returns ``None`` from
:meth:`SourceAdjoint.__call__`; the caller then traces that call, so that the
error names the op that failed, as tracing's error does. A non-finite
intermediate that reaches neither the value nor the gradient raises nothing.

References
----------
Griewank, A. and Walther, A. (2008), *Evaluating Derivatives*, 2nd ed., SIAM,
ch. 3 and 6 (the reverse sweep, and its taping of values and control flow).
van Merrienboer, B., Moldovan, D. and Wiltschko, A. (2018), "Tangent: automatic
differentiation using source-code transformation for dynamically typed array
programming", NeurIPS.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import re
import textwrap
import types

import numpy as np

from .ops import NAMESPACE
from .source_transform import PREFIX, SourceTransformError, Transformer, adjoint_name, indent, lookup, number

__all__ = ["SourceAdjoint", "SourceTransformError", "source_adjoint", "clear_cache"]

#: What the generated code calls, passed in as keyword defaults (locals, and no user name shadows them):
#: the op rules' functions and constants, and the conversions; ``_lg_cells`` (the closure) is added per function.
_HELPERS = {
    **{PREFIX + name: value for name, value in NAMESPACE.items()},
    f"{PREFIX}float": float, f"{PREFIX}number": number, f"{PREFIX}len": len,
}  # fmt: skip
_CELLS = f"{PREFIX}cells"


class SourceAdjoint:
    """``fn``'s value and gradient by one generated function; see the module docstring.

    Attributes
    ----------
    source : str
        The generated code: the forward sweep, then the reverse sweep.
    """

    def __init__(self, fn, positions, source, code):
        self.fn, self.positions, self.source = fn, positions, source
        self._function = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__)
        self._function.__kwdefaults__ = {**(fn.__kwdefaults__ or {}), **_HELPERS, _CELLS: fn.__closure__}

    def __call__(self, *args):
        """``(value, [gradient for each traced argument])``, or ``None`` when the call must be traced."""
        try:
            value, gradients = self._function(*args)
        except Exception:  # a domain error, an overflow, an array where a number was expected
            return None
        if type(value) is not float:
            try:  # a number of another type; anything else is for the trace to report
                value = float(value) if np.ndim(value) == 0 else None
            except (TypeError, ValueError):
                return None
            if value is None:
                return None
        for g in gradients:
            if not isinstance(g, float) or g - g != 0.0:
                return None
        if value - value != 0.0:
            return None
        return value, list(gradients)


#: (code object, positions) -> [(resolved names, (source, code) or the SourceTransformError), ...].
#: A transform depends on the function only through its code and what the names it calls
#: resolve to, so functions made again from one ``def`` or ``lambda`` (in a loop, by a
#: factory) share it while those names resolve to the same objects.
_CACHE: dict = {}


def clear_cache() -> None:
    """Forget every transformation (the next call of each function transforms its source again)."""
    _CACHE.clear()


def source_adjoint(fn, positions) -> SourceAdjoint:
    """The :class:`SourceAdjoint` of ``fn`` for the traced argument positions ``positions``.

    The transformation is done once per code object, positions and meaning of the
    names it calls, and kept (see :func:`clear_cache`).

    Raises
    ------
    SourceTransformError
        When the source is unavailable or uses what the transform does not
        handle (the message names the line).
    """
    positions = tuple(positions)
    if not isinstance(fn, types.FunctionType):  # a method, a partial, a builtin, a callable object
        raise SourceTransformError(f"{fn!r} is not a plain Python function")
    code = fn.__code__
    variants = _CACHE.setdefault((code, positions), [])
    for resolved, found in variants:
        if all(lookup(fn, name) is value for name, value in resolved):
            break
    else:
        try:
            found, resolved = _transform(fn, positions)
        except SourceTransformError as exc:
            found, resolved = exc, exc.resolved
        variants.append((resolved, found))
    if isinstance(found, SourceTransformError):
        raise found
    source, compiled = found
    return SourceAdjoint(fn, positions, source, compiled)


def _source_tree(fn):
    """``(module node, line number of its first line)`` for ``fn``'s block of source.

    The block is cut from the file's lines by indentation, which costs a tenth of
    :func:`inspect.getsource` (a tokenizer run); where that cut does not parse (a
    string at a lower indentation, a lambda inside a larger statement), ``inspect``
    finds the block instead.
    """
    code = fn.__code__
    lines = linecache.getlines(code.co_filename, fn.__globals__)
    start = code.co_firstlineno - 1
    while start < len(lines) and lines[start].lstrip().startswith("@"):
        start += 1
    if code.co_name != "<lambda>" and start < len(lines):
        indent = len(lines[start]) - len(lines[start].lstrip())
        end = start + 1
        while end < len(lines):
            line, text = lines[end], lines[end].strip()
            if text and not text.startswith("#") and len(line) - len(line.lstrip()) <= indent:
                break
            end += 1
        try:
            return ast.parse(textwrap.dedent("".join(lines[start:end]))), start + 1
        except SyntaxError:
            pass
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn))), code.co_firstlineno
    except (OSError, TypeError, SyntaxError) as exc:
        raise SourceTransformError(f"the source of {fn.__qualname__} could not be read ({exc})") from None


def _definition(fn):
    """``(def node, line number of the source's first line)`` of ``fn``; a ``lambda`` becomes a ``def``."""
    name = fn.__qualname__
    tree, first_line = _source_tree(fn)
    code = fn.__code__
    if code.co_name == "<lambda>":
        found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
                 and [a.arg for a in n.args.posonlyargs + n.args.args] == list(code.co_varnames[: code.co_argcount])]  # fmt: skip
        if len(found) != 1:
            raise SourceTransformError(f"{name}: the lambda could not be told apart from others on its line")
        node = found[0]
        return ast.FunctionDef(name="_", args=node.args, body=[ast.Return(node.body, lineno=node.lineno)],
                               decorator_list=[], lineno=node.lineno), first_line  # fmt: skip
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == code.co_name]
    if not found:
        raise SourceTransformError(f"{name}: no `def {code.co_name}` in its source")
    return found[0], first_line


def _transform(fn, positions):
    code = fn.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR | inspect.CO_COROUTINE):
        raise SourceTransformError(f"{fn.__qualname__}: *args, **kwargs, generators and coroutines are not transformed")
    definition, first_line = _definition(fn)
    parameters = [a.arg for a in definition.args.posonlyargs + definition.args.args]
    keywords = [a.arg for a in definition.args.kwonlyargs]
    if parameters + keywords != list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]):
        raise SourceTransformError(f"{fn.__qualname__}: its source file no longer matches the function")
    if any(p >= len(parameters) for p in positions):
        raise SourceTransformError(f"{fn.__qualname__}: argnums {positions} name an argument it does not have")
    every_name = {n.id for n in ast.walk(definition) if isinstance(n, ast.Name)} | set(parameters) | set(keywords)
    if any(n.startswith(PREFIX) for n in every_name):
        raise SourceTransformError(f"{fn.__qualname__}: a name starting with {PREFIX!r} (the generated code's own)")
    traced = [parameters[p] for p in positions]
    transformer = Transformer(definition, fn, traced, first_line)
    forward, reverse, output = transformer.function()
    active = sorted(transformer.active)
    prologue = [f"{name} = {_CELLS}[{i}].cell_contents" for i, name in enumerate(code.co_freevars)]
    prologue += [f"{name} = {PREFIX}float({name})" for name in traced]
    prologue += [f"{PREFIX}tape = []", f"{PREFIX}push = {PREFIX}tape.append"]
    if output.traced:
        seed = [f"{adjoint_name(name)} = 0.0" for name in active if name != output.code] + [f"{adjoint_name(output.code)} = 1.0"]
        gradients = ", ".join(adjoint_name(name) for name in traced)
        backward = [f"{PREFIX}pop = {PREFIX}tape.pop", *seed, *reverse]
    else:
        gradients, backward = ", ".join("0.0" for _ in traced), []
    body = [
        *prologue, "# forward: the function's ops, taping the partials that depend on values", *forward,
        f"{PREFIX}value = {output.code}", "# reverse: (I - J)^T y = e_m by back substitution", *backward,
        f"return {PREFIX}value, ({gradients}{',' if len(traced) == 1 else ''})",
    ]  # fmt: skip
    used = set(re.findall(rf"\b{PREFIX}\w+", "\n".join(body)))
    helpers = [name for name in [*_HELPERS, _CELLS] if name in used]
    signature = parameters + (["*"] + keywords + helpers if keywords or helpers else [])
    source = "\n".join([f"def {PREFIX}adjoint({', '.join(signature)}):", *indent(body)]) + "\n"
    try:
        module = compile(source, f"<adjoint of {fn.__qualname__}>", "exec")
    except SyntaxError as exc:
        raise SourceTransformError(f"{fn.__qualname__}: the transformed code does not compile ({exc.msg})") from None
    function_code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    return (source, function_code), transformer.resolved
