"""Score table and Pareto front (the paper's Algorithm 2), pure numpy.

Tie rule (documented, tested): on each column (a validation instance or an objective)
the best score is the column maximum, and every candidate within ``tie_tolerance``
(absolute) of it counts as reaching the best. Scores are floats from metrics, so exact
equality is the wrong test; the default tolerance of 1e-9 only absorbs float noise.

Domination among the candidates that reach a best: candidate A is dominated by B when
every column A leads, B leads too, and B leads strictly more columns. When two candidates
lead exactly the same columns, the one with the higher mean score survives; on an exact
mean tie, the older candidate (smaller index) survives. This keeps one representative
of every distinct "way of being best" and makes the front deterministic.

Unscored cells are NaN and are ignored (a candidate partially scored cannot lead a column
it has not been scored on).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np


class LeaderIndex:
    """Per-column leaders of a growing score matrix, maintained cell by cell.

    Rebuilding the leader matrix costs O(candidates x instances) per iteration; GEPA adds
    one candidate per iteration, so keeping it up to date costs O(instances) per new
    row plus O(candidates) for each column whose best score rises. Parent sampling then
    draws a leader with probability proportional to its wins and rejects it if it is
    dominated (rejection sampling gives exactly Algorithm 2's distribution while checking
    domination for one row instead of the whole front).
    """

    def __init__(self, n_cols: int, tie_tolerance: float) -> None:
        self.n_cols = n_cols
        self.tol = tie_tolerance
        self.col_best = np.full(n_cols, -np.inf)
        self.lead = np.zeros((0, n_cols), dtype=bool)
        self.wins = np.zeros(0, dtype=np.int64)
        self.col_count = np.zeros(n_cols, dtype=np.int64)  # leaders per column
        self.n_rows = 0

    def add_row(self) -> None:
        if self.n_rows == self.lead.shape[0]:
            grown = max(8, 2 * self.lead.shape[0])
            lead = np.zeros((grown, self.n_cols), dtype=bool)
            lead[: self.n_rows] = self.lead[: self.n_rows]
            wins = np.zeros(grown, dtype=np.int64)
            wins[: self.n_rows] = self.wins[: self.n_rows]
            self.lead, self.wins = lead, wins
        self.n_rows += 1

    def update(self, matrix: np.ndarray, row: int, col: int) -> None:
        """Cell (row, col) of ``matrix`` was just set; refresh leaders of ``col``."""
        value = matrix[row, col]
        if np.isnan(value):
            return
        if value > self.col_best[col]:
            self.col_best[col] = value
            column = matrix[: self.n_rows, col]
            with np.errstate(invalid="ignore"):
                fresh = column >= value - self.tol
            old = self.lead[: self.n_rows, col]
            self.wins[: self.n_rows] += fresh.astype(np.int64) - old.astype(np.int64)
            self.lead[: self.n_rows, col] = fresh
            self.col_count[col] = int(fresh.sum())
        elif value >= self.col_best[col] - self.tol and not self.lead[row, col]:
            self.lead[row, col] = True
            self.wins[row] += 1
            self.col_count[col] += 1

    def update_many(self, matrix: np.ndarray, row: int, cols: np.ndarray) -> None:
        """Cells (row, cols) were just set: the vectorized form of :meth:`update`."""
        cols = np.asarray(cols, dtype=np.int64)
        values = matrix[row, cols]
        scored = ~np.isnan(values)
        cols, values = cols[scored], values[scored]
        rising = values > self.col_best[cols]
        if rising.any():
            up = cols[rising]
            self.col_best[up] = values[rising]
            block = matrix[: self.n_rows][:, up]
            with np.errstate(invalid="ignore"):
                fresh = block >= (self.col_best[up] - self.tol)[None, :]
            old = self.lead[: self.n_rows][:, up]
            self.wins[: self.n_rows] += fresh.sum(axis=1) - old.sum(axis=1)
            self.lead[: self.n_rows, up] = fresh
            self.col_count[up] = fresh.sum(axis=0)
        rest = cols[~rising]
        joins = rest[(values[~rising] >= self.col_best[rest] - self.tol) & ~self.lead[row, rest]]
        self.lead[row, joins] = True
        self.wins[row] += joins.size
        self.col_count[joins] += 1

    def dominated(self, row: int, means: np.ndarray, eligible: np.ndarray | None = None) -> bool:
        """Is ``row`` off the front (strict subset of another's wins, or same wins and
        a lower mean / younger)? Only rows leading ``row``'s least-shared column can
        dominate it; with ``eligible``, only eligible rows count as dominators."""
        mine = self.lead[row, : self.n_cols]
        cols = np.flatnonzero(mine)
        if cols.size == 0:
            return True
        pivot = cols[np.argmin(self.col_count[cols])]
        others = np.flatnonzero(self.lead[: self.n_rows, pivot])
        others = others[(others != row) & (self.wins[others] >= self.wins[row])]
        if eligible is not None:
            others = others[eligible[others]]
        if others.size == 0:
            return False
        covers = self.lead[np.ix_(others, cols)].all(axis=1)
        for other in others[covers]:
            if self.wins[other] > self.wins[row]:
                return True
            # identical win sets: higher mean, then older, stays
            if (means[other], -other) > (means[row], -row):
                return True
        return False

    def exact_for(self, eligible: np.ndarray) -> bool:
        """Are the leaders among ``eligible`` rows what they would be in a table of the
        eligible rows alone? True when every column's best score is reached by some
        eligible row (ineligible rows, e.g. parked candidates, then only tie), so the
        incremental index serves Algorithm 2 over the eligible rows exactly."""
        out = np.flatnonzero(~eligible[: self.n_rows])
        if out.size == 0:
            return True
        theirs = self.lead[out, : self.n_cols].sum(axis=0)
        return not bool(np.any((theirs > 0) & (theirs == self.col_count)))

    def sample(self, rng: "random.Random", means: np.ndarray, eligible: np.ndarray) -> int | None:
        """A front member drawn with probability proportional to its wins."""
        weights = np.where(eligible[: self.n_rows], self.wins[: self.n_rows], 0)
        total = int(weights.sum())
        if total == 0:
            return None
        rows = np.flatnonzero(weights)
        cumulative = np.cumsum(weights[rows])
        rejected: set[int] = set()
        while len(rejected) < rows.size:
            pick = int(rows[np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")])
            if pick in rejected:
                continue
            if not self.dominated(pick, means, eligible):
                return pick
            rejected.add(pick)
        return None


class ScoreTable:
    """Per-instance validation scores of every candidate, growing by rows.

    Rows are candidates (pool indices), columns validation instances. Objective scores
    (named, when the metric returns several) live in parallel tables, one per name.
    Storage grows by doubling, so adding a candidate does not copy the whole table.
    """

    def __init__(self, n_instances: int, tie_tolerance: float = 1e-9) -> None:
        if n_instances <= 0:
            raise ValueError("the validation set is empty; pass at least one validation example")
        self.n_instances = n_instances
        self._rows = 0
        self._data = np.full((8, n_instances), np.nan)
        self._objectives: dict[str, np.ndarray] = {}
        self.leaders = LeaderIndex(n_instances, tie_tolerance)
        # running sums and counts per row keep means() O(candidates)
        self._sums = np.zeros(8)
        self._counts = np.zeros(8, dtype=np.int64)

    @property
    def n_candidates(self) -> int:
        return self._rows

    @property
    def _scores(self) -> np.ndarray:
        return self._data[: self._rows]

    @property
    def scores(self) -> np.ndarray:
        """A read-only view of the (candidates x instances) matrix."""
        view = self._data[: self._rows].view()
        view.flags.writeable = False
        return view

    def _grow(self, table: np.ndarray) -> np.ndarray:
        grown = np.full((2 * table.shape[0], self.n_instances), np.nan)
        grown[: table.shape[0]] = table
        return grown

    def add_row(self) -> int:
        if self._rows == self._data.shape[0]:
            self._data = self._grow(self._data)
            for name, table in self._objectives.items():
                self._objectives[name] = self._grow(table)
            self._sums = np.concatenate([self._sums, np.zeros(self._sums.size)])
            self._counts = np.concatenate([self._counts, np.zeros(self._counts.size, dtype=np.int64)])
        self._rows += 1
        self.leaders.add_row()
        return self._rows - 1

    def set(self, row: int, instance: int, score: float, objectives: dict[str, float] | None = None) -> None:
        if not 0 <= row < self._rows:
            raise IndexError(f"row {row} is not in the table (has {self._rows})")
        old = self._data[row, instance]
        if not np.isnan(old):
            self._sums[row] -= old
            self._counts[row] -= 1
        self._data[row, instance] = float(score)
        if not np.isnan(self._data[row, instance]):
            self._sums[row] += self._data[row, instance]
            self._counts[row] += 1
        self.leaders.update(self._data, row, instance)
        for name, value in (objectives or {}).items():
            table = self._objectives.get(name)
            if table is None:
                table = np.full(self._data.shape, np.nan)
                self._objectives[name] = table
            table[row, instance] = float(value)

    def set_row(self, row: int, instances: "np.ndarray | list[int]", scores: "np.ndarray | list[float]") -> None:
        """Set many cells of one row at once (scores only; vectorized leader update)."""
        if not 0 <= row < self._rows:
            raise IndexError(f"row {row} is not in the table (has {self._rows})")
        cols = np.asarray(instances, dtype=np.int64)
        old = self._data[row, cols]
        self._sums[row] -= np.nansum(old)
        self._counts[row] -= int((~np.isnan(old)).sum())
        new = np.asarray(scores, dtype=float)
        self._data[row, cols] = new
        self._sums[row] += np.nansum(new)
        self._counts[row] += int((~np.isnan(new)).sum())
        self.leaders.update_many(self._data, row, cols)

    def row(self, row: int) -> np.ndarray:
        return self._scores[row].copy()

    def is_complete(self, row: int) -> bool:
        return bool(self._counts[row] == self.n_instances)

    def complete_rows(self) -> np.ndarray:
        return self._counts[: self._rows] == self.n_instances

    def means(self) -> np.ndarray:
        """Mean over scored instances per candidate (NaN where nothing is scored)."""
        counts = self._counts[: self._rows]
        sums = self._sums[: self._rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def objective_names(self) -> list[str]:
        return sorted(self._objectives)

    def objective_means(self) -> np.ndarray:
        """(candidates x objectives) matrix of mean objective scores."""
        names = self.objective_names()
        if not names:
            return np.zeros((self.n_candidates, 0))
        cols = []
        for n in names:
            table = self._objectives[n][: self._rows]
            counts = (~np.isnan(table)).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                cols.append(np.where(counts > 0, np.nansum(table, axis=1) / np.maximum(counts, 1), np.nan))
        return np.stack(cols, axis=1)

    def columns(self, frontier: str) -> np.ndarray:
        """The matrix whose columns the Pareto front is computed over.

        ``instance``: one column per validation instance (the paper's default);
        ``objective``: one column per named objective (mean over instances);
        ``hybrid``: both side by side.
        """
        if frontier == "instance":
            return self._scores
        if frontier == "objective":
            obj = self.objective_means()
            if obj.shape[1] == 0:
                raise ValueError(
                    "frontier='objective' needs a metric that returns named objective scores; "
                    "return objectives={...} from the metric or use frontier='instance'"
                )
            return obj
        if frontier == "hybrid":
            return np.hstack([self._scores, self.objective_means()])
        raise ValueError(f"unknown frontier {frontier!r}; use 'instance', 'objective' or 'hybrid'")


@dataclass(frozen=True)
class Front:
    """The Pareto front: surviving candidates and how many columns each leads."""

    members: tuple[int, ...]
    wins: tuple[int, ...]
    column_best: np.ndarray

    def weights(self) -> np.ndarray:
        w = np.asarray(self.wins, dtype=float)
        return w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / max(len(w), 1))


def leader_matrix(matrix: np.ndarray, tie_tolerance: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """(lead, column_best): ``lead[r, c]`` is True when row r reaches column c's best."""
    col_best = np.fmax.reduce(matrix, axis=0) if matrix.shape[0] else np.full(matrix.shape[1], np.nan)
    with np.errstate(invalid="ignore"):
        lead = matrix >= (col_best - tie_tolerance)[None, :]
    return lead, col_best


def pareto_front(
    matrix: np.ndarray,
    *,
    tie_tolerance: float = 1e-9,
    eligible: np.ndarray | None = None,
    means: np.ndarray | None = None,
) -> Front:
    """Algorithm 2: leaders per column, then removal of dominated leaders.

    ``eligible`` (bool per row) restricts the front to some candidates, e.g. those
    fully scored. ``means`` (per row) breaks ties between identical win sets; computed
    when not given. Cost is O(C x N) for the leader matrix; the domination check only
    compares a leader with the rows that share its least-shared column.
    """
    matrix = np.asarray(matrix, dtype=float)
    n_rows, n_cols = matrix.shape
    if eligible is not None:
        matrix = np.where(np.asarray(eligible, dtype=bool)[:, None], matrix, np.nan)
    if n_rows == 0:
        return Front((), (), np.full(n_cols, np.nan))
    lead, col_best = leader_matrix(matrix, tie_tolerance)
    wins = lead.sum(axis=1)
    candidates = np.flatnonzero(wins > 0)
    if candidates.size == 0:
        return Front((), (), col_best)
    if means is None:
        with np.errstate(invalid="ignore"):
            means = np.nanmean(matrix, axis=1) if np.isnan(matrix).any() else matrix.mean(axis=1)
    means = np.where(np.isnan(means), -np.inf, means)

    # 1. Identical win sets: keep one representative (higher mean, then older).
    packed = np.packbits(lead[candidates], axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    rep_of_group: dict[int, int] = {}
    for pos, group in enumerate(inverse.tolist()):
        row = int(candidates[pos])
        best = rep_of_group.get(group)
        if best is None or (means[row], -row) > (means[best], -best):
            rep_of_group[group] = row
    reps = np.array(sorted(rep_of_group.values()), dtype=int)
    is_rep = np.zeros(n_rows, dtype=bool)
    is_rep[reps] = True
    pos_of_row = {int(r): i for i, r in enumerate(candidates)}

    # 2. Strict domination: A's win set a strict subset of B's. Any dominator of A also
    #    leads A's least-shared column, so only the representatives there are compared.
    col_counts = lead.sum(axis=0)
    survivors: list[int] = []
    for row in reps.tolist():
        cols = np.flatnonzero(lead[row])
        pivot = cols[np.argmin(col_counts[cols])]
        others = np.flatnonzero(lead[:, pivot] & is_rep & (wins > wins[row]))
        if others.size:
            mine = packed[pos_of_row[row]]
            theirs = packed[[pos_of_row[int(o)] for o in others]]
            if np.any(~np.any(mine & ~theirs, axis=1)):
                continue
        survivors.append(row)
    members = tuple(survivors)
    return Front(members, tuple(int(wins[m]) for m in members), col_best)
