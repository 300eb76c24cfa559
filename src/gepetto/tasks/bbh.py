"""BIG-Bench Hard tasks with fixed seeded splits and answer-format-aware feedback.

Each BBH task has about 250 examples ``{"input", "target"}`` (repeated inputs are kept once). The split: shuffle with
``random.Random(seed)``, then ``n_train`` / ``n_val`` / ``n_test`` in that order (the
defaults 50 / 50 / 100 leave the rest unused; smaller tasks test on what is left). The metric is chosen from the targets:
multiple choice ``(B)`` targets use the lettered options in the input, closed sets
(yes/no, True/False, valid/invalid) must name exactly one member, everything else
(numbers, word lists) is an exact match of the final answer. Feedback states the target
and the answer format. Data: BIG-Bench Hard (Suzgun et al., MIT), bundled gzipped in
``gepetto/tasks/data/bbh``.
"""

from __future__ import annotations

import random
from functools import partial
from importlib import resources
from typing import Any

from gepetto.lm.base import LM
from gepetto.systems.metrics import (
    MetricResult,
    closed_answer_metric,
    exact_answer_metric,
    multiple_choice_metric,
    parse_options,
)
from gepetto.systems.prompt_system import PromptSystem
from gepetto.tasks._data import read_json_gz
from gepetto.tasks.base import Task

SEED_INSTRUCTION = "Answer the question. Give the final answer on the last line as 'Answer: <answer>'."

# The four tasks the benchmark suite runs by default (issue: date, sports, logic, counting).
DEFAULT_BBH_TASKS = ("date_understanding", "sports_understanding", "logical_deduction_three_objects", "object_counting")

_KIND_TEXT = {"choice": "multiple choice (A)-(R)", "closed": "closed answer set", "exact": "exact free-form answer"}
_CLOSED_SETS = (("yes", "no"), ("True", "False"), ("valid", "invalid"))


def bbh_names() -> list[str]:
    folder = resources.files("gepetto.tasks") / "data" / "bbh"
    return sorted(p.name[: -len(".json.gz")] for p in folder.iterdir() if p.name.endswith(".json.gz"))


def load_examples(name: str) -> list[dict[str, str]]:
    if name not in bbh_names():
        raise ValueError(f"no BIG-Bench Hard task {name!r}; choose one of: {', '.join(bbh_names())}")
    rows = read_json_gz("bbh", f"{name}.json.gz")["examples"]
    targets: dict[str, set[str]] = {}
    for ex in rows:
        targets.setdefault(ex["input"], set()).add(ex["target"])
    # The data repeats a few inputs (2 in sports_understanding; 2 in causal_judgement with
    # *different* targets). Keep each input once, and drop those whose gold is ambiguous,
    # so no test question also appears in training and no example contradicts another.
    return [{"input": text, "target": next(iter(gold))} for text, gold in targets.items() if len(gold) == 1]


def answer_kind(examples: list[dict[str, str]]) -> tuple[str, tuple[str, ...]]:
    """``("choice", ())``, ``("closed", members)`` or ``("exact", ())`` from the targets."""
    targets = {ex["target"] for ex in examples}
    if all(len(t) == 3 and t[0] == "(" and t[2] == ")" for t in targets):
        return "choice", ()
    for members in _CLOSED_SETS:
        if {t.lower() for t in targets} <= {m.lower() for m in members}:
            return "closed", tuple(sorted(targets, key=lambda t: [m.lower() for m in members].index(t.lower())))
    return "exact", ()


def bbh_metric(kind: str, members: tuple[str, ...], example: dict[str, Any], reply: str) -> MetricResult:
    if kind == "choice":
        return multiple_choice_metric(example["target"], reply, parse_options(example["input"]))
    if kind == "closed":
        return closed_answer_metric(example["target"], reply, members)
    return exact_answer_metric(example["target"], reply)


def bbh_task(name: str, *, n_train: int = 50, n_val: int = 50, n_test: int | None = None, seed: int = 0, max_tokens: int = 256) -> Task:
    """One BIG-Bench Hard task as a single-prompt system (the instruction is evolved).

    ``n_test`` defaults to 100, or what is left after train and validation for the three
    tasks with fewer than 200 examples.
    """
    examples = load_examples(name)
    if n_test is None:
        n_test = min(100, len(examples) - n_train - n_val)
    if n_train + n_val + n_test > len(examples):
        raise ValueError(f"bbh {name} has {len(examples)} examples; n_train + n_val + n_test = {n_train + n_val + n_test} is too many")
    kind, members = answer_kind(examples)
    random.Random(seed).shuffle(examples)
    train = examples[:n_train]
    val = examples[n_train : n_train + n_val]
    test = examples[n_train + n_val : n_train + n_val + n_test]
    metric = partial(bbh_metric, kind, members)

    def make_system(lm: LM) -> PromptSystem:
        return PromptSystem(
            lm=lm, seed_instruction=SEED_INSTRUCTION, render=lambda ex: ex["input"], metric=metric,
            module="instruction", expected=lambda ex: ex["target"], max_tokens=max_tokens,
        )

    holdout = examples[n_train + n_val + n_test :]
    return Task(f"bbh-{name}", f"BIG-Bench Hard, {_KIND_TEXT[kind]}", train, val, test, make_system, holdout)
