"""Staged validation in the engine: a child that passed the gate by luck is parked after
the instances where it could have gained, a child that gains is scored in full, and the
run otherwise is the same run as with full validation."""

from __future__ import annotations

from gepetto import Config, ExampleResult, ModuleRecord, optimize
from gepetto.systems.adapter import FunctionSystem
from tests.engine.toy import Offers

# Which examples each instruction gets right. Every challenger beats the seed on every
# training minibatch (so it passes the gate); on validation "lucky" fixes nothing the seed
# missed and "fixer" solves one more instance than the seed.
RIGHT = {
    "seed": {("val", i) for i in range(6)},
    "lucky": {("train", i) for i in range(6)} | {("val", i) for i in range(5)},
    "fixer": {("train", i) for i in range(6)} | {("val", i) for i in range(7)},
}
TRAIN = [("train", i) for i in range(6)]
VAL = [("val", i) for i in range(10)]


def run_one(candidate, example) -> ExampleResult:  # noqa: ANN001
    text = candidate["m"]
    score = 1.0 if example in RIGHT[text] else 0.0
    return ExampleResult(score, text, "right" if score else "wrong", records=(ModuleRecord("m", {"x": str(example)}, text, "fb", score),))




def _run(validation: str, *texts: str):  # noqa: ANN202
    config = Config(max_rollouts=200, minibatch_size=3, use_merge=False, seed=0, max_iterations=4, validation=validation)
    return optimize(FunctionSystem(run_one), TRAIN, VAL, seed_candidate={"m": "seed"}, proposer=Offers(*texts), config=config)


def test_a_lucky_child_is_parked_after_the_first_stage() -> None:
    result = _run("staged", "lucky")
    lucky = next(p for p in result.proposals if p.texts.get("m") == "lucky")
    assert lucky.status == "parked"
    assert result.parked == [lucky.child_index]
    row = result.val_scores[lucky.child_index]
    # scored only where the seed was wrong (instances 6-9), where it fixed nothing
    assert [j for j, v in enumerate(row) if v == v] == [6, 7, 8, 9]
    assert result.best_candidate["m"] == "seed"
    assert lucky.child_index not in result.pareto_front
    assert result.rollouts_by_kind["validation"] == 10 + 4


def test_a_child_that_gains_is_scored_in_full_and_wins() -> None:
    result = _run("staged", "lucky", "fixer")
    assert result.best_candidate["m"] == "fixer"
    fixer = next(p for p in result.proposals if p.texts.get("m") == "fixer")
    assert fixer.status == "accepted"
    assert all(v == v for v in result.val_scores[fixer.child_index])
    # lucky's parent is the seed; fixer may descend from either: never from a parked child
    assert fixer.parent != result.parked[0]


def test_full_validation_pays_for_every_child_and_picks_the_same_best() -> None:
    staged, full = _run("staged", "lucky", "fixer"), _run("full", "lucky", "fixer")
    assert full.parked == [] and all(p.status != "parked" for p in full.proposals)
    assert staged.best_candidate == full.best_candidate
    assert full.rollouts_by_kind["validation"] == 3 * 10
    assert staged.rollouts_by_kind["validation"] == 2 * 10 + 4
    assert staged.improvements() == full.improvements()


def test_paper_mode_uses_full_validation() -> None:
    assert Config.paper_mode().validation == "full"
    assert Config().validation == "staged"


def test_when_nothing_is_parked_the_run_is_the_full_validation_run() -> None:
    staged, full = _run("staged", "fixer"), _run("full", "fixer")
    assert staged.parked == []
    assert staged.proposals == full.proposals
    assert staged.val_scores == full.val_scores
