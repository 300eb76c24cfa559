"""Which label is each label's nearest neighbour, judged from the labels' training texts.

Why: a definition written from one label's examples alone rarely says where the label ends
(a hand-written list says "before any delay", "not a card payment"); shown the texts of the
label it is closest to, a small model can be asked for that boundary. Found in code, before
any model call: tf-idf weights of crudely stemmed words over the labels' texts (a word every label uses, such as
"card", weighs nothing), then cosine similarity.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Mapping, Sequence

_WORD = re.compile(r"[a-z']+")
_STEM = 6  # a crude stem, the first 6 letters: "delivered", "delivery" and "deliver" count as one word (not "track"/"tracking")
_STOPWORDS = frozenset(
    "a an the i my me to is it of and or in on for be was has have do does did can how why what when where "
    "this that with at not no yet still you your we our from by are am been will would could should".split()
)


def nearest_labels(texts_by_label: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """label -> its nearest other label; labels without texts (or sharing no word with any
    other) are left out."""
    counts = {
        label: Counter(w[:_STEM] for text in texts for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)
        for label, texts in texts_by_label.items()
    }
    present = [label for label, bag in counts.items() if bag]
    if len(present) == 2:  # the other label is the nearest by definition
        return {present[0]: present[1], present[1]: present[0]}
    frequency = Counter(w for bag in counts.values() for w in bag)
    n = len(counts)
    weights = {label: {w: c * math.log(n / frequency[w]) for w, c in bag.items() if frequency[w] < n} for label, bag in counts.items()}
    out: dict[str, str] = {}
    for label, bag in weights.items():
        best, best_sim = None, 0.0
        for other, other_bag in weights.items():
            if other != label and bag and other_bag:
                sim = _cosine(bag, other_bag)
                if sim > best_sim:
                    best, best_sim = other, sim
        if best is not None:
            out[label] = best
    return out


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    dot = sum(weight * b[word] for word, weight in a.items() if word in b)
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0
