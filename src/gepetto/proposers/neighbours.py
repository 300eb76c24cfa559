"""Which label is each label's nearest neighbour, and which of a label's texts cover it,
judged from the labels' training texts.

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
# spread_texts keeps words of state: "still", "yet", "not" set "my card has not come" apart from "track my card"
_SPREAD_STOPWORDS = _STOPWORDS - {"not", "no", "yet", "still"}
_SUFFIX = re.compile(r"(?:ing|ed|es|s|ly)$")  # spread_texts' stem also joins "track" and "tracking"


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


def spread_texts(texts: Sequence[str], k: int, corpus: Sequence[str] = ()) -> list[str]:
    """``k`` of one label's ``texts`` that cover its range: the most typical text first (the
    highest summed similarity to the others), then each time the text least like any chosen
    so far (farthest first); ties go to the earlier text, so the choice is deterministic.

    Why: a definition is written from a few texts, and the first few in training order can
    all say the same thing (banking-9's first four ``card_arrival`` queries: three ask for a
    tracking number, none says the card has not come), so the line describes one corner of
    the label. Word weights are tf-idf with document frequencies over ``corpus`` (all known
    texts; the label's own texts when empty), so a word every text uses weighs nothing.
    """
    unique = list(dict.fromkeys(texts))
    if len(unique) <= k:
        return unique
    documents = list(corpus) or unique
    frequency = Counter(w for doc in documents for w in set(_coverage_words(doc)))
    n = len(documents)
    bags = [{w: c * math.log((1 + n) / (1 + frequency[w])) for w, c in Counter(_coverage_words(t)).items()} for t in unique]
    similarity = [[_cosine(a, b) for b in bags] for a in bags]
    first = max(range(len(unique)), key=lambda i: (sum(similarity[i]) - similarity[i][i], -i))
    chosen = [first]
    while len(chosen) < k:
        rest = [i for i in range(len(unique)) if i not in chosen]
        chosen.append(min(rest, key=lambda i: (max(similarity[i][j] for j in chosen), i)))
    return [unique[i] for i in chosen]


def _coverage_words(text: str) -> list[str]:
    """Content words with a crude stem that also joins "track" and "tracking" (the 6-letter
    cut alone does not), negations spelled out."""
    words = _WORD.findall(text.lower().replace("n't", " not"))
    return [_SUFFIX.sub("", w)[:_STEM] if len(w) > 4 else w for w in words if w not in _SPREAD_STOPWORDS]
