"""Real run directories for the report tests, made by the engine on fake systems.

``flaky``: the store tests' run (accepted, gate-rejected and refused proposals);
``merge``: two lineages each fixing one module, then a merge of both;
``seed_only``: a seed that is already perfect, so no proposal is made;
``rich``: a noisier system (partial credit, many instances) that grows a bushy tree with
a several-candidate Pareto front and merges, to see the charts at a realistic size;
``nasty``: instructions full of markup (``<script>``, ``&``, quotes) to check escaping.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gepetto import Candidate, Config, ExampleResult, ModuleRecord, optimize
from gepetto.core.result import Result
from gepetto.proposers.base import Attempt, Proposal
from tests.engine.toy import SEED, FlakyLM, ScriptedProposer, ToySystem, make_examples

NASTY = '<script>alert(1)</script> & "quoted" \'single\' </pre></svg>'


def flaky_run(run_dir: Path) -> Result:
    return optimize(ToySystem(), make_examples(12, 1), make_examples(8, 2), reflection_lm=FlakyLM(),
             config=Config(max_rollouts=150, minibatch_size=3, seed=5), run_dir=run_dir)


def merge_run(run_dir: Path) -> Result:
    proposer = ScriptedProposer(
        {(SEED["solve"], "solve"): "Double the number.", (SEED["format"], "format"): "Write it in hex."},
        only_from={Candidate(SEED).id},
    )
    return optimize(ToySystem(), make_examples(8), make_examples(8, 5), proposer=proposer,
                    config=Config(max_rollouts=200, minibatch_size=4, selector="beam", beam_width=3, seed=1, patience=12),
                    run_dir=run_dir)


def seed_only_run(run_dir: Path) -> Result:
    perfect = {"solve": "Double the number.", "format": "Write it in hex."}
    return optimize(ToySystem(), make_examples(6, 1), make_examples(6, 2), seed_candidate=perfect,
                    proposer=ScriptedProposer({}), config=Config(max_rollouts=60, minibatch_size=3), run_dir=run_dir)


def nasty_run(run_dir: Path) -> Result:
    seed = {"solve": f"Repeat the number. {NASTY}", "format": "Write the number in decimal."}
    proposer = ScriptedProposer({(seed["solve"], "solve"): f"Double the number. {NASTY} <b>bold</b> & more",
                                 (seed["format"], "format"): "Write it in hex. <img src=x onerror=alert(2)>"})
    return optimize(ToySystem(seed_candidate=seed), make_examples(8, 1), make_examples(6, 2), proposer=proposer,
                    config=Config(max_rollouts=120, minibatch_size=3, seed=2), run_dir=run_dir)


# ----------------------------------------------------------------- rich run
KEYWORDS = {
    "plan": ["units", "sign", "rounding", "percent", "ratio", "order", "estimate", "average", "total"],
    "answer": ["digits", "comma", "currency", "brief", "label", "newline", "decimal", "symbol", "plain"],
}


@dataclass
class KeywordSystem:
    """Each example needs a few keywords (from both modules); the score is the share of
    them the candidate's texts mention, halved when they mention the one word the example
    must avoid: partial credit and trade-offs, different per instance."""

    seed_candidate: dict[str, str] = field(default_factory=lambda: {
        "plan": "Read the question and work out the quantity asked for.",
        "answer": "Give the final answer.",
    })

    def evaluate(self, candidate, examples: Sequence[Any], *, capture_traces: bool = False) -> list[ExampleResult]:
        out = []
        for ex in examples:
            needed = ex["needs"]
            text = (candidate["plan"] + " " + candidate["answer"]).lower()
            got = [k for k in needed if k in text]
            score = len(got) / len(needed)
            missing = [k for k in needed if k not in got]
            fb = "correct" if not missing else "missing: " + ", ".join(missing)
            if ex["avoid"] and ex["avoid"] in text:  # a rule that hurts here: trade-offs between instances
                score /= 2
                fb += f"; do not mention {ex['avoid']}"
            records = ()
            if capture_traces:
                records = (ModuleRecord("plan", {"q": str(ex["id"])}, "...", fb, score),
                           ModuleRecord("answer", {"q": str(ex["id"])}, "...", fb, score))
            out.append(ExampleResult(score=score, output=f"answer {ex['id']}", feedback=fb, records=records))
        return out


def keyword_examples(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = KEYWORDS["plan"] + KEYWORDS["answer"]
    # a fifth of the instances also need a word no proposal writes: nobody is perfect there
    examples = []
    for i in range(n):
        needs = rng.sample(words, rng.choice([2, 3, 4]))
        if rng.random() < 0.2:
            needs.append("unknowable")
        avoid = rng.choice([w for w in words if w not in needs]) if rng.random() < 0.5 else None
        examples.append({"id": i, "needs": needs, "avoid": avoid})
    return examples


@dataclass
class RandomEditProposer:
    """Adds a keyword the feedback asks for (sometimes a random one), or refuses."""

    calls: int = 0

    def propose(self, candidate, module, records, *, rng, iteration) -> Proposal:
        self.calls += 1
        if self.calls % 7 == 0:
            return Proposal(module, None, (Attempt("chatter", "Sure! Happy to help."),))
        if self.calls % 11 == 0:
            return Proposal(module, None, (Attempt("unchanged", candidate[module]),))
        wanted = [w for r in records for w in r.feedback.replace("missing: ", "").split(", ") if w in KEYWORDS[module]]
        pool = wanted if wanted and rng.random() < 0.6 else KEYWORDS[module]
        word = rng.choice(pool)
        digest = hashlib.sha1(f"{candidate.id}{module}{word}".encode()).hexdigest()[:4]
        if rng.random() < 0.3:  # a rewrite: keeps only the first sentence and one new rule
            text = f"{candidate[module].split('.')[0]}. Always check the {word} (rule {digest})."
        else:
            text = f"{candidate[module]} Mind the {word} (rule {digest})."
        return Proposal(module, text, (Attempt(None, text, text),))


def rich_run(run_dir: Path) -> Result:
    return optimize(KeywordSystem(), keyword_examples(30, 1), keyword_examples(24, 2), proposer=RandomEditProposer(),
                    config=Config(max_rollouts=1000, minibatch_size=4, seed=3, max_merges=4), run_dir=run_dir)


RUNS = {"flaky": flaky_run, "merge": merge_run, "seed_only": seed_only_run, "nasty": nasty_run, "rich": rich_run}
