"""A bundled task: real data in fixed seeded splits, a seed program and a feedback metric."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from gepetto.lm.base import LM
from gepetto.systems.adapter import System


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    train: Sequence[Any]
    val: Sequence[Any]
    test: Sequence[Any]
    make_system: Callable[[LM], System]
    # labelled examples left over after the splits, for optimize(holdout=...): never
    # shown to reflection or selection, disjoint from train, val and test
    holdout: Sequence[Any] = field(default_factory=tuple)
