"""Parent selection strategies: Pareto (the paper's default) and its ablations.

Every selector is a pure function of the score table and a seeded ``random.Random``;
swapping one for another is a config change (``Config.selector``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gepetto.core.pareto import ScoreTable, pareto_front


class CandidateSelector(Protocol):
    """Chooses the parent of the next proposal among fully scored candidates."""

    def select(self, table: ScoreTable, eligible: np.ndarray, rng: random.Random) -> int: ...


def _ranked_by_mean(table: ScoreTable, eligible: np.ndarray) -> list[int]:
    means = table.means()
    rows = [int(r) for r in np.flatnonzero(eligible)]
    if not rows:
        raise ValueError("no scored candidate to select from")
    return sorted(rows, key=lambda r: (-means[r], r))


@dataclass(frozen=True)
class ParetoSelector:
    """Algorithm 2: sample a front member with probability proportional to its wins."""

    frontier: str = "instance"
    tie_tolerance: float = 1e-9

    def select(self, table: ScoreTable, eligible: np.ndarray, rng: random.Random) -> int:
        if (
            self.frontier == "instance"
            and table.leaders.tol == self.tie_tolerance
            and (bool(eligible.all()) or table.leaders.exact_for(eligible))
        ):
            # fast path: incremental leaders + rejection sampling (same distribution)
            pick = table.leaders.sample(rng, table.means(), eligible)
            if pick is not None:
                return pick
            return _ranked_by_mean(table, eligible)[0]
        front = pareto_front(
            table.columns(self.frontier), tie_tolerance=self.tie_tolerance, eligible=eligible,
            means=table.means(),
        )
        if not front.members:
            return _ranked_by_mean(table, eligible)[0]
        return rng.choices(front.members, weights=front.wins, k=1)[0]


@dataclass(frozen=True)
class CurrentBestSelector:
    """Always the candidate with the best mean (ties: the older one)."""

    def select(self, table: ScoreTable, eligible: np.ndarray, rng: random.Random) -> int:
        return _ranked_by_mean(table, eligible)[0]


@dataclass(frozen=True)
class BeamSelector:
    """Uniformly one of the top-``width`` candidates by mean."""

    width: int = 4

    def select(self, table: ScoreTable, eligible: np.ndarray, rng: random.Random) -> int:
        return rng.choice(_ranked_by_mean(table, eligible)[: self.width])


@dataclass(frozen=True)
class EpsilonGreedySelector:
    """The best candidate, except with probability ``epsilon`` a uniformly random one."""

    epsilon: float = 0.1

    def select(self, table: ScoreTable, eligible: np.ndarray, rng: random.Random) -> int:
        ranked = _ranked_by_mean(table, eligible)
        if rng.random() < self.epsilon:
            return rng.choice(ranked)
        return ranked[0]
