"""The fault-injection scenario shared by the tests and ``benchmarks/faults.py``: a real
``gepetto.optimize`` run of the banking-9 task whose task and reflection LMs both talk to
a :class:`~tests.faults.fault_server.FaultServer` through the product's own LM stack
(``make_lm``: OpenAICompatibleLM + accounting)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import gepetto
from gepetto.core.events import EvaluationDone, Event
from gepetto.lm import UsageTracker, make_lm
from gepetto.tasks.banking import banking_task

from tests.faults.fault_server import HINT, FaultPlan, FaultServer

# seed=5: every label of the 8 validation queries also occurs in the 12 training queries,
# so reflection can learn every hint the validation set needs (perfect score reachable).
TASK = banking_task(n_train=12, n_val=8, n_test=0, seed=5)
VAL_LABELS = sorted({row["label"] for row in TASK.val})
LABELS = {row["text"].strip(): row["label"] for row in TASK.train + TASK.val}

LM_KWARGS: dict[str, Any] = dict(
    cache=False,  # every call reaches the server (the run dir still caches reflection replies)
    timeout_s=0.6,
    max_retries=3,
    backoff_base_s=0.002,
    backoff_max_s=0.01,
    retry_after_max_s=0.05,
)


def config(**overrides: Any) -> gepetto.Config:
    base: dict[str, Any] = dict(max_rollouts=120, minibatch_size=3, seed=0)
    base.update(overrides)
    return gepetto.Config(**base)


def make_lms(url: str, tracker: UsageTracker | None = None, **overrides: Any) -> tuple[Any, Any]:
    kwargs = {**LM_KWARGS, **overrides}
    if tracker is not None:
        return (
            make_lm(base_url=url, model="fault-model", role="task", tracker=tracker, **kwargs),
            make_lm(base_url=url, model="fault-model", role="reflection", tracker=tracker, **kwargs),
        )
    return make_lm(base_url=url, model="fault-model", **kwargs), make_lm(base_url=url, model="fault-model", **kwargs)


class FailureCounter:
    """Observer: rollouts that came back as failures (``error`` set), fresh ones only."""

    def __init__(self) -> None:
        self.failed = 0
        self.errors: list[str] = []

    def on_event(self, event: Event) -> None:
        if isinstance(event, EvaluationDone) and not event.replayed:
            for result in event.results:
                if result.error:
                    self.failed += 1
                    self.errors.append(result.error)


def hinted(result: gepetto.Result) -> set[str]:
    return set(HINT.findall(result.best_candidate["classify"]))


def found_instruction(result: gepetto.Result) -> bool:
    """The best candidate carries the hint of every validation label (the instruction the
    fake classifier needs to be always right)."""
    return set(VAL_LABELS) <= hinted(result)


def clean_score(text: str) -> float:
    """What an instruction really scores on the validation set with a fault-free server."""
    hints = set(HINT.findall(text))
    return sum(row["label"] in hints for row in TASK.val) / len(TASK.val)


def in_pool(result: gepetto.Result) -> bool:
    """Some candidate of the pool carries every hint the validation set needs."""
    return any(clean_score(c.candidate["classify"]) == 1.0 for c in result.candidates)


def fingerprint(result: gepetto.Result) -> tuple[Any, ...]:
    return (
        [(p.iteration, p.kind, p.parent, p.modules, p.status, p.texts, p.child_index) for p in result.proposals],
        [[None if v != v else v for v in row] for row in result.val_scores],  # NaN (parked) != NaN
        result.best_index,
        result.rollouts_used,
        result.stop_reason,
    )


@dataclass
class Outcome:
    result: gepetto.Result | None
    error: BaseException | None
    stats: dict[str, Any]
    usage: dict[str, dict[str, float | int]]
    failed_rollouts: int
    failure_messages: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_scenario(
    plan: FaultPlan,
    *,
    cfg: gepetto.Config | None = None,
    observers: Sequence[Any] = (),
    **run_kwargs: Any,
) -> Outcome:
    """One full optimization against a fresh fault server; never raises (see ``error``)."""
    tracker = UsageTracker()
    counter = FailureCounter()
    started = time.perf_counter()
    result: gepetto.Result | None = None
    error: BaseException | None = None
    with FaultServer(LABELS, plan) as server:
        task_lm, reflection_lm = make_lms(server.url, tracker)
        try:
            result = gepetto.optimize(
                TASK.make_system(task_lm), TASK.train, TASK.val, reflection_lm=reflection_lm,
                config=cfg or config(), usage=tracker, observers=[counter, *observers], **run_kwargs,
            )
        except Exception as exc:  # noqa: BLE001 - reported, the caller decides
            error = exc
        stats = server.stats
    return Outcome(
        result=result, error=error, stats={**stats.as_dict(), "retryable_faults": stats.retryable_faults},
        usage=tracker.as_dict(), failed_rollouts=counter.failed, failure_messages=counter.errors,
        seconds=time.perf_counter() - started,
    )
