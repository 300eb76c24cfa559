"""Pareto front (Algorithm 2) over generated score tables.

Every property is checked against the rules documented in ``gepetto.core.pareto``:
leaders within ``tie_tolerance`` of the column best, identical win sets collapse to the
representative with the higher mean (then the smaller index), strict-subset win sets are
dominated, NaN cells never lead.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from gepetto.core.pareto import Front, ScoreTable, leader_matrix, pareto_front

TOL = 1e-9


# --------------------------------------------------------------------------- helpers


def _masked(matrix: np.ndarray, eligible: np.ndarray | None) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if eligible is None:
        return matrix
    return np.where(np.asarray(eligible, dtype=bool)[:, None], matrix, np.nan)


def _win_sets(matrix: np.ndarray, tol: float = TOL, eligible=None) -> list[frozenset[int]]:
    """Independent leader computation: plain Python loops over the documented rule."""
    m = _masked(matrix, eligible)
    n_rows, n_cols = m.shape
    sets: list[set[int]] = [set() for _ in range(n_rows)]
    for c in range(n_cols):
        col = [v for v in m[:, c] if not np.isnan(v)]
        if not col:
            continue
        best = max(col)
        for r in range(n_rows):
            v = m[r, c]
            if not np.isnan(v) and v >= best - tol:
                sets[r].add(c)
    return [frozenset(s) for s in sets]


def _row_means(m: np.ndarray) -> list[float]:
    out = []
    for row in m:
        vals = [v for v in row if not np.isnan(v)]
        out.append(sum(vals) / len(vals) if vals else float("-inf"))
    return out


def reference_front(matrix: np.ndarray, tol: float = TOL, eligible=None, means=None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Brute-force reference of the documented front (members ascending, wins)."""
    m = _masked(matrix, eligible)
    sets = _win_sets(matrix, tol, eligible)
    if means is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_vals = np.nanmean(m, axis=1) if m.shape[1] else np.full(m.shape[0], np.nan)
    else:
        mean_vals = np.asarray(means, dtype=float)
    mean_vals = [(-np.inf if np.isnan(x) else float(x)) for x in mean_vals]
    groups: dict[frozenset[int], int] = {}
    for r, s in enumerate(sets):
        if not s:
            continue
        best = groups.get(s)
        if best is None or (mean_vals[r], -r) > (mean_vals[best], -best):
            groups[s] = r
    survivors = []
    for s, r in groups.items():
        if any(s < other for other in groups):
            continue
        survivors.append(r)
    survivors.sort()
    return tuple(survivors), tuple(len(sets[r]) for r in survivors)


def _gen_matrix(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    n_rows = int(rng.integers(1, 13))
    n_cols = int(rng.integers(1, 25))
    if kind == "continuous":
        m = rng.random((n_rows, n_cols))
    elif kind == "binary":
        m = (rng.random((n_rows, n_cols)) < rng.uniform(0.1, 0.9)).astype(float)
    elif kind == "levels":
        m = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=(n_rows, n_cols))
    else:
        raise AssertionError(kind)
    eligible = None
    if rng.random() < 0.4:  # NaN cells (partially scored candidates)
        m = np.where(rng.random((n_rows, n_cols)) < rng.uniform(0.05, 0.5), np.nan, m)
    if rng.random() < 0.4:
        eligible = rng.random(n_rows) < 0.7
    return m, eligible


def _front(m, eligible=None, **kw) -> Front:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN rows
        return pareto_front(m, eligible=eligible, **kw)


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("kind", ["continuous", "binary", "levels"])
def test_front_matches_bruteforce_reference(kind):
    for seed in range(150):
        rng = np.random.default_rng(seed)
        m, eligible = _gen_matrix(rng, kind)
        front = _front(m, eligible)
        expected = reference_front(m, eligible=eligible)
        assert (front.members, front.wins) == expected, (seed, m, eligible)


@pytest.mark.parametrize("kind", ["continuous", "binary", "levels"])
def test_every_column_best_is_reached_by_some_member(kind):
    for seed in range(150):
        rng = np.random.default_rng(1000 + seed)
        m, eligible = _gen_matrix(rng, kind)
        mm = _masked(m, eligible)
        front = _front(m, eligible)
        for c in range(m.shape[1]):
            col = mm[:, c]
            if np.all(np.isnan(col)):
                assert np.isnan(front.column_best[c])
                continue
            best = np.nanmax(col)
            assert front.column_best[c] == pytest.approx(best, abs=0)
            reached = [r for r in front.members if not np.isnan(mm[r, c]) and mm[r, c] >= best - TOL]
            assert reached, f"seed={seed}: column {c} (best {best}) has no leader on the front {front.members}"


@pytest.mark.parametrize("kind", ["continuous", "binary", "levels"])
def test_no_member_win_set_is_subset_of_another(kind):
    for seed in range(150):
        rng = np.random.default_rng(2000 + seed)
        m, eligible = _gen_matrix(rng, kind)
        front = _front(m, eligible)
        sets = _win_sets(m, eligible=eligible)
        member_sets = [sets[r] for r in front.members]
        for r, s in zip(front.members, member_sets):
            assert s, f"member {r} leads nothing"
        for (ra, sa), (rb, sb) in itertools.permutations(zip(front.members, member_sets), 2):
            assert not sa <= sb, f"seed={seed}: member {ra} {sorted(sa)} is covered by {rb} {sorted(sb)}"
        # wins are the sizes of the win sets; members ascending and eligible
        assert front.wins == tuple(len(s) for s in member_sets)
        assert list(front.members) == sorted(front.members)
        if eligible is not None:
            assert all(eligible[r] for r in front.members)
        # leaders that did not survive have a member whose win set covers theirs
        for r, s in enumerate(sets):
            if s and r not in front.members:
                assert any(s <= sets[q] for q in front.members)


def test_non_leaders_and_nan_cells_never_lead():
    m = np.array(
        [
            [np.nan, 0.2, 0.3],
            [0.9, np.nan, 0.1],
            [0.5, 0.1, np.nan],
            [0.1, 0.1, 0.1],
        ]
    )
    front = pareto_front(m)
    assert front.members == (0, 1)
    assert front.wins == (2, 1)
    # rows 2 and 3 never reach a column best; row 0 leads columns 1 and 2 despite its NaN
    assert 3 not in front.members and 2 not in front.members


def test_partially_scored_candidate_cannot_lead_its_unscored_column():
    # row 0 is unscored on column 1 where everyone else is poor: it must not lead there
    m = np.array([[1.0, np.nan], [0.0, 0.2], [0.0, 0.1]])
    lead, best = leader_matrix(m)
    assert best.tolist() == [1.0, 0.2]
    assert lead.tolist() == [[True, False], [False, True], [False, False]]
    front = pareto_front(m)
    assert front.members == (0, 1)


def test_weights_are_wins_normalised():
    m = np.array([[1, 1, 1, 0], [0, 0, 0, 1.0]])
    front = pareto_front(m)
    assert front.members == (0, 1)
    assert front.wins == (3, 1)
    np.testing.assert_allclose(front.weights(), [0.75, 0.25])
    empty = pareto_front(np.full((2, 3), np.nan))
    assert empty.members == () and empty.wins == ()
    assert empty.weights().shape == (0,)


# --------------------------------------------------------------------------- tie rule


def test_identical_win_sets_higher_mean_survives():
    # rows 0 and 1 both lead exactly column 0; row 1 has the higher mean
    m = np.array(
        [
            [1.0, 0.1, 0.1],
            [1.0, 0.4, 0.4],
            [0.0, 0.9, 0.9],
        ]
    )
    front = pareto_front(m)
    assert front.members == (1, 2)
    assert front.wins == (1, 2)


def test_identical_win_sets_exact_mean_tie_keeps_older():
    m = np.array(
        [
            [0.0, 0.9, 0.9],
            [1.0, 0.3, 0.1],
            [1.0, 0.1, 0.3],  # same win set {0}, exactly the same mean: the older (1) survives
        ]
    )
    front = pareto_front(m)
    assert front.members == (0, 1)
    # reversed order: again the smaller index survives
    front2 = pareto_front(m[[0, 2, 1]])
    assert front2.members == (0, 1)


def test_identical_rows_keep_the_oldest():
    rng = np.random.default_rng(7)
    for _ in range(30):
        base = rng.random((1, 6))
        m = np.vstack([rng.random((2, 6)) * 0.5, base, base, base])
        front = pareto_front(m)
        assert 2 in front.members
        assert 3 not in front.members and 4 not in front.members


def test_explicit_means_break_ties():
    m = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert pareto_front(m).members == (0, 2)
    assert pareto_front(m, means=np.array([0.1, 0.9, 0.5])).members == (1, 2)
    assert pareto_front(m, means=np.array([0.9, 0.1, 0.5])).members == (0, 2)
    # a NaN mean loses to any real mean
    assert pareto_front(m, means=np.array([np.nan, 0.0, 0.5])).members == (1, 2)


def test_duplicate_win_sets_never_both_survive_random():
    for seed in range(100):
        rng = np.random.default_rng(3000 + seed)
        # few columns and binary scores: many identical win sets
        m = (rng.random((int(rng.integers(2, 12)), int(rng.integers(1, 5)))) < 0.5).astype(float)
        front = pareto_front(m)
        sets = _win_sets(m)
        member_sets = [sets[r] for r in front.members]
        assert len(set(member_sets)) == len(member_sets)
        means = m.mean(axis=1)
        for r in front.members:
            for q in range(m.shape[0]):
                if q != r and sets[q] == sets[r]:
                    assert (means[r], -r) > (means[q], -q), (seed, r, q)


# --------------------------------------------------------------------------- tolerance


def test_tie_tolerance_absorbs_float_noise():
    m = np.array([[1.0, 0.0], [1.0 - 1e-12, 1.0]])
    lead, _ = leader_matrix(m)
    assert lead[:, 0].tolist() == [True, True]
    front = pareto_front(m)
    # row 1 leads both columns (within tolerance); row 0 is dominated
    assert front.members == (1,)
    assert front.wins == (2,)


def test_tie_tolerance_is_absolute_and_configurable():
    m = np.array([[1.0, 0.0], [0.99, 1.0]])
    assert pareto_front(m).members == (0, 1)
    assert pareto_front(m, tie_tolerance=0.02).members == (1,)
    assert pareto_front(m, tie_tolerance=0.005).members == (0, 1)
    lead, _ = leader_matrix(m, tie_tolerance=0.0)
    assert lead.tolist() == [[True, False], [False, True]]


def test_noise_does_not_change_the_win_set_family():
    """Perturbing 0/1 scores by 1e-12 leaves the set of distinct win sets unchanged."""
    for seed in range(100):
        rng = np.random.default_rng(4000 + seed)
        clean = (rng.random((int(rng.integers(2, 10)), int(rng.integers(1, 15)))) < 0.5).astype(float)
        noisy = clean + rng.uniform(-1e-12, 1e-12, clean.shape)
        sets_clean, sets_noisy = _win_sets(clean), _win_sets(noisy)
        assert sets_clean == sets_noisy
        fc, fn = pareto_front(clean), pareto_front(noisy)
        assert {sets_clean[r] for r in fc.members} == {sets_noisy[r] for r in fn.members}
        assert sorted(fc.wins) == sorted(fn.wins)


def test_noise_larger_than_tolerance_breaks_ties():
    m = np.array([[1.0, 0.0], [1.0 - 1e-6, 1.0]])
    assert pareto_front(m).members == (0, 1)


# --------------------------------------------------------------------------- eligibility


def test_eligible_mask_excludes_rows_and_recomputes_bests():
    m = np.array(
        [
            [1.0, 1.0, 1.0],  # would dominate everything, but is not eligible
            [0.8, 0.2, 0.5],
            [0.2, 0.8, 0.5],
        ]
    )
    assert pareto_front(m).members == (0,)
    front = _front(m, np.array([False, True, True]))
    assert front.members == (1, 2)
    assert front.wins == (2, 2)
    assert front.column_best.tolist() == [0.8, 0.8, 0.5]


def test_no_eligible_rows_gives_empty_front():
    m = np.random.default_rng(0).random((4, 5))
    front = _front(m, np.zeros(4, dtype=bool))
    assert front.members == ()
    assert np.all(np.isnan(front.column_best))


def test_zero_rows_gives_empty_front():
    front = pareto_front(np.zeros((0, 3)))
    assert front.members == () and front.wins == ()
    assert front.column_best.shape == (3,)


# --------------------------------------------------------------------------- ScoreTable


def _filled_table(m: np.ndarray, objectives: dict[str, np.ndarray] | None = None) -> ScoreTable:
    table = ScoreTable(m.shape[1])
    for r in range(m.shape[0]):
        assert table.add_row() == r
        for c in range(m.shape[1]):
            if np.isnan(m[r, c]):
                continue
            obj = {name: float(vals[r, c]) for name, vals in (objectives or {}).items()}
            table.set(r, c, float(m[r, c]), obj or None)
    return table


def test_empty_valset_raises():
    with pytest.raises(ValueError, match="validation set is empty"):
        ScoreTable(0)
    with pytest.raises(ValueError):
        ScoreTable(-1)


def test_score_table_rows_means_completeness():
    m = np.array([[1.0, 0.0, np.nan], [0.5, 0.5, 0.5]])
    table = _filled_table(m)
    assert table.n_candidates == 2 and table.n_instances == 3
    assert not table.is_complete(0) and table.is_complete(1)
    np.testing.assert_allclose(table.means(), [0.5, 0.5])
    row = table.row(0)
    row[0] = 99.0
    assert table.row(0)[0] == 1.0  # row() is a copy
    assert not table.scores.flags.writeable
    with pytest.raises(ValueError):
        table.scores[0, 0] = 3.0
    r = table.add_row()
    assert r == 2 and np.isnan(table.means()[2])
    assert np.all(np.isnan(table.row(2)))


def test_instance_frontier_is_the_score_matrix():
    m = np.random.default_rng(5).random((5, 7))
    table = _filled_table(m)
    np.testing.assert_array_equal(table.columns("instance"), m)
    assert pareto_front(table.columns("instance")).members == reference_front(m)[0]


def test_objective_frontier_uses_objective_means():
    # 3 candidates, 4 instances, two objectives: accuracy and brevity
    scores = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]], dtype=float)
    accuracy = scores.copy()
    brevity = np.array([[0.1] * 4, [0.9] * 4, [0.4] * 4])
    table = _filled_table(scores, {"accuracy": accuracy, "brevity": brevity})
    assert table.objective_names() == ["accuracy", "brevity"]
    obj = table.columns("objective")
    np.testing.assert_allclose(obj, [[1.0, 0.1], [0.0, 0.9], [0.5, 0.4]])
    front = pareto_front(obj)
    assert front.members == (0, 1)
    assert front.wins == (1, 1)
    # the instance frontier only sees candidate 0
    assert pareto_front(table.columns("instance")).members == (0,)


def test_hybrid_frontier_is_instances_then_objectives():
    scores = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 0]], dtype=float)
    cost = np.array([[0.1] * 3, [0.2] * 3, [0.9] * 3])
    table = _filled_table(scores, {"cost": cost})
    hybrid = table.columns("hybrid")
    assert hybrid.shape == (3, 4)
    np.testing.assert_allclose(hybrid[:, :3], scores)
    np.testing.assert_allclose(hybrid[:, 3], [0.1, 0.2, 0.9])
    front = pareto_front(hybrid)
    assert front.members == (0, 1, 2)
    assert front.wins == (2, 2, 1)
    assert pareto_front(table.columns("instance")).members == (0, 1)
    assert pareto_front(table.columns("objective")).members == (2,)


def test_hybrid_without_objectives_equals_instance():
    m = np.random.default_rng(9).random((3, 4))
    table = _filled_table(m)
    np.testing.assert_array_equal(table.columns("hybrid"), m)


def test_objective_frontier_without_objectives_names_the_fix():
    table = _filled_table(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        table.columns("objective")
    message = str(info.value)
    assert "objectives" in message
    assert "frontier='instance'" in message


def test_unknown_frontier_raises():
    table = _filled_table(np.ones((1, 2)))
    with pytest.raises(ValueError, match="unknown frontier"):
        table.columns("instances")


def test_objective_tables_grow_with_rows():
    table = ScoreTable(2)
    table.add_row()
    table.set(0, 0, 1.0, {"acc": 1.0})
    table.set(0, 1, 0.0, {"acc": 0.0})
    table.add_row()
    table.add_row()
    table.set(2, 0, 0.5, {"acc": 0.8})
    table.set(2, 1, 0.5, {"acc": 0.6})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        obj = table.objective_means()
    assert obj.shape == (3, 1)
    assert obj[0, 0] == pytest.approx(0.5)
    assert np.isnan(obj[1, 0])
    assert obj[2, 0] == pytest.approx(0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        front = pareto_front(table.columns("objective"))
    assert front.members == (2,)


def test_front_via_score_table_random():
    for seed in range(40):
        rng = np.random.default_rng(5000 + seed)
        m, _ = _gen_matrix(rng, "levels")
        table = _filled_table(m)
        front = _front(table.columns("instance"), means=table.means())
        assert (front.members, front.wins) == reference_front(m, means=table.means())
