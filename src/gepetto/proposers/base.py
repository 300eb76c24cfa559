"""The proposer interface: text in, better text out (or a reasoned refusal)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from gepetto.core.candidate import Candidate
from gepetto.systems.adapter import ModuleRecord


@dataclass(frozen=True)
class Attempt:
    """One reflection LM reply and what became of it."""

    refusal: str | None
    reply: str
    text: str | None = None


@dataclass(frozen=True)
class Proposal:
    """A new text for one module, or ``text=None`` with the reason every attempt was refused.

    ``rollouts``: task-model calls the proposer made itself to choose among its own samples
    (e.g. the gold-label likelihood of several definition sets); the engine charges them to
    the budget like any other rollout."""

    module: str
    text: str | None
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    rollouts: int = 0  # task-model calls the proposer spent checking its samples (charged to the budget)

    @property
    def refusal(self) -> str | None:
        if self.text is not None:
            return None
        return self.attempts[-1].refusal if self.attempts else "no attempt"


class Proposer(Protocol):
    def propose(
        self,
        candidate: Candidate,
        module: str,
        records: Sequence[ModuleRecord],
        *,
        rng: random.Random,
        iteration: int,
    ) -> Proposal: ...


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])")
SMALL_MODEL_BILLIONS = 3.0


def model_name(lm: object) -> str | None:
    """The model name behind an LM, looking through wrappers (accounting, cache)."""
    seen = 0
    while lm is not None and seen < 10:
        name = getattr(lm, "model", None)
        if isinstance(name, str):
            return name
        lm = getattr(lm, "inner", None)
        seen += 1
    return None


def resolve_strategy(strategy: str, lm: object) -> str:
    """``auto`` -> ``edits`` for reflection models whose name states at most 3B parameters
    ("qwen2.5-coder-1.5b"), ``rewrite`` otherwise (unknown sizes keep the paper's behaviour:
    large API models rewrite well, and their names rarely state a size)."""
    if strategy != "auto":
        return strategy
    name = (model_name(lm) or "").lower()
    sizes = [float(m) for m in _SIZE.findall(name)]
    return "edits" if sizes and max(sizes) <= SMALL_MODEL_BILLIONS else "rewrite"
