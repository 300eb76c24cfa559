"""The run store records a run as it goes, and an interrupted run resumes exactly."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from gepetto import Config, StopFlag, optimize
from gepetto.core.events import Event, ProposalEvaluated
from gepetto.store import RunDirError, RunStore
from gepetto.lm.base import Completion
from tests.engine.toy import FeedbackReadingLM, FlakyLM, ToySystem, UnhelpfulProposer, make_examples

TRAIN, VAL = make_examples(12, 1), make_examples(8, 2)


def config(**kw) -> Config:
    base = dict(max_rollouts=150, minibatch_size=3, seed=5, use_merge=True)
    base.update(kw)
    return Config(**base)


def fingerprint(result):
    return (
        [(p.iteration, p.parent, p.modules, p.status, p.texts) for p in result.proposals],
        result.val_scores,
        result.best_index,
        result.rollouts_used,
    )


class StopAfter:
    def __init__(self, flag: StopFlag, proposals: int) -> None:
        self.flag, self.left = flag, proposals

    def on_event(self, event: Event) -> None:
        if isinstance(event, ProposalEvaluated):
            self.left -= 1
            if self.left <= 0:
                self.flag.set()


def test_store_records_candidates_evaluations_and_proposals(tmp_path) -> None:
    result = optimize(ToySystem(), TRAIN, VAL, reflection_lm=FlakyLM(), config=config(), run_dir=tmp_path / "run")
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == len(result.candidates)
    assert db.execute("SELECT COUNT(*) FROM proposals").fetchone()[0] == len(result.proposals)
    assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == result.rollouts_used
    assert db.execute("SELECT value FROM meta WHERE key='status'").fetchone()[0] == "finished"
    exported = RunStore(tmp_path / "run").export()
    assert [c["texts"] for c in exported["candidates"]] == [c.candidate.to_dict() for c in result.candidates]
    best = exported["candidates"][result.best_index]
    assert sum(best["val_scores"].values()) / len(VAL) == result.best_score
    json.dumps(exported)  # plain data


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    reference = optimize(ToySystem(), TRAIN, VAL, reflection_lm=FlakyLM(), config=config())

    flag = StopFlag()
    first = ToySystem()
    partial = optimize(first, TRAIN, VAL, reflection_lm=FlakyLM(), config=config(), run_dir=tmp_path / "r", stop=flag, observers=[StopAfter(flag, 3)])
    assert partial.stop_reason == "interrupted"
    assert partial.rollouts_used < reference.rollouts_used

    second = ToySystem()
    resumed = optimize(second, TRAIN, VAL, reflection_lm=FlakyLM(), config=config(), run_dir=tmp_path / "r", resume=True)
    assert fingerprint(resumed) == fingerprint(reference)
    # nothing already scored was evaluated again
    assert first.calls + second.calls == reference.rollouts_used


def test_crash_mid_batch_loses_at_most_that_batch(tmp_path) -> None:
    class Crashing(ToySystem):
        def __init__(self, after: int) -> None:
            super().__init__()
            self.after = after

        def evaluate(self, candidate, examples, *, capture_traces=False):
            if self.calls + len(examples) > self.after:
                raise KeyboardInterrupt  # like a kill: nothing of this batch is returned
            return super().evaluate(candidate, examples, capture_traces=capture_traces)

    reference = optimize(ToySystem(), TRAIN, VAL, reflection_lm=FlakyLM(), config=config(use_merge=False))
    crashing = Crashing(after=40)
    with pytest.raises(KeyboardInterrupt):
        optimize(crashing, TRAIN, VAL, reflection_lm=FlakyLM(), config=config(use_merge=False), run_dir=tmp_path / "c")
    stored = sqlite3.connect(tmp_path / "c" / "run.sqlite").execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    assert stored == crashing.calls  # every completed batch was committed
    again = ToySystem()
    resumed = optimize(again, TRAIN, VAL, reflection_lm=FlakyLM(), config=config(use_merge=False), run_dir=tmp_path / "c", resume=True)
    assert fingerprint(resumed) == fingerprint(reference)
    assert crashing.calls + again.calls == reference.rollouts_used


def test_resume_may_raise_the_budget(tmp_path) -> None:
    small = optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=config(max_rollouts=40), run_dir=tmp_path / "b")
    system = ToySystem()
    bigger = optimize(system, TRAIN, VAL, proposer=UnhelpfulProposer(), config=config(max_rollouts=80), run_dir=tmp_path / "b", resume=True)
    assert small.rollouts_used <= 40 < bigger.rollouts_used <= 80
    assert system.calls == bigger.rollouts_used - small.rollouts_used


def test_run_dir_is_not_reused_by_accident(tmp_path) -> None:
    optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=config(max_rollouts=30), run_dir=tmp_path / "x")
    with pytest.raises(RunDirError, match="already holds a run"):
        optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=config(max_rollouts=30), run_dir=tmp_path / "x")
    with pytest.raises(RunDirError, match="differs from this one: minibatch_size: 2 now, 3 in the run"):
        optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=config(max_rollouts=30, minibatch_size=2), run_dir=tmp_path / "x", resume=True)
    with pytest.raises(ValueError, match="run_dir"):
        optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=config(), resume=True)


def test_stop_file_stops_the_run_and_lm_usage_is_stored(tmp_path) -> None:
    from gepetto.lm import UsageTracker
    from gepetto.lm.accounting import TrackedLM

    class TouchAfter:
        def __init__(self, n: int) -> None:
            self.n = n

        def on_event(self, event: Event) -> None:
            if isinstance(event, ProposalEvaluated):
                self.n -= 1
                if self.n == 0:
                    (tmp_path / "s" / "STOP").touch()

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "STOP").touch()  # stale: removed when the run starts
    tracker = UsageTracker()
    lm = TrackedLM(FlakyLM(), tracker, "reflection")
    result = optimize(ToySystem(), TRAIN, VAL, reflection_lm=lm, config=config(), run_dir=tmp_path / "s",
                      observers=[TouchAfter(2)], usage=tracker)
    assert result.stop_reason == "interrupted" and len(result.proposals) == 2
    store = RunStore(tmp_path / "s")
    assert store.get_meta("status") == "stopped"
    assert json.loads(store.get_meta("lm_usage") or "{}")["reflection"]["calls"] >= 1


class ContentFlakyLM(FeedbackReadingLM):
    """Feedback-reading or unhelpful depending on a hash of the prompt: as varied as
    FlakyLM, but a function of the prompt only, like a cached temperature-0 model (a
    resumed run takes stored replies from the run, so a call-counting fake would drift)."""

    def complete(self, messages, **kw):  # noqa: ANN001, ANN201
        digest = int(hashlib.sha256(messages[-1]["content"].encode()).hexdigest(), 16)
        if digest % 2:
            return Completion("```\nThink about it step by step, variant %d.\n```" % (digest % 1000))
        return super().complete(messages, **kw)


def test_an_interrupted_run_with_parallel_proposals_resumes_to_the_same_result(tmp_path) -> None:
    cfg = config(parallel_proposals=3, use_merge=False)
    reference = optimize(ToySystem(), TRAIN, VAL, reflection_lm=ContentFlakyLM(), config=cfg)
    assert len(reference.proposals) >= 6  # several rounds
    flag = StopFlag()
    first = ToySystem()
    partial = optimize(first, TRAIN, VAL, reflection_lm=ContentFlakyLM(), config=cfg, run_dir=tmp_path / "p", stop=flag, observers=[StopAfter(flag, 2)])
    assert partial.stop_reason == "interrupted" and partial.rollouts_used < reference.rollouts_used
    second = ToySystem()
    resumed = optimize(second, TRAIN, VAL, reflection_lm=ContentFlakyLM(), config=cfg, run_dir=tmp_path / "p", resume=True)
    nan_free = lambda r: [[None if v != v else v for v in row] for row in r.val_scores]  # noqa: E731
    assert nan_free(resumed) == nan_free(reference)
    assert fingerprint(resumed)[0] == fingerprint(reference)[0] and resumed.rollouts_used == reference.rollouts_used
    assert first.calls + second.calls == reference.rollouts_used
