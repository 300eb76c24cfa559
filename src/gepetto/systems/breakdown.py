"""Per-label results of a classifier: recall per label and the confusions behind the errors.

Why: accuracy alone hides what an optimized instruction did. A prompt can gain accuracy by
never answering a minority label ("prevalence hacking"), or trade one label's recall for
another's; and the errors that remain are the next thing to work on (on banking-9 they
were `card_swallowed` read as `lost_or_stolen_card` and `card_arrival` as
`card_delivery_estimate` — README, "Labels without training examples"). This module only
counts: the replies are parsed with the task's own :class:`LabelMetric`, so "several
labels" and "no label" are reported as such, never guessed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from gepetto.systems.metrics import LabelMetric

NO_LABEL = "(no label)"
SEVERAL_LABELS = "(several labels)"


@dataclass(frozen=True)
class LabelBreakdown:
    """``support``/``correct``: per gold label, how many examples and how many answered
    right; ``confusions``: (gold label, what the reply said) -> count, errors only."""

    support: dict[str, int]
    correct: dict[str, int]
    confusions: Counter = field(default_factory=Counter)

    @property
    def accuracy(self) -> float:
        total = sum(self.support.values())
        return sum(self.correct.values()) / total if total else float("nan")

    def recall(self, label: str) -> float:
        n = self.support.get(label, 0)
        return self.correct.get(label, 0) / n if n else float("nan")

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the labels the examples hold: every label weighs the same."""
        labels = [lab for lab, n in self.support.items() if n]
        return sum(self.recall(lab) for lab in labels) / len(labels) if labels else float("nan")

    def top_confusions(self, k: int = 5) -> list[tuple[str, str, int]]:
        return [(gold, said, n) for (gold, said), n in self.confusions.most_common(k)]

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
            "per_label": {lab: {"support": n, "correct": self.correct.get(lab, 0)} for lab, n in self.support.items()},
            "confusions": [{"expected": g, "answered": s, "count": n} for g, s, n in self.top_confusions(len(self.confusions))],
        }


def label_breakdown(expected: Sequence[str], replies: Sequence[str | None], labels: Sequence[str]) -> LabelBreakdown:
    """Count per-label results of ``replies`` against ``expected``. A reply is right when it
    names exactly the expected label (the bundled metric's rule); gold labels outside
    ``labels`` are counted too, so nothing in the data is dropped."""
    if len(expected) != len(replies):
        raise ValueError(f"{len(expected)} expected labels but {len(replies)} replies")
    parse = LabelMetric(list(labels)).parse
    order = list(dict.fromkeys([*labels, *expected]))
    support = {lab: 0 for lab in order}
    correct = {lab: 0 for lab in order}
    confusions: Counter = Counter()
    for gold, reply in zip(expected, replies):
        support[gold] += 1
        found = parse(reply or "")
        if found == [gold]:
            correct[gold] += 1
            continue
        said = found[0] if len(found) == 1 else NO_LABEL if not found else SEVERAL_LABELS
        confusions[(gold, said)] += 1
    return LabelBreakdown({k: v for k, v in support.items() if v}, {k: v for k, v in correct.items() if support[k]}, confusions)


def breakdown_table(before: LabelBreakdown | None, after: LabelBreakdown, names: tuple[str, str] = ("seed", "best")) -> str:
    """A plain-text table: per label, support and recall (before -> after when given), then
    balanced accuracy and the commonest confusions of ``after``."""
    rows = [f"{'label':<28} {'n':>4}  " + (f"{names[0]:>6} -> {names[1]:<6}" if before else f"{'recall':>6}")]
    for label, n in after.support.items():
        now = after.recall(label)
        if before is not None:
            was = before.recall(label)
            rows.append(f"{label:<28} {n:>4}  {was:>6.2f} -> {now:<6.2f}" + ("  lower" if now < was else ""))
        else:
            rows.append(f"{label:<28} {n:>4}  {now:>6.2f}")
    balanced = f"{before.balanced_accuracy:.3f} -> {after.balanced_accuracy:.3f}" if before else f"{after.balanced_accuracy:.3f}"
    rows.append(f"balanced accuracy (mean recall): {balanced}")
    top = after.top_confusions(5)
    if top:
        rows.append("commonest errors" + (f" of {names[1]}" if before else "") + ": "
                    + "; ".join(f"{gold} answered as {said} ×{n}" for gold, said, n in top))
    return "\n".join(rows)
