"""System-aware Merge: cross two lineages that improved different modules.

Pure functions over the pool; the engine evaluates what they plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gepetto.core.candidate import Candidate, Lineage


@dataclass(frozen=True)
class MergePlan:
    ancestor: int
    first: int
    second: int
    candidate: Candidate
    from_first: tuple[str, ...]
    from_second: tuple[str, ...]

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.ancestor, min(self.first, self.second), max(self.first, self.second))


def combine(ancestor: Candidate, a: Candidate, b: Candidate, mean_a: float, mean_b: float) -> tuple[Candidate, tuple[str, ...], tuple[str, ...]]:
    """Module-wise crossover: take each module from the descendant that changed it.

    Where both changed a module, the better candidate (by validation mean; ``a`` on a tie)
    gives it; where neither did, the ancestor's text stays.
    """
    texts: dict[str, str] = {}
    from_a: list[str] = []
    from_b: list[str] = []
    for module in ancestor:
        changed_a = a[module] != ancestor[module]
        changed_b = b[module] != ancestor[module]
        if changed_a and not changed_b:
            texts[module] = a[module]
            from_a.append(module)
        elif changed_b and not changed_a:
            texts[module] = b[module]
            from_b.append(module)
        elif changed_a and changed_b:
            if mean_b > mean_a:
                texts[module] = b[module]
                from_b.append(module)
            else:
                texts[module] = a[module]
                from_a.append(module)
        else:
            texts[module] = ancestor[module]
    return Candidate(texts), tuple(from_a), tuple(from_b)


def plan_merge(
    candidates: Sequence[Candidate],
    lineage: Lineage,
    means: np.ndarray,
    front: Sequence[int],
    tried: set[tuple[int, int, int]],
    rng: random.Random,
) -> MergePlan | None:
    """Find a new (ancestor, a, b) triple on the front worth merging, or None.

    Conditions: a and b are front members, neither descends from the other, they share an
    ancestor that is no better than either, each changed at least one module the other
    left at the ancestor's text, the triple was never tried, and the merged candidate is
    not already in the pool.
    """
    members = list(front)
    pairs = [(x, y) for i, x in enumerate(members) for y in members[i + 1 :]]
    rng.shuffle(pairs)
    existing = {c.id for c in candidates}
    for a, b in pairs:
        anc_a, anc_b = lineage.ancestors(a), lineage.ancestors(b)
        if a in anc_b or b in anc_a:
            continue
        common = sorted(anc_a & anc_b, key=lambda k: (-means[k], k))
        for ancestor in common:
            triple = (ancestor, min(a, b), max(a, b))
            if triple in tried:
                continue
            if means[ancestor] > min(means[a], means[b]):
                continue
            merged, from_a, from_b = combine(candidates[ancestor], candidates[a], candidates[b], means[a], means[b])
            only_a = [m for m in from_a if candidates[b][m] == candidates[ancestor][m]]
            only_b = [m for m in from_b if candidates[a][m] == candidates[ancestor][m]]
            if not only_a or not only_b or merged.id in existing:
                tried.add(triple)
                continue
            return MergePlan(ancestor, a, b, merged, from_a, from_b)
    return None


def merge_subsample(scores_a: np.ndarray, scores_b: np.ndarray, size: int, rng: random.Random) -> list[int]:
    """Validation instances to screen a merge on: balanced between where a wins, where b
    wins and where they tie, so the screen tests the crossover's point."""
    a_wins = [i for i in range(len(scores_a)) if scores_a[i] > scores_b[i]]
    b_wins = [i for i in range(len(scores_a)) if scores_b[i] > scores_a[i]]
    ties = [i for i in range(len(scores_a)) if scores_a[i] == scores_b[i]]
    for bucket in (a_wins, b_wins, ties):
        rng.shuffle(bucket)
    chosen: list[int] = []
    buckets = [a_wins, b_wins, ties]
    while len(chosen) < min(size, len(scores_a)):
        for bucket in buckets:
            if bucket and len(chosen) < size:
                chosen.append(bucket.pop())
        if not any(buckets):
            break
    return sorted(chosen)
