"""What a demonstrations section is worth, on its own, before any search.

``reflection.demonstrations`` appends the one section built from training inputs on
purpose (see ``gepetto/proposers/edits.py``). This script isolates its effect on fixed
instructions, scored on the test split with the embedded task model:

* banking-9: the seed, the seed with the examples section the proposer builds (one
  training input per label; ``--draws`` re-asks, i.e. each label's next inputs), the
  hand-written definition list of ``definition_sets.py``, and that list with the section;
  every section is also scored laid out differently (the same examples in
  training-set order, with ``Answer: <label>`` lines, and both): few-shot layout matters;
* ``--dev``: the same on two other nine-intent groups of BANKING77 (top-up, transfer),
  where choosing a layout does not fit banking-9's reported test numbers;
* ``--per-label 1 2 3``: instead of the layouts, the seed with k training inputs per label
  (``reflection.demonstrations_per_label``), on banking-9 and each ``--dev`` group;
* a BIG-Bench Hard task (``--bbh``, default object_counting): the seed, the seed with a
  task-agnostic "work step by step" line, and ``--draws`` worked examples written by the
  reflection model through the proposer (a different training input each), each checked
  by code as in a run.

The sections are built by the product's own proposer, so the numbers say what the edit
itself can give; whether a run finds and keeps it is ``compare.py``'s question.

    python benchmarks/demonstrations.py [--draws 2] [--bbh object_counting] [--skip-banking] [--skip-bbh]
                                        [--dev top-up transfer] [--per-label 1 2 3]

Prints a table and writes benchmarks/results/demonstrations.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from definition_sets import HAND_WRITTEN  # noqa: E402

from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.core.config import ReflectionConfig  # noqa: E402
from gepetto.lm import make_lm  # noqa: E402
from gepetto.lm.embedded import start_embedded  # noqa: E402
from gepetto.proposers.edits import EditProposer  # noqa: E402
from gepetto.systems.adapter import ModuleRecord, mean_score  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402
from gepetto.tasks.banking import DEV_GROUPS  # noqa: E402  (the top-up and transfer groups)

STEPWISE = " Work it out step by step, one numbered step per line, before the final answer line."


def test_score(system, text: str, task) -> float:  # noqa: ANN001
    return mean_score(system, Candidate({system.module: text}), list(task.test))


def banking_setup(lm, group: str | None):  # noqa: ANN001, ANN201
    """banking-9 (``group`` None) or a dev group: the task, its system, and the records a
    proposer reads — one correct and one wrong: the answer form (a bare label) and a
    failure to act on."""
    if group is None:
        task = get_task("banking-9")
    else:
        task = get_task(f"banking-{group}")
    system = task.make_system(lm)
    first, second = task.train[0], task.train[1]
    records = [ModuleRecord(system.module, {"input": first["text"]}, first["label"], "", 1.0, first["label"]),
               ModuleRecord(system.module, {"input": second["text"]}, "none", "", 0.0, second["label"])]
    return task, system, records


def banking_rows(lm, draws: int, layouts: bool = True, group: str | None = None) -> list[dict]:  # noqa: ANN001
    task, system, records = banking_setup(lm, group)
    # the section as measured here (input, then its label); the product's default is now label first
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="section"), labels=list(system.labels))
    proposer.prime(system.labelled_inputs(task.train))
    rows = []
    bases = [("seed", system.seed_instruction)] + ([("hand-written", HAND_WRITTEN)] if group is None else [])
    for name, base in bases:
        rows.append({"task": task.name, "instruction": name, "test": test_score(system, base, task)})
        print(rows[-1], flush=True)
        proposer._definition_sets[system.module] = 1  # the examples come after the first set
        proposer._worked.clear()
        for draw in range(draws):
            proposal = proposer.propose(Candidate({system.module: base}), system.module, records,
                                        rng=random.Random(draw), iteration=draw + 1)
            if proposal.text is None:
                rows.append({"task": task.name, "instruction": f"{name} + examples {draw}", "refused": proposal.attempts[-1].refusal})
                continue
            rows.append({"task": task.name, "instruction": f"{name} + examples {draw}", "test": test_score(system, proposal.text, task),
                         "text": proposal.text})
            print({k: v for k, v in rows[-1].items() if k != "text"}, flush=True)
            if layouts:
                # the same examples laid out differently: in training-set order, with "Answer: " lines, both
                variants = (("training order", reorder(proposal.text, task)), ('"Answer:" lines', answer_lines(proposal.text)),
                            ('training order, "Answer:" lines', answer_lines(reorder(proposal.text, task))))
                for layout, text in variants:
                    rows.append({"task": task.name, "instruction": f"{name} + examples {draw}, {layout}",
                                 "test": test_score(system, text, task), "text": text})
                    print({k: v for k, v in rows[-1].items() if k != "text"}, flush=True)
    return rows


def per_label_rows(lm, ks: list[int], group: str | None = None, draws: int = 1) -> list[dict]:  # noqa: ANN001
    """The seed with examples sections of ``k`` training inputs per label, as the proposer
    builds them with ``reflection.demonstrations_per_label: k`` (banking-9, or a dev group)."""
    task, system, records = banking_setup(lm, group)
    rows = []
    for k in ks:
        proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="section", demonstrations_per_label=k), labels=list(system.labels))
        proposer.prime(system.labelled_inputs(task.train))
        proposer._definition_sets[system.module] = 1  # the examples come after the first set
        for draw in range(draws):
            proposal = proposer.propose(Candidate({system.module: system.seed_instruction}), system.module, records,
                                        rng=random.Random(draw), iteration=draw + 1)
            name = f"seed + {k} per label" + (f", draw {draw}" if draws > 1 else "")
            if proposal.text is None:
                rows.append({"task": task.name, "instruction": name, "refused": proposal.attempts[-1].refusal})
                continue
            rows.append({"task": task.name, "instruction": name, "per_label": k,
                         "test": test_score(system, proposal.text, task), "text": proposal.text})
            print({key: v for key, v in rows[-1].items() if key != "text"}, flush=True)
    return rows


def _pairs(text: str) -> tuple[str, list[tuple[str, str]]]:
    head, block = text.split("\n\nExamples:\n")
    lines = block.splitlines()
    return head, [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def reorder(text: str, task) -> str:  # noqa: ANN001
    head, pairs = _pairs(text)
    order = [f"Input: {ex['text']}" for ex in task.train]
    pairs.sort(key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order))
    return head + "\n\nExamples:\n" + "\n".join(f"{q}\n{a}" for q, a in pairs)


def answer_lines(text: str) -> str:
    head, pairs = _pairs(text)
    return head + "\n\nExamples:\n" + "\n".join(f"{q}\nAnswer: {a}" for q, a in pairs)


def bbh_rows(lm, name: str, draws: int) -> list[dict]:  # noqa: ANN001
    task = get_task(f"bbh-{name}")
    system = task.make_system(lm)
    seed = system.seed_instruction
    rows = [{"task": name, "instruction": "seed", "test": test_score(system, seed, task)}]
    print(rows[-1], flush=True)
    rows.append({"task": name, "instruction": "seed + step-by-step line", "test": test_score(system, seed + STEPWISE, task)})
    print(rows[-1], flush=True)
    # the training replies of the seed give the answer form and the failures, as in a run
    results = system.evaluate(Candidate({system.module: seed}), list(task.train), capture_traces=True)
    records = [rec for r in results for rec in r.records]
    wrong = [r for r in records if (r.score or 0.0) < 1.0]
    right = [r for r in records if (r.score or 0.0) >= 1.0]
    proposer = EditProposer(lm, ReflectionConfig(), use_grammar=True)
    proposer._described[system.module] = 2  # straight to the worked example
    for draw in range(draws):
        batch = right[:1] + wrong[draw * 3 : draw * 3 + 3]  # a different wrong input each draw
        proposal = proposer.propose(Candidate({system.module: seed}), system.module, batch, rng=random.Random(draw), iteration=draw + 1)
        label = f"seed + worked example {draw}"
        if proposal.text is None:
            rows.append({"task": name, "instruction": label, "refused": [a.refusal for a in proposal.attempts]})
        else:
            rows.append({"task": name, "instruction": label, "test": test_score(system, proposal.text, task), "text": proposal.text})
        print({k: v for k, v in rows[-1].items() if k != "text"}, flush=True)
        proposer._worked.clear()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--draws", type=int, default=2, help="examples sections / worked examples per base instruction")
    p.add_argument("--bbh", default="object_counting", help="BIG-Bench Hard task for the worked example")
    p.add_argument("--model", default="1.5b", help="embedded model: task and reflection")
    p.add_argument("--skip-banking", action="store_true")
    p.add_argument("--skip-bbh", action="store_true")
    p.add_argument("--per-label", type=int, nargs="*", default=[],
                   help="instead of the layouts: the seed with k training inputs per label, for each k given "
                        "(banking-9 unless --skip-banking, and each --dev group)")
    p.add_argument("--dev", nargs="*", default=[], choices=sorted(DEV_GROUPS),
                   help="also score the banking layouts on these other nine-intent groups of BANKING77")
    p.add_argument("--out", default="demonstrations.json", help="file name under benchmarks/results/")
    args = p.parse_args(argv)
    if any(not 1 <= k <= 8 for k in args.per_label):
        p.error("--per-label takes numbers from 1 to 8 (reflection.demonstrations_per_label's range)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    started = time.monotonic()
    rows: list[dict] = []
    with start_embedded(args.model) as server:
        lm = make_lm(base_url=server.base_url, model=server.model, cache=False, timeout_s=300)
        groups = ([None] if not args.skip_banking else []) + list(args.dev)
        for group in groups:
            if args.per_label:
                rows += per_label_rows(lm, args.per_label, group=group, draws=args.draws)
            else:
                rows += banking_rows(lm, args.draws, group=group)
        if not args.skip_bbh:
            rows += bbh_rows(lm, args.bbh, args.draws)
    print()
    print("| task | instruction | test |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['instruction']} | {r['test']:.3f} |" if "test" in r else
              f"| {r['task']} | {r['instruction']} | refused: {r['refused']} |")
    meta = {"date": time.strftime("%Y-%m-%d"), "model": args.model, "draws": args.draws, "bbh": args.bbh,
            "wall_s": time.monotonic() - started, "commit": commit, "machine": platform.machine()}
    out = ROOT / "benchmarks" / "results" / args.out
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
