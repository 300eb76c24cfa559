"""Where a classifier's demonstrations go: the same examples in other places of the same text.

`section_pairs.py` measures what the ``Examples:`` section does to the texts runs returned.
This script keeps each text's own definitions and its own examples and only moves the
examples, so a layout can be chosen on data a run's report never shows as test:

* ``after`` — the section as gepetto builds it, last, after the definitions;
* ``none`` — the section cut off;
* ``before`` — the same section placed before the definitions, so the definitions are
  the last thing the task model reads before the query;
* ``inline`` — no separate section: each label's example quoted at the end of its own
  definition line (``- card_arrival: … Example: "Can I track …"``), so every label's
  definition and example sit together and a label without an example still has its line
  in the same list.
* ``labelled`` — the section kept last, but each example written label first
  (``card_arrival: "Can I track …"``), so it no longer mimics the task's own
  input-then-answer turn;
* ``labelled-all`` — ``labelled`` plus a ``label: (no example)`` line for every defined
  label the section has no example of. Why these two: on banking-9 the section sends
  queries unlike every example to the one label it never shows (``card_payment_declined``);
  ``labelled-all`` names every label in the section, ``labelled`` only changes the form, so
  the pair tells which of the two draws the pull.

Default splits: validation and the task's held-out rows (rows of the training file beyond
the protocol's train and validation), not test.

    python benchmarks/section_layouts.py [--task banking-9] [--tags b300-s012-situation ...] [--splits val holdout]

Prints a table and writes benchmarks/results/section_layouts-<task>.json.
"""

from __future__ import annotations

import argparse
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

from section_pairs import RESULTS, evaluate, served_system, stored_texts  # noqa: E402

from gepetto.proposers.edits import DEFINITIONS_HEADER, _sentence, join_sections, split_example, split_sections  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402

LAYOUTS = ("after", "none", "before", "inline", "labelled", "labelled-all")


def examples_of(block: str) -> list[tuple[str, str]]:
    """(input, answer line) pairs of an ``Examples:`` block as gepetto writes it."""
    lines = [line for line in block.splitlines()[1:] if line.strip()]
    pairs: list[tuple[str, str]] = []
    for i in range(0, len(lines) - 1, 2):
        if lines[i].startswith("Input: "):
            pairs.append((lines[i].removeprefix("Input: ").strip(), lines[i + 1].strip()))
    return pairs


def layout(text: str, name: str) -> str:
    """``text`` (definitions, then an examples section) with its examples placed as ``name`` says."""
    rest, block = split_example(text)
    if name == "after" or not block:
        return text
    if name == "none":
        return rest
    body, definitions, rules = split_sections(rest)
    if name == "before":
        defs_and_rules = join_sections("", definitions, rules).strip()
        return "\n\n".join(part for part in (body.rstrip(), block.strip(), defs_and_rules) if part)
    if name == "inline":
        first: dict[str, str] = {}
        for query, answer in examples_of(block):
            first.setdefault(answer, query)
        inlined = {label: (f'{_sentence(line)} Example: "{first[label]}"' if label in first else line)
                   for label, line in definitions.items()}
        return join_sections(body, inlined, rules)
    if name in ("labelled", "labelled-all"):
        pairs = examples_of(block)
        lines = [block.splitlines()[0]] + [f'{answer}: "{query}"' for query, answer in pairs]
        if name == "labelled-all":
            shown = {answer for _, answer in pairs}
            lines += [f"{label}: (no example)" for label in definitions if label not in shown]
        return rest.rstrip() + "\n\n" + "\n".join(lines)
    raise ValueError(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="banking-9")
    p.add_argument("--model", default="1.5b", help="embedded task model")
    p.add_argument("--tags", nargs="*", default=None, help="only these result files (see section_pairs.py)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--splits", nargs="+", default=["val", "holdout"], choices=["train", "val", "holdout", "test"])
    p.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    args = p.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task(args.task)
    texts = [t for t in stored_texts(args.task, args.tags) if DEFINITIONS_HEADER in t["text"]][: args.limit]
    if not texts:
        print(f"no stored gepetto run of {args.task} returned definitions with an examples section")
        return 1
    examples = [ex for split in args.splits for ex in getattr(task, split)]
    seen = {ex["label"] for ex in task.train}
    rows: list[dict] = []
    started = time.monotonic()
    with served_system(task, args.model) as system:
        for item in texts:
            row = {k: v for k, v in item.items() if k != "text"}
            for name in args.layouts:
                r = evaluate(system, layout(item["text"], name), examples, seen)
                row[name], row[f"{name}_pull"] = r["score"], r["unseen_pull"]
            rows.append(row)
            print(row, flush=True)
    summary = {name: statistics.fmean(r[name] for r in rows) for name in args.layouts}
    summary.update({f"{name}_pull": statistics.fmean(r[f"{name}_pull"] for r in rows) for name in args.layouts})
    print()
    print(f"| run | {' | '.join(args.layouts)} | ({len(examples)} examples: {' + '.join(args.splits)})")
    print("|---|" + "---|" * len(args.layouts))
    for r in rows:
        cells = " | ".join(f"{r[n]:.3f} ({r[n + '_pull']})" for n in args.layouts)
        print(f"| {r['file'].removeprefix('compare-').removesuffix('.json')} seed {r['seed']} | {cells} |")
    print("| mean | " + " | ".join(f"{summary[n]:.3f} ({summary[n + '_pull']:.1f})" for n in args.layouts) + " |")
    meta = {"date": time.strftime("%Y-%m-%d"), "task": args.task, "model": args.model, "commit": commit, "splits": args.splits,
            "n_examples": len(examples), "wall_s": time.monotonic() - started, "machine": platform.machine(),
            "command": "python benchmarks/section_layouts.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = RESULTS / f"section_layouts-{args.task}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
