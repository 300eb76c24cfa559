"""Definition sets written from the texts the seed gets wrong, against the first texts in training order.

A classifier's first edit writes one definition line per label from a few of the label's
training texts (``reflection.definition_examples``). By default those are the first ones in
training order; on banking-9 the first four ``card_arrival`` texts are all tracking
requests, while the seed's errors (and most test queries of the label) are cards that have
not arrived. ``failures`` runs the seed on the training set first and shows each label's
texts the seed got wrong before the rest (``gepetto.proposers.edits.EditProposer.survey``).

For each of ``--samples`` samples this script writes one complete first set each way (the
same proposer and prompts a run uses, fresh samples) and scores every set on the validation,
held-out and test rows, so the choice can be read on data a run's test score never uses
(dev = validation + held-out).

    python benchmarks/failure_examples.py [--samples 4] [--model 1.5b] [--task banking-9]

Prints a table and writes benchmarks/results/failure_examples-<task>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from section_pairs import served_system  # noqa: E402

from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.core.config import ReflectionConfig  # noqa: E402
from gepetto.proposers.edits import EditProposer  # noqa: E402
from gepetto.systems.adapter import ModuleRecord  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402

VARIANTS = ("first", "failures")
SPLITS = ("val", "holdout", "test")


def first_set(system, task, variant: str, survey: list[ModuleRecord], sample: int) -> str | None:  # noqa: ANN001
    """One complete definition set, as a run's first edit on the seed writes it."""
    proposer = EditProposer(system.lm, ReflectionConfig(definition_examples=variant), use_grammar=True, labels=list(system.labels))
    proposer.prime(system.labelled_inputs(task.train))
    if proposer.wants_survey():
        proposer.survey(survey)
    first = task.train[0]
    failure = [ModuleRecord(system.module, {"input": first["text"]}, "", "wrong", 0.0, first["label"])]
    proposal = proposer.propose(Candidate(system.seed_candidate), system.module, failure, rng=random.Random(sample), iteration=1 + sample)
    return proposal.text


def scores(system, task, text: str) -> dict[str, float]:  # noqa: ANN001
    candidate = Candidate({system.module: text})
    out = {split: statistics.fmean(r.score for r in system.evaluate(candidate, list(getattr(task, split)))) for split in SPLITS}
    n_val, n_holdout = len(task.val), len(task.holdout)
    out["dev"] = (out["val"] * n_val + out["holdout"] * n_holdout) / (n_val + n_holdout)
    return out


def summarize(rows: list[dict]) -> dict[str, dict[str, float]]:
    return {
        variant: {key: statistics.fmean(r[key] for r in rows if r["variant"] == variant) for key in (*SPLITS, "dev")}
        for variant in VARIANTS if any(r["variant"] == variant for r in rows)
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--model", default="1.5b", help="embedded model: task and reflection")
    p.add_argument("--task", default="banking-9", help="bundled classification task with held-out rows")
    args = p.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task(args.task)
    started = time.monotonic()
    rows: list[dict] = []
    with served_system(task, args.model) as system:
        seed = Candidate(system.seed_candidate)
        results = system.evaluate(seed, list(task.train), capture_traces=True)
        survey = [rec for r in results for rec in r.records]
        print(f"seed on train: {statistics.fmean(r.score for r in results):.3f}", flush=True)
        for sample in range(args.samples):
            for variant in VARIANTS:
                text = first_set(system, task, variant, survey, sample)
                row = {"variant": variant, "sample": sample, **(scores(system, task, text) if text else {"refused": True}), "text": text}
                rows.append(row)
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k != "text"}, flush=True)
    summary = summarize([r for r in rows if "test" in r])
    print("| first set written from | sets | val | holdout | dev (val + holdout) | test |")
    print("|---|---|---|---|---|---|")
    for variant, s in summary.items():
        n = sum(1 for r in rows if r["variant"] == variant and "test" in r)
        print(f"| {variant} | {n} | {s['val']:.3f} | {s['holdout']:.3f} | {s['dev']:.3f} | {s['test']:.3f} |")
    meta = {"date": time.strftime("%Y-%m-%d"), "task": args.task, "model": args.model, "samples": args.samples, "commit": commit,
            "wall_s": time.monotonic() - started, "machine": platform.machine(),
            "command": "python benchmarks/failure_examples.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = ROOT / "benchmarks" / "results" / f"failure_examples-{args.task}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
