"""The run store: one SQLite file (WAL) per run directory, written as the run goes.

It is an engine *observer*: the engine emits events, the store writes them, the loop
knows no SQL. Every evaluation batch is committed as soon as it completes, so a run
killed at any moment loses at most the batch in flight. The same file is the replay
source of a resumed run (:meth:`RunStore.lookup`).

Nothing secret is written: the config holds no keys (LM objects are not config), and
texts and outputs come from the system, not from HTTP headers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from gepetto.core.events import (
    CandidateAccepted,
    CandidateScored,
    EvaluationDone,
    Event,
    ProposalEvaluated,
    RunFinished,
    RunStarted,
)
from gepetto.store.identity import RunIdentity
from gepetto.store.serialize import dumps, result_from_row, result_to_row
from gepetto.systems.adapter import ExampleResult

SCHEMA_VERSION = 1
DB_NAME = "run.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    idx INTEGER PRIMARY KEY, candidate_id TEXT NOT NULL, texts TEXT NOT NULL, parents TEXT NOT NULL,
    origin TEXT NOT NULL, changed_modules TEXT NOT NULL, note TEXT, iteration INTEGER, rollouts INTEGER,
    val_mean REAL
);
CREATE TABLE IF NOT EXISTS evaluations (
    candidate_id TEXT NOT NULL, split TEXT NOT NULL, example INTEGER NOT NULL, occurrence INTEGER NOT NULL,
    candidate_idx INTEGER, kind TEXT, iteration INTEGER, rollouts INTEGER,
    score REAL NOT NULL, output TEXT, feedback TEXT, objectives TEXT, records TEXT, error TEXT,
    PRIMARY KEY (candidate_id, split, example, occurrence)
);
CREATE TABLE IF NOT EXISTS proposals (
    seq INTEGER PRIMARY KEY, iteration INTEGER, kind TEXT, parent INTEGER, modules TEXT, status TEXT,
    reason TEXT, parent_score REAL, child_score REAL, child_index INTEGER, texts TEXT, refusals TEXT,
    rollouts INTEGER
);
CREATE TABLE IF NOT EXISTS progress (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, iteration INTEGER, rollouts INTEGER,
    best_index INTEGER, best_val_mean REAL
);
"""


class RunDirError(ValueError):
    """The run directory cannot be used as asked (exists, or belongs to another config)."""


class RunStore:
    """A run's SQLite store. Thread-safe; one connection guarded by a lock."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / DB_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        # Sequence numbers of this process's events: a resumed run replays the same
        # proposals in the same order, so rows are overwritten, never duplicated.
        self._proposal_seq = 0
        self._progress_seq = 0

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def has_run(self) -> bool:
        return self.get_meta("fingerprint") is not None

    def begin(
        self, identity: RunIdentity, description: dict[str, Any], *, resume: bool, force: bool = False,
        also_accept: Sequence[str] = (),
    ) -> None:
        """Claim the store for a run; refuse a mismatched or unrequested reuse, naming what
        differs. ``also_accept``: older fingerprints the same run may carry (see
        :func:`gepetto.store.identity.legacy_fingerprint`)."""
        fingerprint = identity.fingerprint
        existing = self.get_meta("fingerprint")
        if existing is not None:
            if not resume:
                raise RunDirError(
                    f"{self.run_dir} already holds a run; resume it (gepetto resume {self.run_dir} / "
                    "optimize(..., resume=True)) or choose another run directory"
                )
            recorded = self.get_meta("identity")
            if recorded is not None:
                differences = identity.differences(RunIdentity.from_json(recorded))
            elif existing == fingerprint or existing in also_accept:
                differences = []
            else:
                differences = ["its configuration, data or seed candidate (the run predates gepetto naming the difference)"]
            if differences and not force:
                raise RunDirError(
                    f"{self.run_dir} holds a run that differs from this one: {'; '.join(differences)}. "
                    "Resuming it would mix two experiments. Use a new run directory, or resume anyway "
                    "(--force on the command line: gepetto resume --force; force=True in Python)"
                )
        self.set_meta("fingerprint", fingerprint)
        self.set_meta("identity", identity.to_json())
        self.set_meta("description", dumps(description))
        self.set_meta("status", "running")
        if self.get_meta("created") is None:
            self.set_meta("created", str(time.time()))

    # ---------------------------------------------------------------- replay
    def lookup(self, candidate_id: str, split: str, example: int, occurrence: int) -> ExampleResult | None:
        """A stored result to replay, or None. Failed rollouts (``error`` set) are not
        replayed: the resumed run tries them again."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM evaluations WHERE candidate_id=? AND split=? AND example=? AND occurrence=?",
                (candidate_id, split, example, occurrence),
            ).fetchone()
        if row is None or row["error"]:
            return None
        return result_from_row(row)

    # --------------------------------------------------------------- observer
    def on_event(self, event: Event) -> None:
        if isinstance(event, EvaluationDone):
            if not event.replayed:
                self._write_evaluations(event)
        elif isinstance(event, CandidateAccepted):
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO candidates(idx, candidate_id, texts, parents, origin, changed_modules, note,"
                    " iteration, rollouts) VALUES (?,?,?,?,?,?,?,?,?)",
                    (event.index, event.candidate_id, dumps(event.texts), dumps(list(event.parents)), event.origin,
                     dumps(list(event.changed_modules)), event.note, event.iteration, event.rollouts_used),
                )
        elif isinstance(event, CandidateScored):
            with self._lock:
                self._db.execute("UPDATE candidates SET val_mean=? WHERE idx=?", (event.val_mean, event.index))
                self._db.execute(
                    "INSERT OR REPLACE INTO progress(seq, at, iteration, rollouts, best_index, best_val_mean)"
                    " VALUES (?,?,?,?,?,?)",
                    (self._progress_seq, time.time(), event.iteration, event.rollouts_used, event.best_index,
                     event.best_val_mean),
                )
                self._progress_seq += 1
        elif isinstance(event, ProposalEvaluated) and event.record is not None:
            p = event.record
            with self._lock:
                seq = self._proposal_seq
                self._proposal_seq += 1
                self._db.execute(
                    "INSERT OR REPLACE INTO proposals(seq, iteration, kind, parent, modules, status, reason, parent_score, child_score,"
                    " child_index, texts, refusals, rollouts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (seq, p.iteration, p.kind, p.parent, dumps(list(p.modules)), p.status, p.reason, p.parent_score,
                     p.child_score, p.child_index, dumps(p.texts), dumps(list(p.refusals)), p.rollouts_used),
                )
        elif isinstance(event, RunStarted):
            self.set_meta("status", "running")
            self.set_meta("max_rollouts", str(event.max_rollouts))
        elif isinstance(event, RunFinished):
            # rows past this run's own sequence belong to an interrupted attempt that the
            # resumed run did not retrace (e.g. proposals refused while a server was down)
            with self._lock:
                self._db.execute("DELETE FROM proposals WHERE seq >= ?", (self._proposal_seq,))
                self._db.execute("DELETE FROM progress WHERE seq >= ?", (self._progress_seq,))
            resumable = event.stop_reason == "interrupted" or event.stop_reason.startswith("systemic-failure")
            self.set_meta("status", "stopped" if resumable else "finished")
            self.set_meta("stop_reason", event.stop_reason)
            # the run's own choice (with a held-out check it need not be the best val mean)
            self.set_meta("best_index", str(event.best_index))

    def _write_evaluations(self, event: EvaluationDone) -> None:
        rows = []
        for i, occurrence, result in zip(event.example_ids, event.occurrences, event.results):
            data = result_to_row(result)
            rows.append((
                event.candidate_id, event.split, i, occurrence, event.candidate, event.kind, event.iteration,
                event.rollouts_used, data["score"], data["output"], data["feedback"], data["objectives"],
                data["records"], data["error"],
            ))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO evaluations(candidate_id, split, example, occurrence, candidate_idx, kind,"
                " iteration, rollouts, score, output, feedback, objectives, records, error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("COMMIT")

    # ---------------------------------------------------------------- export
    def export(self) -> dict[str, Any]:
        """Candidates, lineage, per-instance validation scores and proposals as plain data."""
        with self._lock:
            meta = {r["key"]: r["value"] for r in self._db.execute("SELECT key, value FROM meta")}
            candidates = [dict(r) for r in self._db.execute("SELECT * FROM candidates ORDER BY idx")]
            proposals = [dict(r) for r in self._db.execute("SELECT * FROM proposals ORDER BY seq")]
            vals = self._db.execute(
                "SELECT candidate_id, example, score FROM evaluations WHERE split='val' AND error IS NULL"
            ).fetchall()
        scores: dict[str, dict[int, float]] = {}
        for r in vals:
            scores.setdefault(r["candidate_id"], {})[int(r["example"])] = float(r["score"])
        for c in candidates:
            for key in ("texts", "parents", "changed_modules"):
                c[key] = json.loads(c[key])
            c["val_scores"] = scores.get(c["candidate_id"], {})
        for p in proposals:
            for key in ("modules", "texts", "refusals"):
                p[key] = json.loads(p[key]) if p[key] else p[key]
        meta.pop("fingerprint", None)
        return {"meta": meta, "candidates": candidates, "proposals": proposals}

    def export_json(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(json.dumps(self.export(), indent=2, ensure_ascii=False))
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
