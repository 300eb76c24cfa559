"""Evaluation throughput: gepetto's rollouts/s against the server's own saturated requests/s.

One evaluation batch (banking-9's 100 test queries with the seed instruction) is sent to
the embedded model server twice over, alternating:

* a plain client: ``--clients`` threads posting the chat requests with httpx, nothing else;
* gepetto: ``PromptSystem.evaluate`` through the full LM stack (client, retries,
  accounting), response cache off, at the same concurrency.

The ratio gepetto / plain is the figure: how much of what the server can do the
evaluation path actually gets. Rounds alternate so that server warm-up and prompt-cache
effects fall on both sides equally.

    python benchmarks/throughput.py [--model 0.5b] [--clients 4] [--rounds 2]

Prints a table and writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.lm import UsageTracker, make_lm  # noqa: E402
from gepetto.lm.embedded import start_embedded  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402


def plain(base_url: str, model: str, requests: list[list[dict[str, str]]], clients: int, max_tokens: int) -> float:
    """Requests/s of bare httpx threads: the server's saturated rate for this batch."""
    with httpx.Client(timeout=300) as client:
        def post(messages: list[dict[str, str]]) -> None:
            r = client.post(f"{base_url}/chat/completions",
                            json={"model": model, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens})
            r.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, requests))
        return len(requests) / (time.perf_counter() - started)


def ours(system, examples, clients: int) -> float:  # noqa: ANN001
    system.concurrency = clients
    started = time.perf_counter()
    results = system.evaluate(Candidate(system.seed_candidate), examples)
    elapsed = time.perf_counter() - started
    failed = sum(1 for r in results if r.error)
    if failed:
        raise RuntimeError(f"{failed} rollouts failed; the measurement would be meaningless")
    return len(results) / elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="0.5b")
    p.add_argument("--clients", type=int, default=4, help="concurrent requests (the server has 4 slots)")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    task = get_task("banking-9")
    examples = list(task.test)
    rows = []
    with start_embedded(args.model) as server:
        lm = make_lm(base_url=server.base_url, model=server.model, cache=False, role="task", tracker=UsageTracker(),
                     max_concurrency=args.clients)
        system = task.make_system(lm)
        requests = [system.messages(system.seed_instruction, ex) for ex in examples]
        plain(server.base_url, server.model, requests[:8], args.clients, system.max_tokens)  # warm-up
        for round_ in range(args.rounds):
            a = plain(server.base_url, server.model, requests, args.clients, system.max_tokens)
            b = ours(system, examples, args.clients)
            rows.append({"round": round_, "plain_rps": a, "gepetto_rps": b, "ratio": b / a})
            print(f"round {round_}: plain {a:.2f} req/s, gepetto {b:.2f} rollouts/s, ratio {b / a:.2f}", flush=True)
    summary = {
        "model": args.model, "clients": args.clients, "batch": len(examples),
        "plain_rps": statistics.fmean(r["plain_rps"] for r in rows),
        "gepetto_rps": statistics.fmean(r["gepetto_rps"] for r in rows),
        "ratio": statistics.fmean(r["ratio"] for r in rows),
        "rounds": rows, "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
    }
    print()
    print("| model | clients | batch | plain client req/s | gepetto rollouts/s | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.model} | {args.clients} | {len(examples)} | {summary['plain_rps']:.2f} | {summary['gepetto_rps']:.2f} | {summary['ratio']:.2f} |")
    out = ROOT / "benchmarks" / "results" / "throughput.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
