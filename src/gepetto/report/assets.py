"""The report page's inline stylesheet and script (no network, no library)."""

CSS = r"""
:root {
  --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --bg: #f8fafc; --card: #ffffff;
  --seed: #475569; --reflection: #2563eb; --merge: #ea580c; --best: #ca8a04;
}
* { box-sizing: border-box; }
html { background: var(--bg); }
body {
  margin: 0; color: var(--ink); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", sans-serif;
}
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 24px; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 0 0 2px; }
h3 { font-size: 15px; margin: 0; }
.sub { color: var(--muted); margin: 2px 0 0; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; }
header.top { display: flex; align-items: flex-start; justify-content: space-between; gap: 16px; margin-bottom: 18px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
  border: 1px solid transparent; white-space: nowrap; }
.status-finished { background: #dcfce7; color: #166534; border-color: #bbf7d0; }
.status-stopped, .status-interrupted { background: #fef3c7; color: #92400e; border-color: #fde68a; }
.status-running { background: #dbeafe; color: #1e40af; border-color: #bfdbfe; }
.status-unknown { background: #f1f5f9; color: #334155; border-color: #e2e8f0; }
.status-box { text-align: right; white-space: nowrap; }
.status-box .reason { color: var(--muted); font-size: 13px; margin-top: 4px; }
.kpis { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin-bottom: 12px; }
.kpi, section.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  box-shadow: 0 1px 2px rgba(15, 23, 42, 0.04); }
.kpi { padding: 12px 14px; min-width: 0; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; font-weight: 600; }
.kpi .value { font-size: 26px; font-weight: 700; line-height: 1.2; margin: 2px 0; font-variant-numeric: tabular-nums; }
.kpi .value small { font-size: 15px; color: var(--muted); font-weight: 600; }
.kpi .detail { color: var(--muted); font-size: 12.5px; }
.up { color: #15803d; font-weight: 600; }
.down { color: #b91c1c; font-weight: 600; }
.meter { height: 8px; background: #e2e8f0; border-radius: 4px; overflow: hidden; margin: 6px 0 4px; display: flex; }
.meter > span { display: block; height: 100%; }
section.card { padding: 16px 18px 18px; margin-top: 16px; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 16px; flex-wrap: wrap; margin-bottom: 10px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 12.5px; color: #334155; align-items: center; }
.legend .sw { display: inline-block; width: 11px; height: 11px; border-radius: 3px; vertical-align: -1px; margin-right: 5px; }
.legend .sw.round { border-radius: 50%; }
.legend .sw.diamond { transform: rotate(45deg) scale(0.85); border-radius: 1px; }
.legend .sw.ring { background: transparent !important; border: 2.5px solid var(--best); border-radius: 50%; }
.legend .sw.line { height: 3px; width: 18px; border-radius: 2px; vertical-align: 3px; }
.legend .sw.dash { height: 0; width: 18px; border-top: 2px dashed var(--merge); border-radius: 0; vertical-align: 3px; }
.legend .sw.hatch { background: repeating-linear-gradient(45deg, #f8fafc 0 2px, #cbd5e1 2px 4px); }
.chart-wrap { overflow-x: auto; }
svg.chart { display: block; font-family: inherit; }
svg#lineage-chart { margin: 0 auto; }
svg#lineage-chart.fit { max-width: 100%; height: auto; }
svg#score-chart, svg#heatmap { max-width: 100%; height: auto; }
.grid { stroke: #eef2f7; stroke-width: 1; }
.axis { stroke: #94a3b8; stroke-width: 1; }
.tick { fill: #64748b; font-size: 12px; font-variant-numeric: tabular-nums; }
.axis-title { fill: #334155; font-size: 12.5px; font-weight: 600; }
.annot { fill: #64748b; font-size: 12px; }
.annot.strong, .pt-label.strong { font-weight: 700; fill: #334155; }
.budget { stroke: #64748b; stroke-width: 1.5; stroke-dasharray: 5 4; }
.best-line { fill: none; stroke: #16a34a; stroke-width: 2.5; stroke-linejoin: round; }
.best-label { fill: #15803d; font-weight: 700; font-size: 12.5px; }
.pt { stroke: #ffffff; stroke-width: 1.5; cursor: pointer; }
.best-ring { fill: none; stroke: var(--best); stroke-width: 3; }
.pt-label { fill: #475569; font-size: 12px; cursor: pointer; }
.lane-title { fill: #334155; font-size: 12px; font-weight: 600; }
.lane-base { stroke: #e2e8f0; }
.prop-mark { cursor: default; }
.edge { fill: none; stroke-width: 1.8; opacity: 0.55; }
.edge-merge { stroke-dasharray: 6 4; opacity: 0.8; }
.arrow { opacity: 0.7; }
.node { cursor: pointer; }
.node-box { stroke-width: 1.8; }
.node-best .node-box { stroke-width: 2.5; }
.best-halo { fill: none; stroke: var(--best); stroke-width: 3; }
.node-bar-bg { fill: rgba(15, 23, 42, 0.08); }
.node-idx { font-size: 13px; font-weight: 700; fill: #0f172a; }
.node-score { font-size: 13px; font-weight: 700; fill: #0f172a; font-variant-numeric: tabular-nums; }
.node-sub { font-size: 10.5px; fill: #475569; }
.front-star { font-size: 11px; fill: #0f172a; }
.row-label { fill: #0f172a; font-variant-numeric: tabular-nums; }
.hm-best .row-label { font-weight: 700; }
.row-mark { fill: #0f172a; font-weight: 600; }
.row-origin { fill: #64748b; }
.front-band { fill: #fef9c3; }
.front-outline { fill: none; stroke: #0f172a; stroke-width: 1.5; pointer-events: none; }
.hm-frame { fill: none; stroke: #e2e8f0; pointer-events: none; }
.cell { stroke: #ffffff; stroke-width: 0.6; }
.hm-row { cursor: pointer; }
.mean-bg { fill: #f1f5f9; }
.mean-val { fill: #0f172a; font-variant-numeric: tabular-nums; }
body.has-hl .pt:not(.hl), body.has-hl .node:not(.hl), body.has-hl .edge:not(.hl) { opacity: 0.3; }
body.has-hl .hm-row.hl .row-label { text-decoration: underline; }
.hl.pt { stroke: #0f172a; stroke-width: 2.5; }
.node.hl .node-box { stroke-width: 3; }
.edge.hl { opacity: 1; stroke-width: 2.6; }
.cell.hl { stroke: #0f172a; stroke-width: 1; }
.sel.pt { stroke: #0f172a; stroke-width: 3; }
.node.sel .node-box { stroke: #0f172a; stroke-width: 3; }
.outcomes { display: grid; grid-template-columns: 1fr 1fr; gap: 12px 24px; }
.outcome-list { list-style: none; margin: 6px 0 0; padding: 0; }
.outcome-list li { display: flex; justify-content: space-between; gap: 12px; padding: 3px 0; border-bottom: 1px dashed #eef2f7; }
.outcome-list li span.n { font-variant-numeric: tabular-nums; font-weight: 600; }
.outcome-list .sw { display: inline-block; width: 11px; height: 11px; border-radius: 3px; vertical-align: -1px; margin-right: 6px; }
.outcome-list .what { color: var(--muted); margin-left: 6px; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef2f7; vertical-align: top; }
th { color: #475569; font-weight: 600; font-size: 12px; background: #f8fafc; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.lower td { background: #fef2f2; }
.st { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.chips { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; margin: 6px 0 12px; }
.chip { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12.5px; font-weight: 600; cursor: pointer;
  border: 1.5px solid; background: #fff; }
.chips .arr { color: #94a3b8; }
.module { border: 1px solid var(--line); border-radius: 10px; margin-top: 10px; overflow: hidden; }
.module-head { display: flex; justify-content: space-between; align-items: center; gap: 8px; padding: 7px 12px;
  background: #f8fafc; border-bottom: 1px solid var(--line); }
.module-head .name { font-weight: 700; font-family: ui-monospace, "Liberation Mono", "DejaVu Sans Mono", monospace; }
.tag { font-size: 12px; padding: 1px 8px; border-radius: 999px; background: #e2e8f0; color: #334155; font-weight: 600; }
.tag.changed { background: #dcfce7; color: #166534; }
.text-body { margin: 0; padding: 10px 12px; white-space: pre-wrap; word-break: break-word; line-height: 1.6; font-size: 14px;
  font-family: inherit; }
pre.config { font-family: ui-monospace, "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; }
del.d-del { background: #fee2e2; color: #991b1b; text-decoration: line-through; text-decoration-color: rgba(153, 27, 27, 0.55); border-radius: 3px; }
del.d-del + ins.d-ins { margin-left: 3px; }
ins.d-ins { background: #dcfce7; color: #14532d; text-decoration: none; border-radius: 3px; }
details > summary { cursor: pointer; color: #334155; font-weight: 600; margin: 4px 0; }
details.final { padding: 0 12px 8px; }
details.final pre { margin: 4px 0 0; background: #f8fafc; border-radius: 6px; border: 1px solid var(--line); }
select { font: inherit; padding: 3px 6px; border-radius: 6px; border: 1px solid #cbd5e1; background: #fff; }
.usage { margin-top: 12px; }
#tip { position: fixed; display: none; z-index: 10; pointer-events: none; max-width: 380px; white-space: pre-line;
  background: #0f172a; color: #f8fafc; padding: 7px 10px; border-radius: 8px; font-size: 12.5px; line-height: 1.45;
  box-shadow: 0 6px 18px rgba(15, 23, 42, 0.25); }
footer { color: var(--muted); font-size: 12px; margin-top: 22px; text-align: center; }
.hint { color: var(--muted); font-size: 12.5px; }
"""

JS = r"""
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  var current = null;
  function place(e) {
    var r = tip.getBoundingClientRect();
    var x = e.clientX + 14, y = e.clientY + 16;
    if (x + r.width > window.innerWidth - 8) { x = Math.max(8, e.clientX - r.width - 14); }
    if (y + r.height > window.innerHeight - 8) { y = Math.max(8, e.clientY - r.height - 14); }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function marks(idx) {
    return document.querySelectorAll('[data-cand="' + idx + '"]');
  }
  function highlight(idx) {
    if (idx === current) { return; }
    if (current !== null) {
      marks(current).forEach(function (el) { el.classList.remove("hl"); });
    }
    current = idx;
    if (idx === null) { document.body.classList.remove("has-hl"); return; }
    marks(idx).forEach(function (el) { el.classList.add("hl"); });
    document.body.classList.add("has-hl");
  }
  var select = document.getElementById("cand-select");
  function choose(idx, scroll) {
    var panel = document.getElementById("cand-" + idx);
    if (!panel) { return; }
    document.querySelectorAll(".cand-panel").forEach(function (p) { p.hidden = true; });
    panel.hidden = false;
    if (select) { select.value = String(idx); }
    document.querySelectorAll(".sel").forEach(function (el) { el.classList.remove("sel"); });
    document.querySelectorAll('.chart [data-cand="' + idx + '"]').forEach(function (el) { el.classList.add("sel"); });
    if (scroll) { document.getElementById("texts").scrollIntoView({ behavior: "smooth", block: "start" }); }
  }
  document.addEventListener("mouseover", function (e) {
    var target = e.target instanceof Element ? e.target : null;
    var t = target ? target.closest("[data-tip]") : null;
    if (t) {
      tip.textContent = t.getAttribute("data-tip");
      tip.style.display = "block";
      place(e);
    } else {
      tip.style.display = "none";
    }
    var c = target ? target.closest("[data-cand]") : null;
    highlight(c ? c.getAttribute("data-cand") : null);
  });
  document.addEventListener("mousemove", function (e) {
    if (tip.style.display === "block") { place(e); }
  });
  document.addEventListener("click", function (e) {
    var target = e.target instanceof Element ? e.target : null;
    var c = target ? target.closest("[data-cand]") : null;
    if (!c) { return; }
    choose(c.getAttribute("data-cand"), !c.closest("#texts"));
  });
  if (select) {
    select.addEventListener("change", function () { choose(select.value, false); });
    choose(select.value, false);
  }
  document.documentElement.setAttribute("data-report-ready", "1");
})();
"""
