"""Worked examples whose written arithmetic is wrong, or whose steps are bare headings,
are refused before they cost a minibatch; readable right equations and prose pass."""

from __future__ import annotations

import random

import pytest

from gepetto import Candidate, ModuleRecord, ReflectionConfig
from gepetto.lm import ScriptedLM
from gepetto.proposers.arithmetic import wrong_equation
from gepetto.proposers.edits import EditProposer, _solution_steps

# The worked example a real object-counting run kept (seed 1, commit 85dd036): seven
# terms of 1 stated as 8, with the gold total in view, and an empty step 2.
REAL_WRONG = (
    "1. Identify the vegetables in the input: potatoes, carrot, snake, yam, cauliflower, stalk of celery, garlic.\n"
    "2. Count the number of each vegetable:\n"
    "3. Add up all the counts: 1 (potatoes) + 1 (carrot) + 1 (snake) + 1 (yam) + 1 ( cauliflower) + 1 (stalk of celery) "
    "+ 1 (garlic) = 8\n"
    "4. State the answer: 8 vegetables"
)
# Another run's example (seed 2): a recipe of headings, no work on the input.
REAL_RECIPE = "1. Identify the items mentioned in the input:\n2. Count each item:\n3. Add up the counts:\n4. State the answer: 9"
# And the good one (seed 0).
REAL_RIGHT = (
    "1. Count the number of trumpets: 1 trumpet\n2. Count the number of trombones: 4 trombones\n"
    "3. Add up all the counts: 1 + 4 + 1 + 1 + 1 + 1 = 9\n4. State the final answer: 9 musical instruments"
)


@pytest.mark.parametrize(
    "step, wrong",
    [
        ("Add up: 1 (potatoes) + 1 (carrot) + 1 (snake) = 4", "1 + 1 + 1 = 4"),
        ("3 x 4 = 13", "3 * 4 = 13"),
        ("10 / 3 = 3.4", "10 / 3 = 3.4"),
        ("There is 1. Then 1 + 2 = 4", "1 + 2 = 4"),
        ("1 + 4 = 5 + 1 = 7", "5 + 1 = 7"),
        ("4 trombones + 2 drums = 5 instruments", "4 + 2 = 5"),
        ("10 / 3 = 4", "10 / 3 = 4"),  # neither rounded nor cut
        ("1 + 1 + 1 + 1 + 1 + 1 + 1 = 8", "1 + 1 + 1 + 1 + 1 + 1 + 1 = 8"),  # off by one on whole numbers
    ],
)
def test_a_wrong_equation_is_found_and_quoted(step: str, wrong: str) -> None:
    assert wrong_equation(step) == wrong


@pytest.mark.parametrize(
    "step",
    [
        "Add up all the counts: 1 + 4 + 1 + 1 + 1 + 1 = 9",
        "4 trombones + 1 drum = 5 instruments",
        "3 x 4 = 12",
        "$12.50 * 2 = $25",
        "10 / 3 = 3.33",
        "1,200 + 300 = 1,500",
        "(2 + 3) × 4 = 20",
        "5 − 7 = −2",
        # not plain arithmetic: left alone rather than guessed at
        "2 times 3 = 6",
        "x = 4",
        "50% of 20 = 11",
        "Total = 4 + 5",
        "Count the number of trombones: 4 trombones",
        "Natalia sold 48/2 = <<48/2=24>>24 clips",
        # found by review: chained results, algebra, clock times, dates, ranges, cut decimals, conversions
        "4 + 4 + 4 = 3 × 4 = 12",
        "2 × 6 = 6 + 6 = 12",
        "2x + 3 = 7",
        "Time 2:30 + 1 hour = 3:30",
        "10/15/2021 + 2 days = 10/17/2021",
        "Pages 3-5 = 3 pages",
        "2020-2023 = 3 years",
        "Step 3 - add 1 = 4",
        "2/3 = 0.66",
        "100/7 = 14.28",
        "7 / 2 = 3",
        "9 am + 4 hours = 1 pm",
        "1 dozen + 2 = 14",
        "1,5 + 1,5 = 3",
        "0.1 + 0.2 = 0.3",
    ],
)
def test_right_or_unreadable_equations_pass(step: str) -> None:
    assert wrong_equation(step) is None


def test_solution_steps_refuse_wrong_sums_and_bare_headings() -> None:
    assert _solution_steps(REAL_WRONG, "8", False) == ([], "solution-empty-step")
    without_heading = REAL_WRONG.replace("2. Count the number of each vegetable:\n", "")
    assert _solution_steps(without_heading, "8", False) == ([], "solution-wrong-arithmetic")
    assert _solution_steps(REAL_RECIPE, "9", False) == ([], "solution-empty-step")
    assert _solution_steps("1. Step 1: Count each item:\n2. So 9 items.", "9", False) == ([], "solution-empty-step")
    steps, reason = _solution_steps(REAL_RIGHT, "9", False)
    assert reason is None and len(steps) == 4


def test_a_wrong_sum_is_re_asked_and_the_right_one_kept() -> None:
    """The proposer spends a re-ask, not a minibatch, on an example that does not add up."""
    question = "I have a goat, a frog, five pigs, and a bear. How many animals do I have?"
    records = [
        ModuleRecord("m", {"input": "I have a cat and a dog. How many animals do I have?"}, "Answer: 2", "ok", 1.0, "2"),
        ModuleRecord("m", {"input": question}, "Answer: 6", "Wrong: expected 8", 0.0, "8"),
    ]
    wrong = "1. One goat, one frog and one bear make 3.\n2. Five pigs: 3 + 4 = 8 animals."
    right = "1. One goat, one frog and one bear make 3.\n2. Five pigs: 3 + 5 = 8 animals."
    lm = ScriptedLM(replies=[wrong, right])
    seed = "Answer the question. Give the final answer on the last line as 'Answer: <answer>'."
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=1), describe_first=False).propose(
        Candidate({"m": seed}), "m", records, rng=random.Random(0), iteration=2,
    )
    assert [a.refusal for a in proposal.attempts] == ["solution-wrong-arithmetic", None]
    assert proposal.text is not None and "3 + 5 = 8" in proposal.text and "3 + 4" not in proposal.text


@pytest.mark.parametrize(
    "step",
    [
        "1 + " * 1000 + "1 = 5",
        "1 - " + "-" * 1000 + "1 = 2",
        "1" + "0" * 400 + " + 1 = 2",
        "1" + "0" * 300 + ".0 * 1" + "0" * 300 + ".0 = 5",
        "((((((((((((((((((((1))))))))))))))))))) + 1 = 3",
        "= " * 5000,
    ],
)
def test_pathological_replies_never_raise(step: str) -> None:
    """A reply can hold anything; the check must not end the run."""
    assert wrong_equation(step) in (None, "(((((((((((((((((((( 1 ) ) ) ) ) ) ) ) ) ) ) ) ) ) ) ) ) ) ) + 1 = 3")
