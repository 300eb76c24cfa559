"""Whether a classifier's text should end by restating how to answer.

A text gepetto returns for a classifier opens with the seed's instruction ("Classify ... into
one of these intents: ... Answer with the intent label only."), then the definitions list,
then (often) an ``Examples:`` section. The answer format is said once, hundreds of tokens
before the query; a small task model weighs the end of its prompt most. This script keeps
each stored text and only adds a closing line, so the effect is the line's alone:

* ``as-is`` — the text as the run returned it;
* ``format-last`` — the opening paragraph's last sentence (the seed's answer-format sentence)
  repeated as the text's last line;
* ``labels-last`` — a last line naming the label set: ``Answer with exactly one of: a, b, ...``.

Default splits: validation and the task's held-out rows (not test), each scored apart.

    python benchmarks/closing_line.py [--task banking-9] [--tags b300-s012 b300-s012-unseen] [--limit 6] [--splits val holdout]

Prints a table and writes benchmarks/results/closing_line-<task>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from section_pairs import RESULTS, _returned_texts, evaluate, served_system  # noqa: E402

from gepetto.proposers.edits import DEFINITIONS_HEADER  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402

VARIANTS = ("as-is", "format-last", "labels-last")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def closing(text: str, variant: str, labels: list[str]) -> str:
    """``text`` with the closing line ``variant`` names (``as-is``: unchanged)."""
    if variant == "as-is":
        return text
    if variant == "format-last":
        opening = text.strip().split("\n\n", 1)[0]
        last = _SENTENCE_END.split(opening.strip())[-1].strip()
        return f"{text.rstrip()}\n\n{last}"
    if variant == "labels-last":
        return f"{text.rstrip()}\n\nAnswer with exactly one of: {', '.join(labels)}."
    raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")


def texts_with_definitions(task: str, limit: int | None, tags: list[str] | None = None) -> list[dict]:
    """Stored gepetto texts of ``task`` that hold a definitions list, once each, in result-file
    order (``tags``: only these files, as in section_pairs.py)."""
    seen: set[str] = set()
    out: list[dict] = []
    for path, row, text in _returned_texts(task, tags):
        if text in seen or DEFINITIONS_HEADER not in text:
            continue
        seen.add(text)
        out.append({"file": path.name, "optimizer": row["optimizer"], "seed": row.get("seed"), "text": text,
                    "stored_test": row.get("best_test")})
    return out[:limit]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="banking-9")
    p.add_argument("--model", default="1.5b", help="embedded task model")
    p.add_argument("--limit", type=int, default=6, help="at most this many stored texts")
    p.add_argument("--tags", nargs="*", default=None, help="only these result files (the part of the name after "
                   "compare-<task>-, e.g. b300-s012-unseen); default: all")
    p.add_argument("--splits", nargs="+", default=["val", "holdout"], choices=["train", "val", "holdout", "test"])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task(args.task)
    texts = texts_with_definitions(args.task, args.limit, args.tags)
    if not texts:
        print(f"no stored gepetto run of {args.task} returned a definitions list")
        return 1
    seen = {ex["label"] for ex in task.train}
    rows: list[dict] = []
    started = time.monotonic()
    with served_system(task, args.model) as system:
        labels = list(system.labels)
        for item in texts:
            row = {k: v for k, v in item.items() if k != "text"}
            for split in args.splits:
                examples = list(getattr(task, split))
                for variant in args.variants:
                    r = evaluate(system, closing(item["text"], variant, labels), examples, seen)
                    row[f"{split}:{variant}"] = r["score"]
            rows.append(row)
            print(row, flush=True)
    keys = [f"{s}:{v}" for s in args.splits for v in args.variants]
    summary = {k: statistics.fmean(r[k] for r in rows) for k in keys}
    for split in args.splits:
        for variant in args.variants[1:]:
            diffs = [r[f"{split}:{variant}"] - r[f"{split}:{args.variants[0]}"] for r in rows]
            summary[f"{split}:{variant}:better"] = sum(d > 0 for d in diffs)
            summary[f"{split}:{variant}:worse"] = sum(d < 0 for d in diffs)
    print()
    print("| text | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['file'].removeprefix('compare-').removesuffix('.json')} seed {r['seed']} | "
              + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    print("| mean | " + " | ".join(f"{summary[k]:.3f}" for k in keys) + " |")
    meta = {"date": time.strftime("%Y-%m-%d"), "task": args.task, "model": args.model, "commit": commit, "splits": args.splits,
            "wall_s": time.monotonic() - started, "machine": platform.machine(),
            "command": "python benchmarks/closing_line.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = RESULTS / f"closing_line-{args.task}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
