"""benchmarks/pull_queries.py's reading of replies and its choice of pulled queries (no server)."""

from __future__ import annotations

import sys
from pathlib import Path

from gepetto.systems.breakdown import NO_LABEL, SEVERAL_LABELS
from gepetto.systems.metrics import LabelMetric
from tests.benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
pull_queries = load_script("pull_queries")

METRIC = LabelMetric(["declined_transfer", "card_payment_declined", "card_arrival"])


def test_answered_reads_one_label_and_marks_none_or_several() -> None:
    assert pull_queries.answered(METRIC, "card_payment_declined") == "card_payment_declined"
    assert pull_queries.answered(METRIC, "I think: declined_transfer.") == "declined_transfer"
    assert pull_queries.answered(METRIC, "no idea") == NO_LABEL == "(no label)"
    assert pull_queries.answered(METRIC, "declined_transfer or card_arrival") == SEVERAL_LABELS == "(several labels)"
    assert pull_queries.answered(METRIC, None) == NO_LABEL


def test_pulled_keeps_rows_where_either_version_names_an_unseen_label() -> None:
    rows = [
        {"query": "q1", "gold": "declined_transfer", "with": "card_payment_declined", "without": "declined_transfer"},
        {"query": "q2", "gold": "declined_transfer", "with": "declined_transfer", "without": "declined_transfer"},
        {"query": "q3", "gold": "card_arrival", "with": "card_arrival", "without": "card_payment_declined"},
        {"query": "q4", "gold": "card_arrival", "with": "declined_transfer", "without": NO_LABEL},
        {"query": "q5", "gold": "card_payment_declined", "with": "card_payment_declined", "without": "card_arrival"},
    ]
    # q5 names the unseen label and is right: no pull
    assert [r["query"] for r in pull_queries.pulled(rows, {"card_payment_declined"})] == ["q1", "q3"]
