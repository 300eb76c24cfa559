"""Feedback metrics: a score *and* the text that says why (the paper's mu_f).

Bundled metrics parse exactly one final answer. A reply that names several options is
wrong, with feedback saying so: a lenient "the answer occurs somewhere in the reply"
metric is gamed by prompts that make the model list every option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence


@dataclass(frozen=True)
class MetricResult:
    score: float
    feedback: str = ""
    objectives: Mapping[str, float] | None = None
    module_feedback: Mapping[str, str] = field(default_factory=dict)
    # how well each module did its own part (e.g. "the query found the passage"): lets the
    # engine spend reflection on the modules that failed, and the proposer pick their failures
    module_scores: Mapping[str, float] = field(default_factory=dict)


def as_metric_result(value: object) -> MetricResult:
    """Accept what users naturally return: a MetricResult, a float, or (score, feedback)."""
    if isinstance(value, MetricResult):
        return value
    if isinstance(value, bool):
        return MetricResult(float(value))
    if isinstance(value, (int, float)):
        return MetricResult(float(value), f"Score: {float(value):g}.")
    if isinstance(value, tuple) and len(value) == 2:
        return MetricResult(float(value[0]), str(value[1]))
    raise TypeError(
        f"a metric must return a float, (score, feedback) or MetricResult, got {type(value).__name__}"
    )


def _label_pattern(label: str) -> re.Pattern[str]:
    # card_arrival also matches "card arrival" / "card-arrival"; word boundaries stop
    # "card_arrival" from matching inside "card_arrivals".
    parts = [re.escape(p) for p in re.split(r"[_\s-]+", label) if p]
    return re.compile(r"(?<![\w])" + r"[_\s-]+".join(parts) + r"(?![\w])", re.IGNORECASE)


@dataclass
class LabelMetric:
    """Exact single-label classification metric with feedback naming the expected label.

    The reply must name exactly one of ``labels``. Zero or several named labels score 0
    with feedback that says which; the right label scores 1.
    """

    labels: Sequence[str]
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # longest first, so "card_payment_declined" is not also read as a shorter label
        self._patterns = sorted(((lab, _label_pattern(lab)) for lab in self.labels), key=lambda x: -len(x[0]))

    def parse(self, reply: str) -> list[str]:
        found: list[str] = []
        text = reply
        for label, pattern in self._patterns:
            if pattern.search(text):
                found.append(label)
                text = pattern.sub(" ", text)
        return found

    def __call__(self, expected: str, reply: str) -> MetricResult:
        found = self.parse(reply)
        if len(found) == 1 and found[0] == expected:
            return MetricResult(1.0, f"Correct: the intent is {expected}.")
        if not found:
            return MetricResult(
                0.0,
                f"Wrong: the answer named no valid intent label; expected {expected}. "
                "Answer with exactly one label from the list.",
            )
        if len(found) > 1:
            return MetricResult(
                0.0,
                f"Wrong: the answer named several labels ({', '.join(found)}); expected only {expected}. "
                "Give exactly one label.",
            )
        hint = f" ({self.descriptions[expected]})" if expected in self.descriptions else ""
        return MetricResult(0.0, f"Wrong: answered {found[0]}, but the intent is {expected}{hint}.")


_ANSWER_LINE = re.compile(r"(?:final answer|answer)\s*[:：]\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_answer(reply: str) -> str:
    """The reply's final answer: the last "Answer: ..." line, else the last non-empty line."""
    marked = _ANSWER_LINE.findall(reply)
    if marked:
        return marked[-1].strip()
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s.-]", " ", text.lower()).split()).strip(" .")


def exact_answer_metric(expected: str, reply: str) -> MetricResult:
    """Exact match of the final answer (numbers compared as numbers).

    A numeric final answer holding several different numbers is wrong: the metric does
    not guess which one was meant.
    """
    answer = final_answer(reply)
    if not answer:
        return MetricResult(0.0, f"Wrong: the reply is empty; expected {expected}. End with 'Answer: <answer>'.")
    exp_numbers = _NUMBER.findall(expected)
    if len(exp_numbers) == 1 and _norm(expected) == _norm(exp_numbers[0]):
        got = {float(n.replace(",", "")) for n in _NUMBER.findall(answer)}
        target = float(exp_numbers[0].replace(",", ""))
        if got == {target}:
            return MetricResult(1.0, f"Correct: {expected}.")
        if len(got) > 1:
            return MetricResult(0.0, f"Wrong: the final answer '{answer}' names several numbers; expected only {expected}.")
        return MetricResult(0.0, f"Wrong: the final answer was '{answer}', expected {expected}.")
    if _norm(answer) == _norm(expected):
        return MetricResult(1.0, f"Correct: {expected}.")
    return MetricResult(0.0, f"Wrong: the final answer was '{answer}', expected {expected}.")


_OPTION_LINE = re.compile(r"^\(([A-Z])\)\s*(.+)$", re.MULTILINE)
_OPTION_REF = re.compile(r"\(([A-Z])\)")


def parse_options(question: str) -> dict[str, str]:
    """The lettered options of a multiple-choice question: ``(A) text`` lines -> {"A": "text"}."""
    return {letter: text.strip() for letter, text in _OPTION_LINE.findall(question)}


def multiple_choice_metric(expected: str, reply: str, options: Mapping[str, str]) -> MetricResult:
    """Exactly one option in the final answer, by letter (``(B)``, ``B``) or by its full text.

    ``expected`` is the letter, with or without parentheses. Naming two options is
    wrong, with feedback saying so; the feedback names the expected option's text so
    reflection sees what the right answer looked like.
    """
    want = expected.strip().strip("()").upper()
    answer = final_answer(reply)
    fmt = "End the reply with 'Answer: (X)' naming exactly one option letter."
    right = f"({want}) {options[want]}" if want in options else f"({want})"
    if not answer:
        return MetricResult(0.0, f"Wrong: the reply is empty; expected {right}. {fmt}")
    letters = set(_OPTION_REF.findall(answer))
    bare = answer.strip().strip(".").upper()
    if not letters and len(bare) == 1 and bare in options:
        letters = {bare}
    if not letters:
        letters = {k for k, text in options.items() if _norm(text) and _norm(text) == _norm(answer)}
    if len(letters) > 1:
        return MetricResult(0.0, f"Wrong: the final answer '{answer}' names several options; expected only {right}. {fmt}")
    if not letters:
        return MetricResult(0.0, f"Wrong: the final answer '{answer}' names no option; expected {right}. {fmt}")
    got = letters.pop()
    if got == want:
        return MetricResult(1.0, f"Correct: {right}.")
    shown = f"({got}) {options[got]}" if got in options else f"({got})"
    return MetricResult(0.0, f"Wrong: answered {shown}, but the answer is {right}. {fmt}")


def closed_answer_metric(expected: str, reply: str, answers: Sequence[str]) -> MetricResult:
    """The final answer must be exactly one of a closed set (yes/no, True/False, valid/invalid)."""
    answer = final_answer(reply)
    choices = "/".join(answers)
    fmt = f"End the reply with 'Answer: <{choices}>'."
    words = set(re.findall(r"[a-z]+", answer.lower()))
    found = [a for a in answers if a.lower() in words]
    if len(found) == 1 and found[0].lower() == expected.lower():
        return MetricResult(1.0, f"Correct: {expected}.")
    if not found:
        return MetricResult(0.0, f"Wrong: the final answer '{answer}' is none of {choices}; expected {expected}. {fmt}")
    if len(found) > 1:
        return MetricResult(0.0, f"Wrong: the final answer '{answer}' names several of {choices}; expected only {expected}. {fmt}")
    return MetricResult(0.0, f"Wrong: answered {found[0]}, but the answer is {expected}. {fmt}")
