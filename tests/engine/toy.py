"""A toy two-module system whose right instructions are known, and fake reflection.

Examples are dicts ``{"x": int, "kind": "a" | "b"}``. Module ``solve`` doubles the
number when its instruction says "double"; module ``format`` writes hexadecimal when its
instruction says "hex". Kind-a examples expect ``str(2x)`` formatting-free: they are right
when the value is doubled; kind-b examples are right when the output is hexadecimal
(of the un-doubled value, if solve is not fixed, or of the doubled one).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from gepetto import Candidate, ExampleResult, ModuleRecord
from gepetto.lm.base import Completion
from gepetto.proposers.base import Attempt, Proposal

SEED = {"solve": "Repeat the number.", "format": "Write the number in decimal."}


def make_examples(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"x": rng.randint(1, 99), "kind": "a" if i % 2 == 0 else "b"} for i in range(n)]


@dataclass
class ToySystem:
    seed_candidate: dict[str, str] = field(default_factory=lambda: dict(SEED))
    calls: int = 0

    def evaluate(self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False) -> list[ExampleResult]:
        results = []
        for ex in examples:
            self.calls += 1
            doubled = "double" in candidate["solve"].lower()
            value = ex["x"] * 2 if doubled else ex["x"]
            hexed = "hex" in candidate["format"].lower()
            out = hex(value) if hexed else str(value)
            if ex["kind"] == "a":
                ok = doubled
                solve_fb = "correct" if doubled else "the value must be doubled"
                fmt_fb = "format is fine for this case"
            else:
                ok = hexed
                solve_fb = "value is fine for this case"
                fmt_fb = "correct" if hexed else "the answer must be written in hexadecimal"
            score = 1.0 if ok else 0.0
            records: tuple[ModuleRecord, ...] = ()
            if capture_traces:
                records = (
                    ModuleRecord("solve", {"x": str(ex["x"])}, str(value), solve_fb, score),
                    ModuleRecord("format", {"value": str(value)}, out, fmt_fb, score),
                )
            results.append(ExampleResult(score=score, output=out, feedback=solve_fb + "; " + fmt_fb, records=records))
        return results


class FeedbackReadingLM:
    """A fake reflection LM that acts on the feedback it is shown, like a good one would."""

    identity = "fake|feedback-reader"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, messages, *, temperature=None, max_tokens=None, sample_index=0, **params) -> Completion:
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        current = re.search(r"CURRENT INSTRUCTION\n```\n(.*?)\n```", prompt, re.DOTALL).group(1)
        if "must be doubled" in prompt:
            return Completion(f"```\n{current} Then double it before answering.\n```")
        if "hexadecimal" in prompt:
            return Completion(f"```\n{current} Use hex notation.\n```")
        return Completion("Certainly! Please provide the inputs.")

    async def acomplete(self, messages, **kw) -> Completion:  # pragma: no cover - unused
        return self.complete(messages, **kw)


@dataclass
class ScriptedProposer:
    """Returns fixed texts per (parent text of module, module); refuses otherwise."""

    script: dict[tuple[str, str], str]
    only_from: set[str] | None = None  # candidate ids allowed as parents (None: any)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def propose(self, candidate, module, records, *, rng, iteration) -> Proposal:
        self.calls.append((candidate.id, module))
        text = self.script.get((candidate[module], module))
        if self.only_from is not None and candidate.id not in self.only_from:
            text = None
        if text is None:
            return Proposal(module, None, (Attempt("unchanged", "same"),))
        return Proposal(module, text, (Attempt(None, text, text),))


class Offers:
    """Proposes the given texts in order, whatever the parent, then nothing."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)

    def propose(self, candidate, module, records, *, rng, iteration) -> Proposal:
        if not self.texts:
            return Proposal(module, None, (Attempt("unchanged", "same"),))
        text = self.texts.pop(0)
        return Proposal(module, text, (Attempt(None, text, text),))


@dataclass
class UnhelpfulProposer:
    """Proposes a new, useless text every time: children never pass the gate."""

    def propose(self, candidate, module, records, *, rng, iteration) -> Proposal:
        text = f"{candidate[module]} (variant {iteration})"
        return Proposal(module, text, (Attempt(None, text, text),))


class FlakyLM(FeedbackReadingLM):
    """Feedback-reading on odd calls only: a mix of accepted and rejected proposals."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def complete(self, messages, **kw) -> Completion:
        self.n += 1
        if self.n % 2 == 0:
            return Completion("```\nThink about it step by step, variant %d.\n```" % self.n)
        return super().complete(messages, **kw)
