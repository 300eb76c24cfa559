"""Per-label results of a classifier: what accuracy alone hides."""

from __future__ import annotations

import pytest

from gepetto import PromptSystem
from gepetto.lm import ScriptedLM
from gepetto.lm.base import LMError
from gepetto.systems.breakdown import (
    CALL_FAILED, NO_LABEL, REJECTED, SEVERAL_LABELS, breakdown_of, breakdown_table, label_breakdown,
)

LABELS = ["card_arrival", "card_delivery_estimate", "card_swallowed"]


def test_recall_per_label_and_the_errors_behind_it() -> None:
    expected = ["card_arrival"] * 4 + ["card_swallowed"] * 2 + ["card_delivery_estimate"]
    replies = ["card_arrival", "card_delivery_estimate", "card arrival", "I'm not sure",
               "card_swallowed", "card_arrival or card_swallowed", "card_delivery_estimate"]
    b = label_breakdown(expected, replies, LABELS)
    assert b.support == {"card_arrival": 4, "card_delivery_estimate": 1, "card_swallowed": 2}
    assert b.correct == {"card_arrival": 2, "card_delivery_estimate": 1, "card_swallowed": 1}
    assert b.accuracy == pytest.approx(4 / 7)
    assert b.balanced_accuracy == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # a reply naming two labels is an error of its own kind, never read as either label
    assert set(b.top_confusions()) == {("card_arrival", "card_delivery_estimate", 1), ("card_arrival", NO_LABEL, 1),
                                       ("card_swallowed", SEVERAL_LABELS, 1)}
    assert b.recall("not_in_the_data") is None


def test_a_prompt_that_never_answers_a_minority_label_shows_in_balanced_accuracy() -> None:
    """Prevalence hacking: same accuracy, one label dropped."""
    expected = ["a"] * 8 + ["b"] * 2
    honest = label_breakdown(expected, ["a"] * 7 + ["b"] + ["b", "a"], ["a", "b"])
    hacked = label_breakdown(expected, ["a"] * 10, ["a", "b"])
    assert honest.accuracy == hacked.accuracy == 0.8
    assert hacked.balanced_accuracy == 0.5 < honest.balanced_accuracy
    table = breakdown_table(honest, hacked, names=("honest", "hacked"))
    b_row = next(line for line in table.splitlines() if line.startswith("b "))
    assert "0.50 -> 0.00" in b_row and b_row.endswith("lower")
    assert "balanced accuracy (mean recall): 0.688 -> 0.500" in table
    assert "commonest errors of hacked: b answered as a ×2" in table


def test_gold_labels_outside_the_declared_set_are_counted_and_lengths_must_match() -> None:
    b = label_breakdown(["other", "a"], ["a", "a"], ["a"])
    assert b.support == {"a": 1, "other": 1} and b.top_confusions() == [("other", "a", 1)]
    assert b.to_dict()["per_label"]["other"] == {"support": 1, "correct": 0}
    with pytest.raises(ValueError, match="2 expected labels but 1 replies"):
        label_breakdown(["a", "a"], ["a"], ["a"])
    # labels that are not strings, replies that are not text, examples without a gold answer
    odd = label_breakdown([0, 1, None], ["0", None, "1"], [0, 1])
    assert odd.support == {"0": 1, "1": 1} and odd.top_confusions() == [("1", NO_LABEL, 1)]
    empty = label_breakdown([], [], ["a"])
    assert empty.accuracy is None and empty.to_dict()["balanced_accuracy"] is None


def test_the_systems_own_scores_decide_and_failed_calls_are_named() -> None:
    """The table must agree with the accuracy printed above it, whatever the metric."""
    data = [{"q": "x", "a": "no"}, {"q": "y", "a": "no"}, {"q": "boom", "a": "yes"}]

    def reply(messages):
        if messages[-1]["content"] == "boom":
            raise LMError("timed out")
        return "No." if messages[-1]["content"] == "x" else "no"

    system = PromptSystem(lm=ScriptedLM(respond=reply), seed_instruction="Say yes or no.", render=lambda ex: ex["q"],
                          metric=lambda ex, r: float(r == ex["a"]), expected=lambda ex: ex["a"], labels=["yes", "no"],
                          concurrency=1)
    results = system.evaluate(system.seed_candidate, data)
    b = breakdown_of(system, data, results)
    assert b is not None and b.accuracy == sum(r.score for r in results) / 3 == pytest.approx(1 / 3)
    assert dict(b.confusions) == {("no", REJECTED): 1, ("yes", CALL_FAILED): 1}
    unlabelled = PromptSystem(lm=ScriptedLM(respond=reply), seed_instruction="Answer.", render=lambda ex: ex["q"],
                              metric=lambda ex, r: 0.0, expected=lambda ex: ex["a"])
    assert breakdown_of(unlabelled, data, results) is None  # not a classifier: nothing to break down
