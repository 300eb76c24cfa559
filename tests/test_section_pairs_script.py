"""benchmarks/section_pairs.py's reading of stored runs and its pull count (scripted LM, no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gepetto.lm.callable_lm import CallableLM
from gepetto.systems.prompt_system import PromptSystem
from tests.benchmark_scripts import load_script

section_pairs = load_script("section_pairs")

WITH = "Classify.\n\nLabel definitions:\n- a: first\n\nExamples:\nInput: hello\na"
WITHOUT = "Classify.\n\nLabel definitions:\n- a: first"


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text(json.dumps({"meta": {}, "rows": rows}))


def test_stored_texts_keeps_gepetto_runs_with_a_section_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(section_pairs, "RESULTS", tmp_path)
    row = {"optimizer": "gepetto", "task": "t9", "seed": 0, "best_test": 0.7, "best_instruction": {"classify": WITH}}
    _write(tmp_path / "compare-t9-run1.json", [
        row,
        {**row, "seed": 1, "best_instruction": {"classify": WITHOUT}},  # no section: nothing to pair
        {**row, "optimizer": "gepa", "seed": 2},                          # a peer's text
        {**row, "task": "other", "seed": 3},                              # another task in a combined file
    ])
    _write(tmp_path / "compare-t9-run2.json", [{**row, "seed": 4}])       # the same text again (combined tables)
    found = section_pairs.stored_texts("t9")
    assert [(f["file"], f["seed"]) for f in found] == [("compare-t9-run1.json", 0)]
    assert section_pairs.stored_texts("t9", ["run2"]) == [
        {"file": "compare-t9-run2.json", "optimizer": "gepetto", "seed": 4, "text": WITH, "stored_test": 0.7}]
    assert section_pairs.stored_texts("t9", ["run3"]) == []


def test_evaluate_counts_wrong_answers_naming_a_label_without_training_texts() -> None:
    replies = {"q1": "a", "q2": "c", "q3": "b", "q4": "c"}
    lm = CallableLM(lambda prompt: replies[prompt.rsplit("\n\n", 1)[-1]])
    system = PromptSystem(lm=lm, seed_instruction="Classify.", render=lambda ex: ex["text"],
                          metric=lambda ex, reply: float(reply.strip() == ex["label"]), module="classify",
                          expected=lambda ex: ex["label"], labels=["a", "b", "c"])
    examples = [{"text": "q1", "label": "a"}, {"text": "q2", "label": "a"}, {"text": "q3", "label": "a"},
                {"text": "q4", "label": "c"}]
    out = section_pairs.evaluate(system, "Classify.", examples, seen={"a", "b"})
    assert out["score"] == pytest.approx(0.5)
    assert out["unseen_pull"] == 1  # q2 said c, which no training text shows; q3's wrong b is a seen label


section_layouts = load_script("section_layouts")

FULL = """Classify. Answer with the label only.

Label definitions:
- a: the first kind
- b: the second kind.
- c: no example of this one

Examples:
Input: one of a
a
Input: one of b
b"""


def test_layouts_move_the_same_examples_and_keep_every_definition() -> None:
    from gepetto.proposers.edits import split_example, split_sections

    assert section_layouts.layout(FULL, "after") == FULL
    assert section_layouts.layout(FULL, "none") == split_example(FULL)[0]
    before = section_layouts.layout(FULL, "before")
    assert before.index("Examples:") < before.index("Label definitions:")
    assert split_sections(before)[1] == split_sections(split_example(FULL)[0])[1]
    inline = section_layouts.layout(FULL, "inline")
    assert "Examples:" not in inline
    assert split_sections(inline)[1] == {"a": 'the first kind. Example: "one of a"', "b": 'the second kind. Example: "one of b"',
                                         "c": "no example of this one"}
    assert section_layouts.examples_of(split_example(FULL)[1]) == [("one of a", "a"), ("one of b", "b")]
    rest = split_example(FULL)[0]
    assert section_layouts.layout(FULL, "labelled") == rest + '\n\nExamples:\na: "one of a"\nb: "one of b"'
    assert section_layouts.layout(FULL, "labelled-all") == (
        rest + '\n\nExamples:\na: "one of a"\nb: "one of b"\nc: (no example)')


def test_stored_pull_groups_runs_by_section_and_counts_answers_naming_unseen_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(section_pairs, "RESULTS", tmp_path)

    def labels(pulled: int) -> dict:
        return {"per_label": {"a": {"support": 5, "correct": 3}},
                "confusions": [{"expected": "a", "answered": "c", "count": pulled},
                               {"expected": "a", "answered": "b", "count": 1},
                               {"expected": "a", "answered": "(no label)", "count": 1}]}

    row = {"optimizer": "gepetto", "task": "t9", "seed": 0}
    _write(tmp_path / "compare-t9-x.json", [
        {**row, "best_test": 0.6, "best_instruction": {"m": WITH}, "best_test_labels": labels(4)},
        {**row, "best_test": 0.8, "best_instruction": {"m": WITHOUT}, "best_test_labels": labels(0)},
        {**row, "best_test": 0.7, "best_instruction": {"m": WITH}},  # no per-label results: left out
    ])
    out = section_pairs.stored_pull("t9", seen={"a", "b"})
    assert out["with"] == {"runs": 1, "test": 0.6, "pull": 4}
    assert out["without"] == {"runs": 1, "test": 0.8, "pull": 0}
