"""benchmarks/closing_line.py's closing lines and its reading of stored runs (no server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
closing_line = load_script("closing_line")

TEXT = ("Classify the query into one of these intents: a, b. Answer with the intent label only.\n\n"
        "Label definitions:\n- a: first thing\n- b: second thing\n\nExamples:\nInput: hello\na")


def test_format_last_repeats_the_opening_paragraphs_last_sentence_at_the_end() -> None:
    out = closing_line.closing(TEXT, "format-last", ["a", "b"])
    assert out.startswith(TEXT) and out.endswith("\n\nAnswer with the intent label only.")


def test_labels_last_names_every_label_and_as_is_changes_nothing() -> None:
    assert closing_line.closing(TEXT, "labels-last", ["a", "b", "c"]).endswith("\n\nAnswer with exactly one of: a, b, c.")
    assert closing_line.closing(TEXT, "as-is", ["a"]) == TEXT
    with pytest.raises(ValueError, match="unknown variant"):
        closing_line.closing(TEXT, "middle", ["a"])


def test_only_gepetto_texts_with_definitions_are_taken_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the section_pairs module closing_line imported (another test may load its own copy)
    monkeypatch.setitem(closing_line._returned_texts.__globals__, "RESULTS", tmp_path)
    row = {"optimizer": "gepetto", "task": "t9", "seed": 0, "best_test": 0.7, "best_instruction": {"classify": TEXT}}
    (tmp_path / "compare-t9-a.json").write_text(json.dumps({"rows": [
        row,
        {**row, "seed": 1},                                                      # the same text again
        {**row, "seed": 2, "best_instruction": {"classify": "Classify. Answer."}},  # no definitions list
        {**row, "seed": 3, "optimizer": "gepa", "best_instruction": {"classify": TEXT + " x"}},  # a peer's text
    ]}))
    found = closing_line.texts_with_definitions("t9", None)
    assert [(f["seed"], f["text"]) for f in found] == [(0, TEXT)]
