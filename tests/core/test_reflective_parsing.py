"""Reflection meta-prompt construction and instruction extraction from replies."""

from __future__ import annotations

import re

import pytest

from gepetto.core.config import ReflectionConfig
from gepetto.proposers.reflective import build_reflection_prompt, extract_instruction
from gepetto.systems.adapter import ModuleRecord

INSTR = "Classify the customer's banking query into exactly one intent label.\nAnswer with the label only."


# --------------------------------------------------------------------------- extract_instruction


def test_fenced_block_without_language_tag():
    reply = f"Sure! Here is the new instruction:\n```\n{INSTR}\n```\nLet me know if you need changes."
    assert extract_instruction(reply) == (INSTR, False)


@pytest.mark.parametrize("tag", ["text", "markdown", "plaintext", "md "])
def test_fenced_block_with_language_tag(tag):
    reply = f"```{tag}\n{INSTR}\n```"
    assert extract_instruction(reply) == (INSTR, False)


def test_fenced_block_inner_whitespace_stripped():
    reply = f"```\n\n   {INSTR}   \n\n```"
    assert extract_instruction(reply) == (INSTR, False)


def test_fence_with_crlf_newlines():
    reply = "```\r\nAnswer with one label only.\r\n```"
    assert extract_instruction(reply) == ("Answer with one label only.", False)


def test_longest_of_several_blocks():
    short = "Answer with the label."
    reply = (
        f"First a draft:\n```\n{short}\n```\nThen the final version:\n```text\n{INSTR}\n```\n"
        "And an example:\n```\ncard_arrival\n```"
    )
    assert extract_instruction(reply) == (INSTR, False)


def test_empty_block_is_ignored():
    reply = f"```\n```\nand\n```\n{INSTR}\n```"
    assert extract_instruction(reply) == (INSTR, False)


def test_unterminated_fence_is_reported():
    reply = "Here is the improved instruction:\n```\nClassify the customer's banking query into exactly one"
    text, unterminated = extract_instruction(reply)
    assert unterminated is True
    assert text == "Classify the customer's banking query into exactly one"


def test_unterminated_fence_with_language_tag():
    text, unterminated = extract_instruction("```text\nAnswer with the label only and")
    assert unterminated is True
    assert text == "Answer with the label only and"


def test_complete_block_wins_over_a_later_open_fence():
    reply = f"```\n{INSTR}\n```\n```\nextra"
    assert extract_instruction(reply) == (INSTR, False)


@pytest.mark.parametrize(
    "leadin",
    [
        "Here is the improved instruction:",
        "Here's the updated instruction:",
        "here is the new instruction for the classifier:",
        "Below is the improved instruction:",
        "The improved instruction is:",
        "The new instruction:",
        "New instruction:",
        "Improved instruction:",
    ],
)
def test_no_fence_leadin_removed(leadin):
    reply = f"{leadin}\n{INSTR}"
    assert extract_instruction(reply) == (INSTR, False)
    reply = f"  {leadin}\n\n{INSTR}\n"
    assert extract_instruction(reply) == (INSTR, False)


def test_no_fence_plain_reply_is_whole_text():
    assert extract_instruction(f"\n  {INSTR}  \n") == (INSTR, False)


def test_no_fence_surrounding_quotes_removed():
    assert extract_instruction(f'"{INSTR}"') == (INSTR, False)
    assert extract_instruction(f'Here is the improved instruction:\n"{INSTR}"') == (INSTR, False)


def test_no_fence_only_a_leading_leadin_is_removed():
    reply = "Classify the query.\nHere is the rule:\nAnswer with the label only."
    assert extract_instruction(reply) == (reply, False)
    reply = "Rules:\n- one label\n- lowercase"
    assert extract_instruction(reply) == (reply, False)


def test_one_line_leadin_removed():
    reply = "Here is the improved instruction: Answer with the intent label only, in lowercase."
    assert extract_instruction(reply) == ("Answer with the intent label only, in lowercase.", False)


# --------------------------------------------------------------------------- build_reflection_prompt


def rec(query, output, score, feedback="", expected=None, **extra_inputs):
    inputs = {"query": query, **extra_inputs}
    return ModuleRecord(module="classify", inputs=inputs, output=output, feedback=feedback, score=score, expected=expected)


def cases(prompt: str) -> list[str]:
    """The 'Case n (...)' header lines in order."""
    return [line for line in prompt.splitlines() if line.startswith("Case ")]


def test_failures_shown_before_successes():
    records = [
        rec("ok one", "card_arrival", 1.0),
        rec("bad one", "wrong_label", 0.0, feedback="expected card_arrival"),
        rec("ok two", "top_up_fee", 1.0),
        rec("unscored", "x", None),
        rec("half", "y", 0.5),
    ]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(max_records=10))
    order = [prompt.index(f"Input: {q}\n") for q in ["bad one", "unscored", "half", "ok one", "ok two"]]
    assert order == sorted(order)
    assert cases(prompt) == [
        "Case 1 (wrong, score 0)",
        "Case 2 (wrong, score not scored)",
        "Case 3 (wrong, score 0.5)",
        "Case 4 (correct, score 1)",
        "Case 5 (correct, score 1)",
    ]
    assert "run on 5 inputs" in prompt


def test_bounded_by_max_records_failures_first():
    records = [rec(f"success {i}", "ok", 1.0) for i in range(4)] + [rec(f"failure {i}", "bad", 0.0) for i in range(4)]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(max_records=3))
    assert len(cases(prompt)) == 3
    assert "run on 3 inputs" in prompt
    for i in range(3):
        assert f"Input: failure {i}\n" in prompt
    assert "failure 3" not in prompt and "success" not in prompt
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(max_records=6))
    assert len(cases(prompt)) == 6
    assert "success 0" in prompt and "success 1" in prompt and "success 2" not in prompt


def test_perfect_score_threshold():
    records = [rec("a", "x", 0.9), rec("b", "y", 0.7)]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(), perfect_score=0.8)
    assert cases(prompt) == ["Case 1 (wrong, score 0.7)", "Case 2 (correct, score 0.9)"]


def test_long_fields_clipped_to_max_field_chars():
    limit = 120
    long_query = "word " * 2000
    long_output = "o" * 5000
    long_expected = "e" * 5000
    long_feedback = "f" * 5000
    records = [rec(long_query, long_output, 0.0, feedback=long_feedback, expected=long_expected)]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(max_field_chars=limit))
    lines = prompt.splitlines()
    for prefix in ("Input: ", "Model answer: ", "Expected: ", "Feedback: "):
        (line,) = [l for l in lines if l.startswith(prefix)]
        body = line[len(prefix):]
        assert len(body) <= limit, (prefix, len(body))
        assert body.endswith("[truncated]")
    assert len(prompt) < 2000


def test_short_fields_not_clipped():
    records = [rec("My card hasn't arrived yet", "card_arrival", 1.0, feedback="Correct", expected="card_arrival")]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(max_field_chars=50))
    assert "Input: My card hasn't arrived yet\n" in prompt
    assert "Model answer: card_arrival\n" in prompt
    assert "[truncated]" not in prompt


def test_multi_field_inputs_each_clipped():
    records = [rec("q" * 500, "out", 0.0, context="c" * 500, page=3)]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig(max_field_chars=60))
    lines = prompt.splitlines()
    q_line = next(l for l in lines if l.startswith("Input: query: "))
    c_line = next(l for l in lines if l.startswith("context: "))
    assert len(q_line) <= len("Input: query: ") + 60 and q_line.endswith("[truncated]")
    assert len(c_line) <= len("context: ") + 60 and c_line.endswith("[truncated]")
    assert "page: 3" in lines


def test_expected_and_feedback_lines_only_when_given():
    records = [
        rec("with both", "wrong_label", 0.0, feedback="The label should be card_arrival.", expected="card_arrival"),
        rec("with none", "other", 0.0),
    ]
    prompt = build_reflection_prompt("classify", INSTR, records, ReflectionConfig())
    blocks = prompt.split("Case ")
    first = next(b for b in blocks if "with both" in b)
    second = next(b for b in blocks if "with none" in b)
    assert "Expected: card_arrival\n" in first
    assert "Feedback: The label should be card_arrival.\n" in first
    assert "Expected:" not in second and "Feedback:" not in second


def test_empty_output_shown_as_empty():
    prompt = build_reflection_prompt("classify", INSTR, [rec("q", "", 0.0)], ReflectionConfig())
    assert "Model answer: (empty)\n" in prompt


def test_current_text_inside_a_fence():
    text = "  Classify the query: {query}\nAnswer with the label only.  "
    prompt = build_reflection_prompt("classify", text, [rec("q", "a", 0.0)], ReflectionConfig())
    match = re.search(r"CURRENT INSTRUCTION\n```\n(.*?)\n```\n", prompt, re.DOTALL)
    assert match is not None
    assert match.group(1) == text.strip()
    assert prompt.index("CURRENT INSTRUCTION") < prompt.index("WHAT HAPPENED") < prompt.index("Case 1")
    assert '"classify"' in prompt
    assert "Keep every {placeholder}" in prompt
    assert prompt.rstrip().endswith("Reply with the new instruction only, between ``` and ```.")


def test_no_records():
    prompt = build_reflection_prompt("classify", INSTR, [], ReflectionConfig())
    assert "run on 0 inputs" in prompt
    assert cases(prompt) == []
    assert INSTR in prompt
