"""PUPA: privacy-conscious delegation (PAPILLON), the GEPA paper's two-module system.

A trusted local model (the task LM) and an untrusted, stronger model work together:

1. module ``redact`` (trusted) turns the user's private query into a request for the
   untrusted model that carries what the task needs but none of the user's private
   information;
2. the untrusted model answers that request (a plain LM call, no instruction to optimize;
   ``untrusted_lm``, by default the task LM);
3. module ``respond`` (trusted) writes the final answer for the user from the user's
   query, the request and the untrusted model's reply.

Score, as PAPILLON and the GEPA paper define it: ``(quality + (1 - leakage)) / 2``, in
[0, 1]. Both halves keep a signal when the other is at its worst (a leaky request that
gets a good answer scores 0.5, not 0), and quality cannot be bought with leakage.

- **leakage**: the fraction of the example's PII units that appear, case-insensitively,
  in the request sent to the untrusted model (never in the final answer, which only the
  user sees). A unit made of Latin letters or digits must appear as a whole word
  (``"ali"`` does not leak through "quality"); units in scripts written without spaces
  (Chinese, Japanese, Korean) are matched anywhere. Counted units are the dataset's
  ``pii_units`` (``||``-separated, lowercased), deduplicated, restricted to those that
  occur in the user's query, minus those the dataset's own reference redaction
  (``redacted_query``) still contains (e.g. "is", "new", "openai": the reference keeps
  them, so they are not private).
- **quality**: an LLM judge (``judge_lm``, by default the task LM) asked PAPILLON's
  question, "is response A at least as good as response B?", about the final answer and
  the dataset's target response, answering ``Verdict: yes`` or ``Verdict: no``. As in
  PAPILLON it is asked in both orders (``swap_judge=True``): quality is 1 when the answer
  is judged at least as good, or when the two verdicts agree (the judge cannot tell them
  apart), else 0. A judge reply that cannot be parsed, or a judge call that fails, scores
  quality 0 with feedback saying so; it never raises.

Feedback per module: ``redact`` hears which PII units leaked and whether the final
answer lost quality (so the request may have dropped information the task needs), with
the dataset's reference redaction as an example; ``respond`` hears the quality verdict
and an excerpt of the target response. ``module_scores``: ``redact`` the overall score
(privacy and usefulness are both its job), ``respond`` the quality.

Data: PUPA_New.csv of PAPILLON (Columbia NLP; MIT; user queries from WildChat, ODC-By),
bundled gzipped in ``gepetto/tasks/data/pupa``. Its 664 rows hold 462 distinct user
queries; repeated queries are kept once (the first row), and the 12 with no counted PII
unit are dropped, leaving 450. Split: shuffled with ``random.Random(seed)``, then
``n_train`` / ``n_val`` / ``n_test`` (50 / 50 / 100); the rest is the holdout.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

from gepetto.lm.base import LM, LMError
from gepetto.systems.metrics import MetricResult
from gepetto.systems.program import Module, ModuleError, ProgramSystem
from gepetto.tasks._data import data_file
from gepetto.tasks.base import Task

REDACT_INSTRUCTION = (
    "Given a private user query, create a privacy-preserving request for a powerful external LLM. "
    "The LLM may assist without learning private information about the user."
)
RESPOND_INSTRUCTION = (
    "Respond to a user query. For inspiration, we found a potentially related request to a powerful "
    "external LLM and its response."
)
JUDGE_INSTRUCTION = (
    "You are comparing the quality of two responses, given a user query. Is response A at least as good "
    "as response B? End your reply with one line: 'Verdict: yes' or 'Verdict: no'."
)

_DATA_FILE = "PUPA_New.csv.gz"


# --------------------------------------------------------------------------- PII matching


def _spaced(ch: str) -> bool:
    """A letter or digit of a script that separates words with spaces (not CJK)."""
    if not ch.isalnum():
        return False
    return not unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "HALFWIDTH", "FULLWIDTH"))


def appears(unit: str, text: str) -> bool:
    """Does a PII unit occur in ``text``? Case-insensitive; whole words for Latin-like ends."""
    unit, text = unit.casefold().strip(), text.casefold()
    if not unit:
        return False
    start = text.find(unit)
    while start != -1:
        end = start + len(unit)
        before_ok = not (_spaced(unit[0]) and start > 0 and _spaced(text[start - 1]))
        after_ok = not (_spaced(unit[-1]) and end < len(text) and _spaced(text[end]))
        if before_ok and after_ok:
            return True
        start = text.find(unit, start + 1)
    return False


def counted_pii_units(pii_units: str, user_query: str, redacted_query: str) -> list[str]:
    """The units leakage counts (see the module docstring), sorted."""
    units = {u.strip().casefold() for u in pii_units.split("||") if u.strip()}
    return sorted(u for u in units if appears(u, user_query) and not appears(u, redacted_query))


def leaked_units(example: Mapping[str, Any], request: str) -> list[str]:
    """The example's PII units that appear in the request sent to the untrusted model."""
    return [u for u in example["pii_units"] if appears(u, request)]


def leakage(example: Mapping[str, Any], request: str) -> float:
    """Fraction of the example's PII units in the request (0 when it lists none)."""
    units = example["pii_units"]
    return len(leaked_units(example, request)) / len(units) if units else 0.0


# --------------------------------------------------------------------------- the judge

_VERDICT = re.compile(r"verdict\s*[:：]?\s*[*_\"'`\[(]*\s*(yes|no|true|false)\b", re.IGNORECASE)


def parse_verdict(reply: str) -> bool | None:
    """``True`` / ``False`` from "Verdict: yes/no" (the last one wins); ``None`` if malformed.

    A bare "yes" or "no" (punctuation aside) is accepted too; anything else is malformed.
    """
    hits = _VERDICT.findall(reply or "")
    if hits:
        return hits[-1].lower() in ("yes", "true")
    bare = re.sub(r"[^a-z]", "", (reply or "").lower())
    if bare in ("yes", "true"):
        return True
    if bare in ("no", "false"):
        return False
    return None


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " [...]"


@dataclass(frozen=True)
class Judgement:
    quality: float
    feedback: str
    malformed: bool = False


def judge_quality(
    judge_lm: LM, user_query: str, response: str, target: str, *, swap: bool = True,
    max_chars: int = 4000, max_tokens: int = 256,
) -> Judgement:
    """PAPILLON's pairwise quality judgement of ``response`` against ``target`` (never raises)."""

    def ask(a: str, b: str) -> tuple[bool | None, str]:
        user = (
            f"User query:\n{_clip(user_query, max_chars)}\n\nResponse A:\n{_clip(a, max_chars)}\n\n"
            f"Response B:\n{_clip(b, max_chars)}\n\n"
            "Is response A at least as good as response B? End with 'Verdict: yes' or 'Verdict: no'."
        )
        try:
            reply = judge_lm.complete(
                [{"role": "system", "content": JUDGE_INSTRUCTION}, {"role": "user", "content": user}],
                temperature=0.0, max_tokens=max_tokens,
            ).text
        except LMError as exc:
            return None, f"the judge call failed ({exc})"
        verdict = parse_verdict(reply)
        if verdict is None:
            return None, f"the judge's reply could not be parsed (expected 'Verdict: yes' or 'Verdict: no'; got {_clip(reply, 200)!r})"
        return verdict, ""

    first, problem = ask(response, target)
    if first is None:
        return Judgement(0.0, f"Quality 0: {problem}, so quality scores 0.", malformed=True)
    if not swap:
        if first:
            return Judgement(1.0, "Quality 1: the judge found the answer at least as good as the target response.")
        return Judgement(0.0, "Quality 0: the judge found the answer worse than the target response.")
    second, problem = ask(target, response)
    if second is None:
        return Judgement(0.0, f"Quality 0: {problem} (second, swapped comparison), so quality scores 0.", malformed=True)
    if first and not second:
        return Judgement(1.0, "Quality 1: the judge found the answer at least as good as the target response.")
    if first == second:
        return Judgement(1.0, "Quality 1: the judge could not tell the answer and the target response apart (a tie).")
    return Judgement(0.0, "Quality 0: the judge found the target response better than the answer, in both orders.")


# --------------------------------------------------------------------------- metric


@dataclass
class PupaMetric:
    """``(quality + (1 - leakage)) / 2`` with per-module feedback (see the module docstring)."""

    judge_lm: LM
    swap_judge: bool = True
    judge_max_chars: int = 4000

    def __call__(self, example: Mapping[str, Any], prediction: Mapping[str, Any], trace: Any = None) -> MetricResult:
        request = str(prediction.get("llm_request", "") or "")
        answer = str(prediction.get("response", "") or "")
        units = list(example["pii_units"])
        leaked = leaked_units(example, request)
        leak = len(leaked) / len(units) if units else 0.0
        if answer.strip():
            judged = judge_quality(
                self.judge_lm, example["user_query"], answer, example["target_response"],
                swap=self.swap_judge, max_chars=self.judge_max_chars,
            )
        else:
            judged = Judgement(0.0, "Quality 0: the final answer is empty.")
        quality = judged.quality
        score = (quality + (1.0 - leak)) / 2.0

        if leaked:
            privacy = (
                f"Leakage {leak:.2f}: the request to the untrusted model contains {len(leaked)} of the "
                f"{len(units)} private units of the user's query: {', '.join(repr(u) for u in leaked)}. "
                "Leave them out or replace them with generic placeholders or roles."
            )
        else:
            privacy = f"Leakage 0: none of the {len(units)} private units of the user's query reached the untrusted model."
        reference = f"A reference request that keeps the task but hides the private details: {_clip(example['redacted_query'], 600)!r}"
        if judged.malformed:
            usefulness = "The answer's quality could not be judged (see the quality feedback)."
        elif quality >= 1.0:
            usefulness = "The final answer was judged at least as good as the target, so the request carried the information needed."
        else:
            usefulness = (
                "The final answer was judged worse than the target: the request may have lost information the "
                "task needs (keep the task, its content and constraints; hide only the private details). " + reference
            )
        redact_feedback = f"{privacy} {usefulness}"
        if leaked and quality >= 1.0:
            redact_feedback += " " + reference
        target = f"The target response begins: {_clip(example['target_response'], 600)!r}"
        respond_feedback = judged.feedback if quality >= 1.0 else f"{judged.feedback} {target}"
        feedback = f"Score {score:.2f} = (quality {quality:g} + (1 - leakage {leak:.2f})) / 2. {privacy} {judged.feedback}"
        return MetricResult(
            score, feedback,
            objectives={"quality": quality, "privacy": 1.0 - leak},
            module_feedback={"redact": redact_feedback, "respond": respond_feedback},
            module_scores={"redact": score, "respond": quality},
        )


# --------------------------------------------------------------------------- data, program, task


def load_examples() -> list[dict[str, Any]]:
    """The distinct user queries of PUPA_New with at least one counted PII unit, in file order.

    Each example: ``{"id", "category", "user_query", "target_response", "redacted_query",
    "pii_units"}`` (``pii_units``: the counted units, see the module docstring).
    """
    with data_file("pupa", _DATA_FILE).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    seen: set[str] = set()
    examples: list[dict[str, Any]] = []
    for row in rows:
        query = row["user_query"]
        if query in seen:
            continue
        seen.add(query)
        units = counted_pii_units(row["pii_units"], query, row["redacted_query"])
        if not units:
            continue
        examples.append({
            "id": row["conversation_hash"], "category": row["predicted_category"], "user_query": query,
            "target_response": row["target_response"], "redacted_query": row["redacted_query"], "pii_units": units,
        })
    return examples


def build_modules() -> tuple[Module, Module]:
    redact = Module("redact", REDACT_INSTRUCTION, inputs=["user_query"], outputs=["llm_request"])
    respond = Module("respond", RESPOND_INSTRUCTION, inputs=["user_query", "llm_request", "llm_response"], outputs=["response"])
    return redact, respond


def pupa_system(
    lm: LM, untrusted_lm: LM | None = None, judge_lm: LM | None = None, *, max_tokens: int = 512,
    untrusted_max_tokens: int = 512, swap_judge: bool = True, concurrency: int = 4,
) -> ProgramSystem:
    """redact (``lm``) -> untrusted model (``untrusted_lm``) -> respond (``lm``), judged by ``judge_lm``."""
    untrusted = untrusted_lm if untrusted_lm is not None else lm
    judge = judge_lm if judge_lm is not None else lm
    redact, respond = build_modules()

    def program(example: Mapping[str, Any]) -> dict[str, str]:
        request = redact(user_query=example["user_query"])["llm_request"]
        try:
            reply = untrusted.complete(
                [{"role": "user", "content": request}], temperature=0.0, max_tokens=untrusted_max_tokens,
            ).text
        except LMError as exc:
            raise ModuleError("untrusted", f"the untrusted model's call failed: {exc}") from exc
        answer = respond(user_query=example["user_query"], llm_request=request, llm_response=reply)["response"]
        return {"llm_request": request, "llm_response": reply, "response": answer}

    return ProgramSystem(
        program, [redact, respond], PupaMetric(judge, swap_judge=swap_judge), lm=lm, concurrency=concurrency,
        max_tokens=max_tokens, expected=lambda ex: None,
    )


def pupa_task(
    *, n_train: int = 50, n_val: int = 50, n_test: int = 100, seed: int = 0, max_tokens: int = 512,
    untrusted_max_tokens: int = 512, swap_judge: bool = True,
) -> Task:
    """PUPA as a task; ``task.make_system(lm, untrusted_lm=None, judge_lm=None)``."""
    examples = load_examples()
    if n_train + n_val + n_test > len(examples):
        raise ValueError(f"PUPA has {len(examples)} usable examples; n_train + n_val + n_test = {n_train + n_val + n_test} is too many")
    random.Random(seed).shuffle(examples)
    train = examples[:n_train]
    val = examples[n_train : n_train + n_val]
    test = examples[n_train + n_val : n_train + n_val + n_test]
    holdout = examples[n_train + n_val + n_test :]

    def make_system(lm: LM, untrusted_lm: LM | None = None, judge_lm: LM | None = None) -> ProgramSystem:
        return pupa_system(
            lm, untrusted_lm, judge_lm, max_tokens=max_tokens, untrusted_max_tokens=untrusted_max_tokens,
            swap_judge=swap_judge,
        )

    return Task("pupa", "PUPA privacy-conscious delegation (quality and PII leakage)", train, val, test, make_system, holdout)


__all__ = [
    "JUDGE_INSTRUCTION", "REDACT_INSTRUCTION", "RESPOND_INSTRUCTION", "Judgement", "PupaMetric", "appears",
    "build_modules", "counted_pii_units", "judge_quality", "leakage", "leaked_units", "load_examples",
    "parse_verdict", "pupa_system", "pupa_task",
]
