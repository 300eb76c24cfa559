"""Everything the report shows, read from a run directory's store (read-only).

The run store's :meth:`~gepetto.store.RunStore.export` gives candidates, lineage,
per-instance validation scores and proposals; the ``progress`` and ``evaluations``
tables add the best-so-far curve and where the rollouts went. This module turns that
into one plain :class:`RunData` the renderer draws from, so the renderer never touches
SQL and the loading rules (best candidate, Pareto front, totals) are tested once.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gepetto.core.pareto import pareto_front

DB_NAME = "run.sqlite"


class ReportError(ValueError):
    """The directory cannot be reported on (not a run directory, unreadable store)."""


@dataclass
class CandidateView:
    idx: int
    candidate_id: str
    texts: dict[str, str]
    parents: list[int]
    origin: str
    changed_modules: list[str]
    note: str
    iteration: int
    rollouts: int  # rollouts used when the candidate was created
    val_mean: float | None
    val_scores: dict[int, float]
    scored_at: int | None = None  # rollouts used when its validation finished
    depth: int = 0


@dataclass
class ProposalView:
    seq: int
    iteration: int
    kind: str
    parent: int
    modules: list[str]
    status: str
    reason: str
    parent_score: float | None
    child_score: float | None
    child_index: int | None
    texts: dict[str, str]
    refusals: list[str]
    rollouts: int


@dataclass
class RunData:
    run_dir: Path
    meta: dict[str, str]
    config: dict[str, Any]
    candidates: list[CandidateView]
    proposals: list[ProposalView]
    progress: list[tuple[int, float, int]]  # (rollouts, best val mean, best index)
    rollouts_by_kind: dict[str, int]
    rollouts_used: int
    max_rollouts: int | None
    columns: list[int]  # validation instance ids, in order
    matrix: np.ndarray  # candidates x columns, NaN where unscored
    complete: np.ndarray  # bool per candidate: scored on every column
    front: list[int]  # Pareto front (candidate indices) over complete rows
    front_wins: dict[int, int]
    best: int | None
    lm_usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_scores: dict[str, float] = field(default_factory=dict)
    created: float | None = None
    last_update: float | None = None

    @property
    def status(self) -> str:
        return self.meta.get("status", "unknown")

    @property
    def stop_reason(self) -> str:
        return self.meta.get("stop_reason", "")

    @property
    def seed(self) -> CandidateView | None:
        return self.candidates[0] if self.candidates else None

    def candidate(self, idx: int) -> CandidateView | None:
        for c in self.candidates:
            if c.idx == idx:
                return c
        return None

    def proposal_counts(self) -> dict[str, int]:
        """Proposals per final status (``accepted``, ``rejected-gate``, ``refused``...)."""
        counts: dict[str, int] = {}
        for p in self.proposals:
            counts[p.status] = counts.get(p.status, 0) + 1
        return counts

    def refusal_counts(self) -> dict[str, int]:
        """Refused replies by rule (a proposal may resample after refusals and still pass)."""
        counts: dict[str, int] = {}
        for p in self.proposals:
            for r in p.refusals:
                key = str(r).split(":")[0] or "unspecified"
                counts[key] = counts.get(key, 0) + 1
            if p.status == "refused" and not p.refusals:
                key = (p.reason or "unspecified").split(":")[0]
                counts[key] = counts.get(key, 0) + 1
        return counts

    def lineage(self, idx: int) -> list[int]:
        """The first-parent chain from the seed to ``idx`` (inclusive)."""
        chain: list[int] = []
        seen: set[int] = set()
        current: int | None = idx
        while current is not None and current not in seen:
            seen.add(current)
            chain.append(current)
            c = self.candidate(current)
            current = c.parents[0] if c is not None and c.parents else None
        return chain[::-1]


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _json(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default


def _read_only(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def _export(path: Path) -> dict[str, Any]:
    """The store's own export (one place decodes the stored JSON). Only called once the
    store is known to exist, so opening it creates nothing."""
    from gepetto.store import RunStore

    store = RunStore(path.parent)
    try:
        return store.export()
    finally:
        store.close()


def stored_results(run_dir: str | Path, candidate_id: str, split: str = "val") -> dict[int, Any]:
    """A candidate's stored results on ``split`` by example index (first occurrence), read
    without opening the store for writing: what views such as per-label recall need to
    show a run's replies again without any model call. Empty when nothing is stored."""
    from gepetto.store.serialize import result_from_row

    path = Path(run_dir) / DB_NAME
    if not path.is_file():
        return {}
    db = _read_only(path)
    try:
        rows = db.execute(
            "SELECT * FROM evaluations WHERE candidate_id=? AND split=? ORDER BY example, occurrence",
            (candidate_id, split),
        ).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    out: dict[int, Any] = {}
    for row in rows:
        out.setdefault(int(row["example"]), result_from_row(row))
    return out


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory (``run.sqlite`` inside) into :class:`RunData`."""
    run_dir = Path(run_dir)
    path = run_dir / DB_NAME
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory; pass a run directory (the one holding {DB_NAME})")
    if not path.is_file():
        raise ReportError(f"{run_dir} holds no {DB_NAME}; is it a run directory (optimize(..., run_dir=...))?")
    try:
        db = _read_only(path)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "candidates", "proposals", "evaluations"} <= tables:
                raise ReportError(f"{path} is not a gepetto run store (tables missing)")
            progress_rows = [
                (int(r["rollouts"] or 0), _float(r["best_val_mean"]), int(r["best_index"]), _float(r["at"]))
                for r in db.execute("SELECT * FROM progress ORDER BY seq")
            ] if "progress" in tables else []
            by_kind = {
                str(r["kind"] or "other"): int(r["n"])
                for r in db.execute("SELECT kind, COUNT(*) AS n FROM evaluations GROUP BY kind ORDER BY kind")
            }
            max_eval = db.execute("SELECT MAX(rollouts) FROM evaluations").fetchone()[0]
            scored_at = {
                int(r["candidate_idx"]): int(r["r"])
                for r in db.execute(
                    "SELECT candidate_idx, MAX(rollouts) AS r FROM evaluations WHERE split='val'"
                    " AND candidate_idx IS NOT NULL AND rollouts IS NOT NULL GROUP BY candidate_idx"
                )
            }
        finally:
            db.close()
        exported = _export(path)
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc

    meta = {str(k): str(v) for k, v in exported["meta"].items()}
    description = _json(meta.get("description"), {})
    config = description.get("config", {}) if isinstance(description, dict) else {}

    candidates = [
        CandidateView(
            idx=int(c["idx"]),
            candidate_id=str(c["candidate_id"]),
            texts={str(k): str(v) for k, v in (c["texts"] or {}).items()},
            parents=[int(p) for p in c["parents"] or []],
            origin=str(c["origin"] or "reflection"),
            changed_modules=[str(m) for m in c["changed_modules"] or []],
            note=str(c.get("note") or ""),
            iteration=int(c["iteration"] or 0),
            rollouts=int(c["rollouts"] or 0),
            val_mean=_float(c["val_mean"]),
            val_scores={int(k): float(v) for k, v in (c["val_scores"] or {}).items()},
            scored_at=scored_at.get(int(c["idx"])),
        )
        for c in exported["candidates"]
    ]
    by_idx = {c.idx: c for c in candidates}
    for c in candidates:  # depth in the lineage: parents come before children
        c.depth = 1 + max((by_idx[p].depth for p in c.parents if p in by_idx), default=-1)

    proposals = [
        ProposalView(
            seq=int(p["seq"]),
            iteration=int(p["iteration"] or 0),
            kind=str(p["kind"] or ""),
            parent=int(p["parent"]) if p["parent"] is not None else -1,
            modules=[str(m) for m in p["modules"] or []],
            status=str(p["status"] or "unknown"),
            reason=str(p["reason"] or ""),
            parent_score=_float(p["parent_score"]),
            child_score=_float(p["child_score"]),
            child_index=int(p["child_index"]) if p["child_index"] is not None else None,
            texts={str(k): str(v) for k, v in (p["texts"] or {}).items()} if isinstance(p["texts"], dict) else {},
            refusals=[str(r) for r in p["refusals"] or []],
            rollouts=int(p["rollouts"] or 0),
        )
        for p in exported["proposals"]
    ]

    columns = sorted({k for c in candidates for k in c.val_scores})
    col_pos = {k: j for j, k in enumerate(columns)}
    matrix = np.full((len(candidates), len(columns)), np.nan)
    for i, c in enumerate(candidates):
        for k, v in c.val_scores.items():
            matrix[i, col_pos[k]] = v
    complete = ~np.isnan(matrix).any(axis=1) if columns else np.zeros(len(candidates), dtype=bool)
    front: list[int] = []
    front_wins: dict[int, int] = {}
    if columns and complete.any():
        with np.errstate(invalid="ignore"):
            means = matrix.mean(axis=1)  # NaN exactly on the incomplete rows, which are not eligible
        f = pareto_front(matrix, eligible=complete, means=means)
        front = [candidates[m].idx for m in f.members]
        front_wins = {candidates[m].idx: w for m, w in zip(f.members, f.wins)}

    progress = [(r, v, b) for r, v, b, _ in progress_rows if v is not None]
    best: int | None = None
    if progress and progress[-1][2] in by_idx:
        best = progress[-1][2]
    else:
        ranked = [
            (-(c.val_mean if c.val_mean is not None else -math.inf), c.idx)
            for i, c in enumerate(candidates) if complete[i] and c.val_mean is not None
        ]
        if ranked:
            best = min(ranked)[1]
        elif candidates:
            best = candidates[0].idx

    used_candidates = [
        int(x) for x in (
            max_eval,
            max((p.rollouts for p in proposals), default=0),
            max((r for r, _, _ in progress), default=0),
            sum(by_kind.values()),
        ) if x is not None
    ]
    max_rollouts = meta.get("max_rollouts") or (config.get("max_rollouts") if isinstance(config, dict) else None)
    lm_usage = _json(meta.get("lm_usage"), {})
    test_scores = _json(meta.get("test_scores"), {})
    stamps = [at for *_, at in progress_rows if at is not None]
    return RunData(
        run_dir=run_dir,
        meta=meta,
        config=config if isinstance(config, dict) else {},
        candidates=candidates,
        proposals=proposals,
        progress=progress,
        rollouts_by_kind=by_kind,
        rollouts_used=max(used_candidates, default=0),
        max_rollouts=int(max_rollouts) if max_rollouts not in (None, "") else None,
        columns=columns,
        matrix=matrix,
        complete=complete,
        front=front,
        front_wins=front_wins,
        best=best,
        lm_usage=lm_usage if isinstance(lm_usage, dict) else {},
        test_scores={str(k): float(v) for k, v in test_scores.items() if _float(v) is not None}
        if isinstance(test_scores, dict) else {},
        created=_float(meta.get("created")),
        last_update=max(stamps) if stamps else None,
    )
