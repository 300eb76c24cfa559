"""Do the validation and training sets cover the labels a classifier must learn?

Why: GEPA selects candidates on the validation set only. A label the validation set holds
no example of is invisible to selection: a candidate that learns it and one that breaks
it score the same. This is not hypothetical: banking-9's 30 validation queries hold no
``lost_or_stolen_card`` query and one ``card_swallowed`` query (its test set nine of each),
and validation ranked candidates poorly for test for that reason (docs/measurements.md, "Choosing a
definition set"). The check is cheap and runs before any model call; the fix is a
stratified split (``data.split.stratify: true`` in a task file) or more validation data.

The same holds the other way for reflection, which reads training examples only: a label
only the validation set shows is defined from its name alone. banking-9's one
``card_swallowed`` query is in validation, and no reflection model we run knows that a
"swallowed" card is one an ATM kept (docs/measurements.md, "Labels without training examples").
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

__all__ = ["label_coverage"]

_MAX_LABELS = 40  # undeclared: more distinct answers than this is not a label set (names, sentences)
_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


def label_coverage(
    train_targets: Sequence[str], val_targets: Sequence[str], labels: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """Warnings (empty when all is well) about labels the validation set misses or barely
    shows, and about labels only the validation set shows (reflection cannot learn them).

    ``labels``: the declared label set, if any; otherwise the labels the training set shows,
    judged only when they look like a label set (at most 40 answers that repeat, not all
    numbers: object counting's "7" and "12" are answers, not classes). Labels declared but
    shown by neither split (a deliberate distractor) are not reported.
    """
    train = Counter(str(t) for t in train_targets)
    val = Counter(str(t) for t in val_targets)
    known = set(train) | set(val)
    if labels is not None:  # declared: a classifier whatever its size
        wanted = [lab for lab in dict.fromkeys(str(x) for x in labels) if lab in known]
        if len(wanted) < 2:
            return ()
    else:
        wanted = sorted(train)
        numeric = all(_NUMBER.fullmatch(lab.strip()) for lab in wanted)
        if not (2 <= len(wanted) <= _MAX_LABELS) or numeric or sum(train.values()) < 2 * len(train):
            return ()  # open answers (counts, names, sentences), or too few repeats to call it a classifier
    missing = [lab for lab in wanted if val[lab] == 0]
    warnings: list[str] = []
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        warnings.append(
            f"the validation set has no example of {len(missing)} of {len(wanted)} labels ({shown}): selection cannot "
            "see whether a candidate gets them right; use a stratified split (task file: data.split.stratify: true) "
            "or add validation examples of these labels"
        )
    unlearnable = [lab for lab in wanted if train[lab] == 0 and val[lab] > 0]
    if unlearnable:
        shown = ", ".join(unlearnable[:8]) + (f" and {len(unlearnable) - 8} more" if len(unlearnable) > 8 else "")
        warnings.append(
            f"the training set has no example of {shown} (only the validation set shows "
            f"{'it' if len(unlearnable) == 1 else 'them'}): reflection learns from training examples only and cannot "
            "see what these labels look like; add training examples of them, or, where the data holds several of "
            "each, use a stratified split (task file: data.split.stratify: true)"
        )
    n_val = sum(val.values())
    if n_val:
        expected_share = {lab: train[lab] / sum(train.values()) for lab in wanted if train[lab]}
        thin = [lab for lab, share in expected_share.items() if val[lab] == 1 and share * n_val >= 3]
        if thin:
            warnings.append(
                f"the validation set shows {', '.join(thin[:8])} once each although the training set suggests about "
                f"{min(round(expected_share[lab] * n_val) for lab in thin)} or more: one query decides what selection "
                "sees of them; a stratified split spreads the labels evenly"
            )
    return tuple(warnings)
