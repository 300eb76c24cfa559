"""The report engine without a browser: data loading, escaping, diff, CLI."""

from __future__ import annotations

import re
import shutil
import sqlite3

import numpy as np
import pytest

from gepetto.report import ReportError, diff_html, diff_ops, load_run, main, render_html, write_report
from gepetto.report.charts import lineage_layout, nice_ticks, score_color
from tests.report.dom import Dom
from tests.report.runs import NASTY


# ----------------------------------------------------------------------- diff
@pytest.mark.parametrize(
    "old, new",
    [
        ("a b c", "a x c"),
        ("Repeat the number.", "Repeat the number. Then double it before answering."),
        ("one two three four", "one five six four"),
        ("", "brand new text"),
        ("all of it goes", ""),
        ("same text", "same text"),
        ("line one\nline two\n\nline four", "line one\nline 2\n\nline four\nline five"),
        ("Écris le nombre — en décimal.", "Écris le nombre en hexadécimal, s'il te plaît."),
        ("  spaced\tout  ", " spaced out"),
    ],
)
def test_diff_ops_rebuild_both_texts(old: str, new: str) -> None:
    ops = diff_ops(old, new)
    assert "".join(t for op, t in ops if op != "insert") == old
    assert "".join(t for op, t in ops if op != "delete") == new
    assert all(op in ("equal", "delete", "insert") and t for op, t in ops)
    if old == new:
        assert all(op == "equal" for op, _ in ops)


def test_diff_is_word_level_and_readable() -> None:
    assert diff_ops("Write the number in decimal.", "Write it in hex.") == [
        ("equal", "Write "), ("delete", "the number"), ("insert", "it"), ("equal", " in "),
        ("delete", "decimal"), ("insert", "hex"), ("equal", "."),
    ]
    # a lone space between two changes is folded into one change, not "-a- +b+ -c- +d+"
    assert diff_ops("keep alpha beta keep", "keep gamma delta keep") == [
        ("equal", "keep "), ("delete", "alpha beta"), ("insert", "gamma delta"), ("equal", " keep"),
    ]


def test_diff_html_escapes_and_marks() -> None:
    html = diff_html("Say <b>hi</b> & go", 'Say <script>alert(1)</script> & "go"')
    assert "<script>" not in html and "<b>" not in html
    assert '<ins class="d-ins">script&gt;alert(1)&lt;/script</ins>' in html
    assert '<del class="d-del">b&gt;hi&lt;/b</del>' in html
    assert html.startswith("Say &lt;") and "&amp;" in html and "&quot;" in html


# -------------------------------------------------------------------- loading
def test_loaded_run_matches_the_engine_result(made_runs) -> None:
    for made in made_runs.values():
        data = load_run(made.run_dir)
        r = made.result
        assert len(data.candidates) == len(r.candidates), made.name
        assert data.best == r.best_index, made.name
        assert data.rollouts_used == r.rollouts_used, made.name
        assert data.max_rollouts == r.max_rollouts, made.name
        assert data.stop_reason == r.stop_reason and data.status == "finished", made.name
        assert sorted(data.front) == sorted(r.pareto_front), made.name
        statuses = {k: v for k, v in r.proposal_counts().items() if not k.startswith("refused:")}
        assert data.proposal_counts() == statuses, made.name
        for c, rc in zip(data.candidates, r.candidates):
            assert c.parents == list(rc.parents) and c.origin == rc.origin
            assert c.val_mean == pytest.approx(r.val_means[c.idx])
        np.testing.assert_allclose(data.matrix, np.asarray(r.val_scores, dtype=float))
        # the best-so-far curve never goes down and ends at the best score
        values = [v for _, v, _ in data.progress]
        assert values == sorted(values) and values[-1] == pytest.approx(r.best_score)


def test_rich_run_exercises_every_part_of_the_page(made_runs) -> None:
    data = load_run(made_runs["rich"].run_dir)
    assert len(data.front) >= 2, "want a multi-candidate Pareto front"
    assert any(c.origin == "merge" and len(c.parents) == 2 for c in data.candidates)
    counts = data.proposal_counts()
    assert {"accepted", "rejected-gate", "refused"} <= set(counts)
    assert data.refusal_counts()


def test_not_a_run_directory(tmp_path) -> None:
    with pytest.raises(ReportError, match="not a directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(ReportError, match="holds no run.sqlite"):
        load_run(tmp_path)
    assert not (tmp_path / "run.sqlite").exists()  # looking did not create a store
    (tmp_path / "run.sqlite").write_bytes(b"not a database at all, just bytes" * 10)
    with pytest.raises(ReportError):
        load_run(tmp_path)


# -------------------------------------------------------------------- escaping
def test_instructions_with_markup_are_escaped(made_runs) -> None:
    html = made_runs["nasty"].report.read_text()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<b>bold" not in html
    dom = Dom(html)
    assert len(dom.find("script")) == 1  # only the page's own script
    assert not dom.find("img") and not dom.find("b", within="texts")
    # the texts come back verbatim once the browser (here: the parser) unescapes them
    best = load_run(made_runs["nasty"].run_dir).best
    shown = dom.text_of(id=f"cand-{best}")
    assert NASTY in shown and "<img src=x onerror=alert(2)>" in shown
    # and in attributes (tooltips) nothing breaks out: every tip parses back to plain text
    for el in dom.find():
        assert not any(k.startswith("on") for k in el.attrs), el


def test_page_is_self_contained(made_runs) -> None:
    html = made_runs["rich"].report.read_text()
    assert not re.search(r"<(link|iframe|object|embed)\b", html)
    assert not re.search(r"\b(src|href)\s*=", html)
    assert not re.search(r"@import|url\((?!#)", html)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


# -------------------------------------------------------------------- rendering
def test_seed_only_run_renders(made_runs) -> None:
    made = made_runs["seed_only"]
    data = load_run(made.run_dir)
    assert len(data.candidates) == 1 and not data.proposals and data.front == [0] and data.best == 0
    dom = Dom(made.report.read_text())
    assert dom.find("svg", id="score-chart") and dom.find("svg", id="lineage-chart") and dom.find("svg", id="heatmap")
    assert len(dom.find(cls="node", within="lineage-chart")) == 1
    assert len(dom.find(cls="cell", within="heatmap")) == len(data.columns)
    assert not dom.find(cls="prop-mark")
    assert "No proposals" in made.report.read_text()


def test_charts_draw_every_candidate_edge_and_cell(made_runs) -> None:
    for made in made_runs.values():
        data = load_run(made.run_dir)
        dom = Dom(made.report.read_text())
        n = len(data.candidates)
        assert len(dom.find(cls="pt", within="score-chart")) == n, made.name
        assert len(dom.find(cls="prop-mark", within="score-chart")) == len(data.proposals), made.name
        assert len(dom.find(cls="node", within="lineage-chart")) == n, made.name
        assert len(dom.find(cls="edge", within="lineage-chart")) == sum(len(c.parents) for c in data.candidates)
        merges = sum(len(c.parents) for c in data.candidates if c.origin == "merge")
        assert len(dom.find(cls="edge-merge", within="lineage-chart")) == merges, made.name
        assert len(dom.find(cls="cell", within="heatmap")) == n * len(data.columns), made.name
        assert len(dom.find(cls="hm-front", within="heatmap")) == len(data.front), made.name
        assert len(dom.find(cls="cand-panel")) == n, made.name
        assert dom.one(id=f"cand-{data.best}").attrs.get("hidden") is None  # the best is shown first


def test_merge_run_shows_both_parents_and_the_diff(made_runs) -> None:
    made = made_runs["merge"]
    data = load_run(made.run_dir)
    merged = next(c for c in data.candidates if c.origin == "merge")
    dom = Dom(made.report.read_text())
    edges = dom.find(cls="edge-merge", data_cand=str(merged.idx))
    assert sorted(int(e.attrs["data-parent"]) for e in edges) == sorted(merged.parents)
    panel = dom.text_of(id=f"cand-{merged.idx}")
    assert "Double the number." in panel and "Write it in hex." in panel
    ins = [("".join(e.text)) for e in dom.find("ins", within=f"cand-{merged.idx}")]
    assert "Double" in ins and "hex" in ins


def test_partially_scored_candidate_is_hatched_and_off_the_front(made_runs, tmp_path) -> None:
    run = tmp_path / "partial"
    shutil.copytree(made_runs["rich"].run_dir, run)
    data = load_run(run)
    victim = data.front[0]
    db = sqlite3.connect(run / "run.sqlite")
    with db:
        db.execute("DELETE FROM evaluations WHERE candidate_idx=? AND split='val' AND example=3", (victim,))
    db.close()
    data = load_run(run)
    row = [c.idx for c in data.candidates].index(victim)
    assert not data.complete[row] and victim not in data.front
    dom = Dom(render_html(data))
    assert len(dom.find(cls="cell-missing", within="heatmap")) == 1


def test_interrupted_run_is_reported_as_such(tmp_path) -> None:
    from gepetto import Config, StopFlag, optimize
    from gepetto.core.events import ProposalEvaluated
    from tests.report.runs import FlakyLM
    from tests.engine.toy import ToySystem, make_examples

    flag = StopFlag()

    class StopAfterFirst:
        def on_event(self, event) -> None:
            if isinstance(event, ProposalEvaluated):
                flag.set()

    optimize(ToySystem(), make_examples(12, 1), make_examples(8, 2), reflection_lm=FlakyLM(),
             config=Config(max_rollouts=150, minibatch_size=3, seed=5), run_dir=tmp_path / "r", stop=flag,
             observers=[StopAfterFirst()])
    html = write_report(tmp_path / "r").read_text()
    assert 'class="badge status-stopped">stopped (resumable)' in html
    assert "stop reason: <b>interrupted</b>" in html and "gepetto resume" in html


def test_lm_usage_and_test_scores_are_shown_when_recorded(made_runs, tmp_path) -> None:
    run = tmp_path / "usage"
    shutil.copytree(made_runs["flaky"].run_dir, run)
    db = sqlite3.connect(run / "run.sqlite")
    with db:
        db.execute("INSERT INTO meta VALUES ('lm_usage', ?)", (
            '{"reflection": {"calls": 7, "cache_hits": 1, "errors": 0, "retries": 2, "truncated": 0, '
            '"prompt_tokens": 12345, "completion_tokens": 678, "latency_s": 3.5, "cost_usd": 0.0}, '
            '"task<x>": {"calls": 40, "prompt_tokens": 999}}',))
        db.execute("INSERT INTO meta VALUES ('test_scores', '{\"seed\": 0.25, \"best\": 0.875}')")
    db.close()
    html = write_report(run).read_text()
    assert "LM usage" in html and "12,345" in html and "task&lt;x&gt;" in html
    assert "0.875" in html and "Held-out test set" in html


# -------------------------------------------------------------------- CLI
def test_cli_writes_the_report(made_runs, tmp_path, capsys) -> None:
    run = made_runs["flaky"].run_dir
    out = tmp_path / "sub" / "page.html"
    assert main([str(run), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert str(out) in capsys.readouterr().out
    assert main([str(run)]) == 0 and (run / "report.html").is_file()
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


# -------------------------------------------------------------------- helpers
def test_nice_ticks_and_colors() -> None:
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 150, 9) == [0, 20, 40, 60, 80, 100, 120, 140]
    assert score_color(0) == "#d73027" and score_color(1) == "#4575b4" and score_color(2) == "#4575b4"


def test_lineage_layout_never_overlaps(made_runs) -> None:
    for made in made_runs.values():
        data = load_run(made.run_dir)
        pos = lineage_layout(data, 54)
        assert set(pos) == {c.idx for c in data.candidates}
        by_col: dict[int, list[float]] = {}
        for col, y in pos.values():
            by_col.setdefault(col, []).append(y)
        for ys in by_col.values():
            ys.sort()
            assert all(b - a >= 54 - 1e-9 for a, b in zip(ys, ys[1:]))
        for c in data.candidates:  # children sit in a later column than their parents
            assert all(pos[p][0] < pos[c.idx][0] for p in c.parents)


def test_a_run_that_has_just_started_renders(tmp_path, made_runs) -> None:
    from gepetto.store import RunStore

    store = RunStore(tmp_path / "fresh")  # claimed, nothing evaluated yet
    store.set_meta("status", "running")
    store.close()
    dom = Dom(write_report(tmp_path / "fresh").read_text())
    assert dom.find("svg", id="score-chart") and "No candidates recorded yet" in "".join(dom.one("body").text)

    run = tmp_path / "seed-pending"  # the seed accepted, its validation still running
    shutil.copytree(made_runs["flaky"].run_dir, run)
    db = sqlite3.connect(run / "run.sqlite")
    with db:
        db.execute("DELETE FROM candidates WHERE idx > 0")
        db.execute("UPDATE candidates SET val_mean = NULL")
        db.execute("DELETE FROM evaluations")
        db.execute("DELETE FROM proposals")
        db.execute("DELETE FROM progress")
        db.execute("UPDATE meta SET value='running' WHERE key='status'")
        db.execute("DELETE FROM meta WHERE key='stop_reason'")
    db.close()
    html = write_report(run).read_text()
    assert "No validation scores recorded yet" in html and "still running" in html
