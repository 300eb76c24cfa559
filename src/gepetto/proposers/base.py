"""The proposer interface: text in, better text out (or a reasoned refusal)."""

from __future__ import annotations

import random
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
    """A new text for one module, or ``text=None`` with the reason every attempt was refused."""

    module: str
    text: str | None
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)

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
