"""Reflective mutation: show the reflection LM a module's text and what happened on a
minibatch, and take back one improved text.

The meta-prompt is plain prose with flat, labelled sections rather than nested markdown:
small models copy nested headings back verbatim. Failures are shown first, because they
carry the information; the reply must sit in a fenced block so we can tell the
instruction from any chatter around it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.core.config import ReflectionConfig
from gepetto.lm.base import LM, LMError
from gepetto.proposers.base import Attempt, Proposal
from gepetto.proposers.refusal import RefusalRules
from gepetto.systems.adapter import ModuleRecord

SYSTEM_PROMPT = (
    "You improve the instructions given to a language model. You read how the model did "
    "with its current instruction and write a better instruction. You reply with the new "
    "instruction only, between a line with ``` and a line with ```."
)

ARTIFACT_SYSTEM_PROMPT = (
    "You improve a text artifact (code, a configuration, a prompt, any text) towards a stated "
    "objective, using the evaluation results you are shown. You reply with the complete new text "
    "only, between a line with ``` and a line with ```."
)

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_LEADIN = re.compile(
    r"^\s*(?:(?:here(?:'s| is)|below is)\s+)?(?:(?:the|an|my)\s+)?(?:(?:new|improved|updated|revised|better)\s+)?"
    r"(?:instruction|prompt)[^\n:]{0,40}:\s*",
    re.IGNORECASE,
)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 15].rstrip() + " …[truncated]"


def _render_inputs(inputs: Mapping[str, Any], limit: int) -> str:
    if len(inputs) == 1:
        (value,) = inputs.values()
        return _clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), limit)
    parts = []
    for key, value in inputs.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {_clip(shown, limit)}")
    return "\n".join(parts)


def _format_score(score: float | None) -> str:
    if score is None:
        return "not scored"
    return f"{score:g}"


def _failures_first(records: Sequence[ModuleRecord], config: ReflectionConfig, perfect_score: float) -> list[ModuleRecord]:
    """The records shown to the reflection LM: failures (they carry the information)
    before successes, at most ``config.max_records``."""
    failures = [r for r in records if r.score is None or r.score < perfect_score]
    return (failures + [r for r in records if r not in failures])[: config.max_records]


def build_reflection_prompt(
    module: str,
    current_text: str,
    records: Sequence[ModuleRecord],
    config: ReflectionConfig,
    perfect_score: float = 1.0,
    objective: str | None = None,
) -> str:
    """The user message of a reflection call (pure; tested on its own).

    With ``objective`` the text is framed as an artifact to improve (code, a config, any
    text) rather than an instruction for a language model.
    """
    if objective is not None:
        return _artifact_prompt(current_text, records, config, perfect_score, objective)
    shown = _failures_first(records, config, perfect_score)
    lines = [
        f'A language model step called "{module}" was given the instruction below and then '
        f"run on {len(shown)} inputs. Read what happened and write an improved instruction.",
        "",
        "CURRENT INSTRUCTION",
        "```",
        current_text.strip(),
        "```",
        "",
        "WHAT HAPPENED",
    ]
    for number, record in enumerate(shown, start=1):
        verdict = "correct" if record.score is not None and record.score >= perfect_score else "wrong"
        lines.append(f"Case {number} ({verdict}, score {_format_score(record.score)})")
        lines.append("Input: " + _render_inputs(record.inputs, config.max_field_chars))
        lines.append("Model answer: " + _clip(record.output or "(empty)", config.max_field_chars))
        if record.expected:
            lines.append("Expected: " + _clip(record.expected, config.max_field_chars))
        if record.feedback:
            lines.append("Feedback: " + _clip(record.feedback, config.max_field_chars))
        lines.append("")
    lines += [
        "Write the complete new instruction. Keep what worked and fix what went wrong. "
        "Give general rules for this kind of input (for example how to tell similar cases "
        "apart, and the exact answer format). Do not copy the cases above and do not refer "
        "to them. Keep every {placeholder} of the current instruction.",
        "Reply with the new instruction only, between ``` and ```.",
    ]
    return "\n".join(lines)


def _artifact_prompt(
    current_text: str, records: Sequence[ModuleRecord], config: ReflectionConfig, perfect_score: float, objective: str
) -> str:
    shown = _failures_first(records, config, perfect_score)
    lines = [
        f"Objective: {objective}",
        f"The text below was evaluated {len(shown)} time(s). Read the results and write an improved version.",
        "",
        "CURRENT TEXT",
        "```",
        current_text.strip(),
        "```",
        "",
        "RESULTS",
    ]
    for number, record in enumerate(shown, start=1):
        lines.append(f"Evaluation {number} (score {_format_score(record.score)})")
        if record.inputs:
            lines.append("Case: " + _render_inputs(record.inputs, config.max_field_chars))
        if record.output:
            lines.append("Result: " + _clip(record.output, config.max_field_chars))
        if record.feedback:
            lines.append("Feedback: " + _clip(record.feedback, config.max_field_chars))
        lines.append("")
    lines += [
        "Write the complete improved text. Fix what the results show is wrong and keep what works.",
        "Reply with the new text only, between ``` and ```.",
    ]
    return "\n".join(lines)


def extract_instruction(reply: str) -> tuple[str, bool]:
    """(text, unterminated): the fenced block if there is one, else the whole reply.

    An opening fence without a closing one means the model ran out of tokens or lost
    track: that is reported as unterminated so the caller refuses it.
    """
    blocks = [b.strip() for b in _FENCE.findall(reply) if b.strip()]
    if blocks:
        return max(blocks, key=len), False
    if reply.count("```") % 2 == 1:
        return reply.split("```", 1)[1].split("\n", 1)[-1].strip(), True
    text = _LEADIN.sub("", reply.strip(), count=1)
    return text.strip().strip('"').strip(), False


@dataclass
class ReflectiveProposer:
    """Full-rewrite reflection (the paper's behaviour) with cheap refusal and resampling."""

    lm: LM
    config: ReflectionConfig = field(default_factory=ReflectionConfig)
    perfect_score: float = 1.0
    rules: RefusalRules | None = None
    objective: str | None = None

    def __post_init__(self) -> None:
        if self.rules is None:
            self.rules = RefusalRules(
                max_chars=self.config.max_text_chars, copy_ngram=self.config.copy_ngram,
                # an artifact (code) may legitimately drop a {name} of the old text
                check_placeholders=self.objective is None, enabled=self.config.refuse,
            )

    def propose(
        self,
        candidate: Candidate,
        module: str,
        records: Sequence[ModuleRecord],
        *,
        rng: random.Random,
        iteration: int,
    ) -> Proposal:
        assert self.rules is not None
        current = candidate[module]
        prompt = build_reflection_prompt(module, current, records, self.config, self.perfect_score, self.objective)
        system = SYSTEM_PROMPT if self.objective is None else ARTIFACT_SYSTEM_PROMPT
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        training_inputs = [
            value for r in records for value in r.inputs.values() if isinstance(value, str)
        ]
        attempts: list[Attempt] = []
        for attempt in range(self.config.max_resamples + 1):
            try:
                completion = self.lm.complete(
                    messages,
                    temperature=self.config.temperature,
                    max_tokens=self.config.max_tokens,
                    sample_index=iteration * 100 + attempt,
                )
            except LMError as exc:
                attempts.append(Attempt(refusal="lm-error", reply=str(exc)))
                continue
            text, unterminated = extract_instruction(completion.text)
            reason = self.rules.check(
                text,
                parent_text=current,
                training_inputs=training_inputs,
                truncated=unterminated or completion.truncated,
            )
            attempts.append(Attempt(refusal=reason, reply=completion.text, text=text))
            if reason is None:
                return Proposal(module=module, text=text, attempts=tuple(attempts))
        return Proposal(module=module, text=None, attempts=tuple(attempts))
