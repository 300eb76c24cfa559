"""Staged validation: score a child on the validation set in stages and stop as soon as
it provably can neither enter the Pareto front nor become the best candidate.

Why: in the paper's loop every child that passes the minibatch gate is scored on the whole
validation set, and most of the budget goes there. Many children pass the gate by luck
(three examples) and change nothing on validation; paying the full set for them buys no
decision.

The rule (sound, not statistical). Call ``ceiling`` the highest score a rollout can get
(``Config.perfect_score``, or any higher score already seen). Complete the child's
unscored cells with ``ceiling``: this *best case* gives the child the largest set of led
instances and the highest mean it can still reach, and every other candidate the smallest
set of led instances. So

- if in the best case the child's mean does not beat the best candidate's mean, it can
  never become the best (ties go to the older candidate), and
- if in the best case some complete candidate leads every instance the child leads (and
  more, or as many with a mean at least as high), the child is dominated in every
  completion and can never be on the front.

When both hold the child is *parked*: it stays in the pool with the scores it has, is not
a parent, merge partner or final choice, and is completed later if a change in the pool
(a new candidate taking instances from its dominator) makes it relevant again.

The first stage is every validation instance where the parent is below the ceiling: those
are the only instances on which a child can gain anything over its parent. A child that
fixes none of them is parked after that stage (its best case equals its parent's row).
The remaining instances follow in chunks, with the check after each one.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np


def first_stage(parent_row: np.ndarray, ceiling: float, tie_tolerance: float) -> list[int]:
    """Instances where the parent scored below the ceiling (where a child can gain)."""
    return [int(j) for j in np.flatnonzero(parent_row < ceiling - tie_tolerance)]


def stages(parent_row: np.ndarray, ceiling: float, tie_tolerance: float, chunk: int, rng: random.Random) -> list[list[int]]:
    """The order in which a child's validation instances are scored, stage by stage:
    first the parent's imperfect instances, then the rest shuffled in chunks."""
    first = first_stage(parent_row, ceiling, tie_tolerance)
    taken = set(first)
    rest = [j for j in range(parent_row.shape[0]) if j not in taken]
    rng.shuffle(rest)
    out = [first] if first else []
    out += [rest[k : k + chunk] for k in range(0, len(rest), max(1, chunk))]
    return out


def best_case(row: np.ndarray, ceiling: float) -> np.ndarray:
    """``row`` with every unscored (NaN) cell set to ``ceiling``."""
    return np.where(np.isnan(row), ceiling, row)


def can_still_matter(
    complete: np.ndarray,
    child_row: np.ndarray,
    *,
    ceiling: float,
    best_mean: float,
    tie_tolerance: float = 1e-9,
    row_ids: Sequence[int] | None = None,
    child_id: int | None = None,
    best_id: int | None = None,
) -> bool:
    """Could ``child_row`` (NaN = not scored yet), once fully scored, beat ``best_mean``
    or enter the Pareto front of the candidates in ``complete`` (rows fully scored)?
    False only when it provably cannot.

    Ties go to the older candidate, as in the engine. ``row_ids``, ``child_id`` and
    ``best_id`` are pool indices (smaller is older); without them the child is taken to
    be younger than every other row, which is the case for a fresh child."""
    optimistic = best_case(child_row, ceiling)
    top = float(optimistic.mean())
    # exact comparisons, as the engine's final choice makes them (ties: the older wins)
    older_than_best = child_id is not None and best_id is not None and child_id < best_id
    if top > best_mean or (older_than_best and top >= best_mean):
        return True
    if complete.shape[0] == 0:
        return True
    ids = list(row_ids) if row_ids is not None else None
    matrix = np.vstack([complete, optimistic[None, :]])
    col_best = matrix.max(axis=0)
    lead = matrix >= (col_best - tie_tolerance)[None, :]
    mine = lead[-1]
    if not mine.any():
        return False
    wins = lead.sum(axis=1)
    means = matrix.mean(axis=1)
    covers = lead[:-1][:, mine].all(axis=1)
    for other in np.flatnonzero(covers):
        if wins[other] > wins[-1]:
            return False
        # the same instances led: the higher mean survives, on a tie the older row
        other_older = ids is None or child_id is None or ids[other] < child_id
        if means[other] > top or (other_older and means[other] >= top):
            return False
    return True
