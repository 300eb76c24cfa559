"""The incremental leader index agrees with the from-scratch Algorithm 2."""

from __future__ import annotations

import random

import numpy as np
import pytest

from gepetto.core.pareto import ScoreTable, leader_matrix, pareto_front
from gepetto.core.selection import ParetoSelector


def _fill(table: ScoreTable, matrix: np.ndarray, rng: random.Random) -> None:
    rows, cols = matrix.shape
    for r in range(rows):
        table.add_row()
        order = list(range(cols))
        rng.shuffle(order)  # cells arrive in any order
        for c in order:
            table.set(r, c, float(matrix[r, c]))


@pytest.mark.parametrize("kind", ["continuous", "binary", "levels"])
@pytest.mark.parametrize("seed", range(6))
def test_incremental_leaders_match_recomputed(kind: str, seed: int) -> None:
    gen = np.random.default_rng(seed)
    shape = (int(gen.integers(2, 25)), int(gen.integers(1, 30)))
    if kind == "continuous":
        matrix = gen.random(shape)
    elif kind == "binary":
        matrix = (gen.random(shape) < 0.5).astype(float)
    else:
        matrix = gen.integers(0, 4, shape) / 3.0
    table = ScoreTable(shape[1])
    _fill(table, matrix, random.Random(seed))
    lead, best = leader_matrix(matrix)
    index = table.leaders
    assert np.array_equal(index.lead[: shape[0]], lead)
    assert np.array_equal(index.wins[: shape[0]], lead.sum(axis=1))
    assert np.array_equal(index.col_count, lead.sum(axis=0))
    assert np.allclose(index.col_best, best)
    front = set(pareto_front(matrix).members)
    means = table.means()
    for row in range(shape[0]):
        assert index.dominated(row, means) == (row not in front), row


@pytest.mark.parametrize("kind", ["continuous", "binary"])
def test_fast_sampling_draws_front_members_in_proportion_to_wins(kind: str) -> None:
    gen = np.random.default_rng(11)
    matrix = gen.random((12, 20)) if kind == "continuous" else (gen.random((12, 20)) < 0.4).astype(float)
    matrix[5] = matrix[2]  # an exact duplicate: only the older one may be drawn
    table = ScoreTable(20)
    _fill(table, matrix, random.Random(0))
    front = pareto_front(matrix)
    expected = dict(zip(front.members, np.asarray(front.wins) / sum(front.wins)))
    selector = ParetoSelector()
    rng = random.Random(3)
    eligible = np.ones(12, dtype=bool)
    draws = [selector.select(table, eligible, rng) for _ in range(6000)]
    assert set(draws) <= set(front.members)
    for member, share in expected.items():
        assert abs(draws.count(member) / len(draws) - share) < 0.03


@pytest.mark.parametrize("seed", range(6))
def test_row_updates_match_cell_updates(seed: int) -> None:
    gen = np.random.default_rng(seed)
    matrix = (gen.integers(0, 3, (15, 25)) / 2.0)
    by_cell, by_row = ScoreTable(25), ScoreTable(25)
    _fill(by_cell, matrix, random.Random(seed))
    for r in range(15):
        by_row.add_row()
        half = gen.permutation(25)
        by_row.set_row(r, half[:10], matrix[r, half[:10]])
        by_row.set_row(r, half[10:], matrix[r, half[10:]])
    assert np.array_equal(by_cell.leaders.lead[:15], by_row.leaders.lead[:15])
    assert np.array_equal(by_cell.leaders.wins[:15], by_row.leaders.wins[:15])
    assert np.array_equal(by_row.leaders.col_count, by_row.leaders.lead[:15].sum(axis=0))
    assert np.allclose(by_row.means(), matrix.mean(axis=1))


def test_the_fast_sampler_with_parked_rows_matches_algorithm_2_over_the_eligible_rows() -> None:
    """Rows that are not eligible (parked candidates, scored in part) only tie the best
    scores; the incremental index then samples exactly the front of the eligible rows."""
    import random as _random

    import numpy as _np

    from gepetto.core.pareto import ScoreTable as _Table
    from gepetto.core.pareto import pareto_front as _front

    rng = _random.Random(3)
    checked = 0
    for _ in range(300):
        n_rows, n_cols = rng.randint(2, 7), rng.randint(2, 8)
        table = _Table(n_cols)
        rows = [[float(rng.random() < 0.5) for _ in range(n_cols)] for _ in range(n_rows)]
        eligible = _np.array([True] + [rng.random() < 0.7 for _ in range(n_rows - 1)])
        for r, values in enumerate(rows):
            table.add_row()
            for c, v in enumerate(values):
                if eligible[r] or rng.random() < 0.5:  # parked rows: partly scored
                    table.set(r, c, v)
        if not table.leaders.exact_for(eligible):
            continue
        checked += 1
        front = _front(table.scores, eligible=eligible, means=table.means())
        picks = {table.leaders.sample(_random.Random(s), table.means(), eligible) for s in range(200)}
        assert picks == set(front.members), (rows, eligible)
    assert checked > 50
