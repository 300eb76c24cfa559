"""BANKING77 intent classification, and "banking-9": its nine card intents.

banking-9 is the protocol our measurements use (see the README): rows of the training
file with the nine labels, shuffled with ``random.Random(0)``; first 30 train, next 30
validation; test = first 100 of the equally shuffled matching test rows. The seed
instruction lists the labels plus one label absent from the data
(``card_payment_declined``), as in the measured protocol. Data: BANKING77 (PolyAI,
CC BY 4.0), shipped in ``gepetto/tasks/data/banking77``.
"""

from __future__ import annotations

import csv
import random
from functools import partial
from importlib import resources
from typing import Sequence

from gepetto.lm.base import LM
from gepetto.systems.metrics import LabelMetric
from gepetto.systems.prompt_system import PromptSystem
from gepetto.tasks.base import Task
from gepetto.tasks.splits import stratified_order

BANKING9_LABELS = (
    "card_arrival",
    "card_delivery_estimate",
    "card_not_working",
    "lost_or_stolen_card",
    "declined_transfer",
    "activate_my_card",
    "card_swallowed",
    "compromised_card",
    "pending_card_payment",
)
DISTRACTOR = "card_payment_declined"
# Two more nine-intent groups with banking-9's protocol (``banking-top-up``,
# ``banking-transfer``): development data for choices that banking-9's test split must
# not make (choosing on the numbers a setting is reported with would fit them).
DEV_GROUPS: dict[str, tuple[str, ...]] = {
    "top-up": ("automatic_top_up", "pending_top_up", "top_up_by_bank_transfer_charge", "top_up_limits",
               "top_up_reverted", "topping_up_by_card", "top_up_by_cash_or_cheque", "top_up_failed", "verify_top_up"),
    "transfer": ("cancel_transfer", "transfer_not_received_by_recipient", "pending_transfer", "transfer_timing",
                 "beneficiary_not_allowed", "transfer_fee_charged", "failed_transfer", "transfer_into_account",
                 "receiving_money"),
}


def load_rows(split: str) -> list[dict[str, str]]:
    """All rows of the bundled BANKING77 ``train`` or ``test`` file as {text, label}."""
    if split not in ("train", "test"):
        raise ValueError(f"BANKING77 has splits 'train' and 'test', not {split!r}")
    path = resources.files("gepetto.tasks") / "data" / "banking77" / f"{split}.csv"
    with path.open(encoding="utf-8") as handle:
        return [{"text": row["text"], "label": row["category"]} for row in csv.DictReader(handle)]


def all_labels() -> list[str]:
    """The 77 BANKING77 intents, in the dataset's own order."""
    import json

    path = resources.files("gepetto.tasks") / "data" / "banking77" / "categories.json"
    return list(json.loads(path.read_text(encoding="utf-8")))


def seed_instruction(labels: Sequence[str]) -> str:
    return (
        "Classify the banking customer query into one of these intents: "
        + ", ".join(labels)
        + ". Answer with the intent label only."
    )


def _metric(metric: LabelMetric, example: dict[str, str], reply: str):  # noqa: ANN202
    return metric(example["label"], reply)


def banking_task(
    labels: Sequence[str] = BANKING9_LABELS,
    *,
    n_train: int = 30,
    n_val: int = 30,
    n_test: int = 100,
    seed: int = 0,
    distractors: Sequence[str] = (DISTRACTOR,),
    name: str = "banking-9",
    n_holdout: int = 60,
    stratify: bool = False,
) -> Task:
    """A BANKING77 subset task with fixed seeded splits. ``stratify``: cut train,
    validation and holdout with every label in its share (not the measured protocol,
    whose validation set happens to miss ``lost_or_stolen_card``; the option measures
    what that costs selection)."""
    wanted = set(labels)
    train_rows = [r for r in load_rows("train") if r["label"] in wanted]
    test_rows = [r for r in load_rows("test") if r["label"] in wanted]
    random.Random(seed).shuffle(train_rows)
    random.Random(seed).shuffle(test_rows)
    if stratify:
        train_rows = stratified_order(train_rows, lambda row: row["label"])
        name = f"{name}-stratified"  # other splits: never mixed with the protocol's results
    if n_train + n_val > len(train_rows):
        raise ValueError(f"only {len(train_rows)} training rows for these labels; lower n_train/n_val")
    train = train_rows[:n_train]
    val = train_rows[n_train : n_train + n_val]
    test = test_rows[:n_test]
    shown_labels = list(labels) + [d for d in distractors if d not in wanted]
    metric = LabelMetric(shown_labels)

    def make_system(lm: LM) -> PromptSystem:
        return PromptSystem(
            lm=lm,
            seed_instruction=seed_instruction(shown_labels),
            render=lambda ex: ex["text"],
            metric=partial(_metric, metric),
            module="classify",
            expected=lambda ex: ex["label"],
            max_tokens=16,
            labels=shown_labels,
        )

    holdout = train_rows[n_train + n_val : n_train + n_val + n_holdout]
    return Task(name, f"BANKING77 intent classification over {len(labels)} intents", train, val, test, make_system, holdout)

