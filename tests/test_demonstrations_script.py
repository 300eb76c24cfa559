"""benchmarks/demonstrations.py builds its sections with the product's proposer; checked
here with scripted models (the numbers themselves come from the embedded ones)."""

from __future__ import annotations

import sys
from pathlib import Path

from gepetto.lm import ScriptedLM
from tests.benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def load():  # noqa: ANN201
    sys.path.insert(0, str(ROOT / "benchmarks"))
    return load_script("demonstrations")


def test_banking_rows_score_the_examples_section_and_its_layouts() -> None:
    demos = load()
    rows = demos.banking_rows(ScriptedLM(respond=lambda m: "card_arrival"), draws=1)
    names = [r["instruction"] for r in rows]
    assert names[:4] == ["seed", "seed + examples 0", "seed + examples 0, training order", 'seed + examples 0, "Answer:" lines']
    first = rows[1]["text"]
    assert "\n\nExamples:\nInput: " in first and "\nAnswer: " not in first
    assert "\nAnswer: card_arrival" in rows[3]["text"] or "\nAnswer: activate_my_card" in rows[3]["text"]
    # the training-order layout holds the same lines
    assert sorted(rows[2]["text"].splitlines()) == sorted(first.splitlines())
    assert all(0.0 <= r["test"] <= 1.0 for r in rows if "test" in r)


def test_bbh_rows_build_a_checked_worked_example() -> None:
    demos = load()

    def reply(messages: list[dict[str, str]]) -> str:
        user = messages[-1]["content"]
        if "Solve this input step by step" in user:
            gold = user.split("Correct answer: ")[1].split("\n")[0]
            return f"1. I read the list.\n2. So the total is {gold}."
        return "Answer: 5"

    rows = demos.bbh_rows(ScriptedLM(respond=reply), "object_counting", draws=1)
    assert [r["instruction"] for r in rows] == ["seed", "seed + step-by-step line", "seed + worked example 0"]
    assert "Worked example (solve every input step by step like this, then give the answer line):\nInput: " in rows[2]["text"] and rows[2]["text"].splitlines()[-1].startswith("Answer: ")


def test_dev_groups_score_the_layouts_on_other_banking_intents() -> None:
    demos = load()
    rows = demos.banking_rows(ScriptedLM(respond=lambda m: "top_up_failed"), draws=1, group="top-up")
    assert {r["task"] for r in rows} == {"banking-top-up"}
    names = [r["instruction"] for r in rows]
    assert "hand-written" not in names  # banking-9's list says nothing about these intents
    assert names == ["seed", "seed + examples 0", "seed + examples 0, training order", 'seed + examples 0, "Answer:" lines',
                     'seed + examples 0, training order, "Answer:" lines']
    section = rows[1]["text"].split("\n\nExamples:\n")[1]
    assert "top_up_failed" in section and "card_arrival" not in section
    assert rows[4]["text"].count("\nAnswer: ") == rows[1]["text"].count("\nInput: ")


def test_per_label_rows_build_sections_with_k_inputs_per_label() -> None:
    demos = load()
    rows = demos.per_label_rows(ScriptedLM(respond=lambda m: "transfer_timing"), [1, 2], group="transfer")
    assert [r["instruction"] for r in rows] == ["seed + 1 per label", "seed + 2 per label"]
    one, two = (r["text"].split("\n\nExamples:\n")[1] for r in rows)
    from gepetto.tasks.banking import banking_task

    train = banking_task(demos.DEV_GROUPS["transfer"], distractors=()).train
    seen = {ex["label"] for ex in train}
    twice = {label for label in seen if sum(ex["label"] == label for ex in train) >= 2}
    assert one.count("Input: ") == len(seen) and two.count("Input: ") == len(seen) + len(twice)
    assert two.startswith(one)  # the second round follows the first
