"""What staged validation and parallel proposals buy, on one task, model and budget.

Runs gepetto's default (``edits`` reflection, Pareto, Merge) in several engine settings,
each with a fresh response cache so no run is served from another's replies:

* ``full k=1``      every accepted child scored on the whole validation set, one
                    proposal at a time (the paper's engine loop)
* ``staged k=1``    staged validation (the default)
* ``staged k=2``    ... plus two proposal pipelines in flight
* ``staged k=4``    ... four

and prints, per setting: wall time (and its ratio to ``full k=1`` measured in the same
run), proposals evaluated, accepted, parked, rollouts spent on validation, the best
validation score and the test score of the returned candidate.

    python benchmarks/engine_speed.py [--task banking-9] [--model 1.5b] [--budget 300] [--seed 0]

Writes benchmarks/results/engine_speed-<task>-b<budget>-s<seed>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gepetto.api import optimize  # noqa: E402
from gepetto.core.config import Config, ReflectionConfig  # noqa: E402
from gepetto.lm import UsageTracker, make_lm  # noqa: E402
from gepetto.lm.cache import ResponseCache  # noqa: E402
from gepetto.lm.embedded import start_embedded  # noqa: E402
from gepetto.systems.adapter import mean_score  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402

SETTINGS: dict[str, dict[str, Any]] = {
    "full k=1": {"validation": "full", "parallel_proposals": 1},
    "staged k=1": {"validation": "staged", "parallel_proposals": 1},
    "staged k=2": {"validation": "staged", "parallel_proposals": 2},
    "staged k=4": {"validation": "staged", "parallel_proposals": 4},
}


def run(setting: str, task: Any, budget: int, seed: int, server: Any, workdir: Path, test_system: Any) -> dict[str, Any]:
    cache = ResponseCache(workdir / f"{setting.replace(' ', '_').replace('=', '')}.sqlite")
    tracker = UsageTracker()
    lm = lambda role, sampled=False: make_lm(  # noqa: E731
        base_url=server.base_url, model=server.model, role=role, tracker=tracker, cache=cache, cache_sampled=sampled,
        identity=server.identity, timeout_s=300)
    config = Config(max_rollouts=budget, seed=seed, minibatch_size=3,
                    reflection=ReflectionConfig(max_tokens=512, strategy="edits", use_grammar=True), **SETTINGS[setting])
    started = time.monotonic()
    result = optimize(task.make_system(lm("task")), task.train, task.val, reflection_lm=lm("reflection", True), config=config, usage=tracker)
    wall = time.monotonic() - started
    counts = result.proposal_counts()
    evaluated = sum(v for k, v in counts.items() if k in ("accepted", "parked", "rejected-gate", "rejected-screen"))
    return {
        "setting": setting, "wall_s": wall, "rollouts": result.rollouts_used, "iterations": result.iterations,
        "evaluated": evaluated, "accepted": counts.get("accepted", 0), "parked": counts.get("parked", 0),
        "validation_rollouts": result.rollouts_by_kind.get("validation", 0) + result.rollouts_by_kind.get("merge", 0),
        "best_val": result.best_score, "test": mean_score(test_system, result.best_candidate, task.test),
        "reflection_calls": result.lm_usage.get("reflection", {}).get("calls", 0),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="banking-9")
    p.add_argument("--model", default="1.5b")
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = p.parse_args(argv)
    task = get_task(args.task)
    # the code this process runs: taken now, not after a run that may outlast a commit
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gepetto-speed-") as tmp, start_embedded(args.model) as server:
        workdir = Path(tmp)
        test_system = task.make_system(make_lm(base_url=server.base_url, model=server.model, cache=ResponseCache(workdir / "test.sqlite"),
                                               identity=server.identity, timeout_s=300))
        for setting in args.settings:
            row = run(setting, task, args.budget, args.seed, server, workdir, test_system)
            rows.append(row)
            print(f"{setting}: {row}", flush=True)
    base = rows[0]["wall_s"]
    lines = [
        f"{args.task}, model {args.model} (task and reflection), budget {args.budget}, seed {args.seed}, "
        f"{time.strftime('%Y-%m-%d')}, commit {commit}, {platform.machine()} {__import__('os').cpu_count()} CPUs, "
        f"`python benchmarks/engine_speed.py {' '.join(argv or sys.argv[1:])}`",
        "",
        f"| setting | wall s | wall vs {rows[0]['setting']} | rollouts | validation rollouts | proposals evaluated | accepted | parked | best val | test |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['wall_s']:.0f} | {r['wall_s'] / base:.2f} | {r['rollouts']} | {r['validation_rollouts']} | "
            f"{r['evaluated']} | {r['accepted']} | {r['parked']} | {r['best_val']:.3f} | {r['test']:.3f} |"
        )
    md = "\n".join(lines) + "\n"
    print()
    print(md)
    out = ROOT / "benchmarks" / "results" / f"engine_speed-{args.task}-b{args.budget}-s{args.seed}"
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "argv": argv or sys.argv[1:], "commit": commit}, indent=1))
    out.with_suffix(".md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
