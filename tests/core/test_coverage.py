"""The validation-coverage check: labels selection cannot see are named before the run."""

from __future__ import annotations

from gepetto.core.coverage import label_coverage


def test_a_label_missing_from_validation_is_named_with_the_fix() -> None:
    train = ["a"] * 6 + ["b"] * 6 + ["c"] * 3
    val = ["a"] * 5 + ["b"] * 5
    (warning,) = label_coverage(train, val)
    assert "no example of 1 of 3 labels (c)" in warning and "data.split.stratify: true" in warning


def test_declared_labels_no_split_shows_are_not_reported() -> None:
    """A distractor in the label list (banking-9's card_payment_declined) is no gap in the data."""
    train = ["a"] * 6 + ["b"] * 6
    val = ["a"] * 5 + ["b"] * 5
    assert label_coverage(train, val, ["a", "b", "distractor"]) == ()
    # a declared label only training shows is missing from validation; one only validation
    # shows is missing from training (reflection never sees it)
    missing_val, missing_train = label_coverage(train + ["c"] * 2, val + ["d"], ["a", "b", "c", "d"])
    assert "(c)" in missing_val and "d" not in missing_val.split("(")[1].split(")")[0]
    assert missing_train.startswith("the training set has no example of d (only the validation set shows it)")
    assert "data.split.stratify: true" in missing_train and " c " not in missing_train.split("(")[0]


def test_a_label_only_validation_shows_is_named_for_reflection() -> None:
    """banking-9's card_swallowed: one validation query, no training query."""
    train = ["a"] * 6 + ["b"] * 6
    val = ["a"] * 5 + ["b"] * 4 + ["c"]
    (warning,) = label_coverage(train, val, ["a", "b", "c"])
    assert "training set has no example of c" in warning and "reflection learns from training examples only" in warning
    assert "add training examples of them" in warning
    assert label_coverage(train, ["a"] * 5 + ["b"] * 5, ["a", "b", "c"]) == ()  # c in neither split: a distractor


def test_a_label_shown_once_where_about_three_are_due_is_thin() -> None:
    train = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    val = ["a"] * 14 + ["b"] * 14 + ["c"]
    (warning,) = label_coverage(train, val)
    assert "shows c once" in warning and "about 10" in warning


def test_open_answers_are_not_judged() -> None:
    numbers = [str(n) for n in range(30)]
    assert label_coverage(numbers, numbers[:5]) == ()  # every answer distinct: not a label set
    assert label_coverage(["yes"] * 10 + ["no"] * 10, ["yes"] * 10 + ["no"] * 10) == ()


def test_declared_labels_are_judged_whatever_their_type_and_number() -> None:
    (warning,) = label_coverage(["0"] * 6 + ["1"] * 6 + ["2"] * 3, ["0"] * 5 + ["1"] * 5, [0, 1, 2])
    assert "(2)" in warning  # declared numeric labels are classes
    many = [f"l{i}" for i in range(77)]
    (warning,) = label_coverage(many * 2, many[:70], many)
    assert "no example of 7 of 77 labels" in warning  # banking77: past the undeclared cap


def test_counts_are_answers_not_classes() -> None:
    """Object counting's targets repeat, but an unseen count is no gap in the validation set."""
    train = [str(n) for n in (3, 4, 5, 6, 7) * 6]
    assert label_coverage(train, [str(n) for n in (3, 4, 5) * 5]) == ()


def test_odd_systems_never_stop_the_run() -> None:
    from gepetto.api import _coverage_warnings

    class Raises:
        labels = ["a", "b"]

        def labelled_inputs(self, examples):
            raise KeyError("label")

    class NoLabels:
        labels = None

        def labelled_inputs(self, examples):
            return [("x", "a"), ("y", "b")]

    assert _coverage_warnings(Raises(), [1], [2]) == ()
    assert _coverage_warnings(NoLabels(), [1], [2]) == ()
