"""The report in a real headless Chromium: no console error, charts drawn, JS works.

Skipped when no Chromium is installed, unless GEPETTO_REQUIRE_BROWSER=1 (then failed).
Set GEPETTO_REPORT_SCREENSHOT_DIR to keep the screenshots (default: pytest's tmp dir).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gepetto.report import load_run
from tests.report.browser import dump_dom, inject, png_size, require_chromium, screenshot
from tests.report.dom import Dom


@pytest.fixture(scope="module")
def browser() -> str:
    return require_chromium()


PROBE = """<script>
(function () {
  function size(el) { var b = el.getBoundingClientRect(); return [Math.round(b.width), Math.round(b.height)]; }
  function drawn(sel) {
    var n = 0;
    document.querySelectorAll(sel).forEach(function (el) {
      var b = el.getBoundingClientRect(); if (b.width > 0 && b.height > 0) { n++; }
    });
    return n;
  }
  function stroked(sel) {  // lines: a straight edge has a zero-width box, not a zero length
    var n = 0;
    document.querySelectorAll(sel).forEach(function (el) { if (el.getTotalLength() > 10) { n++; } });
    return n;
  }
  var r = {};
  ["score-chart", "lineage-chart", "heatmap"].forEach(function (id) {
    var el = document.getElementById(id); r[id] = el ? size(el) : null;
  });
  r.points = drawn("#score-chart .pt");
  r.bestLine = size(document.getElementById("best-line"));
  r.propMarks = drawn("#score-chart .prop-mark");
  r.nodes = drawn("#lineage-chart .node");
  r.edges = stroked("#lineage-chart .edge");
  r.cells = drawn("#heatmap .cell");
  r.ready = document.documentElement.getAttribute("data-report-ready");
  r.titleWidth = size(document.querySelector("h1"))[0];
  var node = document.querySelector('#lineage-chart .node[data-cand="0"]');
  var b = node.getBoundingClientRect();
  node.dispatchEvent(new MouseEvent("mouseover", { bubbles: true, clientX: b.left + 5, clientY: b.top + 5 }));
  var tip = document.getElementById("tip");
  r.tipDisplay = getComputedStyle(tip).display;
  r.tipText = tip.textContent;
  r.highlighted = document.querySelectorAll('.hl[data-cand="0"]').length;
  document.querySelector('#heatmap .hm-row[data-cand="0"]').dispatchEvent(new MouseEvent("click", { bubbles: true }));
  r.visiblePanels = Array.prototype.filter.call(document.querySelectorAll(".cand-panel"), function (p) {
    return !p.hidden && p.getBoundingClientRect().height > 0;
  }).map(function (p) { return p.id; });
  r.selected = document.getElementById("cand-select").value;
  var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
})();
</script>"""


def test_console_error_detection_catches_injected_errors(browser, made_runs, tmp_path) -> None:
    """The check below is only worth something if it sees errors: plant two and find them."""
    page = tmp_path / "broken.html"
    page.write_text(inject(
        made_runs["flaky"].report.read_text(),
        '<script>console.error("gepetto-planted-console-error");</script>'
        '<script>throw new Error("gepetto-planted-throw");</script>',
    ))
    run = dump_dom(browser, page)
    joined = "\n".join(run.console)
    assert "gepetto-planted-console-error" in joined, run.stderr[-3000:]
    assert "Uncaught Error: gepetto-planted-throw" in joined, run.stderr[-3000:]


@pytest.mark.parametrize("name", ["rich", "merge", "seed_only", "nasty"])
def test_report_loads_without_console_errors(browser, made_runs, name) -> None:
    made = made_runs[name]
    run = dump_dom(browser, made.report)
    assert run.console == [], run.console
    data = load_run(made.run_dir)
    dom = Dom(run.stdout)
    assert dom.one("html").attrs.get("data-report-ready") == "1"  # the page's script ran to its end
    n = len(data.candidates)
    assert len(dom.find(cls="pt", within="score-chart")) == n
    assert dom.find("path", id="best-line")
    assert len(dom.find(cls="node", within="lineage-chart")) == n
    assert len(dom.find(cls="cell", within="heatmap")) == n * len(data.columns)
    # the script marked the shown candidate in the charts
    assert dom.find(cls="sel", within="lineage-chart", data_cand=str(data.best))


def test_markup_in_instructions_never_runs(browser, made_runs, tmp_path) -> None:
    html = made_runs["nasty"].report.read_text()
    spy = "<script>window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); };</script>"
    report = '<script>document.body.setAttribute("data-alerts", JSON.stringify(window.__alerts));</script>'
    page = tmp_path / "nasty-spied.html"
    page.write_text(inject(html.replace("<head>", "<head>" + spy, 1), report))
    run = dump_dom(browser, page)
    assert run.console == [], run.console
    assert Dom(run.stdout).one("body").attrs.get("data-alerts") == "[]"


def test_charts_are_drawn_and_interactive(browser, made_runs, tmp_path) -> None:
    made = made_runs["rich"]
    data = load_run(made.run_dir)
    page = tmp_path / "probed.html"
    page.write_text(inject(made.report.read_text(), PROBE))
    run = dump_dom(browser, page)
    assert run.console == [], run.console
    probe = json.loads(Dom(run.stdout).text_of(id="probe"))
    n = len(data.candidates)
    for chart in ("score-chart", "lineage-chart", "heatmap"):
        w, h = probe[chart]
        assert w > 300 and h > 150, (chart, probe[chart])
    assert probe["bestLine"][0] > 100
    assert probe["points"] == n and probe["nodes"] == n
    assert probe["edges"] == sum(len(c.parents) for c in data.candidates)
    assert probe["cells"] == n * len(data.columns)
    assert probe["propMarks"] == len(data.proposals)
    assert probe["ready"] == "1" and probe["titleWidth"] > 100  # fonts render
    # hovering the seed shows its tooltip and highlights it in every chart
    assert probe["tipDisplay"] == "block" and probe["tipText"].startswith("candidate #0 (seed)")
    assert probe["highlighted"] >= 4
    # clicking its heat-map row shows its texts
    assert probe["visiblePanels"] == ["cand-0"] and probe["selected"] == "0"


def test_screenshot(browser, made_runs, tmp_path) -> None:
    out_dir = Path(os.environ.get("GEPETTO_REPORT_SCREENSHOT_DIR") or tmp_path)
    png = out_dir / "report-rich.png"
    run = screenshot(browser, made_runs["rich"].report, png, 1400, 2000)
    assert run.console == [], run.console
    assert png_size(png) == (1400, 2000)
    assert png.stat().st_size > 60_000  # a blank or failed page compresses to a few KB
