"""The run store: every candidate, evaluation and proposal of a run, on disk as it happens."""

from gepetto.store.sqlite_store import DB_NAME, RunDirError, RunStore

__all__ = ["DB_NAME", "RunDirError", "RunStore"]
