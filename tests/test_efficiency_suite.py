"""benchmarks/efficiency_suite.py: the cross-task verdict of issue 10 from finished comparisons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_script

if "compare" not in sys.modules:  # efficiency_suite imports it by name
    load_script("compare")
suite = load_script("efficiency_suite")


def _row(task: str, seed: int, opt: str, curve: list[list[float]], test: float) -> dict:
    return {"task": task, "seed": seed, "optimizer": opt, "budget": 300, "val_curve": curve, "best_test": test}


def rows() -> list[dict]:
    return [
        # paper mode reaches 0.6 at 200; gepetto at 100 (ratio 0.5), gepa never
        _row("a", 0, "paper-mode", [[30, 0.5], [200, 0.6]], 0.70),
        _row("a", 0, "gepetto", [[30, 0.5], [100, 0.6]], 0.72),
        _row("a", 0, "gepa", [[30, 0.5], [150, 0.55]], 0.69),
        # paper mode reaches 0.7 at 100; gepetto at 150 (ratio 1.5)
        _row("b", 0, "paper-mode", [[30, 0.5], [100, 0.7]], 0.60),
        _row("b", 0, "gepetto", [[30, 0.5], [150, 0.7]], 0.60),
        # paper mode found nothing: no ratio, test still compared
        _row("b", 1, "paper-mode", [[30, 0.5]], 0.50),
        _row("b", 1, "gepetto", [[30, 0.5], [90, 0.6]], 0.48),
    ]


def test_verdict_counts_the_target_median_pooled_and_test_at_equal_budget() -> None:
    result = suite.verdict(rows(), target=0.6)
    g = result["summary"]["gepetto"]
    assert (g["runs"], g["paper_improved"], g["met"], g["never"]) == (3, 2, 1, 0)
    assert g["median_ratio"] == pytest.approx(1.0)  # median of 0.5 and 1.5
    assert g["pooled_ratio"] == pytest.approx((100 + 150) / (200 + 100))
    assert (g["test_higher"], g["test_equal"], g["test_lower"]) == (1, 1, 1)
    gepa = result["summary"]["gepa"]
    # never reaching counts as the whole budget in the pooled ratio
    assert gepa["never"] == 1 and gepa["pooled_ratio"] == pytest.approx(300 / 200)
    assert result["summary"]["test_means"]["b"] == {"paper-mode": pytest.approx(0.55), "gepetto": pytest.approx(0.54)}


def test_markdown_marks_met_runs_and_names_missing_ones() -> None:
    result = suite.verdict(rows(), target=0.6)
    md = suite.markdown(result, [{"tag": "t", "commit": "c", "date": "d"}])
    assert "| a | 0 | **0.50 (100 vs 200)** | never | 0.720 | 0.700 | 0.690 |" in md
    assert "| b | 1 | paper mode found nothing | not run | 0.480 | 0.500 | not run |" in md
    assert "ratio ≤ 0.60 in 1 (never reached in 0); median ratio 1.00, pooled 0.83" in md


def test_a_task_from_two_files_is_refused(tmp_path: Path) -> None:
    for tag in ("x", "y"):
        (tmp_path / f"compare-{tag}.json").write_text(json.dumps({"meta": {"commit": tag}, "rows": rows()[:2]}))
    with pytest.raises(SystemExit, match="combine them first"):
        suite.load(["x", "y"], tmp_path)
    with pytest.raises(SystemExit, match="no .*compare-z.json"):
        suite.load(["z"], tmp_path)
    loaded, metas = suite.load(["x"], tmp_path)
    assert len(loaded) == 2 and metas[0]["tag"] == "x"


def test_missing_and_failed_runs_are_listed_not_dropped() -> None:
    extra = [
        {"task": "c", "seed": 2, "optimizer": "seed", "budget": 300, "best_test": 0.4},  # stopped before paper mode ran
        _row("b", 0, "gepa", [[30, 0.5]], 0.5) | {"error": "exit 1"},
    ]
    result = suite.verdict(rows() + extra, target=0.6)
    by = {(r["task"], r["seed"]): r for r in result["runs"]}
    assert by[("c", 2)]["paper"] == "not run" and by[("b", 0)]["gepa"] == "failed" and by[("b", 1)]["gepa"] == "not run"
    assert result["summary"]["gepetto"]["missing"] == 1 and result["summary"]["gepa"]["missing"] == 3
    md = suite.markdown(result, [{"tag": "t"}])
    assert "| c | 2 | paper mode not run |" in md and "| b | 0 | 1.50 (150 vs 100) | failed |" in md


def test_a_run_without_budget_cannot_hide_a_never() -> None:
    broken = [dict(r, budget=None) for r in rows()]
    with pytest.raises(SystemExit, match="no budget"):
        suite.verdict(broken)


def test_files_without_paper_mode_are_refused(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "compare-x.json").write_text(json.dumps({"meta": {}, "rows": [r for r in rows() if r["optimizer"] != "paper-mode"]}))
    monkeypatch.setattr(suite, "RESULTS", tmp_path)
    monkeypatch.setattr(suite, "load", lambda tags: (json.loads((tmp_path / "compare-x.json").read_text())["rows"], [{"tag": "x"}]))
    with pytest.raises(SystemExit, match="no task-seed pair"):
        suite.main(["x"])
