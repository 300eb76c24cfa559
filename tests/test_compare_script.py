"""benchmarks/compare.py's bookkeeping (the LLM runs themselves are benchmarks, not tests)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
compare = load_script("compare")


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
    assert paper.validation == "full" and base.validation == "staged"


def test_efficiency_reports_rollouts_to_reach_paper_modes_final_validation_score() -> None:
    rows = [
        _row("paper-mode", 0, 0.70, val_curve=[[30, 0.5], [120, 0.6], [250, 0.65]]),
        _row("gepetto", 0, 0.74, val_curve=[[30, 0.5], [70, 0.66], [200, 0.7]]),
        _row("gepa", 0, 0.68, val_curve=[[30, 0.5], [150, 0.6]]),
        _row("paper-mode", 1, 0.65, val_curve=[[30, 0.5]]),
        _row("gepetto", 1, 0.66, val_curve=[[30, 0.5], [90, 0.55]]),
    ]
    eff = {(e["seed"], e["optimizer"]): e for e in compare.efficiency(rows)}
    assert eff[(0, "gepetto")]["rollouts"] == 70 and abs(eff[(0, "gepetto")]["ratio"] - 70 / 250) < 1e-9
    assert eff[(0, "gepa")]["rollouts"] is None and eff[(0, "gepa")]["ratio"] is None
    assert eff[(1, "gepetto")]["ratio"] == 1.0 and not eff[(1, "gepetto")]["paper_improved"]
    md = compare.efficiency_markdown(compare.efficiency(rows))
    assert "| banking-9 | 0 | gepetto | 0.650 | 250 | 70 | 0.28 | 0.740 | 0.700 |" in md
    assert "never" in md and "paper mode found no improvement" in md


def test_val_curve_skips_parked_candidates() -> None:
    from gepetto.core.candidate import Candidate, CandidateRecord
    from gepetto.core.result import ProposalRecord, Result

    def proposal(child: int | None, rollouts: int) -> ProposalRecord:
        return ProposalRecord(iteration=0, kind="reflection", parent=0, modules=("m",), status="", child_index=child, rollouts_used=rollouts)

    result = Result(
        best_index=3,
        candidates=[CandidateRecord(index=i, candidate=Candidate({"m": str(i)}), rollouts_at_creation=10 * i) for i in range(4)],
        val_scores=[[0.5, 0.5], [0.9, float("nan")], [0.6, 0.6], [0.7, 0.7]],
        val_means=[0.5, 0.9, 0.6, 0.7],  # #1 is parked: its mean covers only the instances it was scored on
        pareto_front=[], rollouts_used=120, max_rollouts=150, rollouts_by_kind={}, iterations=4, stop_reason="budget",
        best_outputs=[], parked=[1],
        proposals=[proposal(1, 40), proposal(2, 80), proposal(None, 90), proposal(3, 120)],
    )
    assert compare.val_curve(result, 30) == [[30, 0.5], [80, 0.6], [120, 0.7]]


def test_the_ties_variant_only_extends_ties() -> None:
    ties, base = compare.our_config("gepetto-ties", 100, 0), compare.our_config("gepetto", 100, 0)
    assert ties.gate_ties == "extend" and base.gate_ties == "reject"
    assert ties.model_dump(exclude={"gate_ties"}) == base.model_dump(exclude={"gate_ties"})


def test_seed_row_shows_the_seed_validation_score_the_runs_measured() -> None:
    rows = [_row("gepetto", 0, 0.70, seed_val=0.5), _row("gepa", 0, 0.62, seed_val=0.6),
            {"optimizer": "seed", "task": "banking-9", "seed": 0, "budget": 100, "rollouts_used": 0, "best_val": None,
             "best_test": 0.65, "wall_s": 0.0, "prompt_chars": 10}]
    by = {r["optimizer"]: r for r in compare.summarize(rows, {"banking-9": 0.65})}
    assert abs(by["seed"]["val_mean"] - 0.55) < 1e-9


def test_sets_variants_write_three_definition_sets() -> None:
    assert compare.our_config("gepetto", 100, 0).reflection.definition_sets == 1
    assert compare.our_config("gepetto-sets", 100, 0).reflection.definition_sets == 3
    held = compare.our_config("gepetto-sets-holdout", 100, 0)
    assert held.reflection.definition_sets == 3 and held.holdout_top_k == 2
    likely = compare.our_config("gepetto-sets-likelihood", 100, 0).reflection
    assert likely.definition_sets == 3 and likely.definition_choice == "likelihood"
    assert compare.our_config("gepetto-sets", 100, 0).reflection.definition_choice == "validation"
    unseen = compare.our_config("gepetto-unseen", 100, 0).reflection
    assert unseen.define_unseen_labels and unseen.definition_contrast == "none" and unseen.definition_sets == 1
    assert compare.our_config("gepetto-unseen-contrast", 100, 0).reflection.definition_contrast == "nearest"
    assert compare.our_config("gepetto", 100, 0).reflection.define_unseen_labels  # the default
    assert not compare.our_config("gepetto-seen-only", 100, 0).reflection.define_unseen_labels
    assert compare.our_config("gepetto-name", 100, 0).reflection.unseen_definition == "name"
    assert compare.our_config("gepetto", 100, 0).reflection.unseen_definition == "model"  # the default
    assert compare.our_config("gepetto-inline", 100, 0).reflection.demonstrations_layout == "inline"


def test_task_options_are_parsed_for_every_optimizer() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
    from common import parse_task_options

    assert parse_task_options(["max_tokens=192", "swap_judge=no", "ratio=0.5", "name=x"]) == {
        "max_tokens": 192, "swap_judge": False, "ratio": 0.5, "name": "x"}
    import pytest

    with pytest.raises(SystemExit, match="NAME=VALUE"):
        parse_task_options(["max_tokens"])


def test_task_options_reach_the_peers_command_line(tmp_path, monkeypatch) -> None:
    seen: list[list[str]] = []

    class Done:
        returncode = 1

    def fake_run(cmd, **kwargs):  # noqa: ANN001, ANN003
        seen.append(list(cmd))
        return Done()

    monkeypatch.setattr(compare.subprocess, "run", fake_run)
    ep = compare.Endpoint("http://127.0.0.1:1/v1", "m")
    row = compare.run_peer("gepa", "pupa", 40, 0, ep, ep, {"n_train": 16}, tmp_path, {"max_tokens": 192})
    assert "error" in row
    cmd = seen[0]
    assert cmd[cmd.index("--n-train") + 1] == "16"
    assert cmd[cmd.index("--task-option") + 1] == "max_tokens=192"


def test_a_comparison_stopped_early_can_be_finished_from_its_partial_file(tmp_path) -> None:
    import json

    rows = [{"optimizer": "seed", "task": "banking-9", "seed": 0, "budget": 100, "rollouts_used": 0, "best_val": None,
             "best_test": 0.65, "wall_s": 0.0, "prompt_chars": 80}, _row("gepetto", 0, 0.70), _row("gepa", 0, 0.62)]
    meta = {"task_model": "m", "reflection_model": "m", "budget": 100, "seeds": [0, 1], "date": "d", "commit": "c", "command": "x"}
    (tmp_path / "compare-t.partial.json").write_text(json.dumps({"meta": meta, "rows": rows, "seed_test": {"banking-9": 0.65}}))
    assert compare.finish_partial("t", tmp_path) == 0
    md = (tmp_path / "compare-t.md").read_text()
    assert "| banking-9 | gepetto | 0.700" in md and "stopped early" in md
    data = json.loads((tmp_path / "compare-t.json").read_text())
    assert len(data["rows"]) == 3 and data["meta"]["stopped_early"]
    assert data["meta"]["seeds"] == [0] and data["meta"]["planned_seeds"] == [0, 1]  # only seed 0 ran
    assert not (tmp_path / "compare-t.partial.json").exists()
    (tmp_path / "compare-u.partial.json").write_text(json.dumps({"rows": rows, "seed_test": {"banking-9": 0.65}}))  # an older file
    assert compare.finish_partial("u", tmp_path) == 0 and "budget 100" in (tmp_path / "compare-u.md").read_text()


def test_finished_comparisons_combine_into_one_table_with_each_runs_commit(tmp_path) -> None:
    import json

    import pytest

    meta = {"task_model": "m", "reflection_model": "m", "budget": 100, "seeds": [0], "date": "d1", "commit": "aaa", "command": "x"}
    seed = {"optimizer": "seed", "task": "banking-9", "seed": 0, "budget": 100, "rollouts_used": 0, "best_val": None,
            "best_test": 0.65, "wall_s": 0.0, "prompt_chars": 80}
    old = [seed, _row("gepetto", 0, 0.60), _row("paper-mode", 0, 0.62, val_curve=[[30, 0.5], [90, 0.6]])]
    new = [seed, _row("gepetto", 0, 0.72, val_curve=[[30, 0.5], [45, 0.6]])]
    (tmp_path / "compare-old.json").write_text(json.dumps({"meta": meta, "seed_test": {"banking-9": 0.65}, "rows": old}))
    (tmp_path / "compare-new.json").write_text(json.dumps({"meta": {**meta, "commit": "bbb", "date": "d2"},
                                                           "seed_test": {"banking-9": 0.65}, "rows": new}))
    assert compare.combine(["old", "new"], "both", tmp_path) == 0
    data = json.loads((tmp_path / "compare-both.json").read_text())
    gepetto = [r for r in data["rows"] if r["optimizer"] == "gepetto"]
    assert len(gepetto) == 1 and gepetto[0]["best_test"] == 0.72 and gepetto[0]["commit"] == "bbb"  # the later file wins
    assert [r["commit"] for r in data["rows"] if r["optimizer"] == "paper-mode"] == ["aaa"]
    assert "old (aaa, d1)" in data["meta"]["commit"] and "new (bbb, d2)" in data["meta"]["commit"]
    # the efficiency figure pairs runs across the files: gepetto reached paper mode's 0.6 at 45 rollouts, paper mode at 90
    assert data["efficiency"][0]["ratio"] == 0.5
    (tmp_path / "compare-other.json").write_text(json.dumps({"meta": {**meta, "budget": 300}, "seed_test": {}, "rows": new}))
    with pytest.raises(SystemExit, match="different budgets"):
        compare.combine(["old", "other"], "x", tmp_path)
    with pytest.raises(SystemExit, match="no .*compare-missing.json"):
        compare.combine(["missing"], "x", tmp_path)
    with pytest.raises(SystemExit, match="needs --tag"):
        compare.main(["--combine", "old"])


def test_combined_gains_use_each_runs_own_seed_and_recombining_keeps_sources(tmp_path) -> None:
    import json

    import pytest

    meta = {"task_model": "m", "reflection_model": "m", "budget": 100, "seeds": [0], "date": "d", "commit": "aaa", "command": "x"}
    (tmp_path / "compare-a.json").write_text(json.dumps({"meta": meta, "seed_test": {"banking-9": 0.46},
                                                         "rows": [_row("paper-mode", 0, 0.50)]}))
    (tmp_path / "compare-b.json").write_text(json.dumps({"meta": {**meta, "commit": "bbb"}, "seed_test": {"banking-9": 0.44},
                                                         "rows": [_row("gepetto", 0, 0.44)]}))
    compare.combine(["a", "b"], "ab", tmp_path)
    data = json.loads((tmp_path / "compare-ab.json").read_text())
    gain = {r["optimizer"]: r["test_gain"] for r in data["table"]}
    assert gain["paper-mode"] == pytest.approx(0.04) and gain["gepetto"] == pytest.approx(0.0)  # not 0.06 against 0.44
    assert data["meta"]["seed_test_per_file"] == {"banking-9": {"a": 0.46, "b": 0.44}}
    # a combined file combined again keeps each run's commit and source
    (tmp_path / "compare-c.json").write_text(json.dumps({"meta": {**meta, "commit": "ccc"}, "seed_test": {"banking-9": 0.45},
                                                         "rows": [_row("gepa", 0, 0.45)]}))
    compare.combine(["ab", "c"], "abc", tmp_path)
    rows = {r["optimizer"]: r for r in json.loads((tmp_path / "compare-abc.json").read_text())["rows"]}
    assert (rows["paper-mode"]["commit"], rows["paper-mode"]["source"]) == ("aaa", "a")
    assert (rows["gepetto"]["commit"], rows["gepetto"]["source"]) == ("bbb", "b") and rows["gepetto"]["seed_test"] == 0.44
    with pytest.raises(SystemExit, match="one of the inputs"):
        compare.combine(["a", "b"], "a", tmp_path)
    (tmp_path / "compare-d.json").write_text(json.dumps({"meta": {**meta, "task_model": "other"}, "seed_test": {}, "rows": []}))
    with pytest.raises(SystemExit, match="different models"):
        compare.combine(["a", "d"], "ad", tmp_path)


def test_an_interrupted_run_is_no_result(monkeypatch, tmp_path) -> None:
    """Ctrl-C stops gepetto's run gracefully; the comparison must not record it as a result
    (a run stopped 14 s in once entered a table as 'returned the seed')."""
    import pytest

    class Stopped:
        stop_reason = "interrupted"
        rollouts_used = 12

    monkeypatch.setattr(compare, "optimize", lambda *a, **k: Stopped())
    endpoint = compare.Endpoint("http://127.0.0.1:9/v1", "fake")
    with pytest.raises(KeyboardInterrupt, match="interrupted after 12 rollouts"):
        compare.run_ours("gepetto", "banking-9", 100, 0, endpoint, endpoint, None, tmp_path)


def test_per_label_results_for_classifiers_only() -> None:
    from gepetto import Candidate, PromptSystem
    from gepetto.lm import ScriptedLM

    data = [{"q": "x", "a": "yes"}, {"q": "y", "a": "no"}, {"q": "z", "a": "no"}]
    classifier = PromptSystem(lm=ScriptedLM(respond=lambda m: "no"), seed_instruction="Say yes or no.", render=lambda ex: ex["q"],
                              metric=lambda ex, reply: float(reply == ex["a"]), expected=lambda ex: ex["a"], labels=["yes", "no"])
    out = compare.per_label(classifier, data, classifier.evaluate(Candidate({"instruction": "Say yes or no."}), data))
    assert out["per_label"] == {"yes": {"support": 1, "correct": 0}, "no": {"support": 2, "correct": 2}}
    assert out["balanced_accuracy"] == 0.5 and out["confusions"] == [{"expected": "yes", "answered": "no", "count": 1}]
    open_answers = PromptSystem(lm=ScriptedLM(respond=lambda m: "no"), seed_instruction="Answer.", render=lambda ex: ex["q"],
                                metric=lambda ex, reply: 0.0, expected=lambda ex: ex["a"])
    assert compare.per_label(open_answers, data, open_answers.evaluate(Candidate({"instruction": "Answer."}), data)) is None


def test_every_variant_of_ours_can_be_asked_for_on_the_command_line() -> None:
    # a variant added to OURS but not to ALL_OPTIMIZERS is refused by argparse (it happened to gepetto-name)
    assert set(compare.OURS) <= set(compare.ALL_OPTIMIZERS)
