"""A single-module system: one instruction, one LM call per example, one metric.

This is the most common thing users optimize (a classifier, an extractor, a QA prompt)
and the smallest complete System: it renders each example into a chat, calls the task
LM concurrently (bounded), scores the reply with a feedback metric and, when asked,
returns the module record reflection needs. A failed LM call scores as a failure with
the error as feedback; it never ends the run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.lm.base import LM, Completion, LMError, failure_feedback
from gepetto.systems.adapter import ExampleResult, ModuleRecord
from gepetto.systems.metrics import MetricResult, as_metric_result

Metric = Callable[[Any, str], "MetricResult | float | tuple[float, str]"]


@dataclass
class PromptSystem:
    """``instruction`` (the evolved text) as the system message, the example as the user message.

    ``render`` turns an example into the user message; ``inputs`` into the dict shown to
    the reflection LM (defaults to ``{"input": render(example)}``); ``expected`` into the
    gold answer text shown beside the feedback, when known. ``labels``: a classifier's whole
    answer set, when known; with ``reflection.define_unseen_labels`` the edits strategy also
    defines the labels no training example shows.
    """

    lm: LM
    seed_instruction: str
    render: Callable[[Any], str]
    metric: Metric
    module: str = "instruction"
    expected: Callable[[Any], str | None] | None = None
    temperature: float = 0.0
    max_tokens: int = 64
    concurrency: int = 4
    failure_score: float = 0.0
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    labels: Sequence[str] | None = None

    @property
    def seed_candidate(self) -> dict[str, str]:
        return {self.module: self.seed_instruction}

    def labelled_inputs(self, examples: Sequence[Any]) -> list[tuple[str, str]]:
        """(rendered input, expected answer) pairs, for proposers that learn from the
        training set (see :meth:`gepetto.proposers.edits.EditProposer.prime`)."""
        if self.expected is None:
            return []
        pairs = []
        for example in examples:
            expected = self.expected(example)
            if expected is not None:
                pairs.append((self.render(example), expected))
        return pairs

    def messages(self, instruction: str, example: Any) -> list[dict[str, str]]:
        return [{"role": "system", "content": instruction}, {"role": "user", "content": self.render(example)}]

    def run_one(self, candidate: Candidate, example: Any, capture_traces: bool) -> ExampleResult:
        instruction = candidate[self.module]
        user = self.render(example)
        expected = self.expected(example) if self.expected else None
        try:
            completion: Completion = self.lm.complete(
                self.messages(instruction, example), temperature=self.temperature, max_tokens=self.max_tokens,
                **dict(self.extra_params),
            )
        except Exception as exc:  # noqa: BLE001 - any failed call is one failed rollout, not the end of the run
            detail = str(exc) if isinstance(exc, LMError) else f"{type(exc).__name__}: {exc}"
            feedback = failure_feedback(exc)
            record = ModuleRecord(self.module, {"input": user}, "", feedback, self.failure_score, expected)
            return ExampleResult(self.failure_score, None, feedback, records=(record,) if capture_traces else (), error=detail)
        reply = completion.text
        try:
            scored = as_metric_result(self.metric(example, reply))
        except Exception as exc:  # noqa: BLE001 - a metric bug on one example is a failure, not a crash
            message = f"{type(exc).__name__}: {exc}"
            scored = MetricResult(self.failure_score, f"The metric raised {message}")
        feedback = scored.feedback
        if completion.truncated:
            feedback = (feedback + " " if feedback else "") + "The reply was cut off at the token limit."
        records: tuple[ModuleRecord, ...] = ()
        if capture_traces:
            records = (ModuleRecord(self.module, {"input": user}, reply, feedback, scored.score, expected),)
        return ExampleResult(scored.score, reply, feedback, scored.objectives, records)

    def evaluate(self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False) -> list[ExampleResult]:
        if self.module not in candidate:  # a wrong seed candidate: say so before any model call
            raise ValueError(
                f"the candidate has no text for module {self.module!r} (its modules: {', '.join(map(repr, candidate))}); "
                f"this PromptSystem evolves {self.module!r}: pass seed_candidate={{{self.module!r}: <instruction>}} "
                "or leave seed_candidate out to start from the system's own seed instruction"
            )
        if len(examples) <= 1 or self.concurrency <= 1:
            return [self.run_one(candidate, ex, capture_traces) for ex in examples]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(examples))) as pool:
            return list(pool.map(lambda ex: self.run_one(candidate, ex, capture_traces), examples))
