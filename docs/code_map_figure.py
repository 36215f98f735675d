"""The contributors' map: the package's layers and the path of one ``minimize`` call, drawn from its import graph.

    python docs/code_map_figure.py [output.svg]     # default: docs/_static/code_map.svg

The boxes are the package's components (a top-level module, or a subpackage with
its modules), read from the source by :mod:`lagrangian.layout`; each sits one
layer above the highest component it imports, so every import points down the
page (the grey arrows). The numbered arrows are the path of one call,
:data:`CALL_PATH`: from ``lagrangian.minimize`` down to the factorization of the
KKT matrix and back up to the ``Solution``. Every step of it is an import of the
code (``tests/test_code_map.py`` checks this), so the figure cannot drift from
the code: a renamed module fails the test, a new one appears in its box.

The documentation build writes the figure (``docs/conf.py`` runs this file), so
the page always shows the code as built. Only matplotlib is needed (the ``docs``
extra); text stays text in the SVG, so a browser can search it.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from lagrangian import layout

#: Components left off the map: tooling around the package, not part of a solve.
TOOLING = frozenset({"__main__", "cli", "layout"})

#: One ``lagrangian.minimize`` call, step by step: (caller module, callee module, what happens).
#: Each caller imports its callee (directly, or through the callee's package re-exporting it).
CALL_PATH = [
    ("lagrangian", "lagrangian.interfaces.scipy_minimize", "minimize(fun, x0, bounds=..., constraints=...): scipy's arguments read"),
    ("lagrangian.interfaces.scipy_minimize", "lagrangian.interfaces.scipy_derivatives", "the derivatives the caller did not give"),
    ("lagrangian.interfaces.scipy_derivatives", "lagrangian.graph", "exact derivatives: the functions traced (value_and_grad, TracedProgram)"),
    ("lagrangian.interfaces.scipy_minimize", "lagrangian.problem", "Problem(f, c, cl <= c(x) <= cu, lb <= x <= ub), validated"),
    ("lagrangian.interfaces.scipy_minimize", "lagrangian.solvers.interior_point", "interior_point(problem): Newton steps on the barrier KKT system"),
    ("lagrangian.solvers.interior_point", "lagrangian.kkt", "the KKT conditions: least-squares multipliers, residuals"),
    ("lagrangian.solvers.interior_point", "lagrangian.linalg.kkt_factorization", "factorize_kkt, InertiaCorrection: the KKT matrix factored, its inertia read"),
    ("lagrangian.linalg.kkt_factorization", "lagrangian.linalg.ldl", "QDLDL (sparse) or dense LDL^T: factor, solve, inertia"),
    ("lagrangian.solvers.interior_point", "lagrangian.result", "back up: Solution(x, multipliers, Status)"),
    ("lagrangian.result", "lagrangian.kkt", "the Solution's KKT residuals, recomputed on request (kkt_check)"),
    ("lagrangian.interfaces.scipy_minimize", "lagrangian.interfaces.scipy_status", "back to the caller: the Solution as scipy's OptimizeResult"),
    ("lagrangian.interfaces.scipy_status", "lagrangian.result", "its Status read as the scipy method's status code and message"),
]

PATH_COLOUR = "#c0392b"


def _under(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def imports(graph, caller: str, callee: str) -> bool:
    """Whether a module at or under ``caller`` imports ``callee`` (or a module under it),
    directly or through a package of ``callee``'s that re-exports it from its ``__init__``."""
    parents = [callee.rsplit(".", k)[0] for k in range(1, callee.count(".") + 1)]
    reexports = {p for p in parents if p in graph and any(_under(t, callee) for t in graph[p])}
    for module, targets in graph.items():
        if _under(module, caller) and any(_under(t, callee) or t in reexports for t in targets):
            return True
    return False


def map_layout(graph=None):
    """``(rows, edges, sizes)``: components by layer (top first), their imports, and per component its modules' line counts."""
    graph = layout.import_graph() if graph is None else graph
    kept = {m: {t for t in targets if layout.component(t) not in TOOLING} for m, targets in graph.items() if layout.component(m) not in TOOLING}
    edges = layout.component_graph(kept)
    layer = layout.layers(edges)
    rows = [sorted(c for c in layer if layer[c] == k) for k in range(max(layer.values()), -1, -1)]
    paths = layout.modules()
    sizes: dict[str, list] = {}
    for module in sorted(kept):
        lines = len(paths[module].read_text().splitlines())
        short = module.split(".", 2)[-1] if module.count(".") >= 2 else ("__init__" if "." in module else "lagrangian/__init__")
        sizes.setdefault(layout.component(module), []).append((short, lines))
    return rows, edges, sizes


def draw(path, graph=None):
    """Write the map to ``path`` (SVG or PNG, by its suffix) and return the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    graph = layout.import_graph() if graph is None else graph
    rows, edges, sizes = map_layout(graph)
    row_height, width = 1.35, 10.0
    legend = 0.36 * (len(CALL_PATH) + 3)  # the numbered steps, below the layers
    height = row_height * len(rows)
    plt.rcParams["svg.fonttype"] = "none"  # text stays text
    fig, ax = plt.subplots(figsize=(width + 0.6, height + legend + 0.4))
    ax.set_xlim(-0.6, width)
    ax.set_ylim(-legend, height + 0.2)
    ax.axis("off")

    boxes = {}  # component -> (x centre, y centre, half width, half height)
    for r, row in enumerate(rows):
        slot = width / len(row)
        for k, name in enumerate(row):
            cx, cy = slot * (k + 0.5), height - row_height * (r + 0.5)
            hw, hh = min(slot * 0.42, 1.7), row_height * 0.36
            boxes[name] = (cx, cy, hw, hh)
            on_path = any(layout.component(m) == name for step in CALL_PATH for m in step[:2])
            ax.add_patch(FancyBboxPatch((cx - hw, cy - hh), 2 * hw, 2 * hh, boxstyle="round,pad=0.02",
                                        facecolor="#fdf2e9" if on_path else "#f4f6f7",
                                        edgecolor=PATH_COLOUR if on_path else "#7f8c8d", linewidth=1.4 if on_path else 0.8))
            total = sum(n for _, n in sizes[name])
            ax.text(cx, cy + hh - 0.08, f"{name}  ({total:,} lines)", ha="center", va="top", fontsize=9.5, fontweight="bold")
            listing = ", ".join(f"{short} {n}" for short, n in sizes[name]) if len(sizes[name]) > 1 else ""
            if listing:
                chars = max(18, int(2 * hw * 14))
                ax.text(cx, cy + hh - 0.36, "\n".join(textwrap.wrap(listing, chars)[:5]), ha="center", va="top", fontsize=6.3, color="#34495e")
        ax.text(-0.05, height - row_height * (r + 0.5), f"layer {len(rows) - 1 - r}", ha="right", va="center", fontsize=7, color="#7f8c8d")

    for source, targets in edges.items():
        for target in targets:
            (x0, y0, _, h0), (x1, y1, _, h1) = boxes[source], boxes[target]
            ax.add_patch(FancyArrowPatch((x0, y0 - h0), (x1, y1 + h1), arrowstyle="-|>", mutation_scale=7,
                                         color="#95a5a6", alpha=0.35, linewidth=0.6, shrinkA=2, shrinkB=2))

    for number, (caller, callee, what) in enumerate(CALL_PATH, start=1):
        a, b = layout.component(caller), layout.component(callee)
        (x0, y0, _, h0), (x1, y1, _, h1) = boxes[a], boxes[b]
        if a == b:  # a step inside one component: its number sits in the box
            ax.text(x0 + boxes[a][2] - 0.15, y0 - h0 + 0.12, str(number), color="white", fontsize=7, ha="center", va="center",
                    bbox=dict(boxstyle="circle,pad=0.15", facecolor=PATH_COLOUR, edgecolor="none"))
        else:
            down = y1 < y0
            # leave from the box's side towards the target, so that arrows fan out instead of overlapping
            lean = max(-0.8, min(0.8, (x1 - x0) / 3)) * boxes[a][2] / 1.7
            start, end = (x0 + lean, y0 - h0 if down else y0 + h0), (x1 - lean / 2, y1 + h1 if down else y1 - h1)
            span = round(abs(y1 - y0) / row_height)
            bend = (0.1 + 0.06 * span) * (1 if number % 2 else -1)
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color=PATH_COLOUR, linewidth=1.6,
                                         connectionstyle=f"arc3,rad={bend}", shrinkA=3, shrinkB=3))
            t = (0.3 + 0.15 * (number % 3)) / max(span, 1)  # near the start of a long arrow, staggered
            mx, my = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
            ax.text(mx, my, str(number), color="white", fontsize=7, ha="center", va="center",
                    bbox=dict(boxstyle="circle,pad=0.15", facecolor=PATH_COLOUR, edgecolor="none"))
        y = -0.25 - 0.36 * (number - 1)
        ax.text(0.2, y, f"{number}", color="white", fontsize=8, ha="center", va="center",
                bbox=dict(boxstyle="circle,pad=0.18", facecolor=PATH_COLOUR, edgecolor="none"))
        ax.text(0.45, y, f"{a} -> {b}: {what}", fontsize=8, va="center", ha="left")
    ax.text(0.0, -0.25 - 0.36 * len(CALL_PATH) - 0.05,
            "Grey arrows: a component imports another (always downwards). Red: one lagrangian.minimize call,\n"
            "down to the factorization of the KKT matrix and back up to the Solution.",
            fontsize=8, va="top", color="#555555")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return fig


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    output = Path(argv[0]) if argv else Path(__file__).resolve().parent / "_static" / "code_map.svg"
    draw(output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
