"""Side-by-side comparison: gepetto, its ablations, the peers and the seed, on bundled tasks.

Every optimizer gets the same task, task LM, reflection LM, splits and rollout budget
(metric calls on training and validation data; test scoring is outside the budget):

* ``gepetto``            Pareto selection + Merge, ``edits`` reflection (the default for
                         the embedded small models)
* ``gepetto-no-merge``   the same without Merge
* ``paper-mode``         our engine with every addition off (``Config.paper_mode()``):
                         full-rewrite reflection, no refusal, no Merge, no score reuse
* ``current-best``       the paper's ablation: always mutate the best candidate
* ``beam``               the paper's ablation: beam search over the top candidates
* ``gepa``               gepa 0.1.4 (PyPI), in the separate environment ``.venv-bench``
* ``mipro``              DSPy 3.4.1 MIPROv2, zero-shot, in ``.venv-bench``
* ``seed``               the unoptimized seed instruction
* ``gepetto-rewrite``    (on request) full-rewrite reflection with gepetto's refusal rules
* ``gepetto-holdout``    (on request) gepetto plus the held-out final check on 30 more
                         labelled examples, top 2 finalists: uses data the others do not get
* ``gepetto-ties``       (on request) gepetto with ``gate_ties: extend``: a child that ties
                         its parent on the minibatch is judged on one more minibatch
* ``gepetto-sets``       (on request) gepetto with ``reflection.definition_sets: 3``: three
                         complete label-definition sets compete before single-label edits
* ``gepetto-sets-holdout`` (on request) the same plus the held-out final check
* ``gepetto-sets-likelihood`` (on request) three sets written in the first edit, the one
                         whose validation gold labels the task model finds most likely
                         proposed (``reflection.definition_choice: likelihood``)
* ``gepetto-unseen``     (on request) gepetto with ``reflection.define_unseen_labels`` (the
                         default since it was measured; the name is kept for its result files)
* ``gepetto-seen-only``  (on request) gepetto without it: only labels the training set shows
* ``gepetto-unseen-contrast`` (on request) the default plus ``definition_contrast: nearest``
* ``gepetto-no-demos``   (on request) gepetto without ``reflection.demonstrations`` (no
                         examples section for classifiers, no worked example otherwise)
* ``gepetto-consensus``  (on request) gepetto with ``definition_samples: 5`` (each definition
                         line the consensus of five samples, not the first)
* ``gepetto-spread``     (on request) gepetto with ``definition_examples: spread`` (definitions
                         written from texts that cover each label, not the first ones)
* ``gepetto-distinct``   (on request) gepetto with ``definition_distinct: true`` (two labels
                         whose new lines say the same thing get one of them written again)
* ``gepetto-name``       (on request) gepetto with ``unseen_definition: name`` (a label no
                         training example shows gets its own name as its line, not a guess)
* ``gepetto-inline``     (on request) gepetto with ``demonstrations_layout: inline`` (each
                         label's training input quoted in its own definition line, no section)
* ``gepetto-labelled``   (on request) gepetto with ``demonstrations_layout: labelled`` (the
                         section label first, labels without a training input named in it;
                         the default since it was measured, the name kept for its result files)
* ``gepetto-section``    (on request) gepetto with ``demonstrations_layout: section`` (each
                         input followed by its label: the default before labelled)

    python benchmarks/compare.py                       # small: banking-9, budget 100, seed 0
    python benchmarks/compare.py --full                # banking-9 + 4 BBH tasks, budget 300, seeds 0 1 2
    python benchmarks/compare.py --task bbh-object_counting --budget 150 --seeds 0 1
    python benchmarks/compare.py --base-url http://host/v1 --model-name qwen2.5-7b   # any endpoint

Writes ``benchmarks/results/compare-<tag>.json``, ``.md`` (the table) and ``.png`` (test
score against rollouts). Each optimizer run has a fresh response cache, so no run is
served from another's replies and wall times are honest; test scoring shares one cache.
The peers run through ``benchmarks/peers/`` (set up with ``benchmarks/peers/setup_env.sh``,
which this script calls when a peer is requested).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gepetto.api import optimize  # noqa: E402
from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.core.config import Config, ReflectionConfig  # noqa: E402
from gepetto.lm import UsageTracker, make_lm  # noqa: E402
from gepetto.lm.cache import ResponseCache  # noqa: E402
from gepetto.systems.adapter import mean_of, mean_score  # noqa: E402
from gepetto.systems.breakdown import breakdown_of  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402
from gepetto.tasks.bbh import DEFAULT_BBH_TASKS  # noqa: E402

OURS = ("gepetto", "gepetto-no-merge", "paper-mode", "current-best", "beam", "gepetto-rewrite", "gepetto-holdout", "gepetto-ties",
        "gepetto-sets", "gepetto-sets-holdout", "gepetto-sets-likelihood", "gepetto-unseen", "gepetto-unseen-contrast", "gepetto-seen-only",
        "gepetto-no-demos", "gepetto-consensus", "gepetto-spread", "gepetto-distinct", "gepetto-name", "gepetto-inline", "gepetto-failures",
        "gepetto-labelled", "gepetto-section")
PEERS = ("gepa", "mipro")
DEFAULT_OPTIMIZERS = ("seed", "gepetto", "gepetto-no-merge", "paper-mode", "current-best", "beam", "gepa", "mipro")
ALL_OPTIMIZERS = DEFAULT_OPTIMIZERS + ("gepetto-rewrite", "gepetto-holdout", "gepetto-ties", "gepetto-sets", "gepetto-sets-holdout",
                                       "gepetto-sets-likelihood", "gepetto-unseen", "gepetto-unseen-contrast",
                                       "gepetto-seen-only", "gepetto-no-demos", "gepetto-consensus", "gepetto-spread", "gepetto-distinct",
                                       "gepetto-name", "gepetto-inline", "gepetto-failures", "gepetto-labelled",
                                       "gepetto-section")
HOLDOUT_SIZE = 30  # gepetto-holdout: extra labelled examples for the final check (not in the default set:
# it uses data the others do not get, so it answers "does the check help", not "who wins")
FULL_TASKS = ("banking-9",) + tuple(f"bbh-{t}" for t in DEFAULT_BBH_TASKS)
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"


@dataclass
class Endpoint:
    base_url: str
    model: str
    identity: str | None = None
    seeded: bool = False  # send sampled calls a seed of their own (the embedded server; see OpenAICompatibleLM)


def our_config(name: str, budget: int, seed: int) -> Config:
    if name == "paper-mode":
        return Config.paper_mode(max_rollouts=budget, seed=seed, minibatch_size=3, reflection=ReflectionConfig(
            strategy="rewrite", refuse=False, max_resamples=0, copy_ngram=0, max_tokens=512))
    reflection = ReflectionConfig(max_tokens=512, strategy="rewrite" if name == "gepetto-rewrite" else "edits", use_grammar=True,
                                  definition_sets=3 if name.startswith("gepetto-sets") else 1,
                                  definition_choice="likelihood" if name == "gepetto-sets-likelihood" else "validation",
                                  define_unseen_labels=not name.startswith("gepetto-seen-only"),
                                  definition_contrast="nearest" if name == "gepetto-unseen-contrast" else "none",
                                  demonstrations=name != "gepetto-no-demos",
                                  definition_samples=5 if name == "gepetto-consensus" else ReflectionConfig().definition_samples,
                                  definition_examples=("spread" if name == "gepetto-spread" else "failures" if name == "gepetto-failures"
                                                       else ReflectionConfig().definition_examples),
                                  definition_distinct=True if name == "gepetto-distinct" else ReflectionConfig().definition_distinct,
                                  unseen_definition="name" if name == "gepetto-name" else ReflectionConfig().unseen_definition,
                                  demonstrations_layout=("inline" if name == "gepetto-inline" else "labelled" if name == "gepetto-labelled"
                                                         else "section" if name == "gepetto-section"
                                                         else ReflectionConfig().demonstrations_layout))
    settings: dict[str, Any] = {"max_rollouts": budget, "seed": seed, "minibatch_size": 3, "reflection": reflection}
    if name == "gepetto-no-merge":
        settings["use_merge"] = False
    if name == "current-best":
        settings["selector"] = "current-best"
    if name == "beam":
        settings["selector"] = "beam"
    if name.endswith("-holdout"):  # the same test decides run_ours' held-out examples
        settings["holdout_top_k"] = 2
    if name == "gepetto-ties":
        settings["gate_ties"] = "extend"
    return Config(**settings)


def per_label(system: Any, examples: list[Any], results: list[Any]) -> dict[str, Any] | None:
    """Per-label recall and confusions of ``results`` on ``examples`` for a classifier, else
    None. Never stops a comparison: a failure here is logged and leaves None (the run's
    score stands)."""
    try:
        found = breakdown_of(system, examples, results)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not lose a finished run
        print(f"per-label breakdown failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return found.to_dict() if found is not None else None


def _lm(endpoint: Endpoint, role: str, tracker: UsageTracker | None, cache: ResponseCache | bool, sampled: bool = False):  # noqa: ANN202
    return make_lm(base_url=endpoint.base_url, model=endpoint.model, role=role if tracker else None, tracker=tracker,
                   cache=cache, cache_sampled=sampled, identity=endpoint.identity, timeout_s=300,
                   seed_samples=endpoint.seeded)


def run_ours(name: str, task_name: str, budget: int, seed: int, task_ep: Endpoint, refl_ep: Endpoint,
             test_system, workdir: Path, sizes: dict[str, int] | None = None) -> dict[str, Any]:  # noqa: ANN001
    """One run of gepetto (or an ablation) with a fresh cache; the curve is scored on test afterwards.
    ``sizes``: ``n_train``/``n_val``/``n_test`` for ``get_task``, the same for every optimizer."""
    task = get_task(task_name, **(sizes or {}))
    cache = ResponseCache(workdir / f"{name}-{seed}.sqlite")
    tracker = UsageTracker()
    system = task.make_system(_lm(task_ep, "task", tracker, cache))
    reflection_lm = _lm(refl_ep, "reflection", tracker, cache, sampled=True)
    started = time.monotonic()
    holdout = list(task.holdout)[:HOLDOUT_SIZE] if name.endswith("-holdout") else []
    result = optimize(system, task.train, task.val, reflection_lm=reflection_lm, config=our_config(name, budget, seed),
                      usage=tracker, holdout=holdout)
    if result.stop_reason == "interrupted":
        # Ctrl-C stops a run gracefully; it is no result: the comparison stops here, and its
        # partial file (the runs before this one) can be written with --finish-partial
        raise KeyboardInterrupt(f"{name} seed {seed} was interrupted after {result.rollouts_used} rollouts")
    wall = time.monotonic() - started
    # test score as a function of rollouts: each time the best-by-validation candidate changes
    curve: list[list[float]] = []
    for index in [0, *result.improvements()]:
        record = result.candidates[index]
        at = record.rollouts_at_creation + (len(task.val) if index else 0)
        curve.append([min(at, result.rollouts_used), mean_score(test_system, record.candidate, task.test)])
    best = result.best_candidate
    best_results = test_system.evaluate(best, list(task.test))
    usage = result.lm_usage
    return {
        "val_curve": val_curve(result, len(task.val)),
        "optimizer": name, "task": task_name, "seed": seed, "budget": budget, "rollouts_used": result.rollouts_used,
        "seed_val": result.seed_score, "best_val": result.best_score,
        "best_test": mean_of(best_results),
        "best_test_labels": per_label(test_system, task.test, best_results),
        "task_calls": usage.get("task", {}).get("calls", 0),
        "task_tokens": usage.get("task", {}).get("prompt_tokens", 0) + usage.get("task", {}).get("completion_tokens", 0),
        "reflection_calls": usage.get("reflection", {}).get("calls", 0),
        "reflection_tokens": usage.get("reflection", {}).get("prompt_tokens", 0) + usage.get("reflection", {}).get("completion_tokens", 0),
        "wall_s": wall, "prompt_chars": sum(len(t) for t in best.values()), "best_instruction": best.to_dict(),
        "proposals": result.proposal_counts(), "curve": curve,
    }


def val_curve(result: Any, n_val: int) -> list[list[float]]:
    """[rollouts spent when it was known, best validation mean so far] at each new best
    (parked candidates, scored only in part, are not comparable and are left out)."""
    known_at = {p.child_index: p.rollouts_used for p in result.proposals if p.child_index is not None}
    points = [[n_val, result.val_means[0]]]
    for index in result.improvements():  # skips parked and partly scored candidates
        fallback = result.candidates[index].rollouts_at_creation + n_val
        points.append([known_at.get(index, fallback), result.val_means[index]])
    return points


def rollouts_to_reach(curve: list[list[float]], target: float) -> float | None:
    """Rollouts at which a validation curve first reached ``target`` (None: never)."""
    for rollouts, value in curve:
        if value >= target - 1e-9:
            return rollouts
    return None


def efficiency(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task and seed: the rollouts gepetto (and gepa) needed to reach the validation score
    paper mode ended with, against the rollouts paper mode needed; and test at equal budget."""
    out = []
    by = {(r["task"], r["seed"], r["optimizer"]): r for r in rows if "error" not in r}
    for (task, seed, opt), paper in sorted(by.items()):
        if opt != "paper-mode" or not paper.get("val_curve"):
            continue
        target = paper["val_curve"][-1][1]
        base = rollouts_to_reach(paper["val_curve"], target)
        for other in ("gepetto", "gepa"):
            row = by.get((task, seed, other))
            if row is None or not row.get("val_curve"):
                continue
            reached = rollouts_to_reach(row["val_curve"], target)
            out.append({
                "task": task, "seed": seed, "optimizer": other, "target_val": target,
                "paper_improved": len(paper["val_curve"]) > 1, "paper_rollouts": base, "rollouts": reached,
                "ratio": (reached / base) if reached is not None and base else None,
                "test": row["best_test"], "paper_test": paper["best_test"],
            })
    return out


def ensure_bench_env() -> None:
    if not BENCH_PYTHON.exists():
        print("compare: setting up .venv-bench for the peers (gepa 0.1.4, dspy 3.4.1)...", flush=True)
    subprocess.run(["bash", str(ROOT / "benchmarks" / "peers" / "setup_env.sh")], check=True)


def run_peer(name: str, task_name: str, budget: int, seed: int, task_ep: Endpoint, refl_ep: Endpoint,
             sizes: dict[str, int], workdir: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
    script = ROOT / "benchmarks" / "peers" / ("run_gepa.py" if name == "gepa" else "run_mipro.py")
    out = workdir / f"{name}-{seed}.json"
    cmd = [str(BENCH_PYTHON), str(script), "--task", task_name, "--base-url", task_ep.base_url, "--model", task_ep.model,
           "--reflection-base-url", refl_ep.base_url, "--reflection-model", refl_ep.model,
           "--budget", str(budget), "--seed", str(seed), "--out", str(out)]
    for key, value in sizes.items():
        cmd += ["--" + key.replace("_", "-"), str(value)]
    for key, value in (options or {}).items():
        cmd += ["--task-option", f"{key}={value}"]
    log = workdir / f"{name}-{seed}.log"
    with log.open("w") as handle:
        code = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if code != 0 or not out.exists():
        tail = log.read_text(errors="replace")[-2000:]
        return {"optimizer": name, "task": task_name, "seed": seed, "budget": budget, "error": f"exit {code}: {tail}"}
    data = json.loads(out.read_text())
    data["optimizer"] = name
    data["version"] = data.get("optimizer_version")
    # the peers report validation-score curves; the plot shows test scores, so a peer
    # contributes its final point (rollouts used, test score of its best candidate)
    data["val_curve"] = data.get("curve", [])
    data["curve"] = [[data.get("rollouts_used", 0), data["best_test"]]]
    data["prompt_chars"] = data.get("prompt_chars", 0)
    for role in ("task", "reflection"):
        data.setdefault(f"{role}_tokens", data.get(f"{role}_prompt_tokens", 0) + data.get(f"{role}_completion_tokens", 0))
    return data


def summarize(rows: list[dict[str, Any]], seed_test: dict[str, float]) -> list[dict[str, Any]]:
    table = []
    keys = sorted({(r["task"], r["optimizer"]) for r in rows}, key=lambda k: (k[0], ALL_OPTIMIZERS.index(k[1]) if k[1] in ALL_OPTIMIZERS else 99))
    for task, opt in keys:
        runs = [r for r in rows if r["task"] == task and r["optimizer"] == opt and "error" not in r]
        failed = [r for r in rows if r["task"] == task and r["optimizer"] == opt and "error" in r]
        if not runs:
            table.append({"task": task, "optimizer": opt, "runs": 0, "failed": len(failed)})
            continue
        tests = [r["best_test"] for r in runs]

        def mean(key: str) -> float:
            return statistics.fmean(float(r.get(key) or 0) for r in runs)

        val_mean = mean("best_val")
        if opt == "seed":  # the seed is not run on validation by itself; every optimizer scored it there
            seed_vals = [float(r["seed_val"]) for r in rows if r["task"] == task and r.get("seed_val") is not None]
            val_mean = statistics.fmean(seed_vals) if seed_vals else float("nan")
        table.append({
            "task": task, "optimizer": opt, "runs": len(runs), "failed": len(failed),
            "test_mean": statistics.fmean(tests), "test_spread": (max(tests) - min(tests)) / 2 if len(tests) > 1 else 0.0,
            # against each run's own seed score where it carries one (runs combined from files whose
            # seed scored differently: the server is not bit-reproducible across days)
            "test_gain": statistics.fmean(r["best_test"] - float(r.get("seed_test", seed_test[task])) for r in runs),
            "val_mean": val_mean, "rollouts": mean("rollouts_used"), "task_calls": mean("task_calls"),
            "reflection_calls": mean("reflection_calls"), "tokens": mean("task_tokens") + mean("reflection_tokens"),
            "wall_s": mean("wall_s"), "prompt_chars": mean("prompt_chars"),
        })
    return table


def markdown(table: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Task LM `{meta['task_model']}`, reflection LM `{meta['reflection_model']}`, budget {meta['budget']} rollouts, "
        f"seeds {meta['seeds']}, {meta['date']}, commit {meta['commit']}, `{meta['command']}`",
        "",
        "| task | optimizer | test (mean ± half-range) | gain vs seed | val | rollouts | task calls | reflection calls | tokens | wall s | prompt chars |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        if not row["runs"]:
            lines.append(f"| {row['task']} | {row['optimizer']} | failed ({row['failed']}) | | | | | | | | |")
            continue
        lines.append(
            f"| {row['task']} | {row['optimizer']} | {row['test_mean']:.3f} ± {row['test_spread']:.3f} | {row['test_gain']:+.3f} | "
            f"{row['val_mean']:.3f} | {row['rollouts']:.0f} | {row['task_calls']:.0f} | {row['reflection_calls']:.0f} | "
            f"{row['tokens']:.0f} | {row['wall_s']:.0f} | {row['prompt_chars']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def efficiency_markdown(eff: list[dict[str, Any]]) -> str:
    lines = [
        "Rollouts needed to reach the validation score paper mode ended with (its own rollouts to get there in the "
        "paper column), and test score at equal budget:",
        "",
        "| task | seed | optimizer | paper-mode final val | paper-mode rollouts | rollouts | ratio | test | paper-mode test |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in eff:
        note = "" if e["paper_improved"] else " (paper mode found no improvement)"
        ratio = f"{e['ratio']:.2f}" if e["ratio"] is not None else "never"
        reached = f"{e['rollouts']:.0f}" if e["rollouts"] is not None else "never"
        lines.append(
            f"| {e['task']} | {e['seed']} | {e['optimizer']} | {e['target_val']:.3f}{note} | {e['paper_rollouts']:.0f} | "
            f"{reached} | {ratio} | {e['test']:.3f} | {e['paper_test']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], seed_test: dict[str, float], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("compare: matplotlib is not installed; skipping the plot")
        return False
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    colors: dict[str, Any] = {}
    labelled: dict[str, set[str]] = {}
    for ax, task in zip(axes[0], tasks):
        ax.axhline(seed_test[task], color="grey", linestyle=":", label="seed")
        for r in rows:
            if r["task"] != task or "error" in r or r["optimizer"] == "seed" or not r.get("curve"):
                continue
            color = colors.setdefault(r["optimizer"], f"C{len(colors)}")
            first = r["optimizer"] not in labelled.setdefault(task, set())
            labelled[task].add(r["optimizer"])
            label = r["optimizer"] if first else None
            if r["optimizer"] in PEERS:  # final point only (see run_peer)
                ax.scatter([r["curve"][0][0]], [r["curve"][0][1]], color=color, marker="s", label=label, zorder=3)
                continue
            xs = [p[0] for p in r["curve"]] + [r["rollouts_used"]]
            ys = [p[1] for p in r["curve"]] + [r["curve"][-1][1]]
            ax.step(xs, ys, where="post", color=color, alpha=0.8, label=label)
        ax.set_title(task)
        ax.set_xlabel("rollouts (metric calls on train + val)")
        ax.set_ylabel("test score of the best-by-validation candidate")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", action="append", help="bundled task (repeatable; default banking-9, or the suite with --full)")
    p.add_argument("--budget", type=int, help="rollouts per run (default 100; 300 with --full)")
    p.add_argument("--seeds", type=int, nargs="+", help="default 0; 0 1 2 with --full")
    p.add_argument("--optimizers", nargs="+", default=list(DEFAULT_OPTIMIZERS), choices=list(ALL_OPTIMIZERS))
    p.add_argument("--full", action="store_true", help="banking-9 and four BBH tasks, budget 300, seeds 0 1 2")
    p.add_argument("--model", default="1.5b", help="embedded model for task and reflection (default 1.5b)")
    p.add_argument("--reflection-model", help="embedded model for reflection (default: --model)")
    p.add_argument("--base-url", help="use this OpenAI-compatible endpoint instead of the embedded model")
    p.add_argument("--model-name", help="model name at --base-url")
    p.add_argument("--n-test", type=int, help="score on the first N test examples only")
    p.add_argument("--n-train", type=int, help="training examples (default: the task's own split)")
    p.add_argument("--n-val", type=int, help="validation examples (default: the task's own split)")
    p.add_argument("--task-option", action="append", default=[], metavar="NAME=VALUE",
                   help="extra keyword argument of the bundled task for every optimizer, e.g. max_tokens=192 (repeatable)")
    p.add_argument("--tag", help="output name (default: derived from the settings)")
    p.add_argument("--finish-partial", metavar="TAG", help="write the table, JSON and plot of a comparison stopped early, "
                   "from benchmarks/results/compare-TAG.partial.json, and run nothing")
    p.add_argument("--combine", nargs="+", metavar="TAG", help="write one table, JSON and plot from the finished "
                   "comparisons compare-TAG.json (e.g. one optimizer's seeds run later, or at another commit); a run of "
                   "the same task, seed and optimizer in a later-listed file replaces an earlier one; needs --tag; runs nothing")
    args = p.parse_args(argv)
    if args.combine:
        if not args.tag:
            raise SystemExit("--combine needs --tag NAME for the combined output")
        return combine(args.combine, args.tag, ROOT / "benchmarks" / "results")
    if args.finish_partial:
        return finish_partial(args.finish_partial, ROOT / "benchmarks" / "results")
    commit = git_commit()  # the code this process runs, taken before runs that may outlast a commit
    sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
    from common import parse_task_options  # the peers parse --task-option the same way

    options = parse_task_options(args.task_option)
    tasks = args.task or (list(FULL_TASKS) if args.full else ["banking-9"])
    budget = args.budget or (300 if args.full else 100)
    seeds = args.seeds or ([0, 1, 2] if args.full else [0])
    if any(o in PEERS for o in args.optimizers):
        ensure_bench_env()
    tag = args.tag or f"{'full' if args.full else '-'.join(tasks)}-b{budget}-s{''.join(map(str, seeds))}"
    if options and not args.tag:  # a run with other task options must not overwrite the default run's files
        tag += "-" + "-".join(f"{key}{value}" for key, value in sorted(options.items()))
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    from contextlib import ExitStack

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="gepetto-compare-") as tmp:
        workdir = Path(tmp)
        if args.base_url:
            if not args.model_name:
                p.error("--base-url needs --model-name")
            task_ep = refl_ep = Endpoint(args.base_url, args.model_name)
        else:
            from gepetto.lm.embedded import start_embedded

            server = stack.enter_context(start_embedded(args.model))
            task_ep = Endpoint(server.base_url, server.model, server.identity, seeded=True)
            refl_ep = task_ep
            if args.reflection_model and args.reflection_model != args.model:
                other = stack.enter_context(start_embedded(args.reflection_model))
                refl_ep = Endpoint(other.base_url, other.model, other.identity, seeded=True)
        test_cache = ResponseCache(workdir / "test.sqlite")
        rows: list[dict[str, Any]] = []
        meta = {
            "date": time.strftime("%Y-%m-%d"), "commit": commit, "command": "python benchmarks/compare.py " + " ".join(argv or sys.argv[1:]),
            "task_model": task_ep.model, "reflection_model": refl_ep.model, "budget": budget, "seeds": seeds, "tasks": tasks,
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        }
        seed_test: dict[str, float] = {}
        for task_name in tasks:
            sizes = {key: value for key, value in (("n_train", args.n_train), ("n_val", args.n_val), ("n_test", args.n_test)) if value}
            task = get_task(task_name, **sizes, **options)
            # rows carry the task's own name: an option that changes the splits renames it
            # (banking-9 with stratify=true is banking-9-stratified), so such runs are never
            # combined with the protocol's
            label = task.name
            test_system = task.make_system(_lm(task_ep, "task", None, test_cache))
            seed_results = test_system.evaluate(Candidate(test_system.seed_candidate), list(task.test))
            seed_test[label] = mean_of(seed_results)
            seed_labels = per_label(test_system, task.test, seed_results)
            print(f"[{label}] seed test {seed_test[label]:.3f}", flush=True)
            for seed in seeds:
                for name in args.optimizers:
                    started = time.monotonic()
                    if name == "seed":
                        row = {"optimizer": "seed", "task": label, "seed": seed, "budget": budget, "rollouts_used": 0,
                               "best_val": None, "best_test": seed_test[label], "wall_s": 0.0,
                               "best_test_labels": seed_labels,
                               "prompt_chars": sum(len(t) for t in test_system.seed_candidate.values())}
                    elif name in OURS:
                        row = run_ours(name, task_name, budget, seed, task_ep, refl_ep, test_system, workdir, {**sizes, **options})
                    else:
                        row = run_peer(name, task_name, budget, seed, task_ep, refl_ep, sizes, workdir, options)
                    row["task"] = label
                    rows.append(row)
                    shown = "ERROR " + row["error"][-300:] if "error" in row else f"test {row['best_test']:.3f} val {row.get('best_val')}"
                    print(f"[{label}] seed {seed} {name}: {shown} ({time.monotonic() - started:.0f}s)", flush=True)
                    partial = {"meta": meta, "rows": rows, "seed_test": seed_test}
                    (results_dir / f"compare-{tag}.partial.json").write_text(json.dumps(partial, indent=1))
    write_outputs(rows, seed_test, meta, results_dir, tag)
    return 0


def write_outputs(rows: list[dict[str, Any]], seed_test: dict[str, float], meta: dict[str, Any], results_dir: Path, tag: str) -> None:
    """The table (.md), the data (.json) and the plot (.png) of a comparison; the partial
    file of the run is removed."""
    table = summarize(rows, seed_test)
    md = markdown(table, meta)
    eff = efficiency(rows)
    if eff:
        md += "\n" + efficiency_markdown(eff)
    print()
    print(md)
    (results_dir / f"compare-{tag}.json").write_text(json.dumps({"meta": meta, "seed_test": seed_test, "table": table, "efficiency": eff, "rows": rows}, indent=1))
    (results_dir / f"compare-{tag}.md").write_text(md)
    if plot(rows, seed_test, results_dir / f"compare-{tag}.png"):
        print(f"wrote benchmarks/results/compare-{tag}.png")
    (results_dir / f"compare-{tag}.partial.json").unlink(missing_ok=True)
    print(f"wrote benchmarks/results/compare-{tag}.json and .md")


def finish_partial(tag: str, results_dir: Path) -> int:
    """``--finish-partial TAG``: the outputs of a comparison stopped before its end (for
    time, a crash), from the rows its partial file holds; the meta says it stopped early."""
    path = results_dir / f"compare-{tag}.partial.json"
    if not path.exists():
        raise SystemExit(f"no {path}: nothing to finish (the run may have completed)")
    partial = json.loads(path.read_text())
    rows = partial["rows"]
    meta = dict(partial.get("meta") or {
        "date": time.strftime("%Y-%m-%d"), "commit": "unknown (partial file without meta)", "command": f"(tag {tag})",
        "task_model": "unknown", "reflection_model": "unknown", "budget": rows[0]["budget"] if rows else 0,
        "seeds": sorted({r["seed"] for r in rows}), "tasks": sorted({r["task"] for r in rows}),
    })
    meta["stopped_early"] = f"finished from the partial file with {len(rows)} runs"
    meta["planned_seeds"] = meta.get("seeds")
    meta["seeds"] = sorted({r["seed"] for r in rows})  # the header names the seeds that ran
    meta["command"] = str(meta.get("command", "")) + " — stopped early, rows so far"
    write_outputs(rows, partial["seed_test"], meta, results_dir, tag)
    return 0


def combine(tags: list[str], out_tag: str, results_dir: Path) -> int:
    """``--combine``: one comparison from several finished ones. Why: a three-seed
    comparison of several optimizers is hours on two cores; when an optimizer's code did
    not change, its earlier runs can stand beside the new runs of another. Every run keeps
    the commit it ran at and its own file's seed score (JSON rows ``commit``, ``source``,
    ``seed_test``; gains are taken against it); the table's header lists the files."""
    if out_tag in tags:
        raise SystemExit(f"--tag {out_tag} is one of the inputs: pick another name, the combined file would replace it")
    by_key: dict[tuple[str, int, str], dict[str, Any]] = {}
    seed_tests: dict[str, dict[str, float]] = {}
    parts: list[str] = []
    budgets: set[int] = set()
    models: set[tuple[str, str]] = set()
    first: dict[str, Any] | None = None
    for tag in tags:
        path = results_dir / f"compare-{tag}.json"
        if not path.exists():
            raise SystemExit(f"no {path}: --combine takes the TAG of finished comparisons (compare-TAG.json)")
        data = json.loads(path.read_text())
        meta = data.get("meta") or {}
        first = first if first is not None else meta
        parts.append(f"{tag} ({meta.get('commit', '?')}, {meta.get('date', '?')})")
        budgets.add(int(meta.get("budget") or (data["rows"][0]["budget"] if data["rows"] else 0)))
        models.add((str(meta.get("task_model", "?")), str(meta.get("reflection_model", "?"))))
        file_seed = data.get("seed_test") or {}
        for task, value in file_seed.items():
            seed_tests.setdefault(task, {})[tag] = value
        for row in data["rows"]:
            if "error" in row and (row["task"], row["seed"], row["optimizer"]) in by_key:
                print(f"note: {tag} has a failed {row['optimizer']} run (seed {row['seed']}); the earlier run is kept")
                continue
            by_key[(row["task"], row["seed"], row["optimizer"])] = {
                **row, "commit": row.get("commit") or meta.get("commit"), "source": row.get("source", tag),
                **({"seed_test": row.get("seed_test", file_seed[row["task"]])} if row["task"] in file_seed else {}),
            }
    if len(budgets) > 1:
        raise SystemExit(f"the comparisons have different budgets {sorted(budgets)}: combining them would compare unequal runs")
    if len(models) > 1:
        raise SystemExit(f"the comparisons used different models (task, reflection) {sorted(models)}: combine runs of the same models")
    rows = [by_key[k] for k in sorted(by_key, key=lambda k: (k[0], k[1], ALL_OPTIMIZERS.index(k[2]) if k[2] in ALL_OPTIMIZERS else 99))]
    first = first or {}
    meta = {
        "date": time.strftime("%Y-%m-%d"), "commit": "combined: " + "; ".join(parts),
        "command": "python benchmarks/compare.py --combine " + " ".join(tags) + f" --tag {out_tag}",
        "task_model": first.get("task_model", "?"), "reflection_model": first.get("reflection_model", "?"),
        "budget": budgets.pop() if budgets else 0, "seeds": sorted({r["seed"] for r in rows}),
        "tasks": sorted({r["task"] for r in rows}), "combined": tags, "seed_test_per_file": seed_tests,
    }
    # the seed row of the table: the mean of the files' seed scores; gains use each run's own
    seed_test = {task: statistics.fmean(values.values()) for task, values in seed_tests.items()}
    write_outputs(rows, seed_test, meta, results_dir, out_tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
