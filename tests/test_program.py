"""Modules and programs: automatic traces, parsing, per-module feedback, optimization."""

from __future__ import annotations

import random
import time

import pytest

from gepetto import Candidate, Config, optimize
from gepetto.lm import ScriptedLM
from gepetto.systems.metrics import MetricResult
from gepetto.systems.program import Module, ProgramSystem, parse_outputs

# Two modules with the SAME signature: only their names tell them apart.
first = Module("first", "Copy the number.", inputs=["x"], outputs=["y"])
second = Module("second", "Copy the number.", inputs=["x"], outputs=["y"])


def program(example):
    a = first(x=example["x"])
    return second(x=a.y)


def task_model(messages):
    """Doubles when told to 'double', adds one when told to 'increment'; slow enough to interleave threads."""
    instruction, user = messages[0]["content"], messages[-1]["content"]
    x = int(user.split("x: ")[1].split("\n")[0])
    time.sleep(random.random() / 500)
    if "double" in instruction:
        x *= 2
    if "increment" in instruction:
        x += 1
    return f"y: {x}"


def metric(example, prediction, trace):
    want = example["x"] * 2 + 1
    got = int(prediction["y"])
    mid = int(trace[0].outputs["y"])
    feedback = {}
    feedback["first"] = "correct" if mid == example["x"] * 2 else "the first step must double the number"
    feedback["second"] = "correct" if got == mid + 1 else "the second step must increment its input"
    # partial credit per step, so fixing one module is visible to the minibatch gate
    score = 0.5 * (mid == example["x"] * 2) + 0.5 * (got == mid + 1)
    return MetricResult(score, f"expected {want}, got {got}", module_feedback=feedback)


def make_system(lm=None, **kw) -> ProgramSystem:
    return ProgramSystem(program, [first, second], metric, lm or ScriptedLM(respond=task_model), **kw)


def test_traces_are_recorded_per_module_and_isolated_between_concurrent_examples() -> None:
    system = make_system(concurrency=8)
    examples = [{"x": i} for i in range(40)]
    candidate = Candidate({"first": "Please double it.", "second": "Now increment it."})
    results = system.evaluate(candidate, examples, capture_traces=True)
    for ex, result in zip(examples, results):
        assert result.score == 1.0
        assert [r.module for r in result.records] == ["first", "second"]
        assert result.records[0].inputs == {"x": ex["x"]}  # its own example, not a neighbour's
        assert result.records[1].inputs == {"x": str(ex["x"] * 2)}


def test_candidate_changes_exactly_the_named_module() -> None:
    system = make_system()
    only_first = system.evaluate(Candidate({"first": "double", "second": "Copy the number."}), [{"x": 5}])[0]
    only_second = system.evaluate(Candidate({"first": "Copy the number.", "second": "increment"}), [{"x": 5}])[0]
    assert only_first.output == {"y": "10"} and only_second.output == {"y": "6"}


def test_per_module_feedback_reaches_only_that_module() -> None:
    system = make_system()
    result = system.evaluate(Candidate({"first": "double", "second": "Copy."}), [{"x": 3}], capture_traces=True)[0]
    by_module = {r.module: r.feedback for r in result.records}
    assert by_module == {"first": "correct", "second": "the second step must increment its input"}


def test_parse_failure_is_a_failure_score_with_the_raw_reply_and_expected_format() -> None:
    two_outputs = Module("pair", "Give both.", inputs=["x"], outputs=["left", "right"])
    system = ProgramSystem(lambda ex: two_outputs(x=ex["x"]), [two_outputs], lambda ex, p: 1.0,
                           ScriptedLM(replies=["I think the answer is seven"], cycle=True))
    result = system.evaluate(Candidate(system.seed_candidate), [{"x": 1}], capture_traces=True)[0]
    assert result.score == 0.0 and result.error
    assert "I think the answer is seven" in result.feedback and "left: <left>; right: <right>" in result.feedback
    assert result.records[0].module == "pair" and "could not parse" in result.records[0].feedback


def test_lm_failure_and_program_bug_score_as_failures() -> None:
    from gepetto.lm.base import LMError

    system = make_system(lm=ScriptedLM(replies=[LMError("server down")], cycle=True))
    result = system.evaluate(Candidate(system.seed_candidate), [{"x": 1}])[0]
    assert result.score == 0.0 and "server down" in result.feedback

    def buggy(example):
        raise KeyError("oops")

    broken = ProgramSystem(buggy, [first], lambda ex, p: 1.0, ScriptedLM(replies=["y: 1"], cycle=True))
    assert "KeyError" in broken.evaluate(Candidate(broken.seed_candidate), [{"x": 1}])[0].feedback


def test_output_parsing_tolerates_small_model_styles() -> None:
    assert parse_outputs('{"answer": "42", "why": "because"}', ["answer", "why"]) == {"answer": "42", "why": "because"}
    assert parse_outputs("**Answer:** 42\nWhy: it is\nsix times seven", ["answer", "why"]) == {"answer": "42", "why": "it is\nsix times seven"}
    assert parse_outputs("  card_arrival ", ["label"]) == {"label": "card_arrival"}
    with pytest.raises(ValueError, match="why"):
        parse_outputs("answer: 42", ["answer", "why"])


def test_plain_two_argument_metric_and_setup_errors() -> None:
    system = ProgramSystem(program, [first, second], lambda ex, pred: float(pred["y"] == str(ex["x"])), ScriptedLM(respond=task_model))
    assert system.evaluate(Candidate(system.seed_candidate), [{"x": 4}])[0].score == 1.0
    with pytest.raises(ValueError, match="unique"):
        ProgramSystem(program, [first, first], metric, ScriptedLM(respond=task_model))
    with pytest.raises(RuntimeError, match="outside a run"):
        first(x=1)


def test_gepa_optimizes_both_modules_of_a_program_from_per_module_feedback() -> None:
    def reflection(messages):
        prompt = messages[-1]["content"]
        current = prompt.split("CURRENT INSTRUCTION\n```\n")[1].split("\n```")[0]
        if "must double" in prompt:
            return f"```\n{current} Then double it.\n```"
        if "must increment" in prompt:
            return f"```\n{current} Then increment it.\n```"
        return "```\nno idea\n```"

    data = [{"x": i} for i in range(1, 13)]
    result = optimize(make_system(), data[:8], data[8:], reflection_lm=ScriptedLM(respond=reflection),
                      config=Config(max_rollouts=120, minibatch_size=3))
    assert result.seed_score == 0.0 and result.best_score == 1.0
    assert "double" in result.best_candidate["first"] and "increment" in result.best_candidate["second"]
