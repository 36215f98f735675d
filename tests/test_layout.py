"""The package's layout: data flows one way, so its modules import each other without cycles.

DESIGN.md's rule: user code -> problem -> lagrangian/kkt -> linalg -> solution; graphs feed
derivatives into problems, problems never import solvers, solvers never import interfaces.
A cycle, even through an import deferred into a function body, is two modules that each
need the other's ideas: one room too few or one too many. The graph is read from the
source with ``ast`` (every import statement, at module level or not), so the test needs
no import side effects.
"""

from __future__ import annotations

import ast
import pathlib

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

import lagrangian

PACKAGE_ROOT = pathlib.Path(lagrangian.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute names a ``from ... import ...`` statement may bring in (modules or their attributes)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, submodules of a package counted as the module."""
    paths = sorted(p for p in PACKAGE_ROOT.rglob("*.py") if "examples" not in p.parts)
    modules = {_module_name(p): p for p in paths}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                candidates = _resolve(name, path.name == "__init__.py", node)
            else:
                continue
            targets.update(c for c in candidates if c in modules and c != name)
        graph[name] = targets
    return graph


def test_the_import_graph_is_read():
    graph = import_graph()
    assert "lagrangian.kkt" in graph["lagrangian.result"]
    assert "lagrangian.linalg.kkt_factorization" in graph["lagrangian.kkt"]


def test_no_import_cycles_among_the_package_modules():
    graph = import_graph()
    # A package's __init__ re-exports its submodules: that edge points down, and the
    # submodules' imports of their siblings go straight to the sibling modules.
    edges = {(a, b) for a, targets in graph.items() for b in targets if not b.startswith(a + ".") and not a.startswith(b + ".")}
    names = sorted(graph)
    index = {name: i for i, name in enumerate(names)}
    rows = [index[a] for a, _ in edges]
    cols = [index[b] for _, b in edges]
    adjacency = csr_array((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    count, labels = connected_components(adjacency, directed=True, connection="strong")
    cycles = [sorted(n for n in names if labels[index[n]] == label) for label in range(count)]
    cycles = [c for c in cycles if len(c) > 1]
    assert not cycles, f"modules that import each other (directly or through others): {cycles}"
