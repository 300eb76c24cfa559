"""What a rollout budget buys, before the run starts.

Users set a budget and find out after an hour that it paid for one proposal. The costs
are known in advance: scoring the seed on the validation set, then per iteration the
parent's and the child's minibatch (``2 * minibatch``), and for every child that passes
the gate a full validation pass. With ``reflection.definition_examples: failures`` the seed
also runs once on the training set before the first iteration (the survey, at most
``SURVEY_EXAMPLES`` examples), which comes off the top like the seed's validation. So the
number of iterations lies between two bounds: every child rejected (the most iterations) and
every child accepted (the fewest).
Proposals refused before evaluation cost nothing and are not counted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gepetto.core.config import ReflectionConfig

# Training examples the seed is run on before the first iteration when the proposer asks for a
# survey (``reflection.definition_examples: failures``): a whole small training set, a seeded
# sample of a large one. Here because it is a cost the plan must know; the engine reads it.
SURVEY_EXAMPLES = 50


@dataclass(frozen=True)
class BudgetPlan:
    budget: int
    seed_cost: int
    gate_cost: int
    validation_cost: int
    max_iterations: int  # if no child is ever accepted
    min_iterations: int  # if every child is accepted
    max_accepted: int  # children the budget can fully validate
    warnings: tuple[str, ...] = field(default_factory=tuple)
    survey_cost: int = 0  # the seed on the training set before the first iteration (part of seed_cost)

    def iterations_with(self, accepted: int) -> int:
        """Evaluated proposals when the first ``accepted`` children pass the gate and the
        rest do not; simulates the engine's rule of starting an iteration only while a
        gate and a validation pass are both still affordable."""
        left = self.budget - self.seed_cost
        n = done = 0
        while left >= self.gate_cost + self.validation_cost:
            left -= self.gate_cost
            n += 1
            if done < accepted:
                left -= self.validation_cost
                done += 1
        return n

    def summary(self) -> str:
        start = (f"seed validation {self.seed_cost - self.survey_cost} + survey {self.survey_cost}" if self.survey_cost
                 else f"seed validation {self.seed_cost}")
        text = (
            f"budget {self.budget}: {start}, then {self.gate_cost} per evaluated proposal "
            f"+ {self.validation_cost} per accepted child -> {self.min_iterations}-{self.max_iterations} evaluated "
            f"proposals, at most {self.max_accepted} accepted"
        )
        return text + "".join(f"\nwarning: {w}" for w in self.warnings)


def plan_budget(
    budget: int, n_train: int, n_val: int, minibatch_size: int, *, want_accepted: int = 3, survey: int = 0,
) -> BudgetPlan:
    """Bounds on what ``budget`` buys; warns when it cannot pay for ``want_accepted`` improvements.
    ``survey``: rollouts the seed spends on the training set before the first iteration
    (:func:`survey_size`; 0 without ``definition_examples: failures``)."""
    mb = min(minibatch_size, n_train)
    gate = 2 * mb
    start = n_val + survey
    max_acc = max(0, (budget - start) // (gate + n_val))
    probe = BudgetPlan(budget, start, gate, n_val, 0, 0, max_acc)
    max_iter, min_iter = probe.iterations_with(0), probe.iterations_with(max_acc)
    warnings: list[str] = []
    if max_acc == 0:
        warnings.append(
            f"the budget cannot pay for even one accepted child ({start} for the seed + {gate + n_val} per accepted "
            f"child); raise max_rollouts to at least {start + gate + n_val} or shrink the validation set"
        )
    elif max_acc < want_accepted:
        need = start + want_accepted * (gate + n_val) + 10 * gate
        warnings.append(
            f"the budget pays for at most {max_acc} accepted children; GEPA usually needs several rounds of "
            f"improvement. Consider max_rollouts >= {need} (or a smaller validation set)"
        )
    return BudgetPlan(budget, start, gate, n_val, max_iter, min_iter, max_acc, tuple(warnings), survey)


def survey_size(n_train: int, reflection: ReflectionConfig) -> int:
    """Rollouts the seed's survey of the training set costs at most: the whole set up to
    ``SURVEY_EXAMPLES`` when definitions are written from the seed's errors (and the
    strategy is not the full rewrite, which writes none), else none. At most, because the
    engine skips it for a task whose first edit cannot use it (no label set, option letters)."""
    wanted = reflection.definition_examples == "failures" and reflection.strategy != "rewrite"
    return min(n_train, SURVEY_EXAMPLES) if wanted else 0
