"""Optimize the two-hop QA pipeline on the embedded local LLM and score it on held-back questions.

    python -m gepetto.examples.multihop [--model 1.5b] [--budget 150] [--seed 0] [--strategy edits]

Scores the seed instructions on the 60 test questions, runs GEPA on 30 training and 30
validation questions, scores the best candidate on the same test questions, and prints
answer accuracy and per-hop retrieval recall for both (the optimized score is half answer, half recall). The run is recorded under
``runs/multihop/...`` and resumes if interrupted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

from gepetto.api import optimize
from gepetto.core.candidate import Candidate
from gepetto.core.config import Config, ReflectionConfig
from gepetto.examples.multihop.corpus import build_world, splits
from gepetto.examples.multihop.pipeline import multihop_system
from gepetto.progress import LineProgress


def score(system, candidate, questions) -> dict[str, float]:  # noqa: ANN001
    """Answer accuracy and the share of questions whose hop-1 / hop-2 passage was retrieved."""
    results = system.evaluate(Candidate(candidate), questions)
    n = len(results)
    hop1 = sum(1 for q, r in zip(questions, results) if r.output and q.subject in r.output["hop1"] + r.output["hop2"])
    hop2 = sum(1 for q, r in zip(questions, results) if r.output and q.bridge in r.output["hop1"] + r.output["hop2"])
    accuracy = sum((r.objectives or {}).get("answer", 0.0) for r in results) / n
    return {"accuracy": accuracy, "score": sum(r.score for r in results) / n, "hop1_recall": hop1 / n, "hop2_recall": hop2 / n}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gepetto.examples.multihop", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="1.5b", help="embedded model for task and reflection (default: 1.5b)")
    p.add_argument("--budget", type=int, default=150, help="rollout budget (default: 150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", choices=["edits", "rewrite"], default="edits")
    p.add_argument("--out", default="runs/multihop")
    args = p.parse_args(argv)
    from gepetto.lm import UsageTracker, make_lm
    from gepetto.lm.embedded import start_embedded

    world = build_world()
    train, val, test = splits(world)
    run_dir = Path(args.out) / f"{args.strategy}-{args.model}-budget{args.budget}-seed{args.seed}"
    started = time.monotonic()
    with start_embedded(args.model) as server:
        tracker = UsageTracker()
        task_lm = make_lm(base_url=server.base_url, model=server.model, role="task", tracker=tracker, identity=server.identity,
                          seed_samples=True)
        reflection_lm = make_lm(base_url=server.base_url, model=server.model, role="reflection", tracker=tracker,
                                cache_sampled=True, identity=server.identity, seed_samples=True)
        system = multihop_system(task_lm, world.documents)
        seed = system.seed_candidate
        before = score(system, seed, test)
        print(f"seed on {len(test)} test questions: {before}", flush=True)
        config = Config(max_rollouts=args.budget, minibatch_size=3, seed=args.seed,
                        reflection=ReflectionConfig(max_tokens=400, strategy=args.strategy))
        result = optimize(system, train, val, reflection_lm=reflection_lm, config=config, observers=[LineProgress()],
                          usage=tracker, run_dir=run_dir, resume=(run_dir / "run.sqlite").exists())
        best = result.best_candidate
        after = score(system, best.to_dict(), test) if best.to_dict() != seed else before
    print(result.summary())
    print(f"test accuracy: seed {before['accuracy']:.3f} -> optimized {after['accuracy']:.3f}")
    print(f"hop-2 recall:  seed {before['hop2_recall']:.3f} -> optimized {after['hop2_recall']:.3f}")
    for module, text in best.items():
        print(f"--- {module} ---\n{text}")
    summary = {"seed_test": before, "best_test": after, "seed_val": result.seed_score, "best_val": result.best_score,
               "rollouts": result.rollouts_used, "proposals": result.proposal_counts(), "lm_usage": result.lm_usage,
               "best_candidate": best.to_dict(), "seconds": time.monotonic() - started}
    (run_dir / "result.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {run_dir / 'result.json'} ({summary['seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
