"""Engine bookkeeping cost per iteration: score-table/front update + parent selection.

Grows a pool to N candidates over M validation instances the way a run does (one new,
fully scored candidate per iteration), and times each iteration's bookkeeping: writing
the new row (incremental leader update) and drawing a parent with the Pareto selector.
For comparison it also times a from-scratch Algorithm 2 (`pareto_front`) at full size.
Score kinds: continuous (every candidate leads a few instances), binary (0/1 metric;
hundreds of leaders per instance), and "gepa-like" (0/1, children copy most of a
parent's answers and change a few, as real GEPA pools do).

    python benchmarks/bookkeeping.py [--candidates 1000] [--instances 10000]

Prints a table and writes benchmarks/results/bookkeeping.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

import numpy as np

from gepetto.core.pareto import ScoreTable, pareto_front
from gepetto.core.selection import ParetoSelector


def make_rows(kind: str, n: int, m: int, gen: np.random.Generator) -> np.ndarray:
    if kind == "continuous":
        return gen.random((n, m))
    if kind == "binary":
        return (gen.random((n, m)) < 0.5).astype(float)
    rows = np.empty((n, m))
    rows[0] = (gen.random(m) < 0.5).astype(float)
    for i in range(1, n):
        parent = rows[gen.integers(0, i)]
        child = parent.copy()
        flips = gen.integers(0, m, size=max(1, m // 50))
        child[flips] = (gen.random(flips.size) < 0.55).astype(float)
        rows[i] = child
    return rows


def run(kind: str, n: int, m: int, seed: int = 0) -> dict[str, float | str | int]:
    gen = np.random.default_rng(seed)
    rows = make_rows(kind, n, m, gen)
    table = ScoreTable(m)
    selector = ParetoSelector()
    rng = random.Random(seed)
    columns = np.arange(m)
    per_iter: list[float] = []
    for i in range(n):
        start = time.perf_counter()
        table.add_row()
        table.set_row(i, columns, rows[i])
        eligible = np.ones(i + 1, dtype=bool)
        selector.select(table, eligible, rng)
        per_iter.append(time.perf_counter() - start)
    last = np.array(per_iter[-100:]) * 1000
    start = time.perf_counter()
    front = pareto_front(rows)
    scratch = (time.perf_counter() - start) * 1000
    return {
        "kind": kind, "candidates": n, "instances": m,
        "ms_per_iteration_mean_last100": float(last.mean()),
        "ms_per_iteration_p95_last100": float(np.percentile(last, 95)),
        "ms_per_iteration_max_last100": float(last.max()),
        "ms_from_scratch_front": scratch, "front_size": len(front.members),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=10000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bookkeeping.json"))
    args = parser.parse_args()
    results = [run(kind, args.candidates, args.instances) for kind in ("gepa-like", "continuous", "binary")]
    print(f"{'scores':<11} {'cands':>6} {'insts':>6} {'ms/iter mean':>13} {'p95':>7} {'max':>7} {'from-scratch ms':>16} {'front':>6}")
    for r in results:
        print(f"{r['kind']:<11} {r['candidates']:>6} {r['instances']:>6} {r['ms_per_iteration_mean_last100']:>13.2f} "
              f"{r['ms_per_iteration_p95_last100']:>7.2f} {r['ms_per_iteration_max_last100']:>7.2f} "
              f"{r['ms_from_scratch_front']:>16.1f} {r['front_size']:>6}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "numpy": np.__version__, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
