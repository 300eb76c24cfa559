"""Issue 10's verdict across tasks: rollouts to reach paper mode's result, and test at equal budget.

``compare.py`` writes one comparison per task (or several, combined with ``--combine``);
each has, per seed, the rollouts gepetto and gepa needed to reach the validation score the
paper's loop ended with. This script reads several finished comparisons and states the
target across all of them, so the figure quoted in the README is recomputed, not assembled
by hand:

* per run (task, seed): the ratio of rollouts gepetto / paper mode to reach paper mode's
  final validation score (and gepa's), and the three test scores at equal budget;
* over the runs where paper mode improved at all (a ratio is meaningless where it did not):
  how many meet the target (ratio ≤ ``--target``, default 0.60), the median ratio, and the
  pooled ratio (total rollouts gepetto needed / total paper mode needed; a run that never
  got there counts with its whole budget, so it cannot flatter the figure);
* over all runs: test at equal budget, gepetto against paper mode (higher / equal / lower)
  and the mean test per task and optimizer.

    python benchmarks/efficiency_suite.py TAG [TAG ...] [--target 0.6] [--out NAME]

``TAG`` names ``benchmarks/results/compare-TAG.json``. Writes
``benchmarks/results/efficiency-NAME.json`` and ``.md`` (NAME defaults to ``suite``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

import compare  # noqa: E402  (benchmarks/compare.py: the per-run efficiency figures)


def load(tags: list[str], results_dir: Path = RESULTS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of the comparisons ``tags`` (one task may not come from two files) and
    their meta data."""
    rows: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    for tag in tags:
        path = results_dir / f"compare-{tag}.json"
        if not path.exists():
            raise SystemExit(f"no {path}: pass the TAG of a finished comparison (compare-TAG.json)")
        data = json.loads(path.read_text())
        for task in sorted({r["task"] for r in data["rows"]}):
            if task in owner:
                raise SystemExit(
                    f"{task} is in both {owner[task]} and {tag}: combine them first "
                    "(python benchmarks/compare.py --combine ...) and pass the combined tag"
                )
            owner[task] = tag
        rows.extend(data["rows"])
        metas.append({"tag": tag, **(data.get("meta") or {})})
    return rows, metas


def verdict(rows: list[dict[str, Any]], target: float = 0.6) -> dict[str, Any]:
    """Per-run figures and the summary described in the module docstring. Every (task,
    seed) of the files is listed; one without a finished paper-mode run, or whose
    gepetto or gepa run is missing or failed, says so instead of being dropped."""
    finished = [r for r in rows if "error" not in r and r.get("best_test") is not None]
    failed = {(r["task"], r["seed"], r["optimizer"]) for r in rows if "error" in r}
    own = {(r["task"], r["seed"], r["optimizer"]): r for r in finished}
    eff = {(e["task"], e["seed"], e["optimizer"]): e for e in compare.efficiency(finished)}
    ordered: list[dict[str, Any]] = []
    for task, seed in sorted({(r["task"], r["seed"]) for r in rows}):
        paper = own.get((task, seed, "paper-mode"))
        run: dict[str, Any] = {"task": task, "seed": seed, "paper": "ok" if paper and paper.get("val_curve") else
                               ("failed" if (task, seed, "paper-mode") in failed else "not run")}
        for name in ("gepetto", "gepa"):
            if (task, seed, name) in eff:
                e = eff[(task, seed, name)]
                run.update(paper_improved=e["paper_improved"], paper_rollouts=e["paper_rollouts"],
                           paper_test=e["paper_test"], target_val=e["target_val"])
                budget = own[(task, seed, name)].get("budget") or paper.get("budget")  # type: ignore[union-attr]
                if not budget:
                    raise SystemExit(f"{task} seed {seed}: the {name} run has no budget; cannot count a run that never got there")
                run[name] = {"rollouts": e["rollouts"], "ratio": e["ratio"], "test": e["test"], "budget": int(budget)}
            else:
                run[name] = "failed" if (task, seed, name) in failed else "not run"
        ordered.append(run)
    compared = [r for r in ordered if r["paper"] == "ok" and "paper_test" in r]
    summary: dict[str, Any] = {"target": target, "runs": len(ordered), "compared": len(compared)}
    for name in ("gepetto", "gepa"):
        mine = [r for r in compared if isinstance(r[name], dict)]
        improved = [r for r in mine if r["paper_improved"]]
        ratios = [r[name]["ratio"] for r in improved]
        # a run that never reached the score counts as its whole budget (a lower bound on its cost)
        needed = [r[name]["rollouts"] if r[name]["rollouts"] is not None else r[name]["budget"] for r in improved]
        base = [r["paper_rollouts"] for r in improved]
        tests = [(r[name]["test"], r["paper_test"]) for r in mine]
        summary[name] = {
            "runs": len(mine),
            "missing": sum(1 for r in ordered if not isinstance(r[name], dict)),
            "paper_improved": len(improved),
            "met": sum(1 for x in ratios if x is not None and x <= target + 1e-9),
            "never": sum(1 for x in ratios if x is None),
            "median_ratio": statistics.median([x if x is not None else float("inf") for x in ratios]) if ratios else None,
            "pooled_ratio": (sum(needed) / sum(base)) if base and sum(base) else None,
            "test_higher": sum(1 for a, b in tests if a > b + 1e-9),
            "test_equal": sum(1 for a, b in tests if abs(a - b) <= 1e-9),
            "test_lower": sum(1 for a, b in tests if a < b - 1e-9),
        }
    means: dict[str, dict[str, float]] = {}
    for task in sorted({r["task"] for r in compared}):
        per = [r for r in compared if r["task"] == task]
        means[task] = {"paper-mode": statistics.fmean(r["paper_test"] for r in per)}
        for name in ("gepetto", "gepa"):
            values = [r[name]["test"] for r in per if isinstance(r[name], dict)]
            if values:
                means[task][name] = statistics.fmean(values)
    summary["test_means"] = means
    return {"runs": ordered, "summary": summary}


def markdown(result: dict[str, Any], metas: list[dict[str, Any]]) -> str:
    s = result["summary"]
    lines = [
        "Files: " + "; ".join(f"{m['tag']} ({m.get('commit', '?')}, {m.get('date', '?')})" for m in metas),
        "",
        "| task | seed | ratio gepetto / paper mode | ratio gepa / paper mode | test gepetto | test paper mode | test gepa |",
        "|---|---|---|---|---|---|---|",
    ]

    def ratio(run: dict[str, Any], name: str) -> str:
        if not isinstance(run[name], dict):
            return run[name]
        if not run["paper_improved"]:
            return "paper mode found nothing"
        value, reached = run[name]["ratio"], run[name]["rollouts"]
        if value is None:
            return "never"
        text = f"{value:.2f} ({reached:.0f} vs {run['paper_rollouts']:.0f})"
        return f"**{text}**" if value <= s["target"] + 1e-9 else text

    def test(run: dict[str, Any], name: str) -> str:
        return f"{run[name]['test']:.3f}" if isinstance(run[name], dict) else run[name]

    for run in result["runs"]:
        if run["paper"] != "ok":
            lines.append(f"| {run['task']} | {run['seed']} | paper mode {run['paper']} | | | | |")
            continue
        lines.append(
            f"| {run['task']} | {run['seed']} | {ratio(run, 'gepetto')} | {ratio(run, 'gepa')} | {test(run, 'gepetto')} | "
            f"{run['paper_test']:.3f} | {test(run, 'gepa')} |"
        )
    lines.append("")
    if not s["compared"]:
        lines.append("- no run of these files has a finished paper-mode run to compare with")
    for name in ("gepetto", "gepa"):
        f = s[name]
        if not f["runs"]:
            continue
        median = "—" if f["median_ratio"] is None else ("never" if f["median_ratio"] == float("inf") else f"{f['median_ratio']:.2f}")
        pooled = "—" if f["pooled_ratio"] is None else f"{f['pooled_ratio']:.2f}"
        lines.append(
            f"- {name}: where paper mode improved ({f['paper_improved']} of {f['runs']} runs), ratio ≤ {s['target']:.2f} in "
            f"{f['met']} (never reached in {f['never']}); median ratio {median}, pooled {pooled}. Test at equal budget against "
            f"paper mode: higher in {f['test_higher']}, equal in {f['test_equal']}, lower in {f['test_lower']}"
            + (f"; {f['missing']} of the {s['runs']} task-seed pairs lack a {name} or paper-mode run." if f["missing"] else ".")
        )
    lines += ["", "| task | test gepetto | test paper mode | test gepa |", "|---|---|---|---|"]
    for task, m in s["test_means"].items():
        cells = [f"{m[name]:.3f}" if name in m else "—" for name in ("gepetto", "paper-mode", "gepa")]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tags", nargs="+", help="finished comparisons: benchmarks/results/compare-TAG.json")
    parser.add_argument("--target", type=float, default=0.6, help="rollout ratio that meets the target (default 0.6)")
    parser.add_argument("--out", default="suite", help="output name: benchmarks/results/efficiency-OUT.{json,md}")
    args = parser.parse_args(argv)
    if not 0 < args.target <= 1:
        parser.error("--target is a ratio of rollouts: give a number in (0, 1]")
    rows, metas = load(args.tags)
    result = verdict(rows, args.target)
    if not result["summary"]["compared"]:
        print(markdown(result, metas))
        raise SystemExit("no task-seed pair of these files has a finished paper-mode run: nothing to compare")
    md = markdown(result, metas)
    print(md)
    meta = {"date": time.strftime("%Y-%m-%d"), "tags": args.tags, "files": metas and [
        {k: m.get(k) for k in ("tag", "commit", "date", "command")} for m in metas
    ], "command": "python benchmarks/efficiency_suite.py " + " ".join(args.tags)}
    (RESULTS / f"efficiency-{args.out}.json").write_text(json.dumps({"meta": meta, **result}, indent=1, default=str))
    (RESULTS / f"efficiency-{args.out}.md").write_text(md)
    print(f"wrote benchmarks/results/efficiency-{args.out}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
