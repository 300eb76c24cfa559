"""A plain-text progress observer: one line per notable engine event.

Kept dependency-free and line-oriented so it works in CI logs and pipes; a richer live
display can subscribe to the same events.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from gepetto.core.events import (
    CandidateAccepted,
    CandidateScored,
    Event,
    ProposalEvaluated,
    RunFinished,
    RunStarted,
)


@dataclass
class LineProgress:
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)
    max_rollouts: int = 0
    best: float = float("nan")

    def _say(self, event: Event, text: str) -> None:
        elapsed = time.monotonic() - self.started
        budget = f"{event.rollouts_used}/{self.max_rollouts}" if self.max_rollouts else str(event.rollouts_used)
        print(f"[{elapsed:6.0f}s it {event.iteration:3d} rollouts {budget}] {text}", file=self.stream, flush=True)

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.max_rollouts = event.max_rollouts
            self._say(event, f"start: {event.n_train} train, {event.n_val} val, modules {', '.join(event.modules)}")
        elif isinstance(event, ProposalEvaluated):
            detail = event.reason and f" ({event.reason})"
            scores = ""
            if event.parent_minibatch is not None and event.child_minibatch is not None:
                scores = f" minibatch {event.parent_minibatch:g} -> {event.child_minibatch:g}"
            self._say(event, f"{event.kind} of #{event.parent} on {event.module or '-'}: {event.status}{detail}{scores}")
        elif isinstance(event, CandidateAccepted):
            self._say(event, f"new candidate #{event.index} ({event.origin}, parents {list(event.parents)})")
        elif isinstance(event, CandidateScored):
            self.best = event.best_val_mean
            self._say(event, f"candidate #{event.index} val {event.val_mean:.3f}; best #{event.best_index} {event.best_val_mean:.3f}")
        elif isinstance(event, RunFinished):
            self._say(event, f"done ({event.stop_reason}): best #{event.best_index} val {event.best_val_mean:.3f}")
