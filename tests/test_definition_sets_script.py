"""benchmarks/definition_sets.py's pairing helper for ``--pair-name`` (no model)."""

from __future__ import annotations

from gepetto.proposers.edits import split_sections
from tests.benchmark_scripts import load_script

definition_sets = load_script("definition_sets")

TEXT = """Classify the query. Answer with the intent label only.

Label definitions:
- card_arrival: waiting for a new card
- card_swallowed: a card accidentally swallowed by a person
- card_payment_declined: a customer cancels a payment"""


def test_pair_name_replaces_only_the_lines_of_labels_without_training_texts() -> None:
    named = definition_sets.with_name_lines(TEXT, {"card_arrival"})
    body, definitions, rules = split_sections(named)
    assert body.startswith("Classify the query.") and rules == []
    assert definitions == {"card_arrival": "waiting for a new card", "card_swallowed": "card swallowed",
                           "card_payment_declined": "card payment declined"}
    assert definition_sets.with_name_lines(TEXT, {"card_arrival", "card_swallowed", "card_payment_declined"}) == TEXT
