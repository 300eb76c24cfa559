"""benchmarks/failure_examples.py: one first set each way from a real survey of a scripted seed."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from gepetto.lm import ScriptedLM
from gepetto.systems.metrics import LabelMetric
from gepetto.systems.prompt_system import PromptSystem
from tests.benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
failure_examples = load_script("failure_examples")

LABELS = ["card_arrival", "card_delivery_estimate"]


def test_the_failures_set_is_written_from_the_texts_the_seed_got_wrong() -> None:
    train = [{"text": f"track my card {i}", "label": "card_arrival"} for i in range(4)]
    train += [{"text": "my card never came", "label": "card_arrival"}, {"text": "how long is delivery", "label": "card_delivery_estimate"}]
    prompts: list[str] = []

    def respond(messages):  # noqa: ANN001, ANN202
        content = messages[-1]["content"]
        if content.startswith(("track", "my card", "how long")):  # the task model: only tracking texts are right
            return "card_arrival" if content.startswith("track") else "card_delivery_estimate"
        prompts.append(content)
        label = content.rsplit("\n", 1)[-1].split(":")[0]
        return f"{label}: texts generally about {label.replace('_', ' ')} matters"

    metric = LabelMetric(LABELS)
    lm = ScriptedLM(respond=respond)
    system = PromptSystem(lm, "Classify.", lambda ex: ex["text"], lambda ex, reply: metric(ex["label"], reply),
                          module="classify", expected=lambda ex: ex["label"], labels=LABELS)
    task = SimpleNamespace(train=train)
    results = system.evaluate(failure_examples.Candidate(system.seed_candidate), train, capture_traces=True)
    survey = [rec for r in results for rec in r.records]
    shown = {}
    for variant in failure_examples.VARIANTS:
        prompts.clear()
        assert failure_examples.first_set(system, task, variant, survey, 0) is not None
        shown[variant] = next(p for p in prompts if p.rsplit("\n", 1)[-1].startswith("card_arrival"))
    assert "my card never came" not in shown["first"]
    assert shown["failures"].index("my card never came") < shown["failures"].index("track my card 0")


def test_summarize_means_each_variant() -> None:
    rows = [{"variant": "first", "val": 0.5, "holdout": 0.6, "dev": 0.58, "test": 0.7},
            {"variant": "first", "val": 0.7, "holdout": 0.6, "dev": 0.62, "test": 0.8},
            {"variant": "failures", "val": 0.6, "holdout": 0.6, "dev": 0.6, "test": 0.9}]
    summary = failure_examples.summarize(rows)
    assert summary["first"]["test"] == 0.75 and summary["failures"]["val"] == 0.6
