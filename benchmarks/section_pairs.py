"""What the demonstrations section does to the texts runs returned: each scored with and without it.

Runs on banking-9 that returned a text with an ``Examples:`` section ended lower on test than
runs that did not (stored `compare.py` results before 2026-12-06's inline runs: 0.732 against 0.757
over nine runs each), and their errors differ in one place: `declined_transfer` and `pending_card_payment` queries
answered `card_payment_declined`, the declared label no example shows (5.6 such answers per
run with the section, 0.6 without). Across runs that is confounded with each run's definition
set; this script removes the confound. It reads every stored gepetto run of ``--task`` whose
returned text holds a demonstrations section and scores that text twice in one server
process, as returned and with the section cut off (``split_example``), on validation and
test, with the per-label pull into labels no training text shows.

Read the result as the section's paired effect on test (what it did to the text it was
added to), next to its paired effect on validation (what the run saw when it accepted it).

    python benchmarks/section_pairs.py [--task banking-9] [--model 1.5b] [--tags b300-s012-situation ...] [--limit N]

Prints a table and writes benchmarks/results/section_pairs-<task>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.lm import make_lm  # noqa: E402
from gepetto.lm.embedded import start_embedded  # noqa: E402
from gepetto.proposers.edits import split_example  # noqa: E402
from gepetto.systems.adapter import mean_of  # noqa: E402
from gepetto.systems.breakdown import breakdown_of  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _returned_texts(task: str, tags: list[str] | None = None) -> Iterator[tuple[Path, dict, str]]:
    """(result file, row, returned text) of every stored gepetto run of ``task`` that
    returned a text, file by file (``tags``: only these files)."""
    for path in sorted(RESULTS.glob(f"compare-{task}-*.json")):
        if tags and path.stem.removeprefix(f"compare-{task}-") not in tags:
            continue
        for row in json.loads(path.read_text()).get("rows", []):
            if not str(row.get("optimizer", "")).startswith("gepetto") or row.get("task") != task:
                continue
            best = row.get("best_instruction")
            text = best if isinstance(best, str) else next(iter(best.values()), "") if isinstance(best, dict) else ""
            if text:
                yield path, row, text


def has_section(text: str) -> bool:
    return split_example(text)[1].startswith("Examples:")


def stored_texts(task: str, tags: list[str] | None = None) -> list[dict]:
    """Every stored gepetto run of ``task`` whose returned text has a demonstrations
    section, once each (combined tables repeat runs): file, optimizer, seed, text and the
    test score stored with it."""
    seen: set[str] = set()
    out: list[dict] = []
    for path, row, text in _returned_texts(task, tags):
        if text in seen or not has_section(text):
            continue
        seen.add(text)
        out.append({"file": path.name, "optimizer": row["optimizer"], "seed": row.get("seed"), "text": text,
                    "stored_test": row.get("best_test")})
    return out


@contextmanager
def served_system(task: Any, model: str) -> Iterator[Any]:
    """The task's system on the embedded ``model``, served for the block (no response cache:
    every score is a fresh call, so two texts compared in one block share the same server)."""
    with start_embedded(model) as server:
        yield task.make_system(make_lm(base_url=server.base_url, model=server.model, cache=False, timeout_s=300))


def stored_pull(task: str, seen: set[str]) -> dict[str, dict[str, float]]:
    """Across every stored gepetto run of ``task`` with per-label test results (no model
    call): the mean test score and the mean number of wrong test answers that named a label
    no training text shows, for returned texts with and without an examples section."""
    groups: dict[str, list[tuple[float, int]]] = {"with": [], "without": []}
    for _, row, text in _returned_texts(task):
        labels = row.get("best_test_labels")
        if not labels:
            continue
        per_label = labels.get("per_label", {})
        pull = sum(c["count"] for c in labels.get("confusions", [])
                   if c["answered"] not in seen and (c["answered"] in per_label or not c["answered"].startswith("(")))
        groups["with" if has_section(text) else "without"].append((row["best_test"], pull))
    return {name: {"runs": len(g), "test": statistics.fmean(t for t, _ in g) if g else float("nan"),
                   "pull": statistics.fmean(p for _, p in g) if g else float("nan")} for name, g in groups.items()}


def evaluate(system, text: str, examples: list, seen: set[str]) -> dict:  # noqa: ANN001
    results = system.evaluate(Candidate({system.module: text}), examples)
    labels = set(system.labels)
    bd = breakdown_of(system, examples, results)
    pull = 0 if bd is None else sum(n for (_, said), n in bd.confusions.items() if said in labels and said not in seen)
    return {"score": mean_of(results), "unseen_pull": pull, "labels": None if bd is None else bd.to_dict()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="banking-9")
    p.add_argument("--model", default="1.5b", help="embedded task model")
    p.add_argument("--limit", type=int, default=None, help="at most this many stored texts")
    p.add_argument("--stored-only", action="store_true", help="only the table over stored runs (no model call)")
    p.add_argument("--tags", nargs="*", default=None, help="only these result files (the part of the name after "
                   "compare-<task>-, e.g. b300-s012-situation); default: all")
    args = p.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task(args.task)
    seen = {ex["label"] for ex in task.train}
    stored = stored_pull(args.task, seen)
    print("| stored runs' returned texts | runs | test mean | wrong test answers naming a label without training texts |")
    print("|---|---|---|---|")
    for name, g in stored.items():
        print(f"| {name} an examples section | {g['runs']} | {g['test']:.3f} | {g['pull']:.1f} |")
    if args.stored_only:
        return 0
    texts = stored_texts(args.task, args.tags)[: args.limit]
    if not texts:
        print(f"no stored gepetto run of {args.task} returned a text with an examples section")
        return 1
    rows: list[dict] = []
    started = time.monotonic()
    with served_system(task, args.model) as system:
        for item in texts:
            cut = split_example(item["text"])[0]
            row = {k: v for k, v in item.items()}
            for name, text in (("with", item["text"]), ("without", cut)):
                for split in ("val", "test"):
                    r = evaluate(system, text, list(getattr(task, split)), seen)
                    row[f"{name}_{split}"] = r["score"]
                    row[f"{name}_{split}_pull"] = r["unseen_pull"]
                    row[f"{name}_{split}_labels"] = r["labels"]
            rows.append(row)
            print({k: v for k, v in row.items() if not k.endswith("labels") and k != "text"}, flush=True)
    diff_test = [r["with_test"] - r["without_test"] for r in rows]
    diff_val = [r["with_val"] - r["without_val"] for r in rows]
    summary = {
        "texts": len(rows),
        "test_with": statistics.fmean(r["with_test"] for r in rows),
        "test_without": statistics.fmean(r["without_test"] for r in rows),
        "test_diff_mean": statistics.fmean(diff_test),
        "test_diff_sd": statistics.stdev(diff_test) if len(rows) > 1 else 0.0,
        "test_section_better": sum(d > 0 for d in diff_test), "test_section_worse": sum(d < 0 for d in diff_test),
        "val_diff_mean": statistics.fmean(diff_val),
        "test_pull_with": statistics.fmean(r["with_test_pull"] for r in rows),
        "test_pull_without": statistics.fmean(r["without_test_pull"] for r in rows),
    }
    print()
    print("| run | val with / without | test with / without | test answers naming a label without training texts, with / without |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['file'].removeprefix('compare-').removesuffix('.json')} {r['optimizer']} seed {r['seed']} | "
              f"{r['with_val']:.3f} / {r['without_val']:.3f} | {r['with_test']:.2f} / {r['without_test']:.2f} | "
              f"{r['with_test_pull']} / {r['without_test_pull']} |")
    print(summary)
    meta = {"date": time.strftime("%Y-%m-%d"), "task": args.task, "model": args.model, "commit": commit,
            "wall_s": time.monotonic() - started, "machine": f"{platform.machine()}",
            "command": "python benchmarks/section_pairs.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = RESULTS / f"section_pairs-{args.task}.json"
    out.write_text(json.dumps({"meta": meta, "stored_runs": stored, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
