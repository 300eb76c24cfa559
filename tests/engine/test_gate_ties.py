"""gate_ties: extend — a child that ties its parent on the minibatch is judged on one more
minibatch instead of being rejected on three examples of no evidence."""

from __future__ import annotations

from gepetto import Config, ExampleResult, ModuleRecord, optimize
from gepetto.proposers.base import Attempt, Proposal
from gepetto.systems.adapter import FunctionSystem

# "better" is right wherever the seed is, and on training example 5 too.
RIGHT = {"seed": {0, 2, 4}, "better": {0, 2, 4, 5}}
TRAIN = [("train", i) for i in range(6)]
VAL = [("val", i) for i in range(4)]


def run_one(candidate, example) -> ExampleResult:  # noqa: ANN001
    text, (split, i) = candidate["m"], example
    score = float(i in RIGHT[text]) if split == "train" else float(text == "better" or i < 2)
    return ExampleResult(score, text, "fb", records=(ModuleRecord("m", {"x": str(example)}, text, "fb", score),))


class Once:
    def __init__(self) -> None:
        self.done = False

    def propose(self, candidate, module, records, *, rng, iteration):  # noqa: ANN001, ANN201
        if self.done or candidate["m"] != "seed":
            return Proposal(module, None, (Attempt("unchanged", "same"),))
        self.done = True
        return Proposal(module, "better", (Attempt(None, "better", "better"),))


def _run(ties: str, seed: int):  # noqa: ANN202
    config = Config(max_rollouts=100, minibatch_size=3, seed=seed, use_merge=False, max_iterations=1, gate_ties=ties,
                    skip_perfect_minibatch=False)
    return optimize(FunctionSystem(run_one), TRAIN, VAL, seed_candidate={"m": "seed"}, proposer=Once(), config=config)


def test_a_tie_is_judged_on_one_more_minibatch() -> None:
    tied_seeds = []
    for seed in range(8):
        extended, rejected = _run("extend", seed), _run("reject", seed)
        proposal = extended.proposals[0]
        assert proposal.status == "accepted", (seed, proposal)
        if rejected.proposals[0].status == "rejected-gate":  # the first minibatch missed example 5
            tied_seeds.append(seed)
            assert "tie on the minibatch" in proposal.reason
            assert extended.rollouts_by_kind["minibatch"] == 12  # 2 x 3, then 2 x 3 more
            assert proposal.parent_score == 3.0 and proposal.child_score == 4.0  # summed over both batches (all 6)
        else:
            assert extended.rollouts_by_kind["minibatch"] == 6 and proposal.reason == ""
    assert tied_seeds  # the case happened


def test_paper_mode_rejects_ties() -> None:
    assert Config.paper_mode().gate_ties == "reject" and Config().gate_ties == "reject"
