"""The consensus line among sampled definition lines, and its use in a definition set."""

from __future__ import annotations

import random

import pytest

from gepetto.core.candidate import Candidate
from gepetto.core.config import ReflectionConfig
from gepetto.lm import ScriptedLM
from gepetto.proposers.consensus import consensus_index, content_words
from gepetto.proposers.edits import EditProposer, split_sections
from gepetto.systems.adapter import ModuleRecord

LABELS = ["card_arrival", "lost_or_stolen_card", "declined_transfer"]

# five lines the 1.5B wrote for banking-9's card_delivery_estimate from one prompt (2026-12-03)
DELIVERY = [
    "Waiting for delivery to a customer.",
    "Looking for a quick delivery time.",
    "Waiting for delivery.",
    "Customer is in a rush to receive their card.",  # a training query's detail ("i am in a rush")
    "expecting a delivery time",
]


def test_the_line_the_others_agree_with_wins_over_an_outlier() -> None:
    chosen = consensus_index(DELIVERY)
    assert DELIVERY[chosen] != "Customer is in a rush to receive their card."
    assert "delivery" in content_words(DELIVERY[chosen])


def test_function_words_do_not_count_as_agreement() -> None:
    # the first two share only "the", "of", "a": the third shares content with both
    lines = ["the end of a transfer", "a photo of the cat", "a transfer photo was refused"]
    assert content_words("the end of a transfer") == {"end", "transfer"}
    assert consensus_index(lines) == 2


def test_one_line_or_lines_sharing_nothing_keep_the_first() -> None:
    assert consensus_index(["only one line here"]) == 0
    assert consensus_index(["apples grow", "rivers flow", "stars shine"]) == 0
    with pytest.raises(ValueError):
        consensus_index([])


def _record() -> ModuleRecord:
    return ModuleRecord("classify", {"input": "where is my new card"}, "declined_transfer", "wrong", 0.0, "card_arrival")


def _proposer(replies: dict[str, list[str]], samples: int) -> tuple[EditProposer, ScriptedLM]:
    queues = {label: iter(lines) for label, lines in replies.items()}

    def respond(messages: list[dict[str, str]]) -> str:
        label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
        return f"{label}: {next(queues[label])}"

    lm = ScriptedLM(respond=respond)
    proposer = EditProposer(lm, ReflectionConfig(definition_samples=samples, define_unseen_labels=False), labels=LABELS)
    proposer.prime([("where is my new card", "card_arrival"), ("someone took my card from my bag on the train", "lost_or_stolen_card"),
                    ("my transfer did not go through", "declined_transfer")])
    return proposer, lm


def test_a_definition_set_takes_each_labels_consensus_line_and_records_the_rest_as_outvoted() -> None:
    replies = {
        "card_arrival": ["a card that was ordered and has not arrived", "a card swallowed by a person or an animal",
                         "an ordered card that has not arrived yet"],
        "lost_or_stolen_card": ["the card is lost or was stolen", "the customer lost the card or it was stolen",
                                "a card someone stole"],
        "declined_transfer": ["a transfer that was declined", "a money transfer the bank declined",
                              "a transfer to another account was declined"],
    }
    proposer, lm = _proposer(replies, samples=3)
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", [_record()], rng=random.Random(0), iteration=1)
    definitions = split_sections(proposal.text or "")[1]
    assert definitions["card_arrival"] in ("a card that was ordered and has not arrived", "an ordered card that has not arrived yet")
    assert definitions["lost_or_stolen_card"] != "a card someone stole"
    assert len(lm.calls) == 9 and len({c.sample_index for c in lm.calls}) == 9
    refusals = [a.refusal for a in proposal.attempts]
    assert refusals.count("outvoted") == 6 and refusals.count(None) == 3
    # what each kept attempt says is what went into the set
    kept = [a.text for a in proposal.attempts if a.refusal is None]
    assert sorted(kept) == sorted(definitions.values())


def test_a_refused_sample_is_re_asked_and_does_not_vote() -> None:
    replies = {
        "card_arrival": ["a card that was ordered and has not arrived", "an ordered card that has not arrived yet"],
        # the first sample pastes a training query: re-asked, the paste never competes
        "lost_or_stolen_card": ["someone took my card from my bag on the train", "the card is lost or was stolen",
                                "the customer lost the card or it was stolen"],
        "declined_transfer": ["a transfer that was declined", "a money transfer the bank declined"],
    }
    proposer, lm = _proposer(replies, samples=2)
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", [_record()], rng=random.Random(0), iteration=1)
    definitions = split_sections(proposal.text or "")[1]
    assert "bag on the train" not in definitions["lost_or_stolen_card"]
    assert [a.refusal for a in proposal.attempts].count("copied-training-input") == 1
    assert len(lm.calls) == 7


def test_one_sample_per_line_keeps_the_first_reply() -> None:
    replies = {label: [f"the first line for {label.replace('_', ' ')}", "a second line nobody asked for"] for label in LABELS}
    proposer, lm = _proposer(replies, samples=1)
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", [_record()], rng=random.Random(0), iteration=1)
    definitions = split_sections(proposal.text or "")[1]
    assert all(line.startswith("the first line") for line in definitions.values())
    assert len(lm.calls) == 3 and "outvoted" not in [a.refusal for a in proposal.attempts]
