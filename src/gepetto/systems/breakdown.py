"""Per-label results of a classifier: recall per label and the confusions behind the errors.

Why: accuracy alone hides what an optimized instruction did. A prompt can gain accuracy by
never answering a minority label ("prevalence hacking"), or trade one label's recall for
another's; and the errors that remain are the next thing to work on (on banking-9 they
were `card_swallowed` read as `lost_or_stolen_card` and `card_arrival` as
`card_delivery_estimate` — docs/measurements.md, "Labels without training examples"). This module only
counts. Whether a reply was right is the system's own metric's verdict (the score), so the
table always agrees with the accuracy printed above it; the label parser of
:class:`LabelMetric` only names what a wrong reply said, and "no label", "several labels"
and failed model calls are reported as such, never guessed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from gepetto.systems.adapter import ExampleResult
from gepetto.systems.metrics import LabelMetric

NO_LABEL = "(no label)"
SEVERAL_LABELS = "(several labels)"
CALL_FAILED = "(call failed)"
REJECTED = "(its label, not accepted by the metric)"


@dataclass(frozen=True)
class LabelBreakdown:
    """``support``/``correct``: per gold label, how many examples and how many answered
    right; ``confusions``: (gold label, what the reply said) -> count, errors only."""

    support: dict[str, int]
    correct: dict[str, int]
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def accuracy(self) -> float | None:
        total = sum(self.support.values())
        return sum(self.correct.values()) / total if total else None

    def recall(self, label: str) -> float | None:
        n = self.support.get(label, 0)
        return self.correct.get(label, 0) / n if n else None

    def recall_fell(self, before: LabelBreakdown | None, label: str) -> bool:
        """Whether ``label``'s recall here is below its recall in ``before`` (both known)."""
        now, was = self.recall(label), before.recall(label) if before is not None else None
        return now is not None and was is not None and now < was

    @property
    def balanced_accuracy(self) -> float | None:
        """Mean recall over the labels the examples hold: every label weighs the same."""
        recalls = [r for lab in self.support if (r := self.recall(lab)) is not None]
        return sum(recalls) / len(recalls) if recalls else None

    def top_confusions(self, k: int = 5) -> list[tuple[str, str, int]]:
        return [(gold, said, n) for (gold, said), n in self.confusions.most_common(k)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
            "per_label": {lab: {"support": n, "correct": self.correct.get(lab, 0)} for lab, n in self.support.items()},
            "confusions": [{"expected": g, "answered": s, "count": n} for g, s, n in self.top_confusions(len(self.confusions))],
        }


def label_breakdown(
    expected: Sequence[str | None], replies: Sequence[str | None], labels: Sequence[Any],
    scores: Sequence[float] | None = None, errors: Sequence[str | None] | None = None, perfect_score: float = 1.0,
) -> LabelBreakdown:
    """Count per-label results of ``replies`` against ``expected``.

    ``scores``: the metric's score per reply (right means ``>= perfect_score``); without
    them a reply is right when it names exactly the expected label (the bundled metric's
    rule). ``errors``: a failed call's error per reply (None where the call succeeded).
    Examples without an expected answer are left out; gold labels outside ``labels`` are
    counted, so nothing the data holds is dropped.
    """
    n = len(expected)
    if len(replies) != n or (scores is not None and len(scores) != n) or (errors is not None and len(errors) != n):
        raise ValueError(f"{n} expected labels but {len(replies)} replies" + (f" and {len(scores)} scores" if scores is not None else ""))
    names = [str(label) for label in labels]
    parse = LabelMetric(names).parse
    golds = [str(g) for g in expected if g is not None]
    order = list(dict.fromkeys([*names, *golds]))
    support = dict.fromkeys(order, 0)
    correct = dict.fromkeys(order, 0)
    confusions: Counter[tuple[str, str]] = Counter()
    for i, (gold_value, reply) in enumerate(zip(expected, replies)):
        if gold_value is None:
            continue
        gold = str(gold_value)
        support[gold] += 1
        found = parse(reply if isinstance(reply, str) else "" if reply is None else str(reply))
        right = scores[i] >= perfect_score if scores is not None else found == [gold]
        if right:
            correct[gold] += 1
        elif errors is not None and errors[i]:
            confusions[(gold, CALL_FAILED)] += 1
        else:
            said = NO_LABEL if not found else SEVERAL_LABELS if len(found) > 1 else REJECTED if found == [gold] else found[0]
            confusions[(gold, said)] += 1
    kept = [lab for lab in order if support[lab]]
    return LabelBreakdown({lab: support[lab] for lab in kept}, {lab: correct[lab] for lab in kept}, confusions)


def breakdown_of(
    system: Any, examples: Sequence[Any], results: Sequence[ExampleResult], perfect_score: float = 1.0,
) -> LabelBreakdown | None:
    """The breakdown of a classifier's ``results`` on ``examples`` (a system that declares
    ``labels`` and has ``expected``, as :class:`PromptSystem` can), else None."""
    labels = getattr(system, "labels", None)
    expected_of: Callable[[Any], str | None] | None = getattr(system, "expected", None)
    if not labels or expected_of is None:
        return None
    return label_breakdown(
        [expected_of(ex) for ex in examples], [r.output for r in results], labels,
        scores=[r.score for r in results], errors=[r.error for r in results], perfect_score=perfect_score,
    )


def breakdown_table(before: LabelBreakdown | None, after: LabelBreakdown, names: tuple[str, str] = ("seed", "best")) -> str:
    """A plain-text table: per label, support and recall (before -> after when given), then
    balanced accuracy and the commonest confusions of ``after``."""
    width = max([len("label"), *(len(lab) for lab in after.support)]) + 2

    def cell(value: float | None) -> str:
        return "  -  " if value is None else f"{value:.2f}"

    if before is not None:
        head = f"{'label':<{width}} {'n':>4}  recall {names[0]} -> {names[1]}"
    else:
        head = f"{'label':<{width}} {'n':>4}  recall"
    rows = [head]
    for label, n in after.support.items():
        now = after.recall(label)
        if before is not None:
            lower = after.recall_fell(before, label)
            rows.append(f"{label:<{width}} {n:>4}  {cell(before.recall(label))} -> {cell(now)}" + ("  lower" if lower else ""))
        else:
            rows.append(f"{label:<{width}} {n:>4}  {cell(now)}")
    if before is not None:
        balanced = f"{_three(before.balanced_accuracy)} -> {_three(after.balanced_accuracy)}"
    else:
        balanced = _three(after.balanced_accuracy)
    rows.append(f"balanced accuracy (mean recall): {balanced}")
    top = after.top_confusions(5)
    if top:
        rows.append("commonest errors" + (f" of {names[1]}" if before is not None else "") + ": "
                    + "; ".join(f"{gold} answered as {said} ×{n}" for gold, said, n in top))
    return "\n".join(rows)


def _three(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
