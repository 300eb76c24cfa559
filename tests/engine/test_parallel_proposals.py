"""Parallel proposals: rounds of pipelines in flight at once give the same run, step for
step, for a given seed and ``parallel_proposals``, however the threads are timed."""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Sequence

import pytest

from gepetto import Candidate, Config, ExampleResult, optimize
from gepetto.proposers.base import Attempt, Proposal
from tests.engine.toy import SEED, ToySystem, make_examples
from tests.faults.fault_server import FaultPlan
from tests.faults.scenario import config as fault_config
from tests.faults.scenario import fingerprint, found_instruction, run_scenario

_jitter = random.Random()  # unseeded on purpose: thread timings differ from run to run


class JitteryToySystem(ToySystem):
    """The toy system, slow and randomly so, counting evaluations in flight."""

    def __init__(self, expect_overlap: bool = False) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        # the first two parent-minibatch calls wait for each other (at most 5 s): proof of overlap that
        # does not depend on how fast a loaded machine starts threads
        self._meet = threading.Barrier(2) if expect_overlap else None

    def evaluate(self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False) -> list[ExampleResult]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._meet is not None and capture_traces:  # parents' minibatches: a round's first phase
                try:
                    self._meet.wait(timeout=5)
                except threading.BrokenBarrierError:
                    pass
                self._meet = None
            time.sleep(_jitter.uniform(0.0, 0.01))
            return super().evaluate(candidate, examples, capture_traces=capture_traces)
        finally:
            with self._lock:
                self.in_flight -= 1


class StatefulProposer:
    """Its replies depend on how many calls came before and on the rng it is given, so a
    run is only reproducible if calls arrive in the same order with the same streams."""

    def __init__(self, useless: bool = False) -> None:
        self.calls = 0
        self.useless = useless

    def propose(self, candidate, module, records, *, rng, iteration) -> Proposal:  # noqa: ANN001
        time.sleep(_jitter.uniform(0.0, 0.02))
        self.calls += 1
        failing = [r.feedback for r in records if r.score is not None and r.score < 1.0]
        if self.useless or self.calls % 3 == 0 or not failing:
            text = f"{candidate[module]} Variant {self.calls}-{rng.randint(0, 99)}."
        elif "doubled" in " ".join(failing):
            text = f"{candidate[module]} Then double it ({rng.randint(0, 99)})."
        else:
            text = f"{candidate[module]} Use hex ({rng.randint(0, 99)})."
        return Proposal(module, text, (Attempt(None, text, text),))


def _run(parallel: int, *, seed: int = 0, max_rollouts: int = 200, max_iterations: int | None = None, useless: bool = False):  # noqa: ANN202
    system = JitteryToySystem(expect_overlap=parallel > 1)
    config = Config(
        max_rollouts=max_rollouts, minibatch_size=3, seed=seed, parallel_proposals=parallel, max_iterations=max_iterations,
    )
    result = optimize(system, make_examples(12, 1), make_examples(8, 2), seed_candidate=dict(SEED), proposer=StatefulProposer(useless), config=config)
    return result, system


def _print(result) -> tuple:  # noqa: ANN001
    return (
        [(p.iteration, p.parent, p.modules, p.status, p.texts, p.child_index, p.rollouts_used) for p in result.proposals],
        [[None if v != v else v for v in row] for row in result.val_scores], result.best_index, result.rollouts_used, result.rollouts_by_kind, result.iterations,
    )


@pytest.mark.parametrize("parallel", [2, 4])
def test_the_same_seed_gives_the_same_run_whatever_the_timing(parallel: int) -> None:
    first, system = _run(parallel)
    assert system.max_in_flight >= 2  # pipelines really overlapped
    for _ in range(2):
        again, _ = _run(parallel)
        assert _print(again) == _print(first)
    assert first.best_score == 1.0  # and the run still optimizes
    assert first.rollouts_used <= 200


def test_a_round_counts_every_pipeline_as_an_iteration_and_respects_max_iterations() -> None:
    result, _ = _run(3, max_iterations=7, max_rollouts=1000, useless=True)
    assert result.stop_reason == "max_iterations"
    assert result.iterations == 7
    iterations = [p.iteration for p in result.proposals]
    assert sorted(iterations) == iterations and len(set(iterations)) == len(iterations)
    assert iterations[-1] == 7


def test_the_budget_holds_with_rounds() -> None:
    for budget in (60, 75, 90):
        result, _ = _run(4, max_rollouts=budget)
        assert result.rollouts_used <= budget


def test_one_pipeline_is_the_sequential_engine() -> None:
    sequential, _ = _run(1)
    assert sequential.best_score == 1.0
    assert [p.iteration for p in sequential.proposals] == list(range(1, sequential.iterations + 1))


def test_parallel_rounds_over_http_are_reproducible_and_still_find_the_instruction() -> None:
    """The fault-injection scenario's banking task and reflection server, healthy, with
    three pipelines in flight: the LM clients, cache and accounting are shared by threads."""
    cfg = fault_config(parallel_proposals=3)
    first = run_scenario(FaultPlan(rate=0.0), cfg=cfg)
    assert first.error is None, first.error
    second = run_scenario(FaultPlan(rate=0.0), cfg=cfg)
    assert fingerprint(second.result) == fingerprint(first.result)
    assert found_instruction(first.result) and first.result.best_score == 1.0
