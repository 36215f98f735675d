"""The package's layout: data flows one way, so its modules import each other without cycles.

DESIGN.md's rule: user code -> problem -> lagrangian/kkt -> linalg -> solution; graphs feed
derivatives into problems, problems never import solvers, solvers never import interfaces.
A cycle, even through an import deferred into a function body, is two modules that each
need the other's ideas: one room too few or one too many. The graph is read from the
source with ``ast`` by :func:`lagrangian.layout.import_graph` (every import statement, at
module level or not), so the test needs no import side effects.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from lagrangian.layout import import_graph


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


#: A module longer than this holds more than one idea (issue 24's bound: "about 600 lines").
MODULE_LINES = 600


def test_no_source_module_is_longer_than_one_idea_needs():
    from lagrangian.layout import modules

    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MODULE_LINES}
    assert not long, f"modules over {MODULE_LINES} lines (split them by responsibility): {long}"
