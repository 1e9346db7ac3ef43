"""Open the fixture report in headless Chromium: it must paint, and every figure must lay out.

Skipped when /usr/bin/chromium is not installed. Two runs:
1. ``--screenshot``: the PNG must not be blank (pixel variance > 0, and a fair share of
   non-white pixels, i.e. text and figures were painted).
2. ``--dump-dom`` on a *copy* of the report with a small script appended (the report itself
   carries no script): the script measures every <img> and <svg> and writes the sizes into
   the DOM, which Chromium prints. Every figure must have a positive rendered width and height,
   and every figure element must also carry positive width/height attributes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from srflow.report import build_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium (/usr/bin/chromium) is not installed"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]

MEASURE = """
<script>
(function () {
  var out = [];
  document.querySelectorAll("figure img, figure svg.chart").forEach(function (el) {
    var r = el.getBoundingClientRect();
    out.push({tag: el.tagName.toLowerCase(), width: r.width, height: r.height,
              attr_w: el.getAttribute("width"), attr_h: el.getAttribute("height"),
              complete: el.tagName.toLowerCase() === "img" ? el.complete && el.naturalWidth > 0 : true});
  });
  var pre = document.createElement("pre");
  pre.id = "layout-report";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _run(args: list[str], tmp_path: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def report_html() -> str:
    from test_report import make_inputs  # the hand-made fixture of tests/test_report.py

    return build_report(make_inputs())


def test_report_paints_in_chromium(report_html, tmp_path):
    import matplotlib.image as mpimg

    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    result = _run([f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()], tmp_path)
    assert shot.is_file(), result.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    assert float(pixels.var()) > 0.0
    non_white = float((pixels.min(axis=2) < 0.9).mean())
    assert non_white > 0.02  # text, tables and figures cover a visible share of the page


def test_every_figure_has_a_size(report_html, tmp_path):
    n_figures = report_html.count("<figure")
    assert n_figures >= 10
    page = tmp_path / "measure.html"
    page.write_text(report_html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    result = _run(
        ["--dump-dom", "--virtual-time-budget=5000", "--window-size=1200,2000", page.as_uri()],
        tmp_path,
    )
    match = re.search(r'<pre id="layout-report">(.*?)</pre>', result.stdout, flags=re.S)
    assert match, result.stderr[-2000:]
    sizes = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(sizes) == n_figures  # one chart per figure
    for element in sizes:
        assert element["width"] > 50 and element["height"] > 50, element
        assert element["complete"], element
        attr_w = float(re.match(r"[\d.]+", element["attr_w"]).group())
        attr_h = float(re.match(r"[\d.]+", element["attr_h"]).group())
        assert attr_w > 0 and attr_h > 0, element
        # the aspect ratio survives responsive scaling (within 2 %)
        assert (
            abs(element["width"] / element["height"] - attr_w / attr_h) < 0.02 * attr_w / attr_h
        ), element
    assert {e["tag"] for e in sizes} == {"svg", "img"}
