"""Check the built documentation site in a real browser (headless Chromium).

    python docs/check_site.py [docs/_build/html] [--phone]
    python docs/check_site.py --self-test     # plants each defect in a small page; all must be found

Every page is opened in Chromium with a small probe script added (in a temporary copy
next to the page, so relative links still resolve), and its DOM after scripts ran
(``chromium --dump-dom``) is checked:

- rendered math (MathJax's ``mjx-container`` elements) wherever the source had math,
  and no raw TeX delimiters left in the visible text;
- no request to another host: every resource the page loaded, or tried to load
  (the browser's Resource Timing entries), is a local file, and no ``src``/``href`` of
  a script, stylesheet, image, frame or font points off the site (host names do not
  even resolve during the check);
- no horizontally clipped code block: a ``pre`` wider than its box must scroll
  (``overflow-x: auto``/``scroll``) or wrap, and must not run past the page's or an
  ancestor's clipping edge, at a 1280-pixel-wide window (and with ``--phone`` also at
  a 412-pixel phone width);
- on a teaching page, no displayed equation wider than the text column at the
  desktop width (it would scroll or be cut off);
- every image exists and is a PNG or SVG file; every internal link points to an
  existing page and anchor; every page's title and footer name the project, and its
  favicon exists;
- every teaching page (the runnable learning path under ``learn/`` and the pages in
  ``TEACHING``) shows at least one figure that loaded.

Screenshots of the landing page and of every teaching page (full height) are written
to ``<build>/screenshots/``. Exits non-zero, listing every failure.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urldefrag

PROJECT = "lagrangian"
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
    # No host name resolves while checking: a page that needs another host shows it.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
WIDTHS = (1280,)  # desktop; --phone adds 412 pixels (Furo's narrow layout), doubling the time
# Teaching pages besides the runnable learning path (learn/*.html): each needs a figure.
TEACHING = ("getting_started.html", "kkt_from_scripts.html", "inequalities.html", "network.html", "cycles.html", "cvxpy.html")
PROBE_ID = "site-check-probe"

# Runs in the page after it loaded and MathJax had time to typeset; writes what it
# measured as JSON into a <pre id=PROBE_ID> that --dump-dom returns.
PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const local = (u) => /^(file|data|blob|about):/.test(u);
  const requests = performance.getEntriesByType("resource").map((e) => e.name).filter((u) => !local(u));
  const clipped = [];
  const width = document.documentElement.clientWidth;
  for (const pre of document.querySelectorAll("pre")) {
    if (pre.id === "PROBE_ID") continue;
    const style = getComputedStyle(pre);
    const box = pre.getBoundingClientRect();
    if (box.width === 0) continue;  // not displayed (a closed details element, say)
    const scrolls = ["auto", "scroll"].includes(style.overflowX);
    const wraps = /^(pre-wrap|break-spaces|normal)$/.test(style.whiteSpace);
    let why = null;
    if (pre.scrollWidth > pre.clientWidth + 1 && !scrolls && !wraps) why = "wider than its box and does not scroll";
    else if (box.right > width + 1) why = "runs past the right edge of the page";
    else {
      for (let up = pre.parentElement; up && up !== document.body; up = up.parentElement) {
        const o = getComputedStyle(up).overflowX;
        if ((o === "hidden" || o === "clip") && box.right > up.getBoundingClientRect().right + 1) { why = "cut off by an enclosing box"; break; }
      }
    }
    if (why) clipped.push(why + ": " + pre.textContent.split("\\n")[0].slice(0, 60));
  }
  // Displayed equations wider than the text column (they scroll or are cut off).
  const wide = [];
  for (const eq of document.querySelectorAll("mjx-container[display=true]")) {
    const svg = eq.querySelector("svg");
    const column = eq.closest("article, [role=main], main") || document.body;
    if (svg && svg.getBoundingClientRect().width > column.getBoundingClientRect().width + 1) {
      wide.push((eq.getAttribute("aria-label") || eq.textContent || "").slice(0, 60));
    }
  }
  const figures = [...document.querySelectorAll("article img, main img, div[role=main] img")]
    .filter((img) => img.complete && img.naturalWidth > 50 && img.naturalHeight > 50).length;
  const out = document.createElement("pre");
  out.id = "PROBE_ID";
  out.textContent = JSON.stringify({requests, clipped, wide, figures, title: document.title,
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
}, 4000));
</script>
""".replace("PROBE_ID", PROBE_ID)

OFF_SITE = re.compile(r"""<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href)=["']((?:https?:)?//[^"']+)""", re.I)


class Page(html.parser.HTMLParser):
    """Links, images, element ids, math containers, visible text and the probe's report."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids, self.text = [], [], set(), []
        self.math = 0
        self.probe = None
        self._hidden = 0
        self._in_probe = False

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
        if tag == "pre" and attrs.get("id") == PROBE_ID:
            self._in_probe, self.probe = True, ""
        if tag in ("script", "style", "mjx-container", "code", "pre"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_probe = False
        if tag in ("script", "style", "mjx-container", "code", "pre") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if self._in_probe:
            self.probe += data
        elif not self._hidden:
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


def probe(path: Path, width: int, profile) -> tuple[Page, dict]:
    """Open ``path`` at ``width`` pixels with the probe added; the DOM after scripts ran and the probe's report."""
    markup = path.read_text()
    copy = path.with_name(f".site-check-{width}-{os.getpid()}-{threading.get_ident()}-{path.name}")
    copy.write_text(markup.replace("</body>", PROBE + "</body>", 1) if "</body>" in markup else markup + PROBE)
    try:
        rendered = chromium("--virtual-time-budget=15000", f"--window-size={width},1000", "--dump-dom", copy.as_uri(), profile=profile)
    finally:
        copy.unlink(missing_ok=True)
    dom = parse(rendered.stdout)
    return dom, json.loads(dom.probe) if dom.probe else {}


def is_teaching(name: Path) -> bool:
    return (name.parts[0] == "learn" and name.name != "index.html") or str(name) in TEACHING


def check_page(build: Path, path: Path, shots: Path) -> list[str]:
    """Every check of one page (in its own browser profile, so pages can be checked in parallel)."""
    failures = []
    name = path.relative_to(build)
    markup = path.read_text()
    source = parse(markup)
    with tempfile.TemporaryDirectory() as profile:
        reports = {}
        for width in WIDTHS:
            dom, reports[width] = probe(path, width, profile)
            if not reports[width]:
                failures.append(f"{name}: the probe did not report at width {width} (page failed to load?)")
                continue
            for request in reports[width]["requests"]:
                failures.append(f"{name}: requested {request} from another host")
            for clipped in reports[width]["clipped"]:
                failures.append(f"{name}: code block clipped at width {width}: {clipped}")
            if width == WIDTHS[0] and is_teaching(name):  # on a phone, long equations scroll; on a desktop they need not
                for wide in reports[width]["wide"]:
                    failures.append(f"{name}: displayed equation wider than the text column: {wide!r}")
            if width == WIDTHS[0]:
                desktop = dom
        report = reports[WIDTHS[0]]
        if 'class="math' in markup and desktop.math == 0:
            failures.append(f"{name}: math present in the source but no rendered mjx-container after MathJax ran")
        raw = re.findall(r"\\\(|\\\[|\$\$", " ".join(desktop.text))
        if raw:
            failures.append(f"{name}: {len(raw)} raw TeX delimiters left in the rendered text")
        if report and PROJECT not in report["title"]:
            failures.append(f"{name}: the title {report['title']!r} does not name {PROJECT}")
        if is_teaching(name):
            if report and report["figures"] == 0:
                failures.append(f"{name}: a teaching page without a figure")
            out = shots / (str(name.with_suffix("")).replace("/", "_") + ".png")
            height = min(max(int(report.get("height", 1600)), 800), 16000) if report else 1600
            chromium("--virtual-time-budget=15000", f"--window-size=1280,{height}", f"--screenshot={out}", path.as_uri(), profile=profile)
            if not out.is_file() or out.stat().st_size < 10_000:
                failures.append(f"screenshot of {name} was not written")
    footer = re.search(r'<div class="copyright">(.*?)</div>', markup, re.S)
    if footer is None or PROJECT not in footer.group(1):
        failures.append(f"{name}: the footer does not name {PROJECT}")
    icon = re.search(r'<link rel="(?:shortcut )?icon" href="([^"]+)"', markup)
    if icon is None or not (path.parent / unquote(icon.group(1))).is_file():
        failures.append(f"{name}: no favicon, or its file is missing")
    for _tag, _attr, url in OFF_SITE.findall(markup):
        failures.append(f"{name}: loads {url} from another host")
    for src in source.images:
        target = (path.parent / unquote(src)).resolve()
        if not target.is_file():
            failures.append(f"{name}: image {src} is missing")
        elif target.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n" and target.suffix != ".svg":
            failures.append(f"{name}: image {src} is not a PNG or SVG file")
    for href in source.links:
        if re.match(r"^[a-z]+:", href) or href.startswith("//"):
            continue  # a link to another site: followed only if a reader clicks it
        url, anchor = urldefrag(href)
        target = path if not url else (path.parent / unquote(url)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            failures.append(f"{name}: broken link {href}")
        elif anchor and target.suffix == ".html" and anchor not in parse(target.read_text()).ids:
            failures.append(f"{name}: link {href} names a missing anchor")
    return failures


def main(build: Path) -> int:
    pages = sorted(p for p in build.rglob("*.html") if "_modules" not in p.parts and "_sources" not in p.parts and not p.name.startswith(".site-check-"))
    shots = build / "screenshots"
    shots.mkdir(exist_ok=True)
    # Each page is a few Chromium runs of about two seconds, mostly waiting: four at a time.
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for found in pool.map(lambda p: check_page(build, p, shots), pages) for f in found]
    with tempfile.TemporaryDirectory() as profile:
        landing = shots / "landing.png"
        chromium("--virtual-time-budget=15000", "--window-size=1280,1600", f"--screenshot={landing}", (build / "index.html").as_uri(), profile=profile)
    if not landing.is_file() or landing.stat().st_size < 10_000:
        failures.append("screenshot of index.html was not written")
    failures.extend(f"teaching page {t} was not built" for t in TEACHING if not (build / t).is_file())
    teaching = sum(is_teaching(p.relative_to(build)) for p in pages)
    print(f"checked {len(pages)} pages at widths {WIDTHS} in headless Chromium, {teaching} of them teaching pages; screenshots in {shots}")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


def self_test() -> int:
    """Run the checks on a small site built to fail each of them; every failure must be found."""
    broken = """<html><head><title>{title}</title><script src="https://cdn.example.com/table.js"></script></head>
<body><div role="main">
<pre style="width:200px; overflow:hidden">{long}</pre>
<div style="width:300px; overflow:hidden"><pre style="width:900px; overflow-x:auto">{long}</pre></div>
<mjx-container display="true"><svg width="3000" height="10"></svg></mjx-container>
<img src="data:image/svg+xml;base64,PHN2Zy8+" width="10">
</div></body></html>"""
    with tempfile.TemporaryDirectory() as site:
        build = Path(site)
        (build / "learn").mkdir()
        (build / "learn" / "lesson.html").write_text(broken.format(title="lesson", long="x = 1  # " + "y" * 200))
        (build / "index.html").write_text(f"<html><head><title>{PROJECT}</title></head><body>home</body></html>")
        found = check_page(build, build / "learn" / "lesson.html", build)
    expected = [
        "requested https://cdn.example.com/table.js from another host",
        "loads https://cdn.example.com/table.js from another host",
        "code block clipped at width 1280: wider than its box and does not scroll",
        "code block clipped at width 1280: cut off by an enclosing box",
        "displayed equation wider than the text column",
        "does not name lagrangian",
        "the footer does not name lagrangian",
        "no favicon",
        "a teaching page without a figure",
    ]
    missed = [e for e in expected if not any(e in f for f in found)]
    for e in missed:
        print("FAIL the check did not find:", e)
    print(f"self-test: {len(expected) - len(missed)} of {len(expected)} planted defects found")
    return 1 if missed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    arguments = [a for a in sys.argv[1:] if a != "--phone"]
    if "--phone" in sys.argv[1:]:
        WIDTHS = (1280, 412)
    sys.exit(main(Path(arguments[0] if arguments else Path(__file__).parent / "_build" / "html").resolve()))
