"""Events the engine emits, so storage, progress display and trackers can subscribe
without touching the loop. Observers must not raise; the engine isolates them anyway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    iteration: int
    rollouts_used: int


@dataclass(frozen=True)
class RunStarted(Event):
    n_train: int = 0
    n_val: int = 0
    max_rollouts: int = 0
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class IterationStarted(Event):
    parent: int = -1
    kind: str = "reflection"


@dataclass(frozen=True)
class ProposalEvaluated(Event):
    """A reflective or merge proposal and what happened to it (``record``: the full
    :class:`~gepetto.core.result.ProposalRecord`)."""

    parent: int = -1
    module: str = ""
    kind: str = "reflection"
    status: str = ""  # "accepted", "rejected-gate", "refused", "skipped-perfect", "duplicate"
    reason: str = ""
    parent_minibatch: float | None = None
    child_minibatch: float | None = None
    record: Any = None


@dataclass(frozen=True)
class CandidateAccepted(Event):
    """A candidate joined the pool (the seed too, with ``origin="seed"``)."""

    index: int = -1
    parents: tuple[int, ...] = ()
    origin: str = ""
    changed_modules: tuple[str, ...] = ()
    candidate_id: str = ""
    texts: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class CandidateScored(Event):
    index: int = -1
    val_mean: float = 0.0
    best_index: int = -1
    best_val_mean: float = 0.0


@dataclass(frozen=True)
class RunFinished(Event):
    stop_reason: str = ""
    best_index: int = -1
    best_val_mean: float = 0.0


@dataclass(frozen=True)
class EvaluationDone(Event):
    """One batch evaluation: which candidate, on which split, which examples.

    ``results`` are the :class:`~gepetto.systems.adapter.ExampleResult` objects;
    ``occurrences`` count earlier evaluations of the same (candidate, example) in this
    run; ``replayed`` is True when the results came from a resumed run's store rather
    than from the system (stores must not write them twice).
    """

    candidate: int | None = None
    split: str = ""
    example_ids: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    candidate_id: str = ""
    results: tuple[Any, ...] = ()
    occurrences: tuple[int, ...] = ()
    replayed: bool = False
    kind: str = ""


class Observer(Protocol):
    def on_event(self, event: Event) -> None: ...
