"""The learning path's pages (docs/learn_src/*.py) run and every check on them passes.

The documentation build runs them too (sphinx-gallery, where a failed check stops the
build); running them here as well means a change in the package that breaks a page
fails the test suite, not only the site. They draw figures, so they need matplotlib
(the ``docs`` extra); without it they are skipped here and still run in the docs build.
"""

import contextlib
import io
import runpy
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parent.parent / "docs" / "learn_src").glob("*.py"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_runs_and_every_check_passes(page, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(page.parent)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(page), run_name="__main__")  # a failed check raises AssertionError
    figures = len(plt.get_fignums())
    plt.close("all")
    lines = out.getvalue().splitlines()
    checks = [line for line in lines if line.startswith(("pass  ", "FAIL  "))]
    assert checks and all(line.startswith("pass  ") for line in checks)
    assert figures >= 1  # a teaching page shows at least one figure


def test_the_learning_path_has_its_four_pages():
    assert {p.stem for p in PAGES} == {"lagrange_multipliers", "backprop", "chain_rule_or_lagrangian", "ridge_lambda"}
