"""``gepetto show RUN_DIR`` and ``gepetto runs [DIR]``: read-only views of run stores."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gepetto.store import DB_NAME, RunStore


def _load(run_dir: Path) -> dict[str, Any] | None:
    if not (run_dir / DB_NAME).exists():
        return None
    store = RunStore(run_dir)
    try:
        return store.export()
    finally:
        store.close()


def diff_text(seed: str, best: str) -> Text:
    """A word-level diff: removed words red and struck, added words green; whitespace
    (including line breaks) is kept as it is."""
    out = Text()
    a, b = re.findall(r"\S+|\s+", seed), re.findall(r"\S+|\s+", best)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append("".join(a[i1:i2]))
        if op in ("delete", "replace"):
            out.append("".join(a[i1:i2]), style="red strike")
        if op in ("insert", "replace"):
            out.append("".join(b[j1:j2]), style="green")
    return out


def show_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto show", description="Summarize a run: ranking, front, lineage, spend, best texts.")
    p.add_argument("run_dir")
    p.add_argument("--top", type=int, default=15, help="candidates to list (default 15)")
    args = p.parse_args(argv)
    # the same reading of the store (matrix, Pareto front, spend) as the HTML report
    from gepetto.report.data import ReportError, load_run

    try:
        data = load_run(args.run_dir)
    except ReportError as exc:
        print(f"gepetto: {exc}", file=sys.stderr)
        return 2
    console = Console()
    candidates = data.candidates
    if not candidates:
        console.print(f"{args.run_dir}: no candidate recorded yet")
        return 0
    front = set(data.front)
    console.print(f"[bold]{args.run_dir}[/bold]  status: {data.meta.get('status', '?')}  "
                  f"stop: {data.meta.get('stop_reason', '-')}  rollouts: {data.rollouts_used}/{data.max_rollouts or '?'}  "
                  f"candidates: {len(candidates)}")

    ranked = sorted((c for c in candidates if c.val_mean is not None), key=lambda c: (-(c.val_mean or 0.0), c.idx))
    table = Table(title="candidates by validation mean")
    for col in ("#", "val", "origin", "parents", "changed", "front", "made at rollout"):
        table.add_column(col)
    for c in ranked[: args.top]:
        table.add_row(str(c.idx), f"{c.val_mean:.3f}", c.origin, ",".join(map(str, c.parents)) or "-",
                      ",".join(c.changed_modules) or "-", "yes" if c.idx in front else "", str(c.rollouts))
    console.print(table)
    console.print(f"Pareto front: {sorted(front)}")

    lineage = Table(title="lineage (child <- parents)")
    lineage.add_column("candidate")
    lineage.add_column("path to the seed")
    for c in ranked[: min(args.top, 8)]:
        lineage.add_row(f"#{c.idx}", " <- ".join(f"#{i}" for i in reversed(data.lineage(c.idx))))
    console.print(lineage)

    counts: dict[str, int] = {}
    for prop in data.proposals:
        key = prop.status + (f" ({prop.reason.split(':')[0]})" if prop.status == "refused" and prop.reason else "")
        counts[key] = counts.get(key, 0) + 1
    console.print("proposals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    for role, u in data.lm_usage.items():
        console.print(f"LM {role}: {u['calls']} calls, {u['cache_hits']} cache hits, "
                      f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens")
    if data.test_scores:
        console.print(f"test: seed {data.test_scores['seed']:.3f} -> best {data.test_scores['best']:.3f}")

    best, seed = ranked[0], data.seed or candidates[0]
    console.print(f"\n[bold]best candidate #{best.idx}[/bold] (val {best.val_mean:.3f}) vs the seed:")
    for module, text in best.texts.items():
        console.print(f"[bold]--- {module} ---[/bold]")
        console.print(text)
        if text != seed.texts.get(module):
            console.print("[dim]diff against the seed:[/dim]")
            console.print(diff_text(seed.texts.get(module, ""), text))
    from gepetto.report.labels import stored_labels
    from gepetto.systems.breakdown import breakdown_table

    labels = stored_labels(args.run_dir, seed, best)
    if labels is not None:
        console.print("\n[bold]validation per label[/bold] (the stored replies, no model call):")
        table = breakdown_table(labels.seed, labels.best, names=("seed", f"#{labels.best_idx}"))
        console.print(table, markup=False, highlight=False)
    return 0


def runs_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto runs", description="List the runs under a directory.")
    p.add_argument("directory", nargs="?", default="runs")
    args = p.parse_args(argv)
    root = Path(args.directory)
    dirs = sorted({db.parent for db in root.glob(f"**/{DB_NAME}")}) if root.exists() else []
    if not dirs:
        print(f"no runs under {root}")
        return 0
    table = Table(title=f"runs under {root}")
    for col in ("run", "status", "stop", "candidates", "best val", "seed val", "created"):
        table.add_column(col)
    for run_dir in dirs:
        data = _load(run_dir)
        if data is None:
            continue
        meta, cands = data["meta"], data["candidates"]
        scored = [c["val_mean"] for c in cands if c["val_mean"] is not None]
        created = meta.get("created")
        table.add_row(
            str(run_dir.relative_to(root)) if run_dir != root else str(run_dir), meta.get("status", "?"),
            meta.get("stop_reason", "-"), str(len(cands)), f"{max(scored):.3f}" if scored else "-",
            f"{cands[0]['val_mean']:.3f}" if cands and cands[0]["val_mean"] is not None else "-",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(float(created))) if created else "-",
        )
    Console().print(table)
    return 0


def export_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto export", description="Export a run (candidates, lineage, scores, proposals) as JSON.")
    p.add_argument("run_dir")
    p.add_argument("-o", "--output", help="output file (default: RUN_DIR/export.json; '-' for stdout)")
    args = p.parse_args(argv)
    data = _load(Path(args.run_dir))
    if data is None:
        print(f"gepetto: {args.run_dir} has no {DB_NAME}; is it a run directory?", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if args.output == "-":
        print(text)
        return 0
    out = Path(args.output or Path(args.run_dir) / "export.json")
    out.write_text(text, encoding="utf-8")
    print(f"exported {len(data['candidates'])} candidates and {len(data['proposals'])} proposals to {out}")
    return 0


def tasks_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gepetto tasks", description="List the bundled tasks and their split sizes.")
    p.parse_args(argv)
    from gepetto.tasks import get_task, task_names

    table = Table(title="bundled tasks (use as `task: NAME` in a task file, or `gepetto demo --task NAME`)")
    for col in ("name", "train", "val", "test", "description"):
        table.add_column(col)
    for name in task_names():
        try:
            task = get_task(name)
        except ImportError as exc:  # a task whose checker lives in an extra
            table.add_row(name, "-", "-", "-", f"unavailable: {exc}")
            continue
        table.add_row(name, str(len(task.train)), str(len(task.val)), str(len(task.test)), task.description)
    Console().print(table)
    return 0
