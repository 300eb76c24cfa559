"""Seeded splits of a labelled pool of examples."""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

__all__ = ["stratified_order"]


def stratified_order(rows: list[Any], key: Callable[[Any], str]) -> list[Any]:
    """``rows`` (already shuffled) reordered so that every run of consecutive rows holds each
    key in about its share of the whole: each row is placed at its relative position
    within its own key's rows, ties kept in the shuffled order. Cutting train, validation
    and the rest from the front then gives stratified splits without a per-split quota
    (a key with fewer rows than splits lands in the splits its position falls in)."""
    totals = Counter(key(row) for row in rows)
    seen: dict[str, int] = {}
    placed: list[tuple[float, int, Any]] = []
    for index, row in enumerate(rows):
        k = key(row)
        rank = seen.get(k, 0)
        seen[k] = rank + 1
        placed.append(((rank + 0.5) / totals[k], index, row))
    return [row for _, _, row in sorted(placed, key=lambda item: (item[0], item[1]))]
