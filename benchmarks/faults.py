"""Run survival under server faults: full optimizations at several fault rates.

Each run is the scenario of tests/faults (banking-9, 12 train / 8 val, budget 120, task
and reflection LMs on one fault-injecting OpenAI-compatible server on 127.0.0.1 that
plays a classifier and a reflection LM; see tests/faults/fault_server.py). At each rate
every request faults with that probability, the kind drawn uniformly from: HTTP 500,
503, 429 (Retry-After), timeout (the server sleeps past the client timeout), connection
dropped mid-response, empty body, garbage (non-JSON) body, JSON nested too deep to
parse, empty choices, empty content, finish_reason "length". The first eight are
retried by the client (max_retries=3); the last two come back as (bad) answers.
Fault schedules are seeded (a hash of seed, request content and repeat count), so every
row is reproducible.

    python benchmarks/faults.py [--rates 0 0.1 0.3 0.5] [--seeds 1 2 3]

Prints a table and writes benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.faults.fault_server import ALL_KINDS, FaultPlan  # noqa: E402
from tests.faults.scenario import clean_score, config, found_instruction, in_pool, run_scenario  # noqa: E402

SHORT = {
    "http500": "500", "http503": "503", "http429": "429", "timeout": "tmo", "drop": "drop", "empty_body": "empty",
    "garbage_json": "garb", "deep_json": "deep", "empty_choices": "nochoice", "empty_content": "nocontent",
    "length": "len",
}


def one(rate: float, seed: int) -> dict:
    outcome = run_scenario(FaultPlan(rate=rate, kinds=ALL_KINDS, seed=seed))
    result = outcome.result
    usage = outcome.usage
    return {
        "rate": rate,
        "seed": seed,
        "completed": outcome.error is None and result is not None and not result.stop_reason.startswith("systemic"),
        "error": repr(outcome.error) if outcome.error else None,
        "stop_reason": result.stop_reason if result else None,
        "requests": outcome.stats["requests"],
        "faults": outcome.stats["faults"],
        "faults_total": outcome.stats["faults_total"],
        "retryable_faults": outcome.stats["retryable_faults"],
        "retries": int(sum(role["retries"] for role in usage.values())),
        "lm_errors": int(sum(role["errors"] for role in usage.values())),
        "failed_rollouts": outcome.failed_rollouts,
        "rollouts_used": result.rollouts_used if result else None,
        "max_rollouts": result.max_rollouts if result else None,
        "seed_val": result.seed_score if result else None,
        "best_val": result.best_score if result else None,
        "found_instruction": found_instruction(result) if result else False,
        "best_clean_val": clean_score(result.best_candidate["classify"]) if result else None,
        "full_instruction_in_pool": in_pool(result) if result else False,
        "seconds": round(outcome.seconds, 2),
        "usage": usage,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "faults.json"))
    args = parser.parse_args()

    runs = [one(rate, seed) for rate in args.rates for seed in args.seeds]
    n = len(args.seeds)
    header = (f"{'rate':>5} {'requests':>8} {'faults':>6} {'retries':>7} {'lm err':>6} {'failed':>6} "
              f"{'done':>5} {'best val':>12} {'clean val':>12} {'in pool':>7} {'rollouts':>9} {'s/run':>6}  faults by kind")
    print(f"fault scenario: banking-9 12/8, budget {config().max_rollouts}, max_retries 3; {n} seeds per rate (sums, best val min..max)")
    print(header)
    print("-" * len(header))
    summary = []
    for rate in args.rates:
        rows = [r for r in runs if r["rate"] == rate]
        kinds: Counter = Counter()
        for r in rows:
            kinds.update(r["faults"])
        best = [r["best_val"] for r in rows if r["best_val"] is not None]
        line = {
            "rate": rate,
            "requests": sum(r["requests"] for r in rows),
            "faults": sum(r["faults_total"] for r in rows),
            "retries": sum(r["retries"] for r in rows),
            "lm_errors": sum(r["lm_errors"] for r in rows),
            "failed_rollouts": sum(r["failed_rollouts"] for r in rows),
            "completed": sum(r["completed"] for r in rows),
            "found": sum(r["found_instruction"] for r in rows),
            "in_pool": sum(r["full_instruction_in_pool"] for r in rows),
            "clean_val_min": min((r["best_clean_val"] for r in rows if r["best_clean_val"] is not None), default=None),
            "clean_val_max": max((r["best_clean_val"] for r in rows if r["best_clean_val"] is not None), default=None),
            "best_val_min": min(best) if best else None,
            "best_val_max": max(best) if best else None,
            "rollouts_max": max((r["rollouts_used"] or 0) for r in rows),
            "seconds_mean": round(sum(r["seconds"] for r in rows) / len(rows), 2),
            "faults_by_kind": {k: kinds[k] for k in ALL_KINDS if kinds[k]},
        }
        summary.append(line)
        by_kind = " ".join(f"{SHORT[k]}:{v}" for k, v in line["faults_by_kind"].items()) or "-"
        best_text = f"{line['best_val_min']:.3f}..{line['best_val_max']:.3f}" if best else "-"
        clean_text = f"{line['clean_val_min']:.3f}..{line['clean_val_max']:.3f}" if best else "-"
        print(f"{rate:>5.0%} {line['requests']:>8} {line['faults']:>6} {line['retries']:>7} {line['lm_errors']:>6} "
              f"{line['failed_rollouts']:>6} {line['completed']:>2}/{n:<2} {best_text:>12} {clean_text:>12} "
              f"{line['in_pool']:>4}/{n:<2} {line['rollouts_max']:>5}/{config().max_rollouts:<3} {line['seconds_mean']:>6}  {by_kind}")
    print("\nrequests/faults/retries: summed over seeds; lm err: calls failed after every retry; failed: rollouts scored"
          "\nas failures (task calls that failed for good); best val: as measured in the run (empty/cut-off answers count"
          "\nas wrong); clean val: the returned instruction on a fault-free server; in pool: runs whose pool holds the"
          "\ninstruction that is right on every validation query; rollouts: max used / budget.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "summary": summary, "runs": runs}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
