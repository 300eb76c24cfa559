"""Would another rule for the *returned* candidate have done better? Replayed on stored runs.

A run returns the candidate with the best validation mean. On banking-9 validation rises
over a run while test sometimes falls (seed 2 on 2026-12-04: validation 0.60 -> 0.70 over
four new bests, test 0.73 -> 0.69), which suggests a more conservative final choice. This
script needs no model: every `compare.py` result keeps, for each gepetto run, the
validation mean and the test score of each new best-by-validation candidate in the order
they appeared (`val_curve`, `curve`). It replays rules on those sequences:

* last: the best by validation, what gepetto returns;
* first accepted: the first candidate that beat the seed on validation;
* earliest within one: the earliest new best within one validation example of the best;
* move on +k: start from the seed and move to a later best only when it beats the current
  choice by at least k validation examples (k = 2, 3);
* oracle: the best test score among the same candidates (no rule can see it; the ceiling
  of any final choice among them).

Runs found in several result files (combined tables) count once. Validation sizes come
from the task registry.

    python benchmarks/selection_replay.py

Prints a table and writes benchmarks/results/selection_replay.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gepetto.tasks import get_task  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
Points = list[tuple[float, float]]  # (validation mean, test score) of each new best, the seed first


def _move_on(k: int) -> Callable[[Points, int], float]:
    def rule(points: Points, n_val: int) -> float:
        current = points[0]
        for point in points[1:]:
            if point[0] >= current[0] + k / n_val - 1e-9:
                current = point
        return current[1]
    return rule


def _earliest_within_one(points: Points, n_val: int) -> float:
    best = max(v for v, _ in points)
    return next(t for v, t in points if v >= best - 1 / n_val - 1e-9)


RULES: dict[str, Callable[[Points, int], float]] = {
    "last (returned today)": lambda points, n_val: points[-1][1],
    "first accepted": lambda points, n_val: points[min(1, len(points) - 1)][1],
    "earliest within one example": _earliest_within_one,
    "move on +2 examples": _move_on(2),
    "move on +3 examples": _move_on(3),
    # not a rule: what a choice among these candidates could reach at best
    "oracle (best test)": lambda points, n_val: max(t for _, t in points),
}


def family(task: str) -> str:
    return "banking (dev groups)" if task.startswith("banking-") and task != "banking-9" else task


def load_runs() -> list[dict]:
    runs: dict[tuple, dict] = {}
    for path in sorted(RESULTS.glob("compare-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for row in data.get("rows", []):
            if not isinstance(row, dict) or not str(row.get("optimizer", "")).startswith("gepetto"):
                continue
            val, test = row.get("val_curve") or [], row.get("curve") or []
            if len(val) < 1 or len(val) != len(test):
                continue  # parked candidates make the two curves differ: not replayable
            points = [(float(v), float(t)) for (_, v), (_, t) in zip(val, test)]
            key = (row["task"], row["optimizer"], row["seed"], tuple(points))
            runs.setdefault(key, {"task": row["task"], "optimizer": row["optimizer"], "seed": row["seed"],
                                  "points": points, "file": path.name})
    return list(runs.values())


def main() -> int:
    runs = load_runs()
    sizes: dict[str, int] = {}
    by_family: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        task = run["task"]
        if task not in sizes:
            try:
                sizes[task] = len(get_task(task).val)
            except Exception:  # noqa: BLE001 - a task no longer bundled: its runs are skipped
                sizes[task] = 0
        if not sizes[task]:
            continue
        for name, rule in RULES.items():
            by_family[family(task)][name].append(rule(run["points"], sizes[task]))
    table = []
    print("| task | runs | " + " | ".join(RULES) + " |")
    print("|---|---|" + "---|" * len(RULES))
    for fam, scores in sorted(by_family.items()):
        means = {name: statistics.fmean(values) for name, values in scores.items()}
        count = len(next(iter(scores.values())))
        table.append({"task": fam, "runs": count, "test_mean": means})
        print(f"| {fam} | {count} | " + " | ".join(f"{means[name]:.3f}" for name in RULES) + " |")
    out = RESULTS / "selection_replay.json"
    out.write_text(json.dumps({"meta": {"date": time.strftime("%Y-%m-%d"), "validation_sizes": sizes}, "table": table}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
