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

from dataclasses import dataclass

import numpy as np


class ScoreTable:
    """Per-instance validation scores of every candidate, growing by rows.

    Rows are candidates (pool indices), columns validation instances. Objective scores
    (named, when the metric returns several) live in parallel tables, one per name.
    """

    def __init__(self, n_instances: int) -> None:
        if n_instances <= 0:
            raise ValueError("the validation set is empty; pass at least one validation example")
        self.n_instances = n_instances
        self._scores = np.full((0, n_instances), np.nan)
        self._objectives: dict[str, np.ndarray] = {}

    @property
    def n_candidates(self) -> int:
        return self._scores.shape[0]

    @property
    def scores(self) -> np.ndarray:
        """A read-only view of the (candidates x instances) matrix."""
        view = self._scores.view()
        view.flags.writeable = False
        return view

    def add_row(self) -> int:
        self._scores = np.vstack([self._scores, np.full((1, self.n_instances), np.nan)])
        for name, table in self._objectives.items():
            self._objectives[name] = np.vstack([table, np.full((1, self.n_instances), np.nan)])
        return self.n_candidates - 1

    def set(self, row: int, instance: int, score: float, objectives: dict[str, float] | None = None) -> None:
        self._scores[row, instance] = float(score)
        for name, value in (objectives or {}).items():
            table = self._objectives.get(name)
            if table is None:
                table = np.full(self._scores.shape, np.nan)
                self._objectives[name] = table
            table[row, instance] = float(value)

    def row(self, row: int) -> np.ndarray:
        return self._scores[row].copy()

    def is_complete(self, row: int) -> bool:
        return not np.isnan(self._scores[row]).any()

    def means(self) -> np.ndarray:
        """Mean over scored instances per candidate (NaN where nothing is scored)."""
        with np.errstate(invalid="ignore"):
            counts = (~np.isnan(self._scores)).sum(axis=1)
            sums = np.nansum(self._scores, axis=1)
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def objective_names(self) -> list[str]:
        return sorted(self._objectives)

    def objective_means(self) -> np.ndarray:
        """(candidates x objectives) matrix of mean objective scores."""
        names = self.objective_names()
        if not names:
            return np.zeros((self.n_candidates, 0))
        cols = [np.nanmean(np.where(np.isnan(self._objectives[n]), np.nan, self._objectives[n]), axis=1) for n in names]
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
