"""Check the built documentation site in a real browser (headless Chromium).

    python docs/check_site.py [docs/_build/html]

For every page: the DOM after scripts ran (``chromium --dump-dom``) must contain
rendered math (MathJax's ``mjx-container`` elements) wherever the source had math, and
no raw TeX delimiters may be left in the visible text. Every image on every page must
exist and be a PNG or SVG file; every internal link must point to an existing page and
anchor. Screenshots of the landing, backprop and ridge pages are saved under
``<build>/screenshots/``. Exits non-zero, listing every failure.
"""

from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urldefrag

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
SCREENSHOTS = {"landing": "index.html", "backprop": "backprop.html", "ridge": "ridge.html"}


class Page(html.parser.HTMLParser):
    """Links, images, element ids, math containers and visible text of one HTML document."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids, self.text = [], [], set(), []
        self.math = 0
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "mjx-container":
            self.math += 1
        if tag in ("script", "style", "mjx-container", "code", "pre"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "mjx-container", "code", "pre") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)


def parse(markup: str) -> Page:
    page = Page()
    page.feed(markup)
    return page


def chromium(*arguments, profile):
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("chromium not found: install Debian's chromium package (apt-get install chromium)")
    command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def main(build: Path) -> int:
    failures = []
    pages = sorted(p for p in build.rglob("*.html") if "_modules" not in p.parts and "_sources" not in p.parts)
    with tempfile.TemporaryDirectory() as profile:
        for path in pages:
            source = parse(path.read_text())
            had_math = 'class="math' in path.read_text()
            rendered = chromium("--virtual-time-budget=15000", "--dump-dom", path.as_uri(), profile=profile)
            dom = parse(rendered.stdout)
            name = path.relative_to(build)
            if had_math and dom.math == 0:
                failures.append(f"{name}: math present in the source but no rendered mjx-container after MathJax ran")
            visible = " ".join(dom.text)
            raw = re.findall(r"\\\(|\\\[|\$\$", visible)
            if raw:
                failures.append(f"{name}: {len(raw)} raw TeX delimiters left in the rendered text")
            for src in source.images:
                target = (path.parent / unquote(src)).resolve()
                if not target.is_file():
                    failures.append(f"{name}: image {src} is missing")
                elif target.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n" and target.suffix != ".svg":
                    failures.append(f"{name}: image {src} is not a PNG or SVG file")
            for href in source.links:
                if re.match(r"^[a-z]+:", href) or href.startswith("//"):
                    continue  # external (none should be needed offline; not followed)
                url, anchor = urldefrag(href)
                target = path if not url else (path.parent / unquote(url)).resolve()
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_file():
                    failures.append(f"{name}: broken link {href}")
                elif anchor and target.suffix == ".html" and anchor not in parse(target.read_text()).ids:
                    failures.append(f"{name}: link {href} names a missing anchor")
        shots = build / "screenshots"
        shots.mkdir(exist_ok=True)
        for label, page in SCREENSHOTS.items():
            out = shots / f"{label}.png"
            chromium("--virtual-time-budget=15000", "--window-size=1280,1600", f"--screenshot={out}", (build / page).as_uri(), profile=profile)
            if not out.is_file() or out.stat().st_size < 10_000:
                failures.append(f"screenshot of {page} was not written")
    examples = [p for p in (build / "auto_examples").glob("*.html") if p.name not in ("index.html", "sg_execution_times.html")]
    print(f"checked {len(pages)} pages ({len(examples)} example pages) in headless Chromium; screenshots in {build / 'screenshots'}")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "_build" / "html").resolve()))
