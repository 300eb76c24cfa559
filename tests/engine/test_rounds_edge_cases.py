"""Edge cases of parallel rounds together with staged validation, found in review: a parked
candidate revisited mid-round must not spend what the round's later pipelines reserved,
and a child text proposed again is neither paid twice nor replayed from the wrong
occurrence on resume."""

from __future__ import annotations

import threading

from gepetto import Candidate, Config, ExampleResult, ModuleRecord, optimize
from gepetto.core.engine import Engine
from gepetto.core.events import EvaluationDone
from gepetto.systems.adapter import FunctionSystem
from tests.engine.toy import Offers




# P is parked (B dominates it); X takes instance 7 from S, which gives P a chance again.
VAL_SCORES = {
    "S": [1, 1, 1, 1, 1, 1, 0, 0.5, 0, 0],
    "B": [0.9, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "P": [1, 1, 1, 1, 1, 1, 0.6, 0, 0, 0],
    "X": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
    "Y": [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
}
TRAIN_SCORES = {"S": 0.0, "B": 0.2, "P": 0.4, "X": 0.6, "Y": 0.8}


def _score(candidate, example) -> ExampleResult:  # noqa: ANN001
    text, (split, i) = candidate["m"], example
    s = float(VAL_SCORES[text][i]) if split == "val" else TRAIN_SCORES[text]
    return ExampleResult(s, text, "fb", records=(ModuleRecord("m", {"x": str(example)}, text, "fb", s),))


def test_a_revisited_parked_candidate_does_not_spend_the_rounds_reservation() -> None:
    for width in (1, 2, 4):
        config = Config(max_rollouts=68, minibatch_size=3, use_merge=False, seed=0, stage_size=5, parallel_proposals=width)
        result = optimize(FunctionSystem(_score), [("train", i) for i in range(12)], [("val", i) for i in range(10)],
                          seed_candidate={"m": "S"}, proposer=Offers("B", "P", "X", "Y"), config=config)
        assert result.rollouts_used <= 68, (width, result.rollouts_used)


class SampledSystem:
    """C scores 0 the first time it meets an example and 1 afterwards, like a sampled
    task model: replaying the wrong occurrence would change the run."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, object], int] = {}
        self.lock = threading.Lock()
        self.calls = 0

    def evaluate(self, candidate, examples, *, capture_traces=False):  # noqa: ANN001, ANN201
        out = []
        for example in examples:
            text, (split, _) = candidate["m"], example
            with self.lock:
                self.calls += 1
                n = self.seen.get((text, example), 0)
                self.seen[(text, example)] = n + 1
            s = 0.5 if text == "S" else (float(n > 0) if text == "C" else 0.0)
            if split == "val":
                s = 0.5 if text == "S" else 0.6
            out.append(ExampleResult(s, text, "fb", records=(ModuleRecord("m", {"x": str(example)}, text, "fb", s),) if capture_traces else ()))
        return out


class Recorder:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int, int], ExampleResult] = {}

    def on_event(self, event) -> None:  # noqa: ANN001
        if isinstance(event, EvaluationDone):
            for i, occurrence, result in zip(event.example_ids, event.occurrences, event.results):
                self.rows[(event.candidate_id, event.split, i, occurrence)] = result

    def lookup(self, candidate_id: str, split: str, example: int, occurrence: int) -> ExampleResult | None:
        return self.rows.get((candidate_id, split, example, occurrence))


def test_a_child_proposed_again_is_replayed_from_its_own_occurrence_and_not_paid_twice() -> None:
    train, val = [("train", i) for i in range(3)], [("val", i) for i in range(4)]
    for reuse in (True, False):
        config = Config(max_rollouts=200, minibatch_size=3, use_merge=False, seed=0, parallel_proposals=2, max_iterations=4,
                        reuse_evaluations=reuse, skip_perfect_minibatch=False)
        recorder, first = Recorder(), SampledSystem()
        original = Engine(first, train, val, Candidate({"m": "S"}), Offers("C", "D", "C", "E"), config, observers=[recorder]).run()
        again = SampledSystem()
        resumed = Engine(again, train, val, Candidate({"m": "S"}), Offers("C", "D", "C", "E"), config, replay=recorder).run()
        show = lambda r: [(p.iteration, p.texts.get("m"), p.status, p.child_score) for p in r.proposals]  # noqa: E731
        assert show(resumed) == show(original) and resumed.rollouts_used == original.rollouts_used
        assert again.calls == 0  # everything came from the record
        if reuse:  # C's second proposal reuses its first minibatch scores
            assert original.rollouts_by_kind["minibatch"] == 12
