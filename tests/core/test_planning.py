"""The budget planner against real engine runs on the toy system."""

from __future__ import annotations

from gepetto import Config, optimize
from gepetto.core.config import ReflectionConfig
from gepetto.core.planning import SURVEY_EXAMPLES, plan_budget, survey_size
from gepetto.proposers.base import Attempt, Proposal
from tests.engine.toy import SEED, ToySystem, UnhelpfulProposer, make_examples

TRAIN, VAL = make_examples(12, 1), make_examples(8, 2)
FAILURES = ReflectionConfig(definition_examples="failures")


def _evaluated(result) -> int:  # noqa: ANN001
    return sum(1 for p in result.proposals if p.status in ("accepted", "rejected-gate"))


def test_estimate_matches_a_run_where_nothing_is_accepted() -> None:
    for budget in (40, 77, 150):
        config = Config(max_rollouts=budget, minibatch_size=3, use_merge=False, reuse_evaluations=False, seed=1)
        result = optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=config)
        plan = plan_budget(budget, len(TRAIN), len(VAL), 3)
        assert abs(_evaluated(result) - plan.max_iterations) <= 1, (budget, _evaluated(result), plan)


class OneFixThenNoise:
    """Fixes ``solve`` once (accepted), then proposes useless variants (rejected)."""

    def __init__(self) -> None:
        self.fixed = False

    def propose(self, candidate, module, records, *, rng, iteration):  # noqa: ANN001, ANN201
        if module == "solve" and not self.fixed and candidate["solve"] == SEED["solve"]:
            self.fixed = True
            text = "Double the number."
        else:
            text = f"{candidate[module]} (variant {iteration})"
        return Proposal(module, text, (Attempt(None, text, text),))


def test_estimate_matches_a_run_with_an_accepted_child() -> None:
    config = Config(max_rollouts=120, minibatch_size=3, use_merge=False, reuse_evaluations=False,
                    skip_perfect_minibatch=False, seed=2)
    result = optimize(ToySystem(), TRAIN, VAL, proposer=OneFixThenNoise(), config=config)
    accepted = sum(1 for p in result.proposals if p.status == "accepted")
    assert accepted == 1
    plan = plan_budget(120, len(TRAIN), len(VAL), 3)
    assert abs(_evaluated(result) - plan.iterations_with(accepted)) <= 1
    assert plan.min_iterations <= _evaluated(result) <= plan.max_iterations


def test_warnings_say_what_to_change() -> None:
    tiny = plan_budget(60, 30, 30, 3)
    assert tiny.max_accepted == 0 and "at least 66" in tiny.warnings[0]
    small = plan_budget(100, 30, 30, 3)
    assert small.max_accepted == 1 and "max_rollouts >=" in small.warnings[0]
    assert plan_budget(600, 30, 30, 3).warnings == ()


class SurveyingUnhelpfulProposer(UnhelpfulProposer):
    """Asks for the seed's survey of the training set, then never helps."""

    def __init__(self) -> None:
        self.surveyed = 0

    def wants_survey(self) -> bool:
        return True

    def survey(self, records) -> None:  # noqa: ANN001
        self.surveyed = len(records)


def test_estimate_counts_the_survey_before_the_first_iteration() -> None:
    budget = 150
    config = Config(max_rollouts=budget, minibatch_size=3, use_merge=False, reuse_evaluations=False, seed=1)
    proposer = SurveyingUnhelpfulProposer()
    result = optimize(ToySystem(), TRAIN, VAL, proposer=proposer, config=config)
    assert proposer.surveyed > 0
    plan = plan_budget(budget, len(TRAIN), len(VAL), 3, survey=survey_size(len(TRAIN), FAILURES))
    assert plan.seed_cost == len(VAL) + len(TRAIN) and "survey 12" in plan.summary()
    assert abs(_evaluated(result) - plan.max_iterations) <= 1, (_evaluated(result), plan)
    without = plan_budget(budget, len(TRAIN), len(VAL), 3)
    assert without.max_iterations - plan.max_iterations == len(TRAIN) // 6  # 12 rollouts are two gates of 6


def test_survey_size_follows_the_setting_and_the_cap() -> None:
    assert survey_size(30, FAILURES) == 30
    assert survey_size(500, FAILURES) == SURVEY_EXAMPLES
    assert survey_size(30, ReflectionConfig(definition_examples="first")) == 0
    assert survey_size(30, ReflectionConfig(definition_examples="spread")) == 0
    assert survey_size(30, ReflectionConfig(definition_examples="failures", strategy="rewrite")) == 0
