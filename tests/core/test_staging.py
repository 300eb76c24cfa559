"""Staged validation's rule: a child is parked only when, whatever its unscored cells turn
out to be, it could neither enter the Pareto front nor beat the best mean."""

from __future__ import annotations

import random

import numpy as np
import pytest

from gepetto.core.pareto import pareto_front
from gepetto.core.staging import best_case, can_still_matter, first_stage, stages


def _on_front_or_best(pool: np.ndarray, child: np.ndarray, *, child_first: bool = False) -> bool:
    """The ground truth: append the fully scored child and ask the real front code.
    ``child_first`` makes the child the oldest row (a parked candidate revisited later)."""
    matrix = np.vstack([child[None, :], pool]) if child_first else np.vstack([pool, child[None, :]])
    row = 0 if child_first else matrix.shape[0] - 1
    means = matrix.mean(axis=1)
    best = min(range(matrix.shape[0]), key=lambda r: (-means[r], r))
    return best == row or row in pareto_front(matrix, means=means).members


@pytest.mark.parametrize("levels", [(0.0, 1.0), (0.0, 0.5, 1.0), (0.0, 0.25, 0.5, 0.75, 1.0)])
def test_a_parked_child_never_would_have_entered_the_front_or_won(levels) -> None:
    """Brute force over random pools, partial child rows and every completion of them."""
    rng = random.Random(7)
    parked = 0
    for _ in range(3000):
        n_rows, n_cols = rng.randint(1, 5), rng.randint(2, 7)
        pool = np.array([[rng.choice(levels) for _ in range(n_cols)] for _ in range(n_rows)])
        truth = np.array([rng.choice(levels) for _ in range(n_cols)])
        scored = [j for j in range(n_cols) if rng.random() < 0.6]
        partial = np.full(n_cols, np.nan)
        partial[scored] = truth[scored]
        means = pool.mean(axis=1)
        best = min(range(n_rows), key=lambda r: (-means[r], r))
        child_first = rng.random() < 0.3
        if child_first:
            decision = can_still_matter(
                pool, partial, ceiling=1.0, best_mean=float(means[best]),
                row_ids=[r + 1 for r in range(n_rows)], child_id=0, best_id=best + 1,
            )
        else:
            decision = can_still_matter(pool, partial, ceiling=1.0, best_mean=float(means[best]))
        if not decision:
            parked += 1
            assert not _on_front_or_best(pool, truth, child_first=child_first), (pool, partial, truth)
    assert parked > 200  # the rule does park children, it is not vacuously safe


def test_a_child_that_fixes_nothing_its_parent_missed_is_parked_after_the_first_stage() -> None:
    parent = np.array([1, 1, 0, 1, 0, 1, 1, 0.0])
    order = stages(parent, 1.0, 1e-9, chunk=3, rng=random.Random(0))
    assert order[0] == [2, 4, 7]  # where the parent can be improved on
    assert sorted(j for stage in order[1:] for j in stage) == [0, 1, 3, 5, 6]
    child = np.full(8, np.nan)
    child[[2, 4, 7]] = 0.0
    assert not can_still_matter(parent[None, :], child, ceiling=1.0, best_mean=float(parent.mean()))


def test_a_child_that_solves_an_instance_nobody_solved_is_always_scored_on() -> None:
    pool = np.array([[1, 1, 0, 1, 0.0], [1, 0, 0, 1, 1.0]])
    child = np.array([0, 0, 1, np.nan, np.nan])  # worse everywhere, but alone on instance 2
    assert can_still_matter(pool, child, ceiling=1.0, best_mean=float(pool.mean(axis=1).max()))


def test_a_child_still_able_to_beat_the_best_mean_continues() -> None:
    parent = np.array([[0.5, 0.5, 0.5, 0.5]])
    child = np.array([0.5, 0.5, np.nan, np.nan])  # could still reach 0.75 on average
    assert can_still_matter(parent, child, ceiling=1.0, best_mean=0.5)


def test_ties_go_to_the_older_candidate_both_ways() -> None:
    pool = np.array([[1.0, 0.0]])
    same = np.array([1.0, 0.0])
    # a fresh (younger) child equal to the pool's only row: dominated and not better
    assert not can_still_matter(pool, same, ceiling=1.0, best_mean=0.5)
    # the same row, but older than the pool's row (a parked candidate revisited): it wins ties
    assert can_still_matter(pool, same, ceiling=1.0, best_mean=0.5, row_ids=[3], child_id=1, best_id=3)


def test_first_stage_and_best_case_helpers() -> None:
    assert first_stage(np.array([1.0, 0.2, 1.0, 0.0]), 1.0, 1e-9) == [1, 3]
    assert best_case(np.array([np.nan, 0.2]), 1.0).tolist() == [1.0, 0.2]
    # a perfect parent leaves no first stage: chunks only
    order = stages(np.ones(6), 1.0, 1e-9, chunk=4, rng=random.Random(1))
    assert [len(s) for s in order] == [4, 2]


def test_the_mean_bound_compares_exactly_like_the_final_choice() -> None:
    """A child whose best case beats the best mean by less than the tie tolerance could
    still become the best (the final choice compares means exactly): it is not parked."""
    pool = np.array([[1.0, 1.0, 0.5, 0.3]])
    child = np.array([1.0, 1.0, 0.5, np.nan])  # best case 0.875 > 0.7
    assert can_still_matter(pool, child, ceiling=1.0, best_mean=0.7, tie_tolerance=0.3)
