"""Bundled tasks: split sizes, determinism, disjointness, licenses, and metric feedback."""

from __future__ import annotations

from importlib import resources

import pytest

from gepetto.lm.callable_lm import ScriptedLM
from gepetto.systems.metrics import closed_answer_metric, multiple_choice_metric, parse_options
from gepetto.tasks import get_task, task_names
from gepetto.tasks.bbh import DEFAULT_BBH_TASKS, answer_kind, load_examples
from gepetto.tasks.gsm8k import parse_row

SUITE = ["banking-9", "banking-top-up", "banking-transfer", "banking77", "gsm8k"] + [f"bbh-{n}" for n in DEFAULT_BBH_TASKS]


def _key(example: dict) -> str:
    return example.get("text") or example.get("question") or example["input"]


@pytest.mark.parametrize("name", SUITE)
def test_split_sizes_are_the_documented_defaults(name: str) -> None:
    task = get_task(name)
    expected = {"banking-9": (30, 30, 100), "banking-top-up": (30, 30, 100), "banking-transfer": (30, 30, 100),
                "banking77": (154, 154, 300)}.get(name, (50, 50, 100))
    assert (len(task.train), len(task.val), len(task.test)) == expected


@pytest.mark.parametrize("name", SUITE)
def test_splits_are_deterministic_disjoint_and_change_with_the_seed(name: str) -> None:
    a, b, c = get_task(name), get_task(name), get_task(name, seed=1)
    assert [_key(x) for x in a.train] == [_key(x) for x in b.train]
    assert [_key(x) for x in a.test] == [_key(x) for x in b.test]
    assert [_key(x) for x in a.train] != [_key(x) for x in c.train]
    train, val = {_key(x) for x in a.train}, {_key(x) for x in a.val}
    assert not train & val
    if name.startswith("bbh-"):  # train/val/test come from one file
        assert not (train | val) & {_key(x) for x in a.test}


def test_every_bbh_task_loads_and_small_tasks_test_on_what_is_left() -> None:
    names = [n for n in task_names() if n.startswith("bbh-")]
    assert len(names) == 27
    causal = get_task("bbh-causal_judgement")  # 187 examples
    assert len(causal.test) == 183 - 100  # 187 rows, two inputs repeated with conflicting targets
    with pytest.raises(ValueError, match="too many"):
        get_task("bbh-snarks", n_test=150)


@pytest.mark.parametrize("dataset", ["banking77", "gsm8k", "bbh"])
def test_license_files_ship_with_the_data(dataset: str) -> None:
    text = (resources.files("gepetto.tasks") / "data" / dataset / "LICENSE").read_text(encoding="utf-8")
    assert len(text) > 100


def test_unknown_task_names_suggest_the_right_one() -> None:
    with pytest.raises(ValueError, match="bbh-date_understanding"):
        get_task("bbh-date")


def test_answer_kinds_follow_the_targets() -> None:
    assert answer_kind(load_examples("date_understanding"))[0] == "choice"
    assert answer_kind(load_examples("sports_understanding")) == ("closed", ("yes", "no"))
    assert answer_kind(load_examples("formal_fallacies")) == ("closed", ("valid", "invalid"))
    assert answer_kind(load_examples("object_counting"))[0] == "exact"


QUESTION = "Today is Christmas Eve of 1937. What is the date tomorrow?\nOptions:\n(A) 12/11/1937\n(B) 12/25/1937\n(C) 01/04/1938"


def test_multiple_choice_accepts_one_option_by_letter_or_text() -> None:
    options = parse_options(QUESTION)
    assert options == {"A": "12/11/1937", "B": "12/25/1937", "C": "01/04/1938"}
    for reply in ("Answer: (B)", "Tomorrow is the 25th.\nAnswer: (B) 12/25/1937", "B", "Answer: 12/25/1937"):
        assert multiple_choice_metric("(B)", reply, options).score == 1.0, reply


def test_multiple_choice_feedback_names_the_right_option_and_refuses_hedging() -> None:
    options = parse_options(QUESTION)
    wrong = multiple_choice_metric("(B)", "Answer: (A)", options)
    assert wrong.score == 0.0 and "(A) 12/11/1937" in wrong.feedback and "(B) 12/25/1937" in wrong.feedback
    hedge = multiple_choice_metric("(B)", "Answer: (A) or (B)", options)
    assert hedge.score == 0.0 and "several options" in hedge.feedback
    empty = multiple_choice_metric("(B)", "", options)
    assert empty.score == 0.0 and "Answer: (X)" in empty.feedback


def test_closed_answers_need_exactly_one_member() -> None:
    assert closed_answer_metric("yes", "It is plausible.\nAnswer: Yes", ("yes", "no")).score == 1.0
    both = closed_answer_metric("yes", "Answer: yes or no", ("yes", "no"))
    assert both.score == 0.0 and "several" in both.feedback
    # "invalid" is a word of its own, not "valid" plus noise
    assert closed_answer_metric("invalid", "Answer: invalid", ("valid", "invalid")).score == 1.0
    wrong = closed_answer_metric("valid", "Answer: invalid", ("valid", "invalid"))
    assert wrong.score == 0.0 and "answered invalid" in wrong.feedback


def test_gsm8k_feedback_quotes_the_worked_solution_without_annotations() -> None:
    row = parse_row({"question": "q", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 1,072"})
    assert row == {"question": "q", "solution": "Natalia sold 48/2 = 24 clips in May.", "answer": "1072"}
    system = get_task("gsm8k").make_system(ScriptedLM(["Answer: 7"]))
    example = dict(row)
    scored = system.metric(example, "Answer: 1072")
    assert scored.score == 1.0
    wrong = system.metric(example, "so 48 + 24.\nAnswer: 72")
    assert wrong.score == 0.0 and "expected 1072" in wrong.feedback and "48/2 = 24 clips" in wrong.feedback


def test_a_bbh_system_scores_replies_from_the_task_lm() -> None:
    task = get_task("bbh-sports_understanding", n_train=2, n_val=2, n_test=4)
    targets = [ex["target"] for ex in task.test]
    lm = ScriptedLM([f"Answer: {t}" for t in targets])
    system = task.make_system(lm)
    system.concurrency = 1
    results = system.evaluate(system.seed_candidate, task.test)
    assert [r.score for r in results] == [1.0] * 4


def test_task_files_accept_every_bundled_task_and_reject_unknown_ones(tmp_path, capsys) -> None:
    from gepetto.cli import main
    from gepetto.taskfile import TaskFileError, build_system, load_taskfile, task_splits

    (tmp_path / "t.yaml").write_text("task: bbh-object_counting\n")
    spec = load_taskfile(tmp_path / "t.yaml")
    splits = task_splits(spec)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (50, 50, 100)
    system = build_system(spec, ScriptedLM(["Answer: 3"]), splits)
    assert "Answer:" in system.seed_candidate["instruction"]
    (tmp_path / "bad.yaml").write_text("task: bbh-object-counting\n")
    with pytest.raises(TaskFileError, match="unknown bundled task"):
        load_taskfile(tmp_path / "bad.yaml")
    assert main(["tasks"]) == 0
    assert "bbh-date_understanding" in capsys.readouterr().out


@pytest.mark.parametrize("name,size", [("banking-9", 60), ("gsm8k", 100), ("bbh-date_understanding", 50), ("bbh-snarks", 0)])
def test_holdout_examples_are_left_over_and_disjoint(name: str, size: int) -> None:
    task = get_task(name)
    assert len(task.holdout) == size
    held = {_key(x) for x in task.holdout}
    for part in (task.train, task.val, task.test):
        assert not held & {_key(x) for x in part}


def test_stratified_banking_9_covers_every_label_and_keeps_the_test_set() -> None:
    """The protocol's validation set misses lost_or_stolen_card; the stratified variant
    (a measurement of what that costs selection) shows every label and the same test."""
    protocol, stratified = get_task("banking-9"), get_task("banking-9", stratify=True)
    assert "lost_or_stolen_card" not in {r["label"] for r in protocol.val}
    assert {r["label"] for r in stratified.val} == {r["label"] for r in protocol.test}
    assert stratified.test == protocol.test and stratified.name == "banking-9-stratified"
    assert not {r["text"] for r in stratified.train} & {r["text"] for r in stratified.val}


def test_banking9_coverage_names_both_gaps_of_its_protocol_splits() -> None:
    """The README's claims about banking-9: no lost_or_stolen_card in validation, and the
    one card_swallowed query in validation, none in training."""
    from gepetto.api import _coverage_warnings

    task = get_task("banking-9")
    missing_val, missing_train = _coverage_warnings(task.make_system(lm=None), task.train, task.val)  # type: ignore[arg-type]
    assert "(lost_or_stolen_card)" in missing_val
    assert missing_train.startswith("the training set has no example of card_swallowed (only the validation set shows it)")
    stratified = get_task("banking-9", stratify=True)
    assert _coverage_warnings(stratified.make_system(lm=None), stratified.train, stratified.val) == ()  # type: ignore[arg-type]


@pytest.mark.parametrize("name,group", [("banking-top-up", "top-up"), ("banking-transfer", "transfer")])
def test_the_development_groups_hold_only_their_nine_intents_and_name_them_all(name: str, group: str) -> None:
    """The groups are for choosing settings away from banking-9: none of banking-9's card
    intents, every one of their own in the seed instruction and in the label set."""
    from gepetto.tasks.banking import BANKING9_LABELS, DEV_GROUPS

    task = get_task(name)
    seen = {x["label"] for x in task.train + task.val + task.test}
    assert seen <= set(DEV_GROUPS[group]) and not seen & set(BANKING9_LABELS)
    system = task.make_system(ScriptedLM(replies=["unused"]))
    assert list(system.labels) == list(DEV_GROUPS[group])
    assert all(label in system.seed_instruction for label in DEV_GROUPS[group])
