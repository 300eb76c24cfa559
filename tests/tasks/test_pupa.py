"""PUPA: splits, PII leakage on the untrusted request only, the judge's verdict, module feedback."""

from __future__ import annotations

from importlib import resources

import pytest

from gepetto.lm.base import LMError
from gepetto.lm.callable_lm import ScriptedLM
from gepetto.tasks import get_task, task_names
from gepetto.tasks import pupa

EXAMPLE = {
    "id": "t1", "category": "job, visa, and other applications",
    "user_query": "My name is Jane Doe and I work at Acme Corp in Lyon. Write a short bio for my conference talk.",
    "target_response": "A speaker bio: an experienced engineer who builds reliable systems.",
    "redacted_query": "My name is [REDACTED] and I work at [REDACTED] in Lyon. Write a short bio for my conference talk.",
    "pii_units": ["acme corp", "jane doe"],
}
CLEAN_REQUEST = "Write a short bio for an engineer's conference talk."
LEAKY_REQUEST = "Write a short bio for an engineer at Acme Corp."
ANSWER_WITH_PII = "Jane Doe of Acme Corp is an experienced engineer who builds reliable systems."


def _judge(first: str, second: str | None = None) -> ScriptedLM:
    """A judge answering ``first`` when the answer is response A, ``second`` when the target is."""

    def respond(messages):
        user = messages[-1]["content"]
        answer_first = user.index("Response A:") < user.index(ANSWER_WITH_PII) < user.index("Response B:")
        return first if answer_first or second is None else second

    return ScriptedLM(respond=respond, name="judge")


def _task_lm(request: str, answer: str = ANSWER_WITH_PII) -> ScriptedLM:
    def respond(messages):
        return request if messages[0]["content"] == pupa.REDACT_INSTRUCTION else answer

    return ScriptedLM(respond=respond, name="task")


def _run(request: str, judge: ScriptedLM, untrusted: ScriptedLM | None = None):
    untrusted = untrusted or ScriptedLM(respond=lambda m: "Here is a bio draft.", name="untrusted")
    system = pupa.pupa_system(_task_lm(request), untrusted, judge)
    [result] = system.evaluate(system.seed_candidate, [EXAMPLE], capture_traces=True)
    return result


def test_splits_sizes_determinism_disjointness_and_registry() -> None:
    assert "pupa" in task_names()
    a, b, c = get_task("pupa"), get_task("pupa"), get_task("pupa", seed=1)
    assert (len(a.train), len(a.val), len(a.test), len(a.holdout)) == (50, 50, 100, 250)
    key = lambda xs: [x["user_query"] for x in xs]  # noqa: E731
    for split in ("train", "val", "test", "holdout"):
        assert key(getattr(a, split)) == key(getattr(b, split))
    assert key(a.train) != key(c.train)
    parts = [set(key(getattr(a, s))) for s in ("train", "val", "test", "holdout")]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == 450
    with pytest.raises(ValueError, match="too many"):
        get_task("pupa", n_test=400)


@pytest.mark.parametrize("name", ["LICENSE", "NOTICE"])
def test_license_files_ship_with_the_data(name: str) -> None:
    text = (resources.files("gepetto.tasks") / "data" / "pupa" / name).read_text(encoding="utf-8")
    assert len(text) > 300


def test_every_counted_unit_is_in_the_query_and_hidden_by_the_reference_redaction() -> None:
    for ex in pupa.load_examples():
        assert ex["pii_units"]
        assert pupa.leakage(ex, ex["user_query"]) == 1.0
        assert pupa.leakage(ex, ex["redacted_query"]) == 0.0


def test_pii_matching_is_case_insensitive_and_whole_word_for_latin_scripts() -> None:
    assert pupa.appears("jane doe", "Dear JANE DOE,")
    assert not pupa.appears("ali", "a quality answer")
    assert pupa.appears("ali", "Ali's taxi")
    assert pupa.appears("刘", "通过刘的新闻采写")  # no spaces between Chinese words
    assert pupa.appears("tim", "发封英语邮件告诉Tim，附件")
    assert pupa.counted_pii_units("Jane||is||nobody||jane", "Jane is here", "[REDACTED] is here") == ["jane"]


def test_leakage_counts_only_the_request_never_the_final_answer() -> None:
    result = _run(CLEAN_REQUEST, _judge("Verdict: yes", "Verdict: no"))
    assert result.output["response"] == ANSWER_WITH_PII  # the answer repeats both PII units
    assert result.objectives == {"quality": 1.0, "privacy": 1.0}
    assert result.score == 1.0
    leaky = _run(LEAKY_REQUEST, _judge("Verdict: yes", "Verdict: no"))
    assert leaky.objectives["privacy"] == 0.5  # 1 of 2 units reached the untrusted model
    assert leaky.score == pytest.approx((1.0 + 0.5) / 2)
    assert "'acme corp'" in leaky.feedback and "'jane doe'" not in leaky.feedback
    assert pupa.leakage(EXAMPLE, LEAKY_REQUEST) == 0.5 and pupa.leaked_units(EXAMPLE, LEAKY_REQUEST) == ["acme corp"]


@pytest.mark.parametrize(
    "first,second,quality",
    [
        ("The answer covers everything.\nVerdict: yes", "Verdict: no", 1.0),
        ("Verdict: no", "**Verdict:** Yes", 0.0),
        ("Verdict: no", "Verdict: no", 1.0),  # the judge cannot tell them apart: a tie, as PAPILLON counts it
        ("yes", "no.", 1.0),
    ],
)
def test_the_judges_verdicts_are_parsed_in_both_orders(first: str, second: str, quality: float) -> None:
    judge = _judge(first, second)
    result = _run(CLEAN_REQUEST, judge)
    assert result.objectives["quality"] == quality
    assert judge.call_count == 2
    assert result.score == (quality + 1.0) / 2


def test_a_malformed_or_failing_judge_scores_quality_zero_with_feedback() -> None:
    result = _run(CLEAN_REQUEST, _judge("I think both are fine, really."))
    assert result.error is None and result.objectives["quality"] == 0.0 and result.score == 0.5
    assert "could not be parsed" in result.feedback
    records = {r.module: r for r in result.records}
    assert "could not be parsed" in records["respond"].feedback and records["respond"].score == 0.0
    failing = _run(CLEAN_REQUEST, ScriptedLM(replies=[LMError("judge server down")]))
    assert failing.error is None and failing.objectives["quality"] == 0.0 and "judge call failed" in failing.feedback
    assert pupa.parse_verdict("Verdict: maybe") is None and pupa.parse_verdict("") is None


def test_the_untrusted_lm_answers_the_request_in_the_middle() -> None:
    untrusted = ScriptedLM(respond=lambda m: "UNTRUSTED REPLY: a bio draft.", name="untrusted")
    task_lm, judge = _task_lm(CLEAN_REQUEST), _judge("Verdict: yes", "Verdict: no")
    system = get_task("pupa", n_train=2, n_val=2, n_test=3).make_system(task_lm, untrusted_lm=untrusted, judge_lm=judge)
    assert system.seed_candidate == {"redact": pupa.REDACT_INSTRUCTION, "respond": pupa.RESPOND_INSTRUCTION}
    system.concurrency = 1
    results = system.evaluate(system.seed_candidate, [EXAMPLE, EXAMPLE, EXAMPLE])
    assert untrusted.call_count == 3
    assert task_lm.call_count == 6  # redact and respond, per example
    assert judge.call_count == 6  # both orders, per example
    assert [c.user for c in untrusted.calls] == [CLEAN_REQUEST] * 3
    assert all(len(c.messages) == 1 for c in untrusted.calls)  # a plain call, no instruction
    assert "UNTRUSTED REPLY: a bio draft." in task_lm.calls[1].user  # respond sees the untrusted reply
    assert all(r.output["llm_response"] == "UNTRUSTED REPLY: a bio draft." for r in results)


def test_by_default_the_task_lm_plays_untrusted_model_and_judge() -> None:
    def respond(messages):
        system = messages[0]["content"]
        if system == pupa.REDACT_INSTRUCTION:
            return CLEAN_REQUEST
        if system == pupa.JUDGE_INSTRUCTION:
            return "Verdict: yes"
        return "a reply"

    lm = ScriptedLM(respond=respond)
    system = get_task("pupa", n_train=1, n_val=1, n_test=1).make_system(lm)
    [result] = system.evaluate(system.seed_candidate, [EXAMPLE])
    assert lm.call_count == 5 and result.score == 1.0


def test_module_feedback_and_scores_reach_each_modules_records() -> None:
    result = _run(LEAKY_REQUEST, _judge("Verdict: no", "Verdict: yes"))
    assert result.score == pytest.approx((0.0 + 0.5) / 2)
    records = {r.module: r for r in result.records}
    assert set(records) == {"redact", "respond"}
    redact, respond = records["redact"], records["respond"]
    assert "'acme corp'" in redact.feedback and "lost information" in redact.feedback
    assert EXAMPLE["redacted_query"] in redact.feedback  # the reference redaction as an example
    assert redact.score == result.score
    assert "Quality 0" in respond.feedback and "target response begins" in respond.feedback
    assert respond.score == 0.0 and "acme corp" not in respond.feedback.lower()
    assert redact.inputs == {"user_query": EXAMPLE["user_query"]}
    assert respond.inputs["llm_request"] == LEAKY_REQUEST


def test_a_failing_untrusted_model_is_a_failed_rollout_not_a_crash() -> None:
    untrusted = ScriptedLM(replies=[LMError("rate limited")], name="untrusted")
    result = _run(CLEAN_REQUEST, _judge("Verdict: yes"), untrusted)
    assert result.score == 0.0 and "untrusted model's call failed" in (result.error or "")
