"""Telling apart two labels whose definition lines say the same thing."""

from __future__ import annotations

import random

from gepetto import Candidate, ModuleRecord, ReflectionConfig
from gepetto.lm import ScriptedLM
from gepetto.proposers.distinct import blurred_pairs, label_to_rewrite, shared_name_words
from gepetto.proposers.edits import EditProposer, split_sections

LABELS = ["card_arrival", "card_delivery_estimate", "declined_transfer", "card_payment_declined"]
PAIRS = [
    ("my card has not arrived, where is it", "card_arrival"),
    ("I still do not have my new card", "card_arrival"),
    ("is there a tracking number for my card", "card_arrival"),
    ("how long does delivery to the US take", "card_delivery_estimate"),
    ("why was my transfer declined", "declined_transfer"),
]


def rec(text: str, expected: str, output: str, score: float) -> ModuleRecord:
    return ModuleRecord("classify", {"input": text}, output, f"expected {expected}", score, expected)


def test_lines_sharing_their_content_words_are_blurred_and_a_shared_theme_is_not() -> None:
    # measured banking-9 lines (docs/measurements.md, "Spread examples and distinct lines")
    definitions = {
        "card_arrival": "Waiting for delivery of a new card.",
        "card_delivery_estimate": "Waiting for delivery of card",
        "pending_card_payment": "Waiting for card payment to be processed",
        "declined_transfer": "Transfer process is failing, causing transfer to be declined.",
        "card_payment_declined": "A text asking about declined transfer.",
        "lost_or_stolen_card": "lost their card",
    }
    labels = list(definitions)
    assert shared_name_words(labels) == {"card"}  # "card" names most labels: it tells no line apart
    assert blurred_pairs(definitions, labels) == [
        ("card_arrival", "card_delivery_estimate"), ("declined_transfer", "card_payment_declined"),
    ]
    # one shared word ("waiting") is a theme, not a copy; nor is a line of frame words only
    assert blurred_pairs({"a": "waiting for payment", "b": "waiting for delivery"}, ["a", "b"]) == []
    assert blurred_pairs({"a": "a text about it", "b": "a text about it"}, ["a", "b"]) == []


def test_the_label_with_less_evidence_is_the_one_written_again() -> None:
    known = {"card_arrival": ["x"] * 9, "card_delivery_estimate": ["y"] * 6}
    assert label_to_rewrite(("card_arrival", "card_delivery_estimate"), known) == "card_delivery_estimate"
    assert label_to_rewrite(("declined_transfer", "card_payment_declined"), {"declined_transfer": ["z"]}) == "card_payment_declined"
    assert label_to_rewrite(("a", "b"), {"a": ["1"], "b": ["2"]}) == "b"  # a tie: the later one


def _proposer(reply_for, distinct: bool) -> tuple[EditProposer, ScriptedLM]:  # noqa: ANN001
    def respond(messages):  # noqa: ANN001, ANN202
        prompt = messages[-1]["content"]
        label = prompt.rsplit("\n", 1)[-1].split(":", 1)[0]
        return f"{label}: {reply_for(label, prompt)}"
    lm = ScriptedLM(respond=respond)
    proposer = EditProposer(lm, ReflectionConfig(definition_distinct=distinct, demonstrations=False), labels=LABELS)
    proposer.prime(PAIRS)
    return proposer, lm


def _first_set(proposer: EditProposer) -> dict[str, str]:
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify",
                                [rec(PAIRS[0][0], "card_arrival", "card_delivery_estimate", 0.0)], rng=random.Random(0), iteration=1)
    return split_sections(proposal.text or "")[1]


def blurring_writer(label: str, prompt: str) -> str:
    """A small model's habit: the same line for both delivery labels, until told the other's line."""
    if "sets it apart" in prompt:
        return {"card_delivery_estimate": "asks how long delivery usually takes, before any delay",
                "card_payment_declined": "a card payment in a shop or online was refused"}[label]
    return {"card_arrival": "waiting for delivery of a new card", "card_delivery_estimate": "waiting for delivery of the card",
            "declined_transfer": "the bank declined a transfer", "card_payment_declined": "a transfer was declined"}[label]


def test_a_blurred_pair_gets_one_line_written_again_beside_the_others() -> None:
    proposer, lm = _proposer(blurring_writer, distinct=True)
    definitions = _first_set(proposer)
    assert definitions["card_arrival"] == "waiting for delivery of a new card"  # more training texts: kept
    assert definitions["card_delivery_estimate"] == "asks how long delivery usually takes, before any delay"
    assert definitions["card_payment_declined"] == "a card payment in a shop or online was refused"
    asks = [c.messages[-1]["content"] for c in lm.calls if "sets it apart" in c.messages[-1]["content"]]
    assert len(asks) == 2  # one per blurred pair
    seen = next(a for a in asks if a.rsplit("\n", 1)[-1].startswith("card_delivery_estimate"))
    # shown: its own texts, the partner's texts and the partner's line
    assert "how long does delivery to the US take" in seen and "I still do not have my new card" in seen
    assert '"card_arrival" is defined as: waiting for delivery of a new card' in seen
    unseen = next(a for a in asks if a.rsplit("\n", 1)[-1].startswith("card_payment_declined"))
    assert 'No example of "card_payment_declined"' in unseen and "from what its name says" in unseen
    assert "why was my transfer declined" in unseen


def test_a_second_line_as_blurred_as_the_first_is_not_kept_and_the_setting_is_off_by_default() -> None:
    def stubborn(label: str, prompt: str) -> str:
        if "sets it apart" in prompt:
            return "still waiting for delivery of the card"
        return blurring_writer(label, prompt)
    proposer, _ = _proposer(stubborn, distinct=True)
    assert _first_set(proposer)["card_delivery_estimate"] == "waiting for delivery of the card"
    plain, lm = _proposer(blurring_writer, distinct=False)
    assert _first_set(plain)["card_delivery_estimate"] == "waiting for delivery of the card"
    assert not any("sets it apart" in c.messages[-1]["content"] for c in lm.calls)
    assert ReflectionConfig().definition_distinct is False


def test_the_step_alone_separates_a_set_written_without_it() -> None:
    proposer, lm = _proposer(blurring_writer, distinct=False)
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify",
                                [rec(PAIRS[0][0], "card_arrival", "card_delivery_estimate", 0.0)], rng=random.Random(0), iteration=1)
    assert proposal.text is not None
    separated, asks = proposer.separate_blurred("classify", proposal.text, rec(PAIRS[0][0], "card_arrival", "x", 0.0), iteration=1)
    body, definitions, _ = split_sections(separated)
    assert body == "Classify."
    assert definitions["card_delivery_estimate"] == "asks how long delivery usually takes, before any delay"
    assert definitions["card_arrival"] == "waiting for delivery of a new card"
    assert len(asks) == 2 and all(a.refusal is None for a in asks)
    unchanged, none = proposer.separate_blurred("classify", separated, rec(PAIRS[0][0], "card_arrival", "x", 0.0), iteration=2)
    assert unchanged == separated and none == []  # nothing blurred left: no ask
