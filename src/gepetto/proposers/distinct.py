"""Which lines of a definition set say the same thing for two different labels.

Why: a small model writes each label's line from that label's texts alone, and two labels
whose texts share a topic get the same line. In banking-9's measured sets (docs/measurements.md,
"Spread examples and distinct lines") `card_arrival` and `card_delivery_estimate` got "Waiting for
delivery of a new card." and "Waiting for delivery of card" in five of eight sets; the task
model then cannot tell them apart, and `card_arrival` keeps 1 to 4 of its 10 test queries.
Found in code, before any model call: the content words two lines share.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

_WORD = re.compile(r"[a-z]+")
_STEM = 6
# words every definition uses whatever it says: the frame of the line, not its content
_FRAME = frozenset(
    "a an the of for to or and is are be been being was were it its this that these those with by on in at as from "
    "about into out up any some such their they them his her he she your you my me we our us i "
    "text texts message messages query queries customer customers user users client someone person writer "
    "ask asks asking asked request requests requesting want wants wanting need needs needing "
    "when where what which who how why if so than then there here do does did has have had can could will would "
    "not no yet still also only just more most very".split()
)


def line_words(line: str, ignore: frozenset[str] = frozenset()) -> frozenset[str]:
    """A line's content words, crudely stemmed (first six letters), without the frame words
    every definition uses and without ``ignore`` (stems of words most label names share)."""
    return frozenset(
        w[:_STEM] for w in _WORD.findall(line.lower()) if w not in _FRAME and w[:_STEM] not in ignore
    )


def shared_name_words(labels: Sequence[str]) -> frozenset[str]:
    """Stems of the words more than half of the label names contain ("card" in banking-9):
    a line saying "card" says nothing about which card label it is."""
    if len(labels) < 3:
        return frozenset()
    counts: dict[str, int] = {}
    for label in labels:
        for word in {w[:_STEM] for w in _WORD.findall(label.lower())}:
            counts[word] = counts.get(word, 0) + 1
    return frozenset(w for w, c in counts.items() if 2 * c > len(labels))


def overlap_coefficient(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared words over the shorter line's words (0 when either has none); not the Jaccard
    similarity of ``gepetto.proposers.consensus.overlap``: a short line copied inside a long
    one counts as fully shared."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def blurred_pairs(
    definitions: Mapping[str, str], labels: Sequence[str], *, min_shared: int = 2, min_overlap: float = 0.6,
) -> list[tuple[str, str]]:
    """Pairs of labels (in ``labels`` order) whose lines share at least ``min_shared``
    content words making up at least ``min_overlap`` of the shorter line, most alike first.

    "waiting for delivery" / "Waiting for delivery details" (shared: waiting, delivery; 2
    of 2) is blurred; "Waiting for card payment to be processed" / "Waiting for delivery of
    the card" (shared: waiting) is not: one word in common is a theme, two are a copy."""
    ignore = shared_name_words(labels)
    order = [label for label in labels if label in definitions]
    words = {label: line_words(definitions[label], ignore) for label in order}
    pairs: list[tuple[float, int, tuple[str, str]]] = []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            common = words[a] & words[b]
            score = overlap_coefficient(words[a], words[b])
            if len(common) >= min_shared and score >= min_overlap:
                pairs.append((-score, len(pairs), (a, b)))
    return [pair for _, _, pair in sorted(pairs)]


def label_to_rewrite(pair: tuple[str, str], known: Mapping[str, Sequence[str]]) -> str:
    """Of a blurred pair, the label whose line is written again: the one with fewer known
    training texts (its line rests on less evidence, and the other label's texts can be
    shown beside it), the later one on a tie."""
    a, b = pair
    return a if len(known.get(a, ())) < len(known.get(b, ())) else b
