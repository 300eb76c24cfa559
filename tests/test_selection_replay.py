"""benchmarks/selection_replay.py: final-choice rules replayed on stored runs' curves."""

from __future__ import annotations

import json

from tests.benchmark_scripts import load_script

replay = load_script("selection_replay")

# the measured banking-9 seed-2 run of 2026-12-04: validation rises, test falls
FALLING = [(17 / 30, 0.69), (18 / 30, 0.73), (19 / 30, 0.71), (20 / 30, 0.69), (21 / 30, 0.69)]


def test_rules_pick_the_candidates_they_describe() -> None:
    pick = {name: rule(FALLING, 30) for name, rule in replay.RULES.items()}
    assert pick["last (returned today)"] == 0.69
    assert pick["first accepted"] == 0.73
    assert pick["earliest within one example"] == 0.69  # 20/30 is within one example of 21/30
    assert pick["move on +2 examples"] == 0.69  # seed -> 19/30 (+2) -> 21/30 (+2 again)
    assert pick["move on +3 examples"] == 0.69  # seed -> 20/30 (+3); 21/30 is only +1 from there
    assert pick["oracle (best test)"] == 0.73
    last_step_noise = [(15 / 30, 0.60), (17 / 30, 0.75), (18 / 30, 0.70)]
    assert replay.RULES["move on +2 examples"](last_step_noise, 30) == 0.75  # the final +1 is not followed
    assert replay.RULES["last (returned today)"](last_step_noise, 30) == 0.70
    assert replay.RULES["first accepted"]([(0.5, 0.6)], 30) == 0.6  # a run that found nothing returns the seed


def test_runs_found_in_several_files_count_once_and_unreplayable_ones_are_left_out(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    row = {"task": "banking-9", "optimizer": "gepetto", "seed": 0, "val_curve": [[30, 0.5], [60, 0.6]], "curve": [[0, 0.7], [60, 0.75]]}
    parked = {**row, "seed": 1, "curve": [[0, 0.7]]}  # curves of different lengths
    for name in ("compare-a.json", "compare-combined.json"):
        (tmp_path / name).write_text(json.dumps({"rows": [row, parked, {**row, "optimizer": "seed"}]}))
    monkeypatch.setattr(replay, "RESULTS", tmp_path)
    runs = replay.load_runs()
    assert len(runs) == 1 and runs[0]["points"] == [(0.5, 0.7), (0.6, 0.75)]
