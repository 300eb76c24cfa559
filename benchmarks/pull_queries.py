"""Which queries a classifier's text sends to the labels no training example shows.

`section_pairs.py` counts, per stored text, the wrong answers that name a label without
training texts (banking-9: ``card_payment_declined``, the distractor, and ``card_swallowed``)
with and without the ``Examples:`` section. This script lists those queries, so one can read
whether the pulled answers are plain mistakes or queries whose gold label is itself arguable
(BANKING77 files some declined *card purchases* under ``declined_transfer``).

For each stored text (``--tags`` as in section_pairs.py) it scores the split as returned and
with the examples section cut off, and prints every query either version answered with such a
label, with its gold label and both answers.

    python benchmarks/pull_queries.py [--task banking-9] [--tags b300-s012-sameday] [--split test]

Prints a table and writes benchmarks/results/pull_queries-<task>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from section_pairs import RESULTS, served_system, stored_texts  # noqa: E402

from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.proposers.edits import split_example  # noqa: E402
from gepetto.systems.breakdown import NO_LABEL, SEVERAL_LABELS  # noqa: E402
from gepetto.systems.metrics import LabelMetric  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402


def answered(metric: LabelMetric, reply: object) -> str:
    """The one label a reply names, or the per-label breakdown's marker for none / several."""
    found = metric.parse(str(reply or ""))
    return found[0] if len(found) == 1 else (NO_LABEL if not found else SEVERAL_LABELS)


def wrongly_unseen(answer: str, gold: str, unseen: set[str]) -> bool:
    """A wrong answer naming a label in ``unseen`` (a right ``card_swallowed`` is no pull)."""
    return answer in unseen and answer != gold


def pulled(rows: list[dict], unseen: set[str]) -> list[dict]:
    """The rows (query, gold, with, without) where either answer wrongly names a label in ``unseen``."""
    return [r for r in rows if wrongly_unseen(r["with"], r["gold"], unseen) or wrongly_unseen(r["without"], r["gold"], unseen)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="banking-9")
    p.add_argument("--model", default="1.5b", help="embedded task model")
    p.add_argument("--tags", nargs="*", default=None, help="only these result files (see section_pairs.py)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--split", default="test", choices=["train", "val", "holdout", "test"])
    args = p.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task(args.task)
    texts = stored_texts(args.task, args.tags)[: args.limit]
    if not texts:
        print(f"no stored gepetto run of {args.task} returned a text with an examples section")
        return 1
    examples = list(getattr(task, args.split))
    seen = {ex["label"] for ex in task.train}
    out: list[dict] = []
    started = time.monotonic()
    with served_system(task, args.model) as system:
        metric = LabelMetric(list(system.labels))
        unseen = {label for label in system.labels if label not in seen}
        for item in texts:
            with_section = system.evaluate(Candidate({system.module: item["text"]}), examples)
            without = system.evaluate(Candidate({system.module: split_example(item["text"])[0]}), examples)
            rows = [{"query": ex["text"], "gold": ex["label"], "with": answered(metric, a.output),
                     "without": answered(metric, b.output)} for ex, a, b in zip(examples, with_section, without)]
            hits = pulled(rows, unseen)
            out.append({"file": item["file"], "optimizer": item["optimizer"], "seed": item["seed"], "pulled": hits,
                        "with_score": sum(r["with"] == r["gold"] for r in rows) / len(rows),
                        "without_score": sum(r["without"] == r["gold"] for r in rows) / len(rows)})
            print(f"\n{item['file']} {item['optimizer']} seed {item['seed']}: {args.split} {out[-1]['with_score']:.2f} with the section, "
                  f"{out[-1]['without_score']:.2f} without", flush=True)
            print("| gold | with the section | without | query |")
            print("|---|---|---|---|")
            for r in hits:
                print(f"| {r['gold']} | {r['with']} | {r['without']} | {r['query']} |")
    queries = Counter(r["query"] for t in out for r in t["pulled"] if wrongly_unseen(r["with"], r["gold"], unseen))
    print(f"\nqueries pulled with the section, by how many of the {len(out)} texts pulled them:")
    for query, n in queries.most_common():
        print(f"  {n}  {query}")
    meta = {"date": time.strftime("%Y-%m-%d"), "task": args.task, "model": args.model, "commit": commit, "split": args.split,
            "wall_s": time.monotonic() - started, "machine": platform.machine(),
            "command": "python benchmarks/pull_queries.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    path = RESULTS / f"pull_queries-{args.task}.json"
    path.write_text(json.dumps({"meta": meta, "texts": out, "pulled_with_section": queries.most_common()}, indent=1))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
