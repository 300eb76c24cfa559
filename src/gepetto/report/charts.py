"""Hand-written inline SVG charts: score over rollouts, lineage tree, score heat map.

Every chart is drawn here, in Python, as static SVG (it shows without JavaScript); the
page's small script only adds tooltips (``data-tip``), cross-highlighting of one
candidate in every chart (``data-cand``) and candidate selection. All text goes
through :func:`html.escape`.
"""

from __future__ import annotations

import math
from html import escape
from typing import Iterable

import numpy as np

from gepetto.report.data import CandidateView, RunData

ORIGIN_COLORS = {"seed": "#475569", "reflection": "#2563eb", "merge": "#ea580c"}
ORIGIN_FILLS = {"seed": "#e2e8f0", "reflection": "#dbeafe", "merge": "#ffedd5"}
OTHER_COLOR, OTHER_FILL = "#7c3aed", "#ede9fe"

STATUS_COLORS = {
    "accepted": "#16a34a",
    "rejected-gate": "#94a3b8",
    "rejected-screen": "#cbd5e1",
    "refused": "#dc2626",
    "skipped-perfect": "#a78bfa",
    "duplicate": "#f59e0b",
    "skipped-budget": "#e2e8f0",
}
STATUS_LABELS = {
    "accepted": "accepted",
    "rejected-gate": "rejected by the minibatch gate",
    "rejected-screen": "merge rejected on its subsample",
    "refused": "refused (reply broke a rule)",
    "skipped-perfect": "skipped: parent perfect on minibatch",
    "duplicate": "duplicate of a pool candidate",
    "skipped-budget": "skipped: budget left too small",
}
BEST_COLOR = "#ca8a04"
FRONT_COLOR = "#0f172a"
WIDTH = 1120


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def origin_color(origin: str) -> str:
    return ORIGIN_COLORS.get(origin, OTHER_COLOR)


def origin_fill(origin: str) -> str:
    return ORIGIN_FILLS.get(origin, OTHER_FILL)


def status_color(status: str) -> str:
    return STATUS_COLORS.get(status, "#64748b")


def fmt_score(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.3f}"


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(target - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-6:
        ticks.append(round(v, 10))
        v += step
    return ticks


def fmt_tick(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v)):,}"
    return f"{v:g}"


def candidate_tip(c: CandidateView, data: RunData) -> str:
    lines = [f"candidate #{c.idx} ({c.origin})", f"validation mean: {fmt_score(c.val_mean)}"]
    if c.parents:
        lines.append("parents: " + ", ".join(f"#{p}" for p in c.parents))
    if c.changed_modules:
        lines.append("changed: " + ", ".join(c.changed_modules))
    if c.note:
        lines.append(c.note)
    when = f"created at rollout {c.rollouts:,} (iteration {c.iteration})"
    if c.scored_at is not None and c.scored_at != c.rollouts:
        when += f", validated by {c.scored_at:,}"
    lines.append(when)
    if c.idx == data.best:
        lines.append("★ best candidate")
    if c.idx in data.front_wins:
        lines.append(f"on the Pareto front (best on {data.front_wins[c.idx]} instance(s))")
    return "\n".join(lines)


class _Labels:
    """Greedy label placement: a label is drawn only where it overlaps nothing."""

    def __init__(self, blocked: Iterable[tuple[float, float, float, float]] = ()) -> None:
        self.boxes = list(blocked)

    def place(self, options: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float] | None:
        for box in options:
            if not any(_overlap(box, b) for b in self.boxes):
                self.boxes.append(box)
                return box
        return None


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _text_width(text: str, size: float) -> float:
    return len(text) * size * 0.6


# ------------------------------------------------------------------ score chart
def score_chart(data: RunData) -> str:
    """Validation mean against rollouts: best-so-far step line, one point per
    candidate (at its creation), the budget, and a lane of proposals by outcome."""
    W, left, right, top = WIDTH, 64, 28, 28
    plot_bottom = 318
    H = plot_bottom + 96
    scored = [c for c in data.candidates if c.val_mean is not None]
    used = max(data.rollouts_used, 1)
    budget = data.max_rollouts or used
    x_hi = max(budget, used, max((c.rollouts for c in data.candidates), default=0), 1)
    values = [c.val_mean for c in scored] + [v for _, v, _ in data.progress]
    lo = min([0.0] + values) if values else 0.0
    hi = max([1.0] + values) if values else 1.0
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    pad = 12

    xpad = 14  # keeps the seed (at rollout 0) off the y axis and its tick labels

    def sx(v: float) -> float:
        return left + xpad + (W - left - right - xpad) * (v / x_hi)

    def sy(v: float) -> float:
        return plot_bottom - pad - (plot_bottom - top - 2 * pad) * ((v - lo) / (hi - lo) if hi > lo else 0.5)

    out = [
        f'<svg id="score-chart" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="validation score against rollouts" xmlns="http://www.w3.org/2000/svg">'
    ]
    # unused budget
    if budget > used:
        out.append(
            f'<rect class="unused" x="{sx(used):.1f}" y="{top}" width="{sx(budget) - sx(used):.1f}" '
            f'height="{plot_bottom - top}" fill="#f1f5f9"/>'
        )
        note = "budget not used" + (f" (stopped: {data.stop_reason})" if data.stop_reason else "")
        if sx(budget) - sx(used) > _text_width(note, 12) + 16:
            out.append(
                f'<text class="annot" x="{(sx(used) + sx(budget)) / 2:.1f}" y="{top + 20}" text-anchor="middle">{esc(note)}</text>'
            )
    # grid and axes
    for t in nice_ticks(lo, hi, 6):
        y = sy(t)
        out.append(f'<line class="grid" x1="{left}" x2="{W - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(fmt_tick(t))}</text>')
    for t in nice_ticks(0, x_hi, 9):
        x = sx(t)
        out.append(f'<line class="grid gridx" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}"/>')
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{plot_bottom}" y2="{plot_bottom + 5}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{plot_bottom + 19}" text-anchor="middle">{esc(fmt_tick(t))}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{W - right}" y1="{plot_bottom}" y2="{plot_bottom}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{plot_bottom}"/>')
    out.append(
        f'<text class="axis-title" x="{(left + W - right) / 2:.1f}" y="{plot_bottom + 40}" text-anchor="middle">'
        "rollouts used (metric calls, training minibatches + validation)</text>"
    )
    out.append(
        f'<text class="axis-title" transform="translate(18 {(top + plot_bottom) / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">validation mean score</text>'
    )
    if data.max_rollouts:
        bx = sx(budget)
        out.append(f'<line class="budget" x1="{bx:.1f}" x2="{bx:.1f}" y1="{top - 6}" y2="{plot_bottom}"/>')
        out.append(
            f'<text class="annot strong" x="{bx - 4:.1f}" y="{top - 10}" text-anchor="end">budget {budget:,}</text>'
        )

    # best-so-far line
    blocked: list[tuple[float, float, float, float]] = []
    steps = [(r, v) for r, v, _ in data.progress]
    if not steps:  # older stores: derive it from the candidates
        best = -math.inf
        for c in sorted(scored, key=lambda c: (c.scored_at or c.rollouts, c.idx)):
            if c.val_mean is not None and c.val_mean > best:
                best = c.val_mean
                steps.append((c.scored_at or c.rollouts, best))
    if steps:
        d = f"M{sx(steps[0][0]):.1f},{sy(steps[0][1]):.1f}"
        for (r0, v0), (r1, v1) in zip(steps, steps[1:]):
            d += f" H{sx(r1):.1f} V{sy(v1):.1f}"
        end_x = max(used, steps[-1][0])
        d += f" H{sx(end_x):.1f}"
        # labels keep off the line: block its segments
        for (r0, v0), (r1, v1) in zip(steps, steps[1:] + [(end_x, steps[-1][1])]):
            blocked.append((sx(r0), sy(v0) - 3, sx(r1), sy(v0) + 3))
            lo_y, hi_y = sorted((sy(v0), sy(v1)))
            blocked.append((sx(r1) - 3, lo_y, sx(r1) + 3, hi_y))
        out.append(f'<path id="best-line" class="best-line" d="{d}"/>')
        final = steps[-1][1]
        text = f"best so far {fmt_score(final)}"
        w = _text_width(text, 12.5)
        ex, ey = sx(end_x), sy(final)
        if ex + 6 + w > W - 4:  # no room right of the line's end: above it, ending there
            box = (ex - w, ey - 22, ex, ey - 4)
            out.append(f'<text class="annot best-label" x="{ex:.1f}" y="{ey - 8:.1f}" text-anchor="end">{esc(text)}</text>')
        else:
            box = (ex + 4, ey - 22, ex + 8 + w, ey - 4)
            out.append(f'<text class="annot best-label" x="{ex + 6:.1f}" y="{ey - 8:.1f}">{esc(text)}</text>')
        blocked.append(box)

    # points
    labels = _Labels(blocked)
    marks = []
    ordered = sorted(scored, key=lambda c: (c.idx == data.best, c.origin == "seed", c.idx))
    for c in ordered:
        x, y = sx(c.rollouts), sy(c.val_mean)  # type: ignore[arg-type]
        color = origin_color(c.origin)
        tip = esc(candidate_tip(c, data))
        if c.idx == data.best:
            marks.append(f'<circle class="best-ring" cx="{x:.1f}" cy="{y:.1f}" r="11"/>')
        if c.origin == "seed":
            s = 8
            marks.append(
                f'<path class="pt seed-pt" data-cand="{c.idx}" data-tip="{tip}" fill="{color}" '
                f'd="M{x:.1f},{y - s:.1f} L{x + s:.1f},{y:.1f} L{x:.1f},{y + s:.1f} L{x - s:.1f},{y:.1f} Z"/>'
            )
        else:
            marks.append(
                f'<circle class="pt" data-cand="{c.idx}" data-tip="{tip}" cx="{x:.1f}" cy="{y:.1f}" r="6" '
                f'fill="{color}"/>'
            )
        r = 12 if c.idx == data.best else 7
        labels.boxes.append((x - r, y - r, x + r, y + r))
    out.extend(marks)
    # labels after all marks are known, most important first
    label_order = sorted(scored, key=lambda c: (c.idx != data.best, c.origin != "seed", c.idx not in data.front_wins, c.idx))
    for n, c in enumerate(label_order):
        if n >= 60:
            break
        x, y = sx(c.rollouts), sy(c.val_mean)  # type: ignore[arg-type]
        text = "seed #0" if c.origin == "seed" else f"#{c.idx}"
        if c.idx == data.best and c.origin != "seed":
            text = f"best #{c.idx}"
        w, h = _text_width(text, 12), 13
        box = labels.place([
            (x + 12, y - h - 4, x + 12 + w, y - 4),
            (x + 12, y + 2, x + 12 + w, y + 2 + h),
            (x - 12 - w, y - h - 4, x - 12, y - 4),
            (x - 12 - w, y + 2, x - 12, y + 2 + h),
            (x - w / 2, y - h - 14, x + w / 2, y - 14),
        ])
        if box is not None:
            cls = "pt-label strong" if c.idx == data.best or c.origin == "seed" else "pt-label"
            out.append(f'<text class="{cls}" data-cand="{c.idx}" x="{box[0]:.1f}" y="{box[3] - 2:.1f}">{esc(text)}</text>')

    # proposals lane
    lane_y = plot_bottom + 70
    out.append(f'<text class="lane-title" x="{left}" y="{lane_y - 7}">proposals, by outcome (hover for details)</text>')
    out.append(f'<line class="lane-base" x1="{left}" x2="{W - right}" y1="{lane_y + 18}" y2="{lane_y + 18}"/>')
    for p in data.proposals:
        x = sx(p.rollouts)
        color = status_color(p.status)
        tip = [f"iteration {p.iteration}: {p.kind} of #{p.parent}" + (f" ({', '.join(p.modules)})" if p.modules else ""),
               f"status: {p.status}" + (f" — {p.reason}" if p.reason else "")]
        if p.parent_score is not None or p.child_score is not None:
            tip.append(f"minibatch: parent {p.parent_score if p.parent_score is not None else '–'} → child "
                       f"{p.child_score if p.child_score is not None else '–'}")
        if p.refusals:
            tip.append("refused replies: " + ", ".join(p.refusals))
        if p.child_index is not None:
            tip.append(f"→ candidate #{p.child_index}")
        tip.append(f"at rollout {p.rollouts:,}")
        cand = f' data-cand="{p.child_index}"' if p.child_index is not None else ""
        out.append(
            f'<rect class="prop-mark" data-status="{esc(p.status)}"{cand} data-tip="{esc(chr(10).join(tip))}" '
            f'x="{x - 2.5:.1f}" y="{lane_y}" width="5" height="18" rx="1.5" fill="{color}"/>'
        )
    if not data.proposals:
        out.append(f'<text class="annot" x="{left + 8}" y="{lane_y + 13}">no proposals were made</text>')
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------ lineage tree
def lineage_layout(data: RunData, row_h: float = 54.0) -> dict[int, tuple[int, float]]:
    """(column, y) per candidate: column = depth in the lineage; within a column each
    node sits at the mean height of its parents, pushed down to avoid overlaps."""
    by_depth: dict[int, list[CandidateView]] = {}
    for c in data.candidates:
        by_depth.setdefault(c.depth, []).append(c)
    pos: dict[int, tuple[int, float]] = {}
    for depth in sorted(by_depth):
        nodes = by_depth[depth]
        wanted = []
        for c in nodes:
            ys = [pos[p][1] for p in c.parents if p in pos]
            wanted.append((sum(ys) / len(ys) if ys else 0.0, c.idx, c))
        wanted.sort(key=lambda t: (t[0], t[1]))
        placed: list[float] = []
        for want, _, _ in wanted:
            placed.append(max(want, placed[-1] + row_h) if placed else want)
        # centre the column on what its nodes wanted, without going above zero
        shift = (sum(w for w, _, _ in wanted) - sum(placed)) / len(placed)
        shift = max(shift, -min(placed))
        for (_, _, c), y in zip(wanted, placed):
            pos[c.idx] = (depth, y + shift)
    return pos


def lineage_orientation(pos_lr: dict[int, tuple[int, float]], pos_tb: dict[int, tuple[int, float]],
                        avail: float = WIDTH) -> str:
    """``"lr"`` (generations left to right) when that fits the page width, else ``"tb"``
    (generations top to bottom) when that fits or is narrower: a deep lineage reads
    better scrolled down than sideways."""
    depth = max(c for c, _ in pos_lr.values())
    lr_w = 32 + depth * _LR_COL + _NODE_W
    tb_w = 32 + max(x for _, x in pos_tb.values()) + _NODE_W
    if lr_w <= avail:
        return "lr"
    return "tb" if tb_w <= avail or tb_w < lr_w else "lr"


_NODE_W, _NODE_H, _LR_COL, _LR_ROW, _TB_COL, _TB_ROW = 112, 40, 168, 54, 128, 78


def lineage_chart(data: RunData) -> str:
    node_w, node_h = _NODE_W, _NODE_H
    if not data.candidates:
        return '<p class="empty">No candidates recorded yet.</p>'
    pos_lr = lineage_layout(data, _LR_ROW)
    pos_tb = lineage_layout(data, _TB_COL)
    orient = lineage_orientation(pos_lr, pos_tb)
    left, top = 16, 16
    if orient == "lr":
        coords = {i: (left + d * _LR_COL, top + y) for i, (d, y) in pos_lr.items()}
    else:
        coords = {i: (left + x, top + d * _TB_ROW) for i, (d, x) in pos_tb.items()}
    W = int(max(max(x for x, _ in coords.values()) + node_w + left, 320))
    H = int(max(y for _, y in coords.values()) + node_h + top + 4)
    scores = [c.val_mean for c in data.candidates if c.val_mean is not None]
    lo = min([0.0] + scores)
    hi = max([1.0] + scores)

    def xy(idx: int) -> tuple[float, float]:
        return coords[idx]

    # a little too wide: shrink to the page (text stays readable); much too wide: scroll
    fit = " fit" if W <= 1.4 * WIDTH else ""
    out = [
        f'<svg id="lineage-chart" class="chart{fit}" data-orientation="{orient}" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="lineage tree of the candidates" xmlns="http://www.w3.org/2000/svg">'
    ]
    # edges first, under the nodes
    for c in data.candidates:
        for p in c.parents:
            if p not in coords:
                continue
            px, py = xy(p)
            cx, cy = xy(c.idx)
            cls = "edge edge-merge" if c.origin == "merge" else "edge"
            color = origin_color(c.origin)
            if orient == "lr":
                x1, y1, x2, y2 = px + node_w, py + node_h / 2, cx, cy + node_h / 2
                mid = (x1 + x2) / 2
                d = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2 - 6:.1f},{y2:.1f}"
                arrow = f"M{x2:.1f},{y2:.1f} l-7,-4 v8 z"
            else:
                x1, y1, x2, y2 = px + node_w / 2, py + node_h, cx + node_w / 2, cy
                mid = (y1 + y2) / 2
                d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2 - 6:.1f}"
                arrow = f"M{x2:.1f},{y2:.1f} l-4,-7 h8 z"
            out.append(f'<path class="{cls}" data-cand="{c.idx}" data-parent="{p}" stroke="{color}" d="{d}"/>')
            out.append(f'<path class="arrow" fill="{color}" d="{arrow}"/>')
    for c in data.candidates:
        x, y = xy(c.idx)
        color, fill = origin_color(c.origin), origin_fill(c.origin)
        classes = ["node"]
        if c.idx == data.best:
            classes.append("node-best")
        if c.idx in data.front_wins:
            classes.append("node-front")
        tip = esc(candidate_tip(c, data))
        out.append(f'<g class="{" ".join(classes)}" data-cand="{c.idx}" data-tip="{tip}" transform="translate({x:.1f} {y:.1f})">')
        if c.idx == data.best:
            out.append(f'<rect class="best-halo" x="-4" y="-4" width="{node_w + 8}" height="{node_h + 8}" rx="11"/>')
        out.append(f'<rect class="node-box" width="{node_w}" height="{node_h}" rx="8" fill="{fill}" stroke="{color}"/>')
        frac = 0.0 if c.val_mean is None or hi <= lo else (c.val_mean - lo) / (hi - lo)
        out.append(f'<rect class="node-bar-bg" x="8" y="{node_h - 8}" width="{node_w - 16}" height="3" rx="1.5"/>')
        out.append(
            f'<rect class="node-bar" x="8" y="{node_h - 8}" width="{(node_w - 16) * frac:.1f}" height="3" rx="1.5" fill="{color}"/>'
        )
        out.append(f'<text class="node-idx" x="9" y="17">#{c.idx}</text>')
        out.append(f'<text class="node-score" x="{node_w - 9}" y="17" text-anchor="end">{esc(fmt_score(c.val_mean))}</text>')
        if c.origin == "seed":
            sub = "seed"
        elif c.origin == "merge":
            sub = "merge " + "+".join(f"#{p}" for p in c.parents)
        else:
            sub = "Δ " + ", ".join(c.changed_modules) if c.changed_modules else c.origin
        room = 12 if c.idx in data.front_wins else 17  # the front marker takes the line's end
        if c.origin == "merge" and len(sub) > room:
            sub = "+".join(f"#{p}" for p in c.parents)  # the colour and dashed edges say "merge"
        if len(sub) > room:
            sub = sub[: room - 1] + "…"
        out.append(f'<text class="node-sub" x="9" y="29">{esc(sub)}</text>')
        if c.idx in data.front_wins:
            out.append(f'<text class="front-star" x="{node_w - 9}" y="30" text-anchor="end">◆</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------ heat map
_PALETTE = [(0.0, (0xd7, 0x30, 0x27)), (0.2, (0xfc, 0x8d, 0x59)), (0.4, (0xfe, 0xe0, 0x90)),
            (0.6, (0xe0, 0xf3, 0xf8)), (0.8, (0x91, 0xbf, 0xdb)), (1.0, (0x45, 0x75, 0xb4))]


def score_color(frac: float) -> str:
    """Red (bad) through pale yellow to blue (good): readable with red-green colour blindness."""
    frac = min(max(frac, 0.0), 1.0)
    for (f0, c0), (f1, c1) in zip(_PALETTE, _PALETTE[1:]):
        if frac <= f1:
            t = (frac - f0) / (f1 - f0)
            r, g, b = (round(a + (bb - a) * t) for a, bb in zip(c0, c1))
            return f"#{r:02x}{g:02x}{b:02x}"
    r, g, b = _PALETTE[-1][1]
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap_range(data: RunData) -> tuple[float, float]:
    finite = data.matrix[~np.isnan(data.matrix)] if data.matrix.size else np.array([])
    lo = float(min(0.0, finite.min())) if finite.size else 0.0
    hi = float(max(1.0, finite.max())) if finite.size else 1.0
    return lo, hi


def heatmap(data: RunData) -> str:
    n_rows, n_cols = data.matrix.shape
    if n_rows == 0 or n_cols == 0:
        return '<p class="empty">No validation scores recorded yet.</p>'
    label_w, mean_w = 150, 210
    avail = WIDTH - label_w - mean_w - 16
    cw = max(4.0, min(36.0, math.floor(avail / n_cols)))
    ch = 22.0 if n_rows <= 40 else (16.0 if n_rows <= 120 else 10.0)
    head = 44
    grid_w = cw * n_cols
    W = int(label_w + grid_w + mean_w + 16)
    H = int(head + ch * n_rows + 8)
    lo, hi = heatmap_range(data)
    span = hi - lo if hi > lo else 1.0
    col_best = np.fmax.reduce(data.matrix, axis=0)

    out = [
        f'<svg id="heatmap" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        'aria-label="per-instance validation scores" xmlns="http://www.w3.org/2000/svg">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#f8fafc"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cbd5e1" stroke-width="2"/>'
        "</pattern></defs>",
    ]
    # column header: instance ids, thinned to stay readable
    every = max(1, math.ceil(26 / cw))
    out.append(f'<text class="axis-title" x="{label_w}" y="14">validation instance →</text>')
    for j, col in enumerate(data.columns):
        if j % every == 0:
            out.append(
                f'<text class="tick" x="{label_w + cw * j + cw / 2:.1f}" y="{head - 8}" text-anchor="middle">{esc(col)}</text>'
            )
    out.append(f'<text class="axis-title" x="{label_w + grid_w + 14:.1f}" y="{head - 8}">mean</text>')
    front = set(data.front)
    for i, c in enumerate(data.candidates):
        y = head + ch * i
        row_cls = "hm-row" + (" hm-front" if c.idx in front else "") + (" hm-best" if c.idx == data.best else "")
        out.append(f'<g class="{row_cls}" data-cand="{c.idx}" data-tip="{esc(candidate_tip(c, data))}">')
        if c.idx in front:
            out.append(f'<rect class="front-band" x="2" y="{y + 1:.1f}" width="{label_w - 8}" height="{ch - 2:.1f}" rx="4"/>')
        color = origin_color(c.origin)
        out.append(f'<rect x="8" y="{y + ch / 2 - 5:.1f}" width="10" height="10" rx="2" fill="{color}"/>')
        fs = 12 if ch >= 16 else 9
        out.append(
            f'<text class="row-label" x="24" y="{y + ch / 2 + fs / 3:.1f}" font-size="{fs}"><tspan font-weight="700">#{c.idx}</tspan>'
            f'<tspan class="row-origin" dx="6">{esc(c.origin)}</tspan></text>'
        )
        out.append("</g>")
        for j in range(n_cols):
            v = data.matrix[i, j]
            x = label_w + cw * j
            if np.isnan(v):
                out.append(
                    f'<rect class="cell cell-missing" x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" fill="url(#hatch)" '
                    f'data-tip="{esc(f"candidate #{c.idx}, instance {data.columns[j]}: not scored")}"/>'
                )
                continue
            leads = v >= col_best[j] - 1e-9
            tip = f"candidate #{c.idx}, instance {data.columns[j]}: {v:.3g}" + (" (best on this instance)" if leads else "")
            out.append(
                f'<rect class="cell" data-cand="{c.idx}" x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" '
                f'fill="{score_color((v - lo) / span)}" data-tip="{esc(tip)}"/>'
            )
        if c.idx in front:
            out.append(
                f'<rect class="front-outline" x="{label_w:.1f}" y="{y + 0.5:.1f}" width="{grid_w:.1f}" height="{ch - 1:.1f}"/>'
            )
        # mean bar
        mx = label_w + grid_w + 14
        bar_w = 60
        frac = 0.0 if c.val_mean is None else (c.val_mean - lo) / span
        out.append(f'<rect class="mean-bg" x="{mx:.1f}" y="{y + ch / 2 - 4:.1f}" width="{bar_w}" height="8" rx="2"/>')
        out.append(
            f'<rect class="mean-bar" x="{mx:.1f}" y="{y + ch / 2 - 4:.1f}" width="{bar_w * min(max(frac, 0), 1):.1f}" '
            f'height="8" rx="2" fill="{color}"/>'
        )
        out.append(
            f'<text class="mean-val" x="{mx + bar_w + 6:.1f}" y="{y + ch / 2 + fs / 3:.1f}" font-size="{fs}">{esc(fmt_score(c.val_mean))}</text>'
        )
        marks = ("◆ front" if c.idx in front else "") + (" ★ best" if c.idx == data.best else "")
        if marks:
            out.append(
                f'<text class="row-mark" x="{mx + bar_w + 50:.1f}" y="{y + ch / 2 + fs / 3:.1f}" font-size="{fs}">{esc(marks.strip())}</text>'
            )
    # thin grid between cells when they are large enough to read
    if cw >= 10 and ch >= 14:
        out.append(
            f'<rect class="hm-frame" x="{label_w}" y="{head}" width="{grid_w:.1f}" height="{ch * n_rows:.1f}"/>'
        )
    out.append("</svg>")
    return "".join(out)


def heatmap_legend(data: RunData) -> str:
    lo, hi = heatmap_range(data)
    stops = "".join(
        f'<stop offset="{f:.2f}" stop-color="{score_color(f)}"/>' for f, _ in _PALETTE
    )
    return (
        '<svg class="legend-gradient" width="220" height="34" viewBox="0 0 220 34" xmlns="http://www.w3.org/2000/svg">'
        f'<defs><linearGradient id="hm-grad">{stops}</linearGradient></defs>'
        '<rect x="10" y="2" width="200" height="12" rx="3" fill="url(#hm-grad)"/>'
        f'<text class="tick" x="10" y="30">{esc(fmt_tick(lo))}</text>'
        f'<text class="tick" x="110" y="30" text-anchor="middle">score</text>'
        f'<text class="tick" x="210" y="30" text-anchor="end">{esc(fmt_tick(hi))}</text>'
        "</svg>"
    )
