"""``gepetto optimize TASK.yaml`` and ``gepetto resume RUN_DIR``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from gepetto.api import StopFlag, optimize
from gepetto.core.planning import plan_budget, survey_size
from gepetto.core.candidate import Candidate
from gepetto.core.events import RunStarted
from gepetto.lm.base import UsageTracker
from gepetto.progress import LineProgress
from gepetto.report.labels import TASK_COPY
from gepetto.store import RunDirError, RunStore
from gepetto.systems.adapter import mean_of, mean_score
from gepetto.systems.breakdown import breakdown_of, breakdown_table
from gepetto.taskfile import LMSpec, TaskFile, TaskFileError, build_system, load_taskfile, make_lms, task_splits


def _add_display_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mlflow", nargs="?", const="", default=None, metavar="TRACKING_URI",
                   help="also log the run to MLflow (default store: sqlite:///runs/mlflow.db; needs gepetto[mlflow])")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--plain", action="store_true", help="one log line per event (default when not a terminal)")
    mode.add_argument("--quiet", action="store_true", help="print only the final summary")


def _add_override_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=int, help="optimizer.max_rollouts")
    p.add_argument("--seed", type=int, help="optimizer.seed")
    p.add_argument("--max-minutes", type=float, help="optimizer.max_seconds / 60")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any task-file key, e.g. --set optimizer.selector=beam (repeatable)")


def _overrides(args: argparse.Namespace) -> list[str]:
    sets = list(args.set)
    if args.budget is not None:
        sets.append(f"optimizer.max_rollouts={args.budget}")
    if args.seed is not None:
        sets.append(f"optimizer.seed={args.seed}")
    if args.max_minutes is not None:
        sets.append(f"optimizer.max_seconds={args.max_minutes * 60}")
    return sets


def optimize_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto optimize", description="Optimize the program a task file describes.")
    p.add_argument("taskfile", help="the task file (YAML)")
    p.add_argument("--run-dir", help="where the run is recorded (default: the task file's run_dir, else runs/<name>)")
    p.add_argument("--resume", action="store_true", help="continue the run already in --run-dir")
    p.add_argument("--force", action="store_true", help="resume even if the run dir holds a different configuration")
    _add_override_flags(p)
    _add_display_flags(p)
    args = p.parse_args(argv)
    try:
        task = load_taskfile(args.taskfile, _overrides(args))
    except TaskFileError as exc:
        print(f"gepetto: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(args.run_dir or task.run_dir or Path("runs") / (task.name or "run"))
    return execute(task, run_dir, resume=args.resume, force=args.force, plain=args.plain, quiet=args.quiet, mlflow=args.mlflow)


def resume_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto resume", description="Continue an interrupted run where it stopped.")
    p.add_argument("run_dir")
    p.add_argument("--force", action="store_true", help="resume even if the saved task file now describes a different "
                   "configuration, data or seed (e.g. a data file edited since the run started)")
    _add_override_flags(p)
    _add_display_flags(p)
    args = p.parse_args(argv)
    saved = Path(args.run_dir) / TASK_COPY
    if not saved.exists():
        print(f"gepetto: {args.run_dir} has no {TASK_COPY}; is it a run directory made by `gepetto optimize`?", file=sys.stderr)
        return 2
    try:
        task = load_taskfile(saved, _overrides(args))
    except TaskFileError as exc:
        print(f"gepetto: {exc}", file=sys.stderr)
        return 2
    return execute(task, Path(args.run_dir), resume=True, force=args.force, plain=args.plain, quiet=args.quiet, mlflow=args.mlflow)


class _TaskCopy:
    """Writes the run's copy of its task file. A resume rewrites it only once the run store
    has accepted the resume (the run has started): a refused ``gepetto resume RUN --set ...``
    must not leave its overrides behind for the next plain ``gepetto resume RUN``."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text

    def write(self) -> None:
        self.path.write_text(self.text)

    def on_event(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self.write()


def execute(
    task: TaskFile, run_dir: Path, *, resume: bool, force: bool, plain: bool, quiet: bool, mlflow: str | None = None
) -> int:
    """Validate everything, then run (or resume) the optimization and print the outcome."""
    try:
        splits = task_splits(task)
    except TaskFileError as exc:
        print(f"gepetto: {exc}", file=sys.stderr)
        return 2
    if (run_dir / "run.sqlite").exists() and not resume:
        print(f"gepetto: {run_dir} already holds a run. Continue it with `gepetto resume {run_dir}`, "
              "or pass --run-dir with a new directory.", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    task_copy = _TaskCopy(run_dir / TASK_COPY, yaml.safe_dump(task.model_dump(mode="json"), sort_keys=False))
    if not resume:
        task_copy.write()
    tracker = UsageTracker()
    stop = StopFlag()
    interactive = sys.stdout.isatty() and not plain and not quiet
    with contextlib.ExitStack() as stack:
        try:
            task_lm, reflection_lm = make_lms(task, tracker, stack)
            system = build_system(task, task_lm, splits)
        except TaskFileError as exc:
            print(f"gepetto: {exc}", file=sys.stderr)
            return 2
        observers: list = [task_copy] if resume else []
        if mlflow is not None:
            try:
                from gepetto.tracking.mlflow_tracker import MLflowTracker

                observers.append(MLflowTracker(mlflow or None, run_name=f"{task.name}:{run_dir.name}",
                                               params={"task": task.name, "optimizer": task.optimizer.model_dump()}))
            except ImportError as exc:
                print(f"gepetto: {exc}", file=sys.stderr)
                return 2
        if interactive:
            from gepetto.cli.live import LiveProgress

            observers.append(stack.enter_context(LiveProgress(tracker)))
        elif not quiet:
            observers.append(LineProgress())
        print(f"gepetto: {task.name}: {len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test; "
              f"run dir {run_dir}", flush=True)
        if not quiet:
            cfg = task.optimizer
            plan = plan_budget(cfg.max_rollouts, len(splits.train), len(splits.val), cfg.minibatch_size,
                               survey=survey_size(len(splits.train), cfg.reflection))
            print("gepetto: plan: " + plan.summary(), flush=True)
        try:
            result = optimize(
                system, splits.train, splits.val, reflection_lm=reflection_lm, config=task.optimizer,
                observers=observers, usage=tracker, stop=stop, run_dir=run_dir, resume=resume, force=force,
                holdout=splits.holdout,
            )
        except RunDirError as exc:
            print(f"gepetto: {exc}", file=sys.stderr)
            return 2
        store = RunStore(run_dir)
        store.set_meta("lm_usage", json.dumps(result.lm_usage))
        test_scores: dict[str, float] = {}
        if splits.test and result.stop_reason != "interrupted":
            seed = result.candidates[0].candidate
            best = result.best_candidate
            test_scores["seed"] = mean_score(system, seed, splits.test)
            test_scores["best"] = test_scores["seed"] if best == seed else mean_score(system, best, splits.test)
            store.set_meta("test_scores", json.dumps(test_scores))
        store.close()
    print(result.summary())
    if test_scores:
        print(f"test ({len(splits.test)} examples): seed {test_scores['seed']:.3f} -> best {test_scores['best']:.3f}")
    print("best candidate:")
    for module, text in result.best_candidate.items():
        print(f"--- {module} ---\n{text}")
    if result.stop_reason == "interrupted" or result.stop_reason.startswith("systemic-failure"):
        print(f"\nthe run stopped early ({result.stop_reason}); continue it with: gepetto resume {run_dir}")
    print(f"\nsee it with: gepetto show {run_dir}   |   gepetto report {run_dir}")
    return 0


def evaluate_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto evaluate", description="Score a run's best (or a named) candidate on a split.")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--candidate", type=int, help="candidate index (default: the run's best)")
    p.add_argument("--vs-seed", action="store_true", help="also score the seed candidate and compare per label (classifiers)")
    args = p.parse_args(argv)
    opened = _open_run(Path(args.run_dir), args.split, args.candidate)
    if opened is None:
        return 2
    task, splits, examples, exported, chosen = opened
    tracker = UsageTracker()
    seed_texts = exported["candidates"][0]["texts"]
    with contextlib.ExitStack() as stack:
        task_lm, _ = make_lms(task, tracker, stack)
        system = build_system(task, task_lm, splits)
        results = system.evaluate(Candidate(chosen["texts"]), examples)
        seed_results = None
        if args.vs_seed:
            seed_results = results if chosen["idx"] == 0 else system.evaluate(Candidate(seed_texts), examples)
    print(f"candidate #{chosen['idx']} on {args.split} ({len(examples)} examples): {mean_of(results):.3f}")
    if seed_results is not None:
        print(f"seed (#0) on {args.split}: {mean_of(seed_results):.3f}")
    after = breakdown_of(system, examples, results)
    if after is not None:  # a classifier: per-label recall and the commonest errors
        before = breakdown_of(system, examples, seed_results) if seed_results is not None else None
        print(breakdown_table(before, after, names=("seed", f"#{chosen['idx']}")))
    return 0


def _open_run(run_dir: Path, split: str, index: int | None) -> tuple[TaskFile, Any, list, dict, dict] | None:
    """(task file, splits, the split's examples, the exported run, the chosen candidate) of a
    run directory, or None after printing why it cannot be used."""
    if not (run_dir / TASK_COPY).exists() or not (run_dir / "run.sqlite").exists():
        print(f"gepetto: {run_dir} is not a run directory made by `gepetto optimize`", file=sys.stderr)
        return None
    task = load_taskfile(run_dir / TASK_COPY)
    splits = task_splits(task)
    examples = getattr(splits, split)
    if not examples:
        print(f"gepetto: the task has no {split} examples", file=sys.stderr)
        return None
    exported = RunStore(run_dir).export()
    chosen = _choose(exported, index)
    if chosen is None:
        return None
    return task, splits, examples, exported, chosen


def _choose(exported: dict, index: int | None) -> dict | None:
    """The named candidate, else the run's own final choice, else the best validation mean."""
    candidates = exported["candidates"]
    if index is None:
        recorded = exported["meta"].get("best_index")
        if recorded is not None and recorded.isdigit() and int(recorded) < len(candidates):
            return candidates[int(recorded)]
        scored = [c for c in candidates if c["val_mean"] is not None]
        return max(scored, key=lambda c: (c["val_mean"], -c["idx"]))
    matches = [c for c in candidates if c["idx"] == index]
    if not matches:
        print(f"gepetto: no candidate #{index}; the run has 0..{len(candidates) - 1}", file=sys.stderr)
        return None
    return matches[0]


def transfer_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="gepetto transfer",
        description="Score a run's seed and best candidate with a different task model (prompt transfer).",
    )
    p.add_argument("run_dir")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--embedded", metavar="MODEL", help="embedded model to transfer to (e.g. 1.5b)")
    target.add_argument("--base-url", help="OpenAI-compatible endpoint to transfer to (with --model)")
    p.add_argument("--model", help="model name at --base-url")
    p.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--candidate", type=int, help="candidate index (default: the run's best)")
    args = p.parse_args(argv)
    if args.base_url and not args.model:
        p.error("--base-url needs --model")
    opened = _open_run(Path(args.run_dir), args.split, args.candidate)
    if opened is None:
        return 2
    task, splits, examples, exported, chosen = opened
    source = task.task_lm.embedded or task.task_lm.model
    if args.embedded:
        task.task_lm = LMSpec(embedded=args.embedded, max_tokens=task.task_lm.max_tokens)
    else:
        task.task_lm = LMSpec(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env,
                              max_tokens=task.task_lm.max_tokens)
    seed = exported["candidates"][0]
    with contextlib.ExitStack() as stack:
        task_lm, _ = make_lms(task, UsageTracker(), stack)
        system = build_system(task, task_lm, splits)
        seed_score = mean_score(system, Candidate(seed["texts"]), examples)
        best_score = seed_score if chosen["idx"] == 0 else mean_score(system, Candidate(chosen["texts"]), examples)
    target_name = args.embedded or args.model
    print(f"optimized with {source}, scored with {target_name} on {args.split} ({len(examples)} examples): "
          f"seed {seed_score:.3f} -> candidate #{chosen['idx']} {best_score:.3f} ({best_score - seed_score:+.3f})")
    return 0
