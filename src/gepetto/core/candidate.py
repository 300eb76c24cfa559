"""Candidates (module name -> text) and the lineage records that tie them together.

A candidate is immutable and identified by a content hash, so the same texts always
mean the same candidate: the pool can refuse duplicates and caches can key on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterator, Mapping


class Candidate(Mapping[str, str]):
    """An immutable mapping from module name to the text GEPA evolves for it."""

    __slots__ = ("_texts", "_id")

    def __init__(self, texts: Mapping[str, str]) -> None:
        if not texts:
            raise ValueError("a candidate needs at least one module text, got an empty mapping")
        for name, text in texts.items():
            if not isinstance(name, str) or not isinstance(text, str):
                raise TypeError(
                    f"candidate texts must map str -> str; module {name!r} has {type(text).__name__}"
                )
        self._texts: dict[str, str] = dict(sorted(texts.items()))
        digest = hashlib.sha256(
            json.dumps(self._texts, sort_keys=True, ensure_ascii=False).encode("utf-8")
        ).hexdigest()
        self._id = digest[:16]

    @property
    def id(self) -> str:
        """Stable content hash (16 hex digits)."""
        return self._id

    def __getitem__(self, module: str) -> str:
        return self._texts[module]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Candidate):
            return self._id == other._id
        if isinstance(other, Mapping):
            return self._texts == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Candidate({self._id}, modules={list(self._texts)})"

    def with_text(self, module: str, text: str) -> "Candidate":
        """A new candidate equal to this one except for ``module``'s text."""
        if module not in self._texts:
            raise KeyError(f"unknown module {module!r}; this candidate has {list(self._texts)}")
        return Candidate({**self._texts, module: text})

    def to_dict(self) -> dict[str, str]:
        return dict(self._texts)


@dataclass(frozen=True)
class CandidateRecord:
    """A candidate in the pool, with how it was made.

    ``origin`` is ``"seed"``, ``"reflection"`` or ``"merge"``; ``changed_modules`` are
    the modules whose text differs from the first parent (for a merge: the modules taken
    from the second parent).
    """

    index: int
    candidate: Candidate
    parents: tuple[int, ...] = ()
    origin: str = "seed"
    changed_modules: tuple[str, ...] = ()
    iteration: int = 0
    rollouts_at_creation: int = 0
    note: str = ""


@dataclass
class Lineage:
    """Parent links of the pool, for ancestor queries used by Merge."""

    parents: list[tuple[int, ...]] = field(default_factory=list)

    def add(self, parents: tuple[int, ...]) -> None:
        self.parents.append(parents)

    def nearest_first(self, index: int) -> list[int]:
        """``index`` and then its ancestors, breadth first: parents before grandparents."""
        order, seen = [index], {index}
        for node in order:
            for parent in self.parents[node]:
                if parent not in seen:
                    seen.add(parent)
                    order.append(parent)
        return order

    def ancestors(self, index: int) -> set[int]:
        """All strict ancestors of ``index``."""
        seen: set[int] = set()
        stack = list(self.parents[index])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.parents[node])
        return seen
