"""The held-out final check: a candidate that was only lucky on a small validation set
must not be returned; a real improvement still is."""

from __future__ import annotations

import pytest

from gepetto import Config, ExampleResult, ModuleRecord, optimize
from gepetto.systems.adapter import FunctionSystem
from tests.engine.toy import Offers

# Which examples each instruction gets right. Training: "lucky" beats the seed and "real"
# beats both, so each passes the gate whichever parent it comes from. Validation (10): "lucky" looks best (8 vs the real one's 7).
# Held out (40): "lucky" is in truth worse than the seed, "real" much better.
RIGHT = {
    "seed": {("train", i) for i in range(0)} | {("val", i) for i in range(5)} | {("hold", i) for i in range(20)},
    "lucky": {("train", i) for i in (0, 2, 4)} | {("val", i) for i in range(8)} | {("hold", i) for i in range(16)},
    "real": {("train", i) for i in range(6)} | {("val", i) for i in range(7)} | {("hold", i) for i in range(30)},
}
TRAIN = [("train", i) for i in range(6)]
VAL = [("val", i) for i in range(10)]
HOLD = [("hold", i) for i in range(40)]


def run_one(candidate, example) -> ExampleResult:  # noqa: ANN001
    text = candidate["m"]
    score = 1.0 if example in RIGHT[text] else 0.0
    return ExampleResult(score, text, "right" if score else "wrong", records=(ModuleRecord("m", {"x": str(example)}, text, "fb", score),))




def _run(proposer, holdout, budget: int = 300):  # noqa: ANN001, ANN202
    config = Config(max_rollouts=budget, minibatch_size=3, use_merge=False, seed=0, max_iterations=6)
    return optimize(FunctionSystem(run_one), TRAIN, VAL, seed_candidate={"m": "seed"}, proposer=proposer, config=config, holdout=holdout)


def _text(result) -> str:  # noqa: ANN001
    return result.best_candidate["m"]


def test_without_a_holdout_the_lucky_candidate_wins() -> None:
    assert _text(_run(Offers("lucky", "real"), ())) == "lucky"


def test_with_a_holdout_the_real_improvement_wins() -> None:
    result = _run(Offers("lucky", "real"), HOLD)
    assert _text(result) == "real"
    texts = {i: result.candidates[i].candidate["m"] for i in result.holdout_means}
    assert {texts[i]: m for i, m in result.holdout_means.items()} == {"seed": 0.5, "lucky": 0.4, "real": 0.75}


def test_with_a_holdout_a_merely_lucky_candidate_does_not_replace_the_seed() -> None:
    result = _run(Offers("lucky"), HOLD)
    assert result.val_means[1] > result.val_means[0]  # it did look better on validation
    assert _text(result) == "seed"


def test_the_holdout_is_paid_from_a_reserve_and_the_budget_holds() -> None:
    result = _run(Offers("lucky", "real"), HOLD, budget=300)
    assert result.rollouts_used <= 300
    assert result.rollouts_by_kind["holdout"] == 3 * 40  # seed + the two challengers (top_k 3, only 2 exist)
    with pytest.raises(ValueError, match="held-out final check"):
        _run(Offers("lucky"), HOLD, budget=150)  # keeps back 4 x 40 = 160


def test_a_finished_run_with_a_holdout_replays_on_resume(tmp_path) -> None:
    calls = []

    def counted(candidate, example) -> ExampleResult:  # noqa: ANN001
        calls.append(example)
        return run_one(candidate, example)

    config = Config(max_rollouts=300, minibatch_size=3, use_merge=False, seed=0, max_iterations=6)
    kwargs = dict(seed_candidate={"m": "seed"}, config=config, holdout=HOLD, run_dir=tmp_path / "run")
    first = optimize(FunctionSystem(counted), TRAIN, VAL, proposer=Offers("lucky", "real"), **kwargs)
    n = len(calls)
    again = optimize(FunctionSystem(counted), TRAIN, VAL, proposer=Offers("lucky", "real"), resume=True, **kwargs)
    assert len(calls) == n  # everything, the held-out scores included, came from the run store
    assert again.best_candidate == first.best_candidate and again.holdout_means == first.holdout_means
