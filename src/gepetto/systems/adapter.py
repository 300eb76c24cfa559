"""How user systems plug into the engine: the adapter protocol and its result types.

The engine only ever asks a system one thing: "run this candidate on these examples and
tell me how it did" (optionally with per-module traces for reflection). Everything about
LMs, parsing and metrics stays on the system's side of this line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from gepetto.core.candidate import Candidate


@dataclass(frozen=True)
class ModuleRecord:
    """What one module saw and said on one example, and what the metric said about it.

    These are the raw material of reflection: the proposer shows the reflection LM the
    module's own inputs and outputs with the feedback, never other modules' internals.
    """

    module: str
    inputs: Mapping[str, Any]
    output: str
    feedback: str = ""
    score: float | None = None
    expected: str | None = None


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of running a candidate on one example.

    ``score`` is higher-is-better. ``feedback`` is the metric's text (the paper's mu_f);
    ``objectives`` are optional named scores for multi-objective fronts; ``error`` is set
    when the rollout failed (LM error, parse failure, exception) and the score is then the
    failure score.
    """

    score: float
    output: Any = None
    feedback: str = ""
    objectives: Mapping[str, float] | None = None
    records: tuple[ModuleRecord, ...] = ()
    error: str | None = None


@runtime_checkable
class System(Protocol):
    """A system gepetto can optimize.

    ``evaluate`` must return one result per example, in order, and must not raise for a
    single bad example: score it as a failure with the error as feedback instead.
    """

    def evaluate(
        self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False
    ) -> list[ExampleResult]: ...


@dataclass
class FunctionSystem:
    """Adapter from a plain function ``run(candidate, example) -> ExampleResult``.

    Handy for tests and for systems that are already a function; exceptions on one example
    become failure results with the exception text as feedback.
    """

    run: Any
    failure_score: float = 0.0
    modules_for_records: tuple[str, ...] = field(default_factory=tuple)

    def evaluate(
        self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False
    ) -> list[ExampleResult]:
        results: list[ExampleResult] = []
        for example in examples:
            try:
                result = self.run(candidate, example)
            except Exception as exc:  # noqa: BLE001 - one bad example must not end the run
                message = f"{type(exc).__name__}: {exc}"
                result = ExampleResult(
                    score=self.failure_score, feedback=f"The system raised {message}", error=message
                )
            if not capture_traces:
                result = ExampleResult(
                    score=result.score, output=result.output, feedback=result.feedback,
                    objectives=result.objectives, error=result.error,
                )
            results.append(result)
        return results


def mean_score(system: System, candidate: Candidate | Mapping[str, str], examples: Sequence[Any]) -> float:
    """Mean score of ``candidate`` on ``examples`` (held-back test scoring, not budgeted)."""
    results = system.evaluate(candidate if isinstance(candidate, Candidate) else Candidate(candidate), list(examples))
    return mean_of(results)


def mean_of(results: Sequence[ExampleResult]) -> float:
    """Mean score of results already at hand (0 for none), for callers that also read the
    replies, e.g. per-label results, and must not evaluate twice."""
    return sum(r.score for r in results) / max(len(results), 1)
