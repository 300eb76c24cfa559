"""GSM8K grade-school math with feedback that quotes the worked solution.

Split: ``n_train`` and ``n_val`` from the training file and ``n_test`` from the test
file, each shuffled with ``random.Random(seed)``. The metric compares the final answer's
number with the gold number; on a wrong answer the feedback quotes GSM8K's worked
solution (calculator annotations ``<<48/2=24>>`` removed), the richest feedback text any
bundled task has. Data: GSM8K (OpenAI, MIT), bundled gzipped in ``gepetto/tasks/data/gsm8k``.
"""

from __future__ import annotations

import random
import re
from typing import Any

from gepetto.lm.base import LM
from gepetto.systems.metrics import MetricResult, exact_answer_metric
from gepetto.systems.prompt_system import PromptSystem
from gepetto.tasks._data import read_jsonl_gz
from gepetto.tasks.base import Task

SEED_INSTRUCTION = "Solve the math word problem. Give the final answer on the last line as 'Answer: <number>'."

_ANNOTATION = re.compile(r"<<[^>]*>>")


def parse_row(row: dict[str, str]) -> dict[str, str]:
    """{question, solution, answer}: the worked solution without annotations, the final number."""
    solution, _, answer = row["answer"].rpartition("####")
    return {
        "question": row["question"],
        "solution": _ANNOTATION.sub("", solution).strip(),
        "answer": answer.strip().replace(",", ""),
    }


def load_rows(split: str) -> list[dict[str, str]]:
    if split not in ("train", "test"):
        raise ValueError(f"GSM8K has splits 'train' and 'test', not {split!r}")
    return [parse_row(r) for r in read_jsonl_gz("gsm8k", f"{split}.jsonl.gz")]


def gsm8k_metric(example: dict[str, Any], reply: str) -> MetricResult:
    scored = exact_answer_metric(example["answer"], reply)
    if scored.score >= 1.0:
        return scored
    return MetricResult(scored.score, f"{scored.feedback} A worked solution: {example['solution']}")


def gsm8k_task(
    *, n_train: int = 50, n_val: int = 50, n_test: int = 100, seed: int = 0, max_tokens: int = 384, n_holdout: int = 100
) -> Task:
    train_rows = load_rows("train")
    test_rows = load_rows("test")
    random.Random(seed).shuffle(train_rows)
    random.Random(seed).shuffle(test_rows)
    if n_train + n_val > len(train_rows) or n_test > len(test_rows):
        raise ValueError("GSM8K split sizes exceed the data (7,473 train rows, 1,319 test rows)")

    def make_system(lm: LM) -> PromptSystem:
        return PromptSystem(
            lm=lm, seed_instruction=SEED_INSTRUCTION, render=lambda ex: ex["question"], metric=gsm8k_metric,
            module="instruction", expected=lambda ex: ex["answer"], max_tokens=max_tokens,
        )

    return Task(
        "gsm8k", "GSM8K math word problems (numeric final answer)",
        train_rows[:n_train], train_rows[n_train : n_train + n_val], test_rows[:n_test], make_system,
        train_rows[n_train + n_val : n_train + n_val + n_holdout],
    )
