"""What an optimization run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gepetto.core.candidate import Candidate, CandidateRecord


@dataclass(frozen=True)
class ProposalRecord:
    """One proposal (reflective or merge) and its fate.

    ``status`` is one of: ``accepted``, ``rejected-gate`` (child not better on the
    minibatch), ``rejected-screen`` (merge worse on its subsample), ``refused`` (the text
    failed a refusal rule; ``reason`` names it), ``skipped-perfect`` (the parent was already
    perfect on the minibatch), ``duplicate`` (the child already was in the pool),
    ``parked`` (passed the gate and joined the pool, but staged validation showed after a
    few stages that it can neither enter the Pareto front nor beat the best candidate; see
    :mod:`gepetto.core.staging`).
    """

    iteration: int
    kind: str
    parent: int
    modules: tuple[str, ...]
    status: str
    reason: str = ""
    parent_score: float | None = None
    child_score: float | None = None
    child_index: int | None = None
    texts: dict[str, str] = field(default_factory=dict)
    rollouts_used: int = 0
    refusals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """The outcome of :func:`gepetto.optimize`.

    ``val_scores[i][j]`` is candidate i's score on validation instance j. ``best_outputs``
    holds, per validation instance, the best score any candidate reached there and the
    output that reached it (inference-time search: pass the instances to solve as both
    trainset and valset and read the answers here). ``holdout_means`` maps the finalists
    of a held-out final check (``optimize(..., holdout=...)``) to their held-out mean; the
    best candidate was then chosen on validation and held-out examples pooled.
    ``parked`` lists the candidates that staged validation left partly scored (their
    unscored cells are NaN in ``val_scores``).
    """

    best_index: int
    candidates: list[CandidateRecord]
    val_scores: list[list[float]]
    val_means: list[float]
    pareto_front: list[int]
    rollouts_used: int
    max_rollouts: int
    rollouts_by_kind: dict[str, int]
    proposals: list[ProposalRecord]
    iterations: int
    stop_reason: str
    best_outputs: list[tuple[float, Any, int]]
    lm_usage: dict[str, dict[str, float | int]] = field(default_factory=dict)
    seconds: float = 0.0
    holdout_means: dict[int, float] = field(default_factory=dict)
    parked: list[int] = field(default_factory=list)

    @property
    def best_candidate(self) -> Candidate:
        return self.candidates[self.best_index].candidate

    @property
    def best_score(self) -> float:
        return self.val_means[self.best_index]

    @property
    def seed_score(self) -> float:
        return self.val_means[0]

    def proposal_counts(self) -> dict[str, int]:
        """How many proposals ended in each status, and refusals by reason."""
        counts: dict[str, int] = {}
        for p in self.proposals:
            counts[p.status] = counts.get(p.status, 0) + 1
            for reason in p.refusals:
                key = f"refused:{reason.split(':')[0]}"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def improvements(self) -> list[int]:
        """Indices of the candidates that raised the best validation mean when they were added."""
        best, found = self.val_means[0], []
        for record in self.candidates[1:]:
            if record.index in self.parked or any(v != v for v in self.val_scores[record.index]):
                continue  # partly scored (parked, or a run stopped mid-validation): not comparable
            if self.val_means[record.index] > best:
                best = self.val_means[record.index]
                found.append(record.index)
        return found

    def rollouts_per_improvement(self) -> float | None:
        """Rollouts spent after the seed per new best candidate (None when nothing improved)."""
        found = self.improvements()
        if not found:
            return None
        seed_cost = len(self.val_scores[0]) if self.val_scores else 0
        return (self.rollouts_used - seed_cost) / len(found)

    def summary(self) -> str:
        counts = self.proposal_counts()
        return (
            f"best candidate #{self.best_index} ({self.best_candidate.id}) "
            f"val {self.best_score:.3f} (seed {self.seed_score:.3f}); "
            f"{len(self.candidates)} candidates, {self.iterations} iterations, "
            f"{self.rollouts_used}/{self.max_rollouts} rollouts; "
            + (f"{len(self.improvements())} improvements, {self.rollouts_per_improvement():.0f} rollouts each; "
               if self.improvements() else "no improvement; ")
            + f"stop: {self.stop_reason}; "
            f"proposals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
