"""Minibatch sampling: epoch-shuffled, seeded, every training example seen once per epoch."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class EpochShuffledSampler:
    """Yields minibatches of training indices.

    Each epoch is a fresh permutation of all indices drawn from the run's RNG. When an
    epoch has fewer indices left than a batch needs, the batch is completed from the
    next epoch's permutation (skipping indices already in the batch), so every batch has
    ``batch_size`` distinct examples (or all examples when there are fewer).
    """

    n_examples: int
    batch_size: int
    _queue: list[int] = field(default_factory=list)
    epoch: int = 0

    def __post_init__(self) -> None:
        if self.n_examples <= 0:
            raise ValueError("the training set is empty; pass at least one training example")
        if self.batch_size <= 0:
            raise ValueError(f"minibatch_size must be >= 1, got {self.batch_size}")

    def next_batch(self, rng: random.Random) -> list[int]:
        size = min(self.batch_size, self.n_examples)
        batch: list[int] = []
        while len(batch) < size:
            if not self._queue:
                order = list(range(self.n_examples))
                rng.shuffle(order)
                self._queue = order
                self.epoch += 1
            index = self._queue.pop(0)
            if index in batch:
                # rare: only at an epoch boundary; push it back for the next batch
                self._queue.append(index)
                continue
            batch.append(index)
        return batch

    def state(self) -> dict[str, object]:
        return {"queue": list(self._queue), "epoch": self.epoch}

    def restore(self, state: dict[str, object]) -> None:
        self._queue = list(state["queue"])  # type: ignore[arg-type]
        self.epoch = int(state["epoch"])  # type: ignore[arg-type]
