"""Examples that cannot rot: every Python block of README.md and of the documentation
pages runs, and every value it records in a comment is what it prints.

A block is checked statement by statement, all blocks of one file in one namespace (a
later block may use what an earlier one defined, as a reader would). A statement that
is a ``print(...)`` call and ends its last line with a comment records its output:

    print(solution.x)          # [1. 1. 1.]

The printed text must match the comment: numbers to a relative tolerance of 1e-6
(and an absolute one of 1e-9), everything else word for word, with ``...`` standing
for any text. Every docstring example (``>>>``) in the package runs as a doctest.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import importlib
import io
import math
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import lagrangian

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
TOKEN = re.compile(rf"(\.\.\.)|({NUMBER})")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(first line number, code)`` of every Python block: Markdown fences or rST code-blocks."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        if path.suffix == ".md" and line.strip() == "```python":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            blocks.append((i + 2, "\n".join(lines[i + 1 : end])))
            i = end
        elif path.suffix == ".rst" and re.match(r"^\s*\.\. code-block:: python\s*$", line):
            indent = len(line) - len(line.lstrip())
            body, j = [], i + 1
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
                body.append(lines[j])
                j += 1
            first = next(k for k, text in enumerate(body) if text.strip())
            blocks.append((i + 2 + first, textwrap.dedent("\n".join(body[first:])).rstrip()))
            i = j - 1
        i += 1
    return blocks


def matches(printed: str, recorded: str) -> str | None:
    """None when ``printed`` is what ``recorded`` says; otherwise why not."""
    pattern, expected = [], []
    position = 0
    for token in TOKEN.finditer(recorded):
        pattern.append(_literal(recorded[position : token.start()]))
        if token.group(1):
            pattern.append(r".*?")
        else:
            pattern.append(rf"({NUMBER})")
            expected.append(float(token.group(2)))
        position = token.end()
    pattern.append(_literal(recorded[position:]))
    found = re.fullmatch("".join(pattern), printed.strip(), flags=re.DOTALL)
    if found is None:
        return f"printed {printed.strip()!r}, recorded {recorded!r}"
    for got, want in zip(found.groups(), expected):
        if not math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-9):
            return f"printed {got} where {want} is recorded (in {printed.strip()!r})"
    return None


def _literal(text: str) -> str:
    """Text outside numbers: word for word, any run of spaces matching any run (or none)."""
    parts = [re.escape(part) for part in re.split(r"\s+", text)]
    return r"\s*".join(parts)


def recorded_output(statement: ast.stmt, lines: list[str]) -> str | None:
    """The comment ending a ``print(...)`` statement's last line, if it has one."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return None
    if getattr(statement.value.func, "id", None) != "print":
        return None
    last = lines[statement.end_lineno - 1]
    tail = last[statement.end_col_offset :]
    comment = re.match(r"\s*#\s?(.*)$", tail)
    return comment.group(1).strip() if comment else None


def run_file(path: Path, scratch: Path) -> int:
    """Run every block of ``path``; return how many recorded outputs were compared.

    Each block is written to a file in ``scratch`` first, so that code reading its own
    source (``inspect.getsource``, the source transformation of ``lagrangian.graph``)
    finds it.
    """
    namespace = {"__name__": "__readme__"}
    checked = 0
    for number, (first_line, code) in enumerate(python_blocks(path)):
        lines = code.splitlines()
        source = scratch / f"{path.stem}_block{number}.py"
        source.write_text(code + "\n")
        tree = ast.parse(code, filename=str(source))
        for statement in tree.body:
            recorded = recorded_output(statement, lines)
            where = f"{path.relative_to(ROOT)}, line {first_line + statement.lineno - 1}"
            compiled = compile(ast.Module([statement], []), str(source), "exec")
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compiled, namespace)
            if recorded is not None:
                problem = matches(output.getvalue(), recorded)
                assert problem is None, f"{where}: {problem}"
                checked += 1
    return checked


# Pages whose Python blocks must all run. A page's blocks share one namespace.
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("**/*.rst") if p.parts[-2] not in ("learn", "auto_examples", "_build"))]


@pytest.mark.parametrize("name", [d for d in DOCUMENTS if python_blocks(ROOT / d)])
def test_every_code_block_runs_and_prints_what_it_records(name, tmp_path):
    checked = run_file(ROOT / name, tmp_path)
    if name == "README.md":
        assert checked >= 20  # the README's values are recorded, not only run


#: Frameworks only optional extras install; the modules built on them are skipped without them.
OPTIONAL_FRAMEWORKS = {"torch", "jax", "jaxlib"}


def _modules_with_examples():
    names = ["lagrangian"]
    for info in pkgutil.walk_packages(lagrangian.__path__, "lagrangian."):
        if info.name.startswith("lagrangian.examples") or info.name.endswith("__main__"):
            continue  # scripts (run by test_examples.py) and the command line
        names.append(info.name)
    found = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in OPTIONAL_FRAMEWORKS:
                continue  # a layer for a framework this install does not have (an optional extra)
            raise
        if any(test.examples for test in doctest.DocTestFinder().find(module)):
            found.append(name)
    return found


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (printed above)"


def test_the_checker_rejects_a_wrong_number_and_accepts_rounding():
    assert matches("[1. 1. 1.]\n", "[1. 1. 1.]") is None
    assert matches("17.01401729", "17.0140173") is None
    assert matches("[0.5 1.5] 0.5000001", "[0.5 1.5] 0.5") is None
    assert matches("agree: |dx| 6e-09, |dy| 1e-08", "agree: |dx| ...") is None
    assert matches("[1. 1. 2.]", "[1. 1. 1.]") is not None
    assert matches("Status.INFEASIBLE", "Status.SUCCESS") is not None
    assert matches("[0.25 0.3]", "[0.25]") is not None
