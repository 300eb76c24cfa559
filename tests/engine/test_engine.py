"""The GEPA loop end to end on a toy system whose right instructions are known."""

from __future__ import annotations

import pytest

from gepetto import Config, optimize
from gepetto.core.events import CandidateAccepted, Event, ProposalEvaluated, RunFinished
from gepetto import Candidate
from tests.engine.toy import SEED, FeedbackReadingLM, ScriptedProposer, ToySystem, UnhelpfulProposer, make_examples


def run(config: Config, **kw):
    system = ToySystem()
    lm = FeedbackReadingLM()
    result = optimize(system, make_examples(12, 1), make_examples(8, 2), reflection_lm=lm, config=config, **kw)
    return result, system, lm


def test_finds_the_known_instructions_from_feedback() -> None:
    result, _, lm = run(Config(max_rollouts=120, minibatch_size=4, seed=0))
    assert result.seed_score == 0.0
    assert result.best_score == 1.0
    best = result.best_candidate
    assert "double" in best["solve"].lower() and "hex" in best["format"].lower()
    # feedback reached the reflection prompt
    assert any("must be doubled" in p for p in lm.prompts)
    assert result.proposal_counts().get("accepted", 0) >= 2


def test_budget_is_never_exceeded_and_counts_every_rollout() -> None:
    for budget, reuse in [(20, True), (33, False), (57, True), (100, False)]:
        system = ToySystem()
        config = Config(max_rollouts=budget, minibatch_size=3, seed=3, reuse_evaluations=reuse)
        result = optimize(system, make_examples(12, 1), make_examples(8, 2), proposer=UnhelpfulProposer(), config=config)
        assert result.rollouts_used <= budget
        assert budget - result.rollouts_used < 2 * 3 + 8  # stopped only when a full iteration no longer fits
        assert result.rollouts_used == system.calls == sum(result.rollouts_by_kind.values())
        assert result.stop_reason == "budget"


def test_same_seed_gives_the_same_run() -> None:
    a, _, _ = run(Config(max_rollouts=90, minibatch_size=2, seed=7))
    b, _, _ = run(Config(max_rollouts=90, minibatch_size=2, seed=7))
    assert [(p.parent, p.modules, p.status, p.texts) for p in a.proposals] == [
        (p.parent, p.modules, p.status, p.texts) for p in b.proposals
    ]
    assert a.val_scores == b.val_scores


def test_refused_proposals_are_recorded_not_adopted() -> None:
    class Chatty(FeedbackReadingLM):
        def complete(self, messages, **kw):
            from gepetto.lm.base import Completion

            return Completion("Certainly! Please provide the inputs and I will help.")

    system = ToySystem()
    result = optimize(system, make_examples(6), make_examples(4, 5), reflection_lm=Chatty(), config=Config(max_rollouts=40, minibatch_size=2))
    assert len(result.candidates) == 1
    refused = [p for p in result.proposals if p.status == "refused"]
    assert refused and refused[0].reason == "chatter"
    assert all(set(p.refusals) <= {"chatter", "seen-before"} for p in refused)
    # a refused proposal costs the parent's minibatch at most, never the child's
    assert "validation" in result.rollouts_by_kind and result.rollouts_by_kind["validation"] == 4


def test_gate_rejects_a_child_that_does_not_improve_the_minibatch() -> None:
    proposer = ScriptedProposer({(SEED["solve"], "solve"): "Repeat the number carefully.", (SEED["format"], "format"): "Write it in decimal digits."})
    result = optimize(ToySystem(), make_examples(6), make_examples(4, 5), proposer=proposer, config=Config(max_rollouts=40, minibatch_size=2))
    statuses = {p.status for p in result.proposals}
    assert "rejected-gate" in statuses and "accepted" not in statuses
    assert len(result.candidates) == 1


def test_perfect_minibatch_skips_reflection_and_reuses_evaluations() -> None:
    # right on every kind-a example (all of train), wrong on kind b (half of val)
    seed = {"solve": "Double it.", "format": "Decimal."}
    train = [e for e in make_examples(8) if e["kind"] == "a"]
    proposer = ScriptedProposer({})
    system = ToySystem()
    result = optimize(system, train, make_examples(4, 5), proposer=proposer, seed_candidate=seed, config=Config(max_rollouts=30, minibatch_size=2))
    assert proposer.calls == []
    assert result.proposals and all(p.status == "skipped-perfect" for p in result.proposals)
    # 4 validation + the 4 training examples once each: later epochs reuse stored scores
    assert system.calls == 8
    assert result.stop_reason == "saturated"


def test_events_reach_observers_and_a_broken_observer_does_not_stop_the_run() -> None:
    seen: list[Event] = []

    class Recorder:
        def on_event(self, event: Event) -> None:
            seen.append(event)

    class Broken:
        def on_event(self, event: Event) -> None:
            raise RuntimeError("observer bug")

    result, _, _ = run(Config(max_rollouts=80, minibatch_size=4), observers=[Broken(), Recorder()])
    kinds = {type(e).__name__ for e in seen}
    assert {"RunStarted", "IterationStarted", "ProposalEvaluated", "CandidateAccepted", "CandidateScored", "RunFinished"} <= kinds
    accepted = [e for e in seen if isinstance(e, CandidateAccepted)]
    assert len(accepted) == len(result.candidates)
    assert isinstance(seen[-1], RunFinished) and seen[-1].best_index == result.best_index
    assert len([e for e in seen if isinstance(e, ProposalEvaluated)]) == len(result.proposals)


def test_merge_combines_lineages_that_improved_different_modules() -> None:
    # Two branches from the seed, each fixing one module; only a merge has both.
    proposer = ScriptedProposer(
        {(SEED["solve"], "solve"): "Double the number.", (SEED["format"], "format"): "Write it in hex."},
        only_from={Candidate(SEED).id},
    )
    result = optimize(
        ToySystem(), make_examples(8), make_examples(8, 5), proposer=proposer,
        config=Config(max_rollouts=200, minibatch_size=4, selector="beam", beam_width=3, seed=1, patience=12),
    )
    merges = [c for c in result.candidates if c.origin == "merge"]
    assert merges, [p.status for p in result.proposals]
    merged = merges[0]
    assert merged.candidate["solve"] == "Double the number." and merged.candidate["format"] == "Write it in hex."
    assert result.val_means[merged.index] == 1.0
    assert result.best_score == 1.0


def test_all_modules_at_once() -> None:
    result, _, _ = run(Config(max_rollouts=60, minibatch_size=4, module_selection="all"))
    assert any(len(p.modules) == 2 for p in result.proposals)
    assert result.best_score == 1.0


@pytest.mark.parametrize("selector", ["current-best", "beam", "epsilon-greedy", "pareto"])
def test_every_selector_runs(selector: str) -> None:
    result, _, _ = run(Config(max_rollouts=100, minibatch_size=4, selector=selector))
    assert result.best_score == 1.0


def test_stopping_rules() -> None:
    r, _, _ = run(Config(max_rollouts=500, minibatch_size=4, max_iterations=2))
    assert r.stop_reason == "max_iterations" and r.iterations == 2
    r, _, _ = run(Config(max_rollouts=500, minibatch_size=4, target_score=0.5))
    assert r.stop_reason == "target_score" and r.best_score >= 0.5
    r = optimize(ToySystem(), make_examples(12, 1), make_examples(8, 2), proposer=UnhelpfulProposer(), config=Config(max_rollouts=500, minibatch_size=4, patience=3))
    assert r.stop_reason == "patience" and len(r.proposals) == 3


def test_inference_time_search_returns_best_output_per_instance() -> None:
    data = make_examples(6, 9)
    result = optimize(ToySystem(), data, data, reflection_lm=FeedbackReadingLM(), config=Config(max_rollouts=80, minibatch_size=3))
    assert len(result.best_outputs) == len(data)
    for (score, output, k), ex in zip(result.best_outputs, data):
        assert score == 1.0
        assert output in ({str(ex["x"] * 2), hex(ex["x"] * 2)} if ex["kind"] == "a" else {hex(ex["x"]), hex(ex["x"] * 2)})


def test_bad_input_gets_clear_errors() -> None:
    with pytest.raises(ValueError, match="trainset is empty"):
        optimize(ToySystem(), [], make_examples(3), reflection_lm=FeedbackReadingLM())
    with pytest.raises(ValueError, match="too small"):
        optimize(ToySystem(), make_examples(3), make_examples(30), reflection_lm=FeedbackReadingLM(), config=Config(max_rollouts=20))
    with pytest.raises(ValueError, match="reflection_lm"):
        optimize(ToySystem(), make_examples(3), make_examples(3))
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="selector"):
        Config(selector="best")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="budgett"):
        Config(budgett=3)  # type: ignore[call-arg]


def test_paper_mode_switches_every_addition_off() -> None:
    from gepetto.proposers.reflective import ReflectiveProposer

    config = Config.paper_mode(max_rollouts=90, seed=4)
    assert (config.max_rollouts, config.seed, config.use_merge, config.reuse_evaluations) == (90, 4, False, False)
    assert config.reflection.strategy == "rewrite" and not config.reflection.refuse
    proposer = ReflectiveProposer(FeedbackReadingLM(), config.reflection)
    assert proposer.rules is not None and not proposer.rules.enabled
    # the chatter a refusing run would throw away costs rollouts here, as in the paper
    result = optimize(ToySystem(), make_examples(12, 1), make_examples(8, 2), reflection_lm=FeedbackReadingLM(), config=config)
    assert result.rollouts_used <= 90 and "refused" not in result.proposal_counts()
