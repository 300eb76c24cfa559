"""benchmarks/compare.py's bookkeeping (the LLM runs themselves are benchmarks, not tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare", ROOT / "benchmarks" / "compare.py")
compare = importlib.util.module_from_spec(spec)
sys.modules["compare"] = compare  # dataclasses look their module up while the class is built
spec.loader.exec_module(compare)


def _row(opt: str, seed: int, test: float, **kw) -> dict:
    base = {"optimizer": opt, "task": "banking-9", "seed": seed, "budget": 100, "rollouts_used": 96, "best_val": 0.6,
            "best_test": test, "task_calls": 96, "reflection_calls": 10, "task_tokens": 1000, "reflection_tokens": 500,
            "wall_s": 50.0, "prompt_chars": 300, "curve": [[30, 0.6], [66, test]]}
    base.update(kw)
    return base


def test_summary_has_mean_spread_gain_and_failures(tmp_path) -> None:
    rows = [_row("gepetto", 0, 0.70), _row("gepetto", 1, 0.74), _row("gepa", 0, 0.62),
            {"optimizer": "mipro", "task": "banking-9", "seed": 0, "budget": 100, "error": "exit 1"}]
    table = compare.summarize(rows, {"banking-9": 0.65})
    by = {r["optimizer"]: r for r in table}
    assert abs(by["gepetto"]["test_mean"] - 0.72) < 1e-9 and abs(by["gepetto"]["test_spread"] - 0.02) < 1e-9
    assert abs(by["gepetto"]["test_gain"] - 0.07) < 1e-9
    assert by["mipro"]["runs"] == 0 and by["mipro"]["failed"] == 1
    meta = {"task_model": "m", "reflection_model": "m", "budget": 100, "seeds": [0, 1], "date": "d", "commit": "c", "command": "x"}
    md = compare.markdown(table, meta)
    assert "| banking-9 | gepetto | 0.720 ± 0.020 | +0.070 |" in md and "failed (1)" in md
    assert compare.plot(rows[:3], {"banking-9": 0.65}, tmp_path / "p.png") and (tmp_path / "p.png").stat().st_size > 1000


def test_ablation_configs_differ_only_where_they_should() -> None:
    base = compare.our_config("gepetto", 100, 0)
    assert base.selector == "pareto" and base.use_merge and base.reflection.strategy == "edits"
    assert not compare.our_config("gepetto-no-merge", 100, 0).use_merge
    assert compare.our_config("gepetto-rewrite", 100, 0).reflection.strategy == "rewrite"
    paper = compare.our_config("paper-mode", 100, 0)
    assert paper.reflection.strategy == "rewrite" and not paper.reflection.refuse and not paper.use_merge
    assert compare.our_config("current-best", 100, 0).selector == "current-best"
    assert compare.our_config("beam", 100, 0).selector == "beam"
