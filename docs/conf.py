"""Sphinx configuration for the lagrangian documentation site.

Build (from the repository root): ``sphinx-build -W -b html docs docs/_build/html``.
Two galleries run during the build (sphinx-gallery), each script's printed output and
figures appearing on its page: the learning path (``docs/learn_src/`` -> ``learn/``),
whose pages check their numbers and stop the build when one is wrong, and the worked
examples (``examples/`` -> ``auto_examples/``). The gallery's timing pages are not
written: they are the only pages that would load scripts from another host. Math is rendered by a MathJax copy served from
the site itself (no CDN): it is unpacked from the npm registry's ``mathjax@3`` package
into ``_static/mathjax`` on the first build.
"""

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

import lagrangian

HERE = Path(__file__).resolve().parent
MATHJAX = HERE / "_static" / "mathjax" / "tex-svg.js"
# The contributors' map (code_map.rst) is drawn from the package's own import graph at every build.
__import__("runpy").run_path(str(HERE / "code_map_figure.py"))["draw"](HERE / "_static" / "code_map.svg")


def _fetch_mathjax():
    if MATHJAX.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "mathjax@3.2.2", "--silent"], cwd=tmp, check=True, capture_output=True)
        archive = next(Path(tmp).glob("mathjax-*.tgz")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.getmember("package/es5/tex-svg.js")
        MATHJAX.parent.mkdir(parents=True, exist_ok=True)
        MATHJAX.write_bytes(tar.extractfile(member).read())


_fetch_mathjax()

project = "lagrangian"
author = "the lagrangian developers"
copyright = "2026, the lagrangian developers (BSD-3-Clause)"
release = lagrangian.__version__
version = release
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "README.md",
    "check_site.py",
    "learn_src",
    "*/*.ipynb",
    "*/*.py",
    "sg_execution_times.rst",
    "*/sg_execution_times.rst",
]
html_theme = "furo"
html_title = f"lagrangian {release}"
html_short_title = "lagrangian"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_favicon = "_static/favicon.svg"
html_theme_options = {"source_repository": None, "top_of_page_buttons": []}
mathjax_path = "mathjax/tex-svg.js"
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
autosummary_generate = False
nitpicky = False
myst_heading_anchors = 2
suppress_warnings = ["myst.header"]

# ``.. plot::`` blocks run while the site is built; their asserts check the numbers the
# page states, and a failed one stops the build.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.autolayout": False}

sphinx_gallery_conf = {
    "examples_dirs": [str(HERE / "learn_src"), str(HERE.parent / "examples")],
    "gallery_dirs": ["learn", "auto_examples"],
    "within_subsection_order": "FileNameSortKey",
    "write_computation_times": False,
    "filename_pattern": r"/(?!__init__)[^/]+\.py$",  # every example runs, not only plot_*.py
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}
