"""``reflection.definition_examples: failures``: the seed's survey of the training set, and
definitions written from the texts the seed got wrong first."""

from __future__ import annotations

import random

from gepetto import Candidate, Config, ModuleRecord, ReflectionConfig, optimize
from gepetto.lm import ScriptedLM
from gepetto.proposers.edits import EditProposer, split_sections
from gepetto.systems.metrics import LabelMetric
from gepetto.systems.prompt_system import PromptSystem

LABELS = ["card_arrival", "card_delivery_estimate", "declined_transfer"]


def _line_writer(messages):  # noqa: ANN001, ANN202
    label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
    return f"{label}: texts generally about {label.replace('_', ' ')} matters"


def _record(text: str, label: str, score: float) -> ModuleRecord:
    return ModuleRecord("classify", {"input": text}, label if score else "declined_transfer", "", score, label)


def _prompt_for(lm: ScriptedLM, label: str) -> str:
    return next(c.messages[-1]["content"] for c in lm.calls if c.messages[-1]["content"].rsplit("\n", 1)[-1].startswith(label))


def test_a_definition_is_written_from_the_texts_the_seed_got_wrong_first() -> None:
    texts = [f"tracking question {i}" for i in range(5)] + ["it still has not arrived", "two weeks and no card"]
    train = [(t, "card_arrival") for t in texts] + [(f"how long {i}", "card_delivery_estimate") for i in range(3)]
    outcomes = [_record(t, lab, 0.0 if t in ("it still has not arrived", "two weeks and no card") else 1.0) for t, lab in train]
    prompts = {}
    for choice in ("first", "failures"):
        lm = ScriptedLM(respond=_line_writer)
        proposer = EditProposer(lm, ReflectionConfig(definition_examples=choice, demonstrations=False), labels=LABELS)
        proposer.prime(train)
        assert proposer.wants_survey() is (choice == "failures")
        if proposer.wants_survey():
            proposer.survey(outcomes)
        proposer.propose(Candidate({"classify": "Classify."}), "classify", [outcomes[5]], rng=random.Random(0), iteration=1)
        prompts[choice] = _prompt_for(lm, "card_arrival")
    shown = proposer.examples_per_label
    assert "it still has not arrived" not in prompts["first"]  # the first four are all tracking questions
    failed_first = prompts["failures"]
    assert failed_first.index("it still has not arrived") < failed_first.index("two weeks and no card") < failed_first.index("tracking question 0")
    assert failed_first.count("tracking question") == shown - 2  # the rest in training order


def test_a_run_surveys_the_seed_once_charges_it_and_reuses_it() -> None:
    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]
    calls: list[str] = []

    def task_respond(messages):
        instruction, query = messages[0]["content"], messages[-1]["content"]
        calls.append(instruction)
        truth = query.split(" about ")[1]
        return truth if truth in split_sections(instruction)[1] or truth == LABELS[0] else LABELS[0]

    metric = LabelMetric(LABELS)
    seed = "Classify the query."

    def run(choice: str):  # noqa: ANN202
        calls.clear()
        system = PromptSystem(ScriptedLM(respond=task_respond), seed, lambda ex: ex["text"],
                              lambda ex, reply: metric(ex["label"], reply), module="classify",
                              expected=lambda ex: ex["label"], labels=LABELS)
        config = Config(max_rollouts=150, minibatch_size=3,
                        reflection=ReflectionConfig(strategy="edits", definition_examples=choice))
        result = optimize(system, data, [dict(ex) for ex in data[:6]], reflection_lm=ScriptedLM(respond=_line_writer), config=config)
        return result, sum(1 for c in calls if c == seed)

    surveyed, seed_calls = run("failures")
    assert surveyed.rollouts_by_kind.get("survey") == len(data)  # the whole training set, within a tenth of the budget
    assert seed_calls == len(data) + 6  # the survey and the seed's validation; its minibatches came from memory
    assert surveyed.best_score == 1.0
    plain, _ = run("first")
    assert "survey" not in plain.rollouts_by_kind


def test_an_interrupted_surveyed_run_resumes_to_the_uninterrupted_result(tmp_path) -> None:  # noqa: ANN001
    from gepetto import StopFlag
    from gepetto.core.events import ProposalEvaluated

    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]
    val = [dict(ex) for ex in data[:6]]
    metric = LabelMetric(LABELS)
    task_calls = [0]

    def task_respond(messages):  # noqa: ANN001, ANN202
        task_calls[0] += 1
        instruction, query = messages[0]["content"], messages[-1]["content"]
        truth = query.split(" about ")[1]
        return truth if truth in split_sections(instruction)[1] or truth == LABELS[0] else LABELS[0]

    def run(**kw):  # noqa: ANN003, ANN202
        system = PromptSystem(ScriptedLM(respond=task_respond), "Classify the query.", lambda ex: ex["text"],
                              lambda ex, reply: metric(ex["label"], reply), module="classify",
                              expected=lambda ex: ex["label"], labels=LABELS)
        config = Config(max_rollouts=150, minibatch_size=3, seed=3,
                        reflection=ReflectionConfig(strategy="edits", definition_examples="failures"))
        return optimize(system, data, val, reflection_lm=ScriptedLM(respond=_line_writer), config=config, **kw)

    reference = run()
    reference_calls, task_calls[0] = task_calls[0], 0
    flag = StopFlag()

    class StopAfterOne:
        def on_event(self, event) -> None:  # noqa: ANN001
            if isinstance(event, ProposalEvaluated):
                flag.set()

    partial = run(run_dir=tmp_path / "r", stop=flag, observers=[StopAfterOne()])
    assert partial.stop_reason == "interrupted" and partial.rollouts_by_kind["survey"] == len(data)
    resumed = run(run_dir=tmp_path / "r", resume=True)
    assert [(p.iteration, p.status, p.texts) for p in resumed.proposals] == [(p.iteration, p.status, p.texts) for p in reference.proposals]
    assert resumed.best_candidate.to_dict() == reference.best_candidate.to_dict()
    assert resumed.rollouts_by_kind == reference.rollouts_by_kind
    assert task_calls[0] == reference_calls  # the survey replayed on resume, not paid again


def _system(respond, labels=LABELS):  # noqa: ANN001, ANN202
    metric = LabelMetric(labels)
    return PromptSystem(ScriptedLM(respond=respond), "Classify the query.", lambda ex: ex["text"],
                        lambda ex, reply: metric(ex["label"], reply), module="classify",
                        expected=lambda ex: ex["label"], labels=labels)


def _config(**kw) -> Config:  # noqa: ANN003
    return Config(minibatch_size=3, reflection=ReflectionConfig(strategy="edits", definition_examples="failures"), **kw)


def test_the_survey_size_depends_on_the_data_not_the_budget() -> None:
    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(20) for lab in LABELS]  # 60 examples
    val = [dict(ex) for ex in data[:6]]
    for budget in (150, 400):
        result = optimize(_system(lambda m: LABELS[0]), data, val, reflection_lm=ScriptedLM(respond=_line_writer),
                          config=_config(max_rollouts=budget))
        assert result.rollouts_by_kind["survey"] == 50  # a seeded sample of a large training set, whatever the budget


def test_a_task_model_that_is_down_during_the_survey_ends_the_run_with_a_result() -> None:
    from gepetto.lm.base import LMError

    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]
    val = [dict(ex) for ex in data[:6]]
    calls = [0]

    def respond(messages):  # noqa: ANN001, ANN202
        calls[0] += 1
        if calls[0] > len(val):  # up for the seed's validation, down from the survey on
            raise LMError("connection refused")
        return LABELS[0]

    result = optimize(_system(respond), data, val, reflection_lm=ScriptedLM(respond=_line_writer),
                      config=_config(max_rollouts=150, max_failed_batches=1))
    assert result.stop_reason.startswith("systemic-failure")
    assert result.best_candidate["classify"] == "Classify the query."


def test_no_survey_for_open_answers_that_could_not_use_it() -> None:
    data = [{"text": f"question {i}", "label": f"answer number {i}"} for i in range(12)]
    metric = LabelMetric([d["label"] for d in data])
    system = PromptSystem(ScriptedLM(respond=lambda m: "answer number 0"), "Answer.", lambda ex: ex["text"],
                          lambda ex, reply: metric(ex["label"], reply), module="answer", expected=lambda ex: ex["label"])
    result = optimize(system, data, [dict(ex) for ex in data[:4]], reflection_lm=ScriptedLM(respond=lambda m: "Answer with care."),
                      config=_config(max_rollouts=60))
    assert "survey" not in result.rollouts_by_kind
