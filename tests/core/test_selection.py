"""Parent selectors: Pareto sampling by wins and its ablations."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from gepetto.core.pareto import ScoreTable, pareto_front
from gepetto.core.selection import (
    BeamSelector,
    CurrentBestSelector,
    EpsilonGreedySelector,
    ParetoSelector,
)


def make_table(m, objectives=None) -> ScoreTable:
    m = np.asarray(m, dtype=float)
    table = ScoreTable(m.shape[1])
    for r in range(m.shape[0]):
        table.add_row()
        for c in range(m.shape[1]):
            if not np.isnan(m[r, c]):
                obj = {k: float(v[r][c]) for k, v in (objectives or {}).items()} or None
                table.set(r, c, float(m[r, c]), obj)
    return table


def all_eligible(table: ScoreTable) -> np.ndarray:
    return np.ones(table.n_candidates, dtype=bool)


# 10 instances. Row 0 leads 5 columns, row 1 leads 3, row 2 leads 2, row 3 is dominated by
# row 0 (leads a subset), row 4 leads nothing.
FRONT_TABLE = np.array(
    [
        [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    ],
    dtype=float,
)


def test_front_table_is_what_the_tests_assume():
    front = pareto_front(FRONT_TABLE)
    assert front.members == (0, 1, 2)
    assert front.wins == (5, 3, 2)


def _frequencies(selector, table, eligible, draws=20_000, seed=0) -> Counter:
    rng = random.Random(seed)
    return Counter(selector.select(table, eligible, rng) for _ in range(draws))


def test_pareto_selector_samples_proportionally_to_wins():
    table = make_table(FRONT_TABLE)
    # 10,000 draws: the standard error of a frequency is <= 0.005, so 0.02 is a 4-sigma band;
    # each draw recomputes the front (~0.2 ms), which keeps this test around 2 s.
    draws = 10_000
    counts = _frequencies(ParetoSelector(), table, all_eligible(table), draws)
    assert set(counts) <= {0, 1, 2}, f"selected a non-member: {counts}"
    expected = {0: 0.5, 1: 0.3, 2: 0.2}
    for member, p in expected.items():
        assert abs(counts[member] / draws - p) < 0.02, (member, counts)


def test_pareto_selector_random_tables_never_selects_non_members():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        m = rng.choice([0.0, 0.5, 1.0], size=(int(rng.integers(2, 9)), int(rng.integers(2, 12))))
        table = make_table(m)
        eligible = rng.random(m.shape[0]) < 0.8
        if not eligible.any():
            eligible[0] = True
        front = pareto_front(m, eligible=eligible, means=table.means())
        picks = _frequencies(ParetoSelector(), table, eligible, draws=60, seed=seed)
        assert set(picks) <= set(front.members), (seed, front.members, picks)
        assert all(eligible[p] for p in picks)


def test_pareto_selector_respects_eligible():
    table = make_table(FRONT_TABLE)
    eligible = np.array([False, True, True, True, True])
    counts = _frequencies(ParetoSelector(), table, eligible, draws=2000)
    assert 0 not in counts
    # without row 0, row 3 leads columns 0-1 and row 4 leads columns 2-4
    front = pareto_front(FRONT_TABLE, eligible=eligible, means=table.means())
    assert front.members == (1, 2, 3, 4)
    assert set(counts) == {1, 2, 3, 4}
    total = sum(front.wins)
    for member, wins in zip(front.members, front.wins):
        assert abs(counts[member] / 2000 - wins / total) < 0.035


def test_pareto_selector_only_one_eligible():
    table = make_table(FRONT_TABLE)
    eligible = np.array([False, False, False, False, True])
    rng = random.Random(3)
    assert {ParetoSelector().select(table, eligible, rng) for _ in range(50)} == {4}


def test_pareto_selector_is_deterministic_for_a_seed():
    table = make_table(FRONT_TABLE)
    a = [ParetoSelector().select(table, all_eligible(table), r) for r in [random.Random(11)] for _ in range(200)]
    rng = random.Random(11)
    b = [ParetoSelector().select(table, all_eligible(table), rng) for _ in range(200)]
    assert a == b


def test_pareto_selector_objective_frontier():
    scores = np.full((3, 4), 0.5)
    scores[0] = 1.0
    acc = [[1.0] * 4, [0.0] * 4, [0.6] * 4]
    brev = [[0.1] * 4, [0.9] * 4, [0.5] * 4]
    table = make_table(scores, {"acc": acc, "brevity": brev})
    picks = _frequencies(ParetoSelector(frontier="objective"), table, all_eligible(table), draws=1000)
    assert set(picks) == {0, 1}
    assert abs(picks[0] / 1000 - 0.5) < 0.05
    picks_instance = _frequencies(ParetoSelector(), table, all_eligible(table), draws=200)
    assert set(picks_instance) == {0}


def test_pareto_selector_objective_frontier_without_objectives_raises():
    table = make_table(FRONT_TABLE)
    with pytest.raises(ValueError, match="frontier='instance'"):
        ParetoSelector(frontier="objective").select(table, all_eligible(table), random.Random(0))


def test_pareto_selector_tie_tolerance():
    m = np.array([[1.0, 0.0], [1.0 - 1e-12, 1.0]])
    table = make_table(m)
    picks = _frequencies(ParetoSelector(), table, all_eligible(table), draws=300)
    assert set(picks) == {1}
    picks = _frequencies(ParetoSelector(tie_tolerance=0.0), table, all_eligible(table), draws=300)
    assert set(picks) == {0, 1}


# --------------------------------------------------------------------------- current best


def test_current_best_picks_top_mean():
    table = make_table(FRONT_TABLE)
    rng = random.Random(0)
    assert CurrentBestSelector().select(table, all_eligible(table), rng) == 0  # mean 0.5 (rows 0, 4)
    eligible = np.array([False, True, True, True, True])
    assert CurrentBestSelector().select(table, eligible, rng) == 4


def test_current_best_tie_goes_to_older():
    m = np.array([[0.2, 0.2], [0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])
    table = make_table(m)
    for seed in range(20):
        assert CurrentBestSelector().select(table, all_eligible(table), random.Random(seed)) == 1
    assert CurrentBestSelector().select(table, np.array([True, False, True, True]), random.Random(0)) == 2


def test_current_best_no_eligible_raises():
    table = make_table(FRONT_TABLE)
    with pytest.raises(ValueError, match="no scored candidate"):
        CurrentBestSelector().select(table, np.zeros(5, dtype=bool), random.Random(0))


def test_current_best_random_tables():
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        m = rng.random((int(rng.integers(1, 10)), 6))
        table = make_table(m)
        eligible = rng.random(m.shape[0]) < 0.7
        if not eligible.any():
            eligible[-1] = True
        rows = np.flatnonzero(eligible)
        expected = rows[np.argmax(m[rows].mean(axis=1))]
        assert CurrentBestSelector().select(table, eligible, random.Random(seed)) == expected


# --------------------------------------------------------------------------- beam


def test_beam_picks_only_among_top_k():
    means = [0.1, 0.9, 0.5, 0.7, 0.3, 0.8, 0.2]
    m = np.array([[x, x] for x in means])
    table = make_table(m)
    counts = _frequencies(BeamSelector(width=3), table, all_eligible(table), draws=6000)
    assert set(counts) == {1, 5, 3}
    for k in (1, 5, 3):
        assert abs(counts[k] / 6000 - 1 / 3) < 0.03


def test_beam_respects_eligible_and_small_pools():
    means = [0.1, 0.9, 0.5, 0.7, 0.3]
    table = make_table(np.array([[x] for x in means]))
    eligible = np.array([True, False, True, False, True])
    counts = _frequencies(BeamSelector(width=2), table, eligible, draws=2000)
    assert set(counts) == {2, 4}
    counts = _frequencies(BeamSelector(width=10), table, eligible, draws=2000)
    assert set(counts) == {0, 2, 4}
    counts = _frequencies(BeamSelector(width=1), table, all_eligible(table), draws=100)
    assert set(counts) == {1}


# --------------------------------------------------------------------------- epsilon-greedy


def test_epsilon_zero_is_greedy():
    means = [0.1, 0.9, 0.5, 0.7]
    table = make_table(np.array([[x] for x in means]))
    counts = _frequencies(EpsilonGreedySelector(epsilon=0.0), table, all_eligible(table), draws=2000)
    assert counts == Counter({1: 2000})


def test_epsilon_one_is_uniform_over_eligible():
    means = [0.1, 0.9, 0.5, 0.7, 0.3]
    table = make_table(np.array([[x] for x in means]))
    eligible = np.array([True, False, True, True, True])
    draws = 10_000
    counts = _frequencies(EpsilonGreedySelector(epsilon=1.0), table, eligible, draws)
    assert set(counts) == {0, 2, 3, 4}
    for k in (0, 2, 3, 4):
        assert abs(counts[k] / draws - 0.25) < 0.02


def test_epsilon_half_mixes():
    means = [0.1, 0.9, 0.5, 0.7]
    table = make_table(np.array([[x] for x in means]))
    draws = 10_000
    counts = _frequencies(EpsilonGreedySelector(epsilon=0.5), table, all_eligible(table), draws)
    # best: 0.5 + 0.5/4; others 0.5/4 each
    assert abs(counts[1] / draws - 0.625) < 0.02
    for k in (0, 2, 3):
        assert abs(counts[k] / draws - 0.125) < 0.02
