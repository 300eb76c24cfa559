"""The report page: one self-contained HTML file (inline CSS, SVG and script)."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

from gepetto.report import charts
from gepetto.report.assets import CSS, JS
from gepetto.report.charts import esc, fmt_score, origin_color, status_color
from gepetto.report.data import CandidateView, RunData
from gepetto.report.diff import diff_html, diff_stats
from gepetto.report.labels import StoredLabels, stored_labels

MAX_PANELS = 400  # candidates whose texts are embedded (beyond: best, seed and front only)


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


def _num(v: object) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:,.0f}" if v == int(v) and abs(v) >= 1 else f"{v:,.3f}".rstrip("0").rstrip(".") or "0"
    return esc(v)


# ------------------------------------------------------------------- header
def _status_badge(data: RunData) -> str:
    status = data.status if data.status in ("finished", "stopped", "interrupted", "running") else "unknown"
    label = "stopped (resumable)" if data.status == "stopped" else data.status
    return f'<span class="badge status-{status}">{esc(label)}</span>'


def _kpis(data: RunData) -> str:
    seed, best = data.seed, data.candidate(data.best) if data.best is not None else None
    cards = []
    # best score
    if best is not None and best.val_mean is not None:
        delta = ""
        if seed is not None and seed.val_mean is not None:
            d = best.val_mean - seed.val_mean
            cls = "up" if d > 1e-12 else ("down" if d < -1e-12 else "muted")
            delta = f'seed {fmt_score(seed.val_mean)} <span class="{cls}">{d:+.3f}</span>'
        cards.append(
            f'<div class="kpi"><div class="label">Best validation score</div>'
            f'<div class="value">{fmt_score(best.val_mean)} <small>#{best.idx}</small></div>'
            f'<div class="detail">{delta}</div></div>'
        )
    else:
        cards.append('<div class="kpi"><div class="label">Best validation score</div><div class="value">–</div>'
                     '<div class="detail">no candidate fully scored yet</div></div>')
    # rollouts
    budget = data.max_rollouts
    frac = min(data.rollouts_used / budget, 1.0) if budget else 1.0
    kinds = " · ".join(f"{esc(k)} {v:,}" for k, v in sorted(data.rollouts_by_kind.items(), key=lambda kv: -kv[1]))
    cards.append(
        f'<div class="kpi"><div class="label">Rollouts used</div>'
        f'<div class="value">{data.rollouts_used:,} <small>/ {f"{budget:,}" if budget else "?"}</small></div>'
        f'<div class="meter" title="{frac:.0%} of the budget"><span style="width:{frac * 100:.1f}%;background:#2563eb"></span></div>'
        f'<div class="detail">{kinds or "no rollout recorded"}</div></div>'
    )
    # candidates
    by_origin: dict[str, int] = {}
    for c in data.candidates:
        by_origin[c.origin] = by_origin.get(c.origin, 0) + 1
    origins = " · ".join(f"{n} {esc(o)}" for o, n in sorted(by_origin.items(), key=lambda kv: ("seed", "reflection", "merge").index(kv[0]) if kv[0] in ("seed", "reflection", "merge") else 9))
    front = ", ".join(f"#{i}" for i in data.front[:8]) + (" …" if len(data.front) > 8 else "")
    cards.append(
        f'<div class="kpi"><div class="label">Candidates</div><div class="value">{len(data.candidates)}</div>'
        f'<div class="detail">{origins}<br>Pareto front: {len(data.front)}{f" ({front})" if front else ""}</div></div>'
    )
    # proposals
    counts = data.proposal_counts()
    total = sum(counts.values())
    accepted = counts.get("accepted", 0)
    bar = "".join(
        f'<span style="width:{n / total * 100:.2f}%;background:{status_color(s)}" title="{esc(s)}: {n}"></span>'
        for s, n in _ordered_status(counts)
    ) if total else ""
    cards.append(
        f'<div class="kpi"><div class="label">Proposals</div>'
        f'<div class="value">{total} <small>{accepted} accepted</small></div>'
        f'<div class="meter">{bar}</div>'
        f'<div class="detail">{f"{accepted / total:.0%} accepted" if total else "none made"} · {_iterations(data)}</div></div>'
    )
    return '<div class="kpis">' + "".join(cards) + "</div>"


def _iterations(data: RunData) -> str:
    its = max([p.iteration for p in data.proposals] + [c.iteration for c in data.candidates] + [0])
    return f"{its} iteration{'s' if its != 1 else ''}"


def _ordered_status(counts: dict[str, int]) -> list[tuple[str, int]]:
    order = list(charts.STATUS_COLORS)
    return sorted(counts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))


def _outcomes(data: RunData) -> str:
    counts = data.proposal_counts()
    refusals = data.refusal_counts()
    if not counts:
        left = '<p class="empty">No proposals: the run holds only the seed candidate.</p>'
    else:
        items = "".join(
            f'<li><span><span class="sw" style="background:{status_color(s)}"></span><b>{esc(s)}</b>'
            + (f'<span class="what">{esc(charts.STATUS_LABELS[s])}</span>' if charts.STATUS_LABELS.get(s, s) != s else "")
            + f'</span><span class="n">{n}</span></li>'
            for s, n in _ordered_status(counts)
        )
        left = f'<h3>Proposals by outcome</h3><ul class="outcome-list">{items}</ul>'
    if refusals:
        items = "".join(
            f'<li><span class="mono">{esc(r)}</span><span class="n">{n}</span></li>'
            for r, n in sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        right = ('<h3>Refused replies by rule</h3><p class="hint" style="margin:2px 0 0">A refused reply is resampled; '
                 f'the proposal is refused when every sample was.</p><ul class="outcome-list">{items}</ul>')
    else:
        right = '<h3>Refused replies by rule</h3><p class="empty">No reply was refused.</p>'
    by_kind: dict[str, int] = {}
    for p in data.proposals:
        by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
    kinds = " · ".join(f"{n} {esc(k)}" for k, n in sorted(by_kind.items()))
    extra = f'<p class="hint">Proposal kinds: {kinds}.</p>' if kinds else ""
    return f'<div class="outcomes"><div>{left}{extra}</div><div>{right}</div></div>' + _usage(data)


def _usage(data: RunData) -> str:
    parts = []
    if data.test_scores:
        cells = " · ".join(f"{esc(k)} <b>{fmt_score(v)}</b>" for k, v in data.test_scores.items())
        parts.append(f'<p class="usage"><b>Held-out test set:</b> {cells}</p>')
    usage = {k: v for k, v in data.lm_usage.items() if isinstance(v, dict)}
    if usage:
        cols = [("calls", "calls"), ("cache_hits", "cache hits"), ("errors", "errors"), ("retries", "retries"),
                ("truncated", "truncated"), ("prompt_tokens", "prompt tokens"),
                ("completion_tokens", "completion tokens"), ("latency_s", "latency (s)"), ("cost_usd", "cost ($)")]
        keys = [(k, label) for k, label in cols if any(k in u for u in usage.values())]
        known = {k for k, _ in keys}
        keys += [(k, k) for k in sorted({k for u in usage.values() for k in u} - known)]
        head = "".join(f'<th class="num">{esc(label)}</th>' for _, label in keys)
        rows = "".join(
            f'<tr><td class="mono">{esc(role)}</td>' + "".join(f'<td class="num">{_num(u.get(k, ""))}</td>' for k, _ in keys) + "</tr>"
            for role, u in usage.items()
        )
        parts.append(f'<div class="usage"><h3>LM usage</h3><table><thead><tr><th>role</th>{head}</tr></thead>'
                     f'<tbody>{rows}</tbody></table></div>')
    return "".join(parts)


# ------------------------------------------------------------------- legends
def _origin_legend(shape: str = "round") -> str:
    return "".join(
        f'<span><span class="sw {shape}" style="background:{c}"></span>{esc(o)}</span>'
        for o, c in charts.ORIGIN_COLORS.items()
    )


def _score_legend(data: RunData) -> str:
    statuses = sorted({p.status for p in data.proposals}, key=lambda s: list(charts.STATUS_COLORS).index(s) if s in charts.STATUS_COLORS else 99)
    lane = "".join(f'<span><span class="sw" style="background:{status_color(s)}"></span>{esc(s)}</span>' for s in statuses)
    return (
        '<div class="legend">'
        f'<span><span class="sw diamond" style="background:{charts.ORIGIN_COLORS["seed"]}"></span>seed</span>'
        f'<span><span class="sw round" style="background:{charts.ORIGIN_COLORS["reflection"]}"></span>reflection</span>'
        f'<span><span class="sw round" style="background:{charts.ORIGIN_COLORS["merge"]}"></span>merge</span>'
        '<span><span class="sw ring"></span>best</span>'
        '<span><span class="sw line" style="background:#16a34a"></span>best so far</span>'
        + (f'<span class="muted">· proposals:</span>{lane}' if lane else "")
        + "</div>"
    )


# ------------------------------------------------------------------- texts
def _panel(data: RunData, c: CandidateView, selected: bool) -> str:
    seed = data.seed
    chain = data.lineage(c.idx)
    chips = []
    for k, i in enumerate(chain):
        ci = data.candidate(i)
        color = origin_color(ci.origin if ci else "reflection")
        if k:
            chips.append('<span class="arr">→</span>')
        label = f"#{i} · {fmt_score(ci.val_mean) if ci else '–'}"
        chips.append(f'<span class="chip" data-cand="{i}" style="border-color:{color};color:{color}">{esc(label)}</span>')
    merge_note = ""
    if c.origin == "merge" and len(c.parents) > 1:
        merge_note = (f'<p class="hint">Merge of {", ".join(f"#{p}" for p in c.parents)}'
                      f'{f" ({esc(c.note)})" if c.note else ""}; the chain above follows the first parent.</p>')
    modules = []
    names = list(c.texts)
    if seed is not None:
        names += [m for m in seed.texts if m not in c.texts]
    for m in names:
        new = c.texts.get(m, "")
        old = seed.texts.get(m, "") if seed is not None else new
        if c is seed or seed is None:
            tag, body = '<span class="tag">seed text</span>', esc(new)
        elif old == new:
            tag, body = '<span class="tag">unchanged from the seed</span>', esc(new)
        else:
            removed, added = diff_stats(old, new)
            tag = f'<span class="tag changed">changed: −{removed} / +{added} words</span>'
            body = diff_html(old, new)
        final = "" if c is seed or old == new else (
            f'<details class="final"><summary>final text only</summary><pre class="text-body">{esc(new)}</pre></details>'
        )
        modules.append(
            f'<div class="module"><div class="module-head"><span class="name">{esc(m)}</span>{tag}</div>'
            f'<pre class="text-body">{body}</pre>{final}</div>'
        )
    title = f"Candidate #{c.idx}" + (" — best" if c.idx == data.best else "") + (" — the seed" if c is seed else "")
    sub = f"{esc(c.origin)}, validation mean {fmt_score(c.val_mean)}" + ("" if c is seed else ", diff against the seed (#0)")
    hidden = "" if selected else " hidden"
    return (
        f'<div class="cand-panel" id="cand-{c.idx}"{hidden}><h3>{esc(title)}</h3><p class="sub">{sub}</p>'
        f'<div class="chips">{"".join(chips)}</div>{merge_note}{"".join(modules)}</div>'
    )


def _texts(data: RunData) -> str:
    if not data.candidates:
        return '<p class="empty">No candidates recorded yet.</p>'
    best = data.best if data.best is not None else data.candidates[0].idx
    shown = data.candidates
    if len(shown) > MAX_PANELS:
        keep = {best, data.candidates[0].idx, *data.front}
        shown = [c for c in data.candidates if c.idx in keep]
    options = "".join(
        f'<option value="{c.idx}"{" selected" if c.idx == best else ""}>#{c.idx} · {esc(c.origin)} · '
        f'{fmt_score(c.val_mean)}{" (best)" if c.idx == best else ""}</option>'
        for c in shown
    )
    panels = "".join(_panel(data, c, c.idx == best) for c in shown)
    return (
        '<div class="card-head"><div><h2>Candidate texts</h2>'
        '<p class="sub">The best candidate\'s texts, word by word against the seed: '
        '<del class="d-del">removed</del> <ins class="d-ins">added</ins>. Click any candidate in a chart to show it here.</p></div>'
        f'<label class="hint">candidate <select id="cand-select">{options}</select></label></div>{panels}'
    )


def _labels(labels: StoredLabels | None) -> str:
    """Per-label validation recall, seed vs best, from the stored replies (classifiers)."""
    if labels is None:
        return ""
    after, before = labels.best, labels.seed

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    rows = []
    for label, n in after.support.items():
        lower = after.recall_fell(before, label)
        change = f'<td class="num">{cell(before.recall(label))}</td>' if before is not None else ""
        mark = ' class="lower"' if lower else ""
        rows.append(
            f'<tr{mark}><td class="mono">{esc(label)}</td><td class="num">{n}</td>{change}'
            f'<td class="num">{cell(after.recall(label))}</td><td>{"lower than the seed" if lower else ""}</td></tr>'
        )
    seed_head = '<th class="num">seed</th>' if before is not None else ""
    balanced = cell(after.balanced_accuracy)
    if before is not None:
        balanced = f"{cell(before.balanced_accuracy)} → {balanced}"
    errors = "; ".join(f"{esc(g)} answered as {esc(a)} ×{k}" for g, a, k in after.top_confusions(5))
    return (
        '<section class="card" id="labels"><div class="card-head"><div><h2>Validation per label</h2>'
        '<p class="sub">Recall of each label on the validation set, from the replies the run stored (no model call). '
        f'Balanced accuracy (mean recall): {balanced}.'
        + (f" Commonest errors of #{labels.best_idx}: {errors}." if errors else "")
        + '</p></div></div><div class="chart-wrap"><table>'
        f'<thead><tr><th>label</th><th class="num">n</th>{seed_head}<th class="num">#{labels.best_idx}</th><th></th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div></section>'
    )


# ------------------------------------------------------------------- proposal log
def _proposal_log(data: RunData) -> str:
    if not data.proposals:
        return '<p class="empty">No proposals were made.</p>'
    rows = []
    for p in data.proposals:
        mb = ""
        if p.parent_score is not None or p.child_score is not None:
            mb = f"{_num(p.parent_score) if p.parent_score is not None else '–'} → {_num(p.child_score) if p.child_score is not None else '–'}"
        notes = []
        if p.reason:
            notes.append(esc(p.reason))
        if p.refusals:
            notes.append("refused replies: " + esc(", ".join(p.refusals)))
        child = f'<span class="chip" data-cand="{p.child_index}">#{p.child_index}</span>' if p.child_index is not None else ""
        rows.append(
            f'<tr><td class="num">{p.iteration}</td><td>{esc(p.kind)}</td><td>#{p.parent}</td>'
            f'<td class="mono">{esc(", ".join(p.modules))}</td>'
            f'<td><span class="st" style="background:{status_color(p.status)}">{esc(p.status)}</span></td>'
            f'<td class="num">{mb}</td><td>{child}</td><td class="num">{p.rollouts:,}</td><td>{"; ".join(notes)}</td></tr>'
        )
    is_open = " open" if len(rows) <= 25 else ""
    return (
        f'<details{is_open}><summary>{len(rows)} proposals, in order</summary><div class="chart-wrap"><table>'
        '<thead><tr><th class="num">iter.</th><th>kind</th><th>parent</th><th>modules</th><th>outcome</th>'
        '<th class="num">minibatch parent → child</th><th>child</th><th class="num">at rollout</th><th>notes</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div></details>'
    )


def _config(data: RunData) -> str:
    if not data.config:
        return ""
    body = esc(json.dumps(data.config, indent=2, sort_keys=True, ensure_ascii=False))
    return f'<details><summary>Run configuration</summary><pre class="text-body config">{body}</pre></details>'


# ------------------------------------------------------------------- page
def render_html(data: RunData, labels: StoredLabels | None = None) -> str:
    """The whole report page for ``data`` (a string of HTML); ``labels``: the per-label
    validation results of a classifier's run (:func:`gepetto.report.labels.stored_labels`)."""
    cfg = data.config
    names = {"selector": "selector", "frontier": "frontier", "minibatch_size": "minibatch", "module_selection": "modules",
             "use_merge": "merge", "seed": "seed"}
    highlights = []
    for k, label in names.items():
        if k in cfg:
            v = cfg[k]
            v = ("on" if v else "off") if isinstance(v, bool) else v
            highlights.append(f"{label} {esc(v)}")
    started = _when(data.created)
    elapsed = ""
    if data.created is not None and data.last_update is not None and data.last_update >= data.created:
        elapsed = f" · ran {_duration(data.last_update - data.created)}"
    resume = (f'<br>continue it with <code>gepetto resume {esc(data.run_dir)}</code>'
              if data.status in ("stopped", "interrupted") else "")
    stop = f"stop reason: <b>{esc(data.stop_reason)}</b>{resume}" if data.stop_reason else (
        "still running" if data.status == "running" else "no stop reason recorded"
    )
    n_val = len(data.columns)
    title = f"gepetto report · {data.run_dir.resolve().name}"
    front_note = (f"{len(data.front)} candidate(s) on the Pareto front (◆): best on at least one instance and not "
                  "dominated; computed over candidates scored on every instance.") if data.front else ""
    body = f"""
<main>
<header class="top">
  <div>
    <h1>GEPA run report</h1>
    <p class="sub mono">{esc(data.run_dir)}</p>
    <p class="sub">started {esc(started)}{esc(elapsed)} · {n_val} validation instance{"s" if n_val != 1 else ""}{" · " + " · ".join(highlights) if highlights else ""}</p>
  </div>
  <div class="status-box">{_status_badge(data)}<div class="reason">{stop}</div></div>
</header>
{_kpis(data)}
<section class="card" id="summary">{_outcomes(data)}</section>
<section class="card" id="progress">
  <div class="card-head"><div><h2>Validation score over the run</h2>
  <p class="sub">Each candidate at the rollout count when it was created; the green line is the best validation mean so far.</p></div>
  {_score_legend(data)}</div>
  <div class="chart-wrap">{charts.score_chart(data)}</div>
</section>
<section class="card" id="lineage">
  <div class="card-head"><div><h2>Lineage</h2>
  <p class="sub">Parent → child, one step per generation; each node shows its validation mean and which module changed. Merges have two parents (dashed).</p></div>
  <div class="legend">{_origin_legend()}<span><span class="sw ring"></span>best</span><span>◆ Pareto front</span></div></div>
  <div class="chart-wrap">{charts.lineage_chart(data)}</div>
</section>
<section class="card" id="matrix">
  <div class="card-head"><div><h2>Per-instance validation scores</h2>
  <p class="sub">Rows are candidates, columns validation instances. {front_note}</p></div>
  <div class="legend">{charts.heatmap_legend(data)}<span><span class="sw hatch"></span>not scored</span>
  <span><span class="sw" style="background:#fef9c3;border:1.5px solid #0f172a"></span>Pareto front</span></div></div>
  <div class="chart-wrap">{charts.heatmap(data)}</div>
</section>
{_labels(labels)}
<section class="card" id="texts">{_texts(data)}</section>
<section class="card" id="log"><h2>Proposal log</h2>{_proposal_log(data)}{_config(data)}</section>
<footer>Generated by <code>gepetto report</code> on {esc(_when(_dt.datetime.now().timestamp()))} · one self-contained file, no network needed.</footer>
</main>
<div id="tip" role="tooltip"></div>
"""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}<script>{JS}</script></body></html>\n"
    )


def write_report(run_dir: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the HTML report of the run in ``run_dir``; returns its path
    (default ``RUN_DIR/report.html``)."""
    from gepetto.report.data import load_run

    data = load_run(run_dir)
    labels = None
    if data.seed is not None and data.best is not None and (best := data.candidate(data.best)) is not None:
        labels = stored_labels(run_dir, data.seed, best)
    out = Path(out_path) if out_path is not None else Path(run_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data, labels), encoding="utf-8")
    return out
