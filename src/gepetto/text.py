"""``gepetto.optimize_text``: evolve any single text (code, a config, a prompt) against an
evaluator that returns a score and side information.

The evaluator is the whole system: ``evaluate(text)`` or ``evaluate(text, example)``
returns a float, ``(score, side_info)`` or a :class:`~gepetto.systems.metrics.MetricResult`;
``side_info`` (a string or a dict such as ``{"stdout": ..., "error": ...}``) is what the
reflection LM reads to improve the text. Evaluators that execute generated code should run
it with :func:`gepetto.sandbox.run_python`.
"""

from __future__ import annotations

import inspect
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from gepetto.api import optimize
from gepetto.core.candidate import Candidate
from gepetto.core.config import Config
from gepetto.core.result import Result
from gepetto.lm.base import LM
from gepetto.proposers.reflective import ReflectiveProposer
from gepetto.systems.adapter import ExampleResult, ModuleRecord
from gepetto.systems.metrics import MetricResult

TEXT_MODULE = "text"


def render_side_info(info: Any) -> str:
    if info is None:
        return ""
    if isinstance(info, dict):
        return "\n".join(f"{key}: {value}" for key, value in info.items())
    return str(info)


@dataclass
class TextSystem:
    """Adapter: one module (``text``), one evaluator call per example."""

    evaluate_fn: Callable[..., Any]
    seed_text: str
    failure_score: float = 0.0

    def __post_init__(self) -> None:
        params = inspect.signature(self.evaluate_fn).parameters
        self._takes_example = len(params) >= 2

    @property
    def seed_candidate(self) -> dict[str, str]:
        return {TEXT_MODULE: self.seed_text}

    def _one(self, text: str, example: Any, capture_traces: bool) -> ExampleResult:
        try:
            raw = self.evaluate_fn(text, example) if self._takes_example else self.evaluate_fn(text)
            if isinstance(raw, MetricResult):
                score, info, objectives = raw.score, raw.feedback, raw.objectives
            elif isinstance(raw, tuple):
                score, info, objectives = float(raw[0]), raw[1], None
            else:
                score, info, objectives = float(raw), None, None
            error = None
        except Exception as exc:  # noqa: BLE001 - an evaluator failure is a scored failure
            score, objectives = self.failure_score, None
            info = "the evaluator raised:\n" + "".join(traceback.format_exception_only(type(exc), exc)).strip()
            error = str(exc)
        feedback = render_side_info(info)
        records: tuple[ModuleRecord, ...] = ()
        if capture_traces:
            inputs = {"case": example if isinstance(example, str) else repr(example)} if example is not None else {}
            records = (ModuleRecord(TEXT_MODULE, inputs, "", feedback, score),)
        return ExampleResult(score, feedback, feedback, objectives, records, error)

    def evaluate(self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False) -> list[ExampleResult]:
        return [self._one(candidate[TEXT_MODULE], ex, capture_traces) for ex in examples]


def optimize_text(
    seed_text: str,
    evaluate: Callable[..., Any],
    *,
    objective: str,
    reflection_lm: LM,
    trainset: Sequence[Any] | None = None,
    valset: Sequence[Any] | None = None,
    config: Config | None = None,
    **kwargs: Any,
) -> Result:
    """Evolve ``seed_text`` to maximize ``evaluate``; see the module docstring.

    Without ``trainset`` the evaluator is called on the text alone (one case, which is
    both the training and the validation case). ``objective`` says in words what a better
    text achieves; the reflection LM reads it with the evaluation results.
    """
    cases: list[Any] = list(trainset) if trainset is not None else [None]
    val = list(valset) if valset is not None else cases
    config = config or Config(minibatch_size=min(3, len(cases)))
    system = TextSystem(evaluate, seed_text, config.failure_score)
    proposer = ReflectiveProposer(reflection_lm, config.reflection, perfect_score=config.perfect_score, objective=objective)
    return optimize(system, cases, val, proposer=proposer, reflection_lm=reflection_lm, config=config, **kwargs)
