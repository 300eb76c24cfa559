"""Minibatch sampling: epoch-shuffled, seeded, every training example seen once per epoch,
optionally led by one example the parent is believed to fail."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class EpochShuffledSampler:
    """Yields minibatches of training indices.

    Each epoch is a fresh permutation of all indices drawn from the run's RNG. When an
    epoch has fewer indices left than a batch needs, the batch is completed from the
    next epoch's permutation (skipping indices already in the batch), so every batch has
    ``batch_size`` distinct examples (or all examples when there are fewer).

    ``focus`` (optional, per call) lists training examples the parent is believed to
    fail. One of them leads the batch: the least-used one so far, ties broken by the RNG,
    so that repeated failures rotate instead of one unsolvable example being drawn every
    time. Why: once a candidate is good, most random minibatches hold nothing it gets
    wrong, the iteration is skipped as perfect and its rollouts buy no reflection; a
    batch with a known failure always gives the reflection LM an error to read, while
    the other slots still come from the epoch order, which keeps the gate honest about
    regressions.
    """

    n_examples: int
    batch_size: int
    _queue: list[int] = field(default_factory=list)
    epoch: int = 0
    _focused: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_examples <= 0:
            raise ValueError("the training set is empty; pass at least one training example")
        if self.batch_size <= 0:
            raise ValueError(f"minibatch_size must be >= 1, got {self.batch_size}")

    def next_batch(self, rng: random.Random, focus: Sequence[int] = ()) -> list[int]:
        size = min(self.batch_size, self.n_examples)
        batch: list[int] = []
        if focus and size > 1:
            fewest = min(self._focused.get(i, 0) for i in focus)
            lead = rng.choice(sorted(i for i in set(focus) if self._focused.get(i, 0) == fewest))
            self._focused[lead] = fewest + 1
            batch.append(lead)
        deferred: list[int] = []
        while len(batch) < size:
            if not self._queue:
                order = list(range(self.n_examples))
                rng.shuffle(order)
                self._queue = order
                self.epoch += 1
            index = self._queue.pop(0)
            if index in batch:
                # already in (the lead, or at an epoch boundary): keep it for a later batch
                deferred.append(index)
                continue
            batch.append(index)
        self._queue.extend(deferred)
        return batch

    def state(self) -> dict[str, object]:
        return {"queue": list(self._queue), "epoch": self.epoch, "focused": dict(self._focused)}

    def restore(self, state: dict[str, object]) -> None:
        self._queue = list(state["queue"])  # type: ignore[arg-type]
        self.epoch = int(state["epoch"])  # type: ignore[arg-type]
        self._focused = {int(k): int(v) for k, v in dict(state.get("focused", {})).items()}  # type: ignore[arg-type]
