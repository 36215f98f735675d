"""The package's own layout, read from its source: modules, their sizes, who imports whom, and the layers.

DESIGN.md's rule is that data flows one way: user code -> problem -> lagrangian/kkt
-> linalg -> solution. This module reads what the code actually does, with ``ast``
(every import statement, at module level or inside a function), so that the
contributors' map (``docs/code_map_figure.py``) is drawn from the code and a test
can hold the drawing to it. Nothing is imported to read it.

A *component* is a top-level module (``lagrangian.kkt``) or subpackage
(``lagrangian.linalg``, with all its modules). Components are stacked in *layers*:
a component sits one layer above the highest component it imports, so every
import points down the page; components that import each other (a cycle, which
``tests/test_layout.py`` forbids between modules) would share a layer.
"""

from __future__ import annotations

import ast
import pathlib

__all__ = ["PACKAGE_ROOT", "modules", "import_graph", "component", "component_graph", "layers"]

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent
_PACKAGE = PACKAGE_ROOT.name


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, pathlib.Path]:
    """``{module name: source path}`` of every module of the package (the worked examples left out)."""
    paths = sorted(p for p in PACKAGE_ROOT.rglob("*.py") if "examples" not in p.relative_to(PACKAGE_ROOT).parts)
    return {_module_name(p): p for p in paths}


def _imported(module: str, is_package: bool, node, known) -> list[str]:
    """The modules an import statement brings in.

    ``from . import linalg`` imports the module ``linalg``, not its parent package;
    ``from .errors import ProblemError`` imports the module ``errors``.
    """
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    names = [f"{prefix}.{alias.name}" for alias in node.names]
    submodules = [n for n in names if n in known]
    return submodules + ([prefix] if len(submodules) < len(names) else [])


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, read from the source with ``ast``."""
    found = modules()
    graph = {}
    for name, path in found.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported = _imported(name, path.name == "__init__.py", node, found)
                targets.update(c for c in imported if c in found and c != name)
        graph[name] = targets
    return graph


def component(module: str) -> str:
    """The component a module belongs to: ``lagrangian.linalg.structure`` -> ``linalg``; the package itself -> ``lagrangian``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def component_graph(graph=None) -> dict[str, set[str]]:
    """``{component: components it imports}`` (imports within a component left out)."""
    graph = import_graph() if graph is None else graph
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = component(module)
        edges.setdefault(mine, set()).update(component(t) for t in targets if component(t) != mine)
    return edges


def layers(edges=None) -> dict[str, int]:
    """``{component: layer}``: 0 for a component that imports none of the others, else one above the highest it imports.

    Longest paths in the component graph, computed iteratively (a component's layer
    is fixed once those of everything it imports are); components on a cycle, which
    have no such order, are placed together above what they import.
    """
    edges = component_graph() if edges is None else edges
    layer: dict[str, int] = {}
    pending = set(edges)
    while pending:
        ready = [c for c in pending if all(t in layer for t in edges[c] if t != c)]
        if not ready:  # a cycle: place its members together, above what is placed
            ready = sorted(pending)
            top = max((layer[t] for c in ready for t in edges[c] if t in layer), default=-1)
            for c in ready:
                layer[c] = top + 1
            break
        for c in ready:
            layer[c] = 1 + max((layer[t] for t in edges[c] if t != c), default=-1)
            pending.discard(c)
    return layer
