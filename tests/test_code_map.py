"""The contributors' map (docs/code_map_figure.py) is the code's: its path is made of real imports, its boxes hold every module."""

import importlib.util
import pathlib

import pytest

from lagrangian import layout

FIGURE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "code_map_figure.py"


@pytest.fixture(scope="module")
def figure():
    spec = importlib.util.spec_from_file_location("code_map_figure", FIGURE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph():
    return layout.import_graph()


def test_every_step_of_the_drawn_call_path_is_an_import_of_the_code(figure, graph):
    for caller, callee, _ in figure.CALL_PATH:
        assert caller in graph and callee in graph, f"{caller} or {callee} is no longer a module: update CALL_PATH"
        assert figure.imports(graph, caller, callee), f"{caller} no longer imports {callee}: update CALL_PATH"
    # the path goes down to the factorization and comes back to the Solution
    assert any(callee.startswith("lagrangian.linalg") for _, callee, _ in figure.CALL_PATH)
    assert figure.CALL_PATH[-1][1] == "lagrangian.result"


def test_a_step_that_is_not_an_import_is_refused(figure, graph):
    assert not figure.imports(graph, "lagrangian.linalg", "lagrangian.solvers")
    assert not figure.imports(graph, "lagrangian.kkt", "lagrangian.result")


def test_every_module_is_in_one_box_and_every_import_points_down_the_page(figure, graph):
    rows, edges, sizes = figure.map_layout(graph)
    placed = [c for row in rows for c in row]
    assert len(placed) == len(set(placed))
    expected = {layout.component(m) for m in graph} - figure.TOOLING
    assert set(placed) == expected == set(sizes)
    assert sum(len(modules) for modules in sizes.values()) == sum(layout.component(m) not in figure.TOOLING for m in graph)
    row_of = {c: r for r, row in enumerate(rows) for c in row}
    for source, targets in edges.items():
        for target in targets:
            assert row_of[target] > row_of[source], f"{source} imports {target}, which is not drawn below it"


def test_layers_follow_the_design_order(graph):
    """DESIGN.md's flow: interfaces above solvers above kkt above linalg."""
    layer = layout.layers(layout.component_graph(graph))
    assert layer["interfaces"] > layer["solvers"] > layer["kkt"] > layer["linalg"] > layer["errors"]


def test_the_figure_is_written_with_its_text_searchable(figure, graph, tmp_path):
    pytest.importorskip("matplotlib")
    output = tmp_path / "code_map.svg"
    figure.draw(output, graph)
    svg = output.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for name in ("interfaces", "solvers", "linalg", "kkt", "result", "graph"):
        assert f">{name}  (" in svg  # each box's title is text, not paths
