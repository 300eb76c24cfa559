"""The rollout budget: every metric call counts, train and validation alike."""

from __future__ import annotations

from dataclasses import dataclass, field


class BudgetExhausted(Exception):
    """Raised internally when an evaluation would overspend; the engine stops cleanly."""


@dataclass
class Budget:
    """A ledger of rollouts by purpose.

    The engine asks :meth:`can_afford` before starting any step and plans whole
    iterations, so the total never exceeds ``max_rollouts``.
    """

    max_rollouts: int
    spent_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return sum(self.spent_by_kind.values())

    @property
    def remaining(self) -> int:
        return self.max_rollouts - self.used

    def can_afford(self, n: int) -> bool:
        return n <= self.remaining

    def spend(self, n: int, kind: str) -> None:
        if n < 0:
            raise ValueError("cannot spend a negative number of rollouts")
        self.spent_by_kind[kind] = self.spent_by_kind.get(kind, 0) + n
