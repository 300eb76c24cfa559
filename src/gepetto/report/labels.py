"""Per-label validation results of a finished run, read back from its store.

Why: which labels an optimized instruction won or lost is the first thing to look at after
a classifier's run, and the run already holds every reply needed to say it. ``gepetto
show`` and ``gepetto report`` use this instead of scoring again, so neither needs a model
server. The gold labels come from the run's own copy of its task file; a run without one
(made from Python with ``optimize(run_dir=...)``) has no per-label view here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gepetto.lm.callable_lm import CallableLM
from gepetto.report.data import stored_results
from gepetto.systems.breakdown import LabelBreakdown, breakdown_of

TASK_COPY = "task.yaml"  # the name `gepetto optimize` saves the task file under in a run directory


@dataclass(frozen=True)
class StoredLabels:
    """The best candidate's per-label validation results, and the seed's when they differ."""

    best_idx: int
    best: LabelBreakdown
    seed: LabelBreakdown | None


def _refuse(prompt: str) -> str:
    """The task's system is built only to read its labels and gold answers: a model call
    here is a bug, never a silent trip to a server."""
    from gepetto.lm.base import LMError

    raise LMError("reading a run's stored replies makes no model calls")


def stored_labels(run_dir: str | Path, seed: Any, best: Any) -> StoredLabels | None:
    """Per-label validation results of ``best`` (and ``seed``; both have ``idx`` and
    ``candidate_id``) from the replies the run stored, or None where it cannot be told: no
    task copy in the run directory, a task that can no longer be read here (moved data, a
    missing extra), a system that is not a classifier, or no complete stored validation
    pass of the best candidate."""
    from gepetto.taskfile import TaskFileError, build_system, load_taskfile, task_splits

    run_dir = Path(run_dir)
    if not (run_dir / TASK_COPY).exists():
        return None
    try:
        task = load_taskfile(run_dir / TASK_COPY)
        splits = task_splits(task)
        system = build_system(task, CallableLM(_refuse, name="no-model"), splits)
    except (TaskFileError, OSError, ValueError, ImportError):
        return None
    examples = splits.val
    after = _breakdown(run_dir, system, examples, best.candidate_id)
    if after is None:
        return None
    before = _breakdown(run_dir, system, examples, seed.candidate_id) if seed.idx != best.idx else None
    return StoredLabels(best.idx, after, before)


def _breakdown(run_dir: Path, system: Any, examples: Sequence[Any], candidate_id: str) -> LabelBreakdown | None:
    stored = stored_results(run_dir, candidate_id, "val")
    if not examples or any(i not in stored for i in range(len(examples))):
        return None
    return breakdown_of(system, examples, [stored[i] for i in range(len(examples))])
