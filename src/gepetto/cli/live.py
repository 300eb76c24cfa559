"""Live progress for the command line (rich): budget bar with ETA, best score, proposal
yield and LM traffic, redrawn as engine events arrive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from gepetto.core.events import CandidateScored, Event, IterationStarted, ProposalEvaluated, RunFinished, RunStarted
from gepetto.lm.base import UsageTracker


@dataclass
class LiveProgress:
    """An engine observer that keeps a rich display up to date. Use as a context manager."""

    tracker: UsageTracker | None = None
    console: Console = field(default_factory=Console)
    iteration: int = 0
    best_index: int = 0
    best: float = float("nan")
    seed: float = float("nan")
    statuses: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]rollouts"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console,
        )
        self.bar = self.progress.add_task("rollouts", total=None)
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> "LiveProgress":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(*exc)  # type: ignore[arg-type]

    def _render(self) -> Group:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim")
        table.add_column()
        table.add_row("iteration", str(self.iteration))
        table.add_row("best validation", f"{self.best:.3f} (candidate #{self.best_index}; seed {self.seed:.3f})")
        accepted = self.statuses.get("accepted", 0)
        refused = self.statuses.get("refused", 0)
        rejected = sum(v for k, v in self.statuses.items() if k.startswith("rejected"))
        other = sum(self.statuses.values()) - accepted - refused - rejected
        table.add_row("proposals", f"{accepted} accepted, {rejected} rejected, {refused} refused, {other} skipped")
        if self.tracker is not None:
            for role, usage in sorted(self.tracker.roles.items()):
                rate = usage.completion_tokens / usage.latency_s if usage.latency_s else 0.0
                table.add_row(
                    f"LM {role}",
                    f"{usage.calls} calls, {usage.cache_hits} cache hits, {usage.errors} errors, {rate:.1f} tokens/s",
                )
        return Group(self.progress, table)

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.progress.update(self.bar, total=event.max_rollouts)
        self.progress.update(self.bar, completed=event.rollouts_used)
        if isinstance(event, IterationStarted):
            self.iteration = event.iteration
        elif isinstance(event, ProposalEvaluated):
            self.statuses[event.status] = self.statuses.get(event.status, 0) + 1
        elif isinstance(event, CandidateScored):
            if event.index == 0:
                self.seed = event.val_mean
            self.best, self.best_index = event.best_val_mean, event.best_index
        elif isinstance(event, RunFinished):
            self.best, self.best_index = event.best_val_mean, event.best_index
        self.live.update(self._render())
