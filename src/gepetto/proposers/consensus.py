"""The consensus line among several sampled answers to one ask, chosen in code.

Why: a small reflection model asked for one label's definition several times returns
lines that mostly agree on the gist and differ in what each one adds of its own: a detail
copied from one example ("for a US customer"), a wrong guess ("swallowed by a person or
animal"). The agreeing part is what the examples share; the additions are what one sample
made up. The line whose words the other samples share most (the medoid under word-set
overlap) keeps the gist and drops the outliers, with no model call and no rollout
(self-consistency applied to a line of text; measured in docs/measurements.md, "Consensus lines").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Function words carry no content to agree on; without them two lines agree by sharing
# "the", "of" and "a card" alone.
_STOP_WORDS = frozenset(
    "a an the of to for and or is are be in on at by with their his her they them it its that this such "
    "who what when while has have been being was were do does not no my your our from as".split()
)
_WORD = re.compile(r"[a-z]+")


def content_words(line: str) -> frozenset[str]:
    """Lower-cased words of ``line`` without function words."""
    return frozenset(w for w in _WORD.findall(line.lower()) if w not in _STOP_WORDS)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets (0 when both are empty)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def consensus_index(lines: Sequence[str]) -> int:
    """Index of the line most like the others (highest summed overlap with every other
    line); ties go to the earlier line, so one line, or lines that share nothing, give 0."""
    if not lines:
        raise ValueError("consensus_index needs at least one line")
    words = [content_words(line) for line in lines]
    totals = [sum(overlap(words[i], words[j]) for j in range(len(lines)) if j != i) for i in range(len(lines))]
    return max(range(len(lines)), key=lambda i: (totals[i], -i))
