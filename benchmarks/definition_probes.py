"""Two cheap probes on fixed banking-9 definition sets: do code-level moves add to them?

The sets are the ones earlier measurements wrote (``definition_sets-unseen.json``: four
sampled sets; ``compare-banking-9-b300-s012-combined.json``: the best text of each
gepetto run), so the probes cost only test-set scoring, no reflection call.

* ``union``: for every pair of sets (and all of them), one text whose definition of each
  label joins the pair's lines. Asks whether crossing definition sets in code (a
  per-label merge) beats the sets it comes from.
* ``examples``: every set (and the hand-written list) with 0-3 training inputs per label
  appended as an examples section in training order. Asks whether demonstrations add to a
  definition set once it exists.

    python benchmarks/definition_probes.py union|examples [--model 1.5b]

Prints a table and writes benchmarks/results/definition_probes-<probe>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from definition_sets import HAND_WRITTEN  # noqa: E402
from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.lm import make_lm  # noqa: E402
from gepetto.lm.embedded import start_embedded  # noqa: E402
from gepetto.systems.adapter import mean_score  # noqa: E402
from gepetto.proposers.edits import LABELLED_HEADER, join_example, join_sections, split_example, split_sections  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def stored_sets() -> dict[str, str]:
    """name -> instruction (without any examples section) of the stored sets and runs."""
    out: dict[str, str] = {}
    for row in json.loads((RESULTS / "definition_sets-unseen.json").read_text())["rows"]:
        if row["name"].startswith("set") and "text" in row:
            out[row["name"]] = split_example(row["text"])[0]
    for row in json.loads((RESULTS / "compare-banking-9-b300-s012-combined.json").read_text())["rows"]:
        if row["optimizer"] == "gepetto":
            out[f"run seed {row['seed']}"] = split_example(row["best_instruction"]["classify"])[0]
    return out


def union(texts: list[str]) -> str:
    """One text whose definition of each label joins the texts' lines (distinct ones, in order)."""
    parsed = [split_sections(t) for t in texts]
    body = parsed[0][0]
    definitions: dict[str, str] = {}
    for label in parsed[0][1]:
        parts: list[str] = []
        for _, defs, _ in parsed:
            line = defs.get(label)
            if line and line.rstrip(".") + "." not in parts:
                parts.append(line.rstrip(".") + ".")
        definitions[label] = " ".join(parts)
    return join_sections(body, definitions, [])


def examples_block(by_label: dict[str, list[str]], order: list[str], per_label: int) -> str:
    lines = [LABELLED_HEADER]
    for r in range(per_label):
        for label in order:
            if r < len(by_label[label]):
                lines += [f"Input: {by_label[label][r]}", label]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("probe", choices=("union", "examples"))
    p.add_argument("--model", default="1.5b")
    args = p.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task("banking-9")
    sets = stored_sets()
    started = time.monotonic()
    rows: list[dict] = []
    with start_embedded(args.model) as server:
        lm = make_lm(base_url=server.base_url, model=server.model, cache=True, timeout_s=300)
        system = task.make_system(lm)

        def test(text: str) -> float:
            return mean_score(system, Candidate({system.module: text}), task.test)

        if args.probe == "union":
            sampled = [name for name in sets if name.startswith("set")]
            single = {name: test(sets[name]) for name in sampled}
            for size in (2, len(sampled)):
                for group in itertools.combinations(sampled, size):
                    rows.append({
                        "sets": list(group), "union": test(union([sets[n] for n in group])),
                        "mean_of_sets": statistics.fmean(single[n] for n in group), "best_of_sets": max(single[n] for n in group),
                    })
                    print(rows[-1], flush=True)
            print("\n| sets | test of the union | mean of the sets | best of the sets |\n|---|---|---|---|")
            for r in rows:
                print(f"| {' + '.join(r['sets'])} | {r['union']:.2f} | {r['mean_of_sets']:.3f} | {r['best_of_sets']:.2f} |")
            pairs = [r for r in rows if len(r["sets"]) == 2]
            summary = {"pairs": len(pairs), "union_mean": statistics.fmean(r["union"] for r in pairs),
                       "sets_mean": statistics.fmean(r["mean_of_sets"] for r in pairs)}
        else:
            by_label: dict[str, list[str]] = {}
            for ex in task.train:
                by_label.setdefault(ex["label"], []).append(ex["text"])
            order = [label for label in system.labels if label in by_label]
            for name, text in {"hand-written": HAND_WRITTEN, **sets}.items():
                scores = [test(text if k == 0 else join_example(text, examples_block(by_label, order, k))) for k in range(4)]
                rows.append({"set": name, "test_by_examples_per_label": scores})
                print(rows[-1], flush=True)
            print("\n| set | no examples | 1 per label | 2 per label | 3 per label |\n|---|---|---|---|---|")
            for r in rows:
                print(f"| {r['set']} | " + " | ".join(f"{v:.2f}" for v in r["test_by_examples_per_label"]) + " |")
            sampled = [r for r in rows if r["set"] != "hand-written"]
            summary = {f"mean_{k}_per_label": statistics.fmean(r["test_by_examples_per_label"][k] for r in sampled) for k in range(4)}
    print(summary)
    meta = {"date": time.strftime("%Y-%m-%d"), "model": args.model, "probe": args.probe, "commit": commit,
            "wall_s": time.monotonic() - started, "machine": platform.machine()}
    out = RESULTS / f"definition_probes-{args.probe}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
