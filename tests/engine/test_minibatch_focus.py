"""minibatch_focus: failures — minibatches led by an example the parent is believed to fail,
so that a good parent's iterations are not wasted on minibatches it already solves."""

from __future__ import annotations

from gepetto import Config, ExampleResult, ModuleRecord, optimize
from gepetto.core.events import IterationStarted
from gepetto.core.sampling import EpochShuffledSampler
from gepetto.proposers.base import Attempt, Proposal
from gepetto.systems.adapter import FunctionSystem

# Training example i of kind k < 3 needs the hint "k" in the instruction; the rest are easy.
HARD = {3: "0", 11: "1", 19: "2", 26: "0", 7: "1", 22: "2"}
TRAIN = [("train", i) for i in range(30)]
VAL = [("val", i) for i in range(6)]
VAL_KIND = {0: "0", 1: "1", 2: "2"}


def run_one(candidate, example) -> ExampleResult:  # noqa: ANN001
    text, (split, i) = candidate["m"], example
    kind = HARD.get(i) if split == "train" else VAL_KIND.get(i)
    ok = kind is None or f"hint {kind}" in text
    feedback = "right" if ok else f"needs hint {kind}"
    return ExampleResult(float(ok), text, feedback, records=(ModuleRecord("m", {"x": str(example)}, text, feedback, float(ok)),))


class AddsTheHintItSees:
    """Adds the hint named by the first failing record, every other call; in between it
    writes a useless variant (rejected by the gate), like a small reflection LM would."""

    def __init__(self) -> None:
        self.calls = 0

    def propose(self, candidate, module, records, *, rng, iteration):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls % 2:
            text = f"{candidate[module]} (variant {self.calls})"
            return Proposal(module, text, (Attempt(None, text, text),))
        for rec in records:
            if rec.feedback.startswith("needs "):
                text = f"{candidate[module]} {rec.feedback[6:]}."
                return Proposal(module, text, (Attempt(None, text, text),))
        return Proposal(module, None, (Attempt("unchanged", "same"),))


class Batches:
    """Every reflection minibatch drawn, with the parent it was drawn for."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.parent: int | None = None
        self.drawn: list[tuple[int | None, list[int]]] = []
        original = EpochShuffledSampler.next_batch

        def spy(sampler, rng, focus=()):  # noqa: ANN001, ANN202
            batch = original(sampler, rng, focus)
            self.drawn.append((self.parent, batch))
            return batch

        monkeypatch.setattr(EpochShuffledSampler, "next_batch", spy)

    def on_event(self, event) -> None:  # noqa: ANN001
        if isinstance(event, IterationStarted):
            self.parent = event.parent


def _run(focus: str, seed: int, observers=()):  # noqa: ANN001, ANN202
    config = Config(max_rollouts=200, minibatch_size=3, seed=seed, use_merge=False, minibatch_focus=focus)
    return optimize(FunctionSystem(run_one), TRAIN, VAL, seed_candidate={"m": "Answer."}, proposer=AddsTheHintItSees(),
                    config=config, observers=list(observers))


def test_focused_minibatches_waste_fewer_iterations_and_finish_sooner() -> None:
    skipped = {"none": 0, "failures": 0}
    spent = {"none": 0, "failures": 0}
    for seed in range(6):
        for focus in skipped:
            result = _run(focus, seed)
            assert result.best_score == 1.0, (focus, seed)
            skipped[focus] += sum(p.status == "skipped-perfect" for p in result.proposals)
            spent[focus] += result.rollouts_used
    assert skipped["failures"] < skipped["none"] / 2, skipped
    assert spent["failures"] < spent["none"], spent


def test_a_known_failure_of_the_seed_leads_its_later_batches(monkeypatch) -> None:
    # the seed's first batch is drawn blind; once it has failed a hard example, every
    # later batch drawn for the seed starts with one of the hard examples it failed
    checked = 0
    seen = Batches(monkeypatch)
    for run_seed in range(4):
        seen.drawn.clear()
        _run("failures", run_seed, [seen])
        failed_so_far: set[int] = set()
        for batch in (b for parent, b in seen.drawn if parent == 0):
            if failed_so_far:
                assert batch[0] in failed_so_far, (run_seed, batch, failed_so_far)
                checked += 1
            failed_so_far |= {i for i in batch if i in HARD}
    assert checked >= 3


def test_paper_mode_and_the_default() -> None:
    assert Config().minibatch_focus == "none"  # opt-in until it wins with real models
    assert Config.paper_mode().minibatch_focus == "none"
