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
    """A reflective or merge proposal and what happened to it."""

    parent: int = -1
    module: str = ""
    kind: str = "reflection"
    status: str = ""  # "accepted", "rejected-gate", "refused", "skipped-perfect", "duplicate"
    reason: str = ""
    parent_minibatch: float | None = None
    child_minibatch: float | None = None


@dataclass(frozen=True)
class CandidateAccepted(Event):
    index: int = -1
    parents: tuple[int, ...] = ()
    origin: str = ""
    changed_modules: tuple[str, ...] = ()


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
    """One batch evaluation: which candidate, on which split, which examples."""

    candidate: int | None = None
    split: str = ""
    example_ids: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Observer(Protocol):
    def on_event(self, event: Event) -> None: ...
