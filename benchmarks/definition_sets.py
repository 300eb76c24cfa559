"""How much one label-definition set varies from sample to sample, and what validation sees of it.

The `edits` strategy's first edit on a classifier writes one definition per label from
training examples. On banking-9 that single edit is where most of a run's gain comes
from, so this script isolates it: it samples ``--samples`` complete definition sets from
the reflection model (the same proposer and prompts a run uses, fresh samples each), and
scores each one, the seed, and a hand-written definition list (one line per intent, what
a careful person would write) on the training, validation and test splits.

Read the result as: the spread of test scores across sets (what picking one set by luck
costs), and whether the validation score ranks the sets the way test does (whether
selection on 30 validation examples can recover it; see ``reflection.definition_sets``).

With ``--likelihood`` it also scores each instruction by the task model's mean
log-probability of the gold label (``gepetto.systems.likelihood``) on each split, and
compares selection rules over every group of ``--choose`` sets: pick the set with the best
validation accuracy, the best validation log-probability (what
``reflection.definition_choice: likelihood`` does), the best training log-probability, or
the best training + validation log-probability, and report the mean test accuracy each rule would get, against picking
at random.

``--contrast`` samples the sets with ``reflection.definition_contrast: nearest``;
``--unseen`` with ``reflection.define_unseen_labels`` (labels without a training example
defined from their names); ``--examples-per-label N`` shows N training texts per label
(the proposer's default is 4); ``--line-samples K`` sets ``reflection.definition_samples``
(each line the consensus of K samples; default: the config's); ``--examples spread``
sets ``reflection.definition_examples``; ``--distinct`` ``reflection.definition_distinct``; ``--temperature T``
``reflection.temperature`` for the lines (0: greedy, so every sample is the same set and one
is written); ``--holdout`` also scores the task's held-out rows (development data beside
validation, for choosing a setting without test); ``--task`` another bundled classifier.

    python benchmarks/definition_sets.py [--samples 4] [--model 1.5b] [--likelihood] [--choose 3] [--contrast] [--unseen] [--line-samples 1]

Prints a table and writes benchmarks/results/definition_sets.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.core.config import ReflectionConfig  # noqa: E402
from gepetto.lm import make_lm  # noqa: E402
from gepetto.lm.embedded import start_embedded  # noqa: E402
from gepetto.proposers.edits import EditProposer, join_sections, name_line, split_sections  # noqa: E402
from gepetto.systems.adapter import ModuleRecord, mean_score  # noqa: E402
from gepetto.systems.likelihood import answer_logprobs, mean_logprob  # noqa: E402
from gepetto.tasks import get_task  # noqa: E402
from gepetto.tasks.banking import BANKING9_LABELS, DISTRACTOR, seed_instruction  # noqa: E402

# Written by hand for banking-9 (not from its test queries): one line per intent that says
# what the customer asks about and where it borders on its neighbours.
HAND_WRITTEN = seed_instruction(list(BANKING9_LABELS) + [DISTRACTOR]) + """

Label definitions:
- card_arrival: the customer ordered a card and it has not arrived yet, or asks where their card is.
- card_delivery_estimate: the customer asks how long card delivery takes or when a new card will be delivered, before any delay.
- card_not_working: the card does not work, is not accepted or fails to pay, without a specific declined payment.
- lost_or_stolen_card: the customer lost their card or it was stolen.
- declined_transfer: a bank transfer (not a card payment) was declined or failed.
- activate_my_card: how to activate or start using a new card.
- card_swallowed: an ATM or cash machine kept (swallowed) the card.
- compromised_card: someone else may have used the card or card details; fraud or unknown charges suspected.
- pending_card_payment: a card payment shows as pending and has not gone through yet.
- card_payment_declined: a card payment in a shop or online was declined."""


SPLITS = ("train", "val", "test")


def score(system, text: str, task, likelihood: bool = False, holdout: bool = False) -> dict[str, float]:  # noqa: ANN001
    candidate = Candidate({system.module: text})
    splits = SPLITS + (("holdout",) if holdout and task.holdout else ())
    out = {split: mean_score(system, candidate, list(getattr(task, split))) for split in splits}
    if "holdout" in out:  # validation + held-out rows: the development score a setting is chosen by
        n_val, n_hold = len(task.val), len(task.holdout)
        out["dev"] = (out["val"] * n_val + out["holdout"] * n_hold) / (n_val + n_hold)
    if likelihood:
        for split in SPLITS:
            out[f"{split}_logp"] = mean_logprob(answer_logprobs(system, candidate, list(getattr(task, split))))
        n_train, n_val = len(task.train), len(task.val)
        out["trainval_logp"] = (out["train_logp"] * n_train + out["val_logp"] * n_val) / (n_train + n_val)
    return out


def with_name_lines(text: str, seen: set[str]) -> str:
    """``text`` with each definition line of a label outside ``seen`` (no training text)
    replaced by the label's name, as ``reflection.unseen_definition: name`` writes it."""
    body, definitions, rules = split_sections(text)
    named = {label: (line if label in seen else name_line(label)) for label, line in definitions.items()}
    return join_sections(body, named, rules)


def _finite(value: float) -> float:
    return value if value == value else float("-inf")  # nan (nothing scored) ranks last


def selection_rules(sets: list[dict], choose: int) -> dict[str, float]:
    """Mean test accuracy of the set each rule picks, over every group of ``choose`` sets
    (ties broken towards the earlier sample, as a run would keep the first)."""
    rules = {"random": None, "val_acc": "val", "val_logp": "val_logp", "train_logp": "train_logp", "trainval_logp": "trainval_logp"}
    picked: dict[str, list[float]] = {name: [] for name in rules}
    for group in itertools.combinations(range(len(sets)), choose):
        for name, key in rules.items():
            if key is None:
                picked[name].append(statistics.fmean(sets[i]["test"] for i in group))
            else:
                best = max(group, key=lambda i: (_finite(sets[i][key]), -i))
                picked[name].append(sets[best]["test"])
    out = {f"test_by_{name}": statistics.fmean(values) for name, values in picked.items()}
    out["test_by_oracle"] = statistics.fmean(
        max(sets[i]["test"] for i in group) for group in itertools.combinations(range(len(sets)), choose)
    )
    return out


def ranks(values: list[float]) -> list[float]:
    """Average ranks (tied values share the mean of their positions): validation scores on
    30 examples tie often, and arbitrary tie-breaking would invent an order."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            out[order[position]] = (start + end) / 2
        start = end + 1
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--model", default="1.5b", help="embedded model: task and reflection")
    p.add_argument("--likelihood", action="store_true", help="also score gold-label log-probability per split")
    p.add_argument("--choose", type=int, default=3, help="group size for the selection-rule comparison")
    p.add_argument("--out", default="definition_sets.json", help="file name under benchmarks/results/")
    p.add_argument("--unseen", action="store_true", help="reflection.define_unseen_labels: also define the labels no "
                   "training example shows, from their names")
    p.add_argument("--contrast", action="store_true", help="reflection.definition_contrast: nearest (each definition "
                   "written beside its nearest label's texts)")
    p.add_argument("--examples-per-label", type=int, default=None, help="training texts shown per label when a "
                   "definition is written (default: the proposer's, 4)")
    p.add_argument("--examples", choices=("first", "spread"), default=None, help="reflection.definition_examples: "
                   "which training texts of a label are shown (default: the config's)")
    p.add_argument("--task", default="banking-9", help="bundled classification task (the hand-written list is banking-9's)")
    p.add_argument("--distinct", action="store_true", help="reflection.definition_distinct: blurred pairs of lines "
                   "told apart")
    p.add_argument("--pair-distinct", action="store_true", help="score each set as written and again after "
                   "definition_distinct's step (the same set, only its blurred lines written again)")
    p.add_argument("--pair-name", action="store_true", help="with --unseen: score each set as written and again with "
                   "the lines of labels no training text shows replaced by their names (reflection.unseen_definition: name)")
    p.add_argument("--temperature", type=float, default=None, help="reflection.temperature for the definition "
                   "lines (default: the config's 0.7; 0 writes one greedy set)")
    p.add_argument("--holdout", action="store_true", help="also score the held-out rows, and report dev = val + held-out")
    p.add_argument("--line-samples", type=int, default=None, help="reflection.definition_samples: samples per "
                   "definition line, the consensus kept (default: the config's)")
    args = p.parse_args(argv)
    lik = args.likelihood
    if args.temperature == 0 and args.samples > 1:
        args.samples = 1  # greedy replies: every further sample would be the same set
    scored = {"likelihood": lik, "holdout": args.holdout}
    # the code that runs is the code at the start (later commits during a long run must not be credited)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    task = get_task(args.task)
    rows: list[dict] = []
    started = time.monotonic()
    with start_embedded(args.model) as server:
        lm = make_lm(base_url=server.base_url, model=server.model, cache=False, timeout_s=300)
        system = task.make_system(lm)
        rows.append({"name": "seed", **score(system, system.seed_instruction, task, **scored)})
        print(rows[-1], flush=True)
        if args.task == "banking-9":
            rows.append({"name": "hand-written", **score(system, HAND_WRITTEN, task, **scored), "text": HAND_WRITTEN})
            print(rows[-1], flush=True)
        first = task.train[0]
        failure = [ModuleRecord(system.module, {"input": first["text"]}, "", "wrong", 0.0, first["label"])]
        for sample in range(args.samples):
            config = ReflectionConfig(definition_contrast="nearest" if args.contrast else "none", define_unseen_labels=args.unseen,
                                      **({"definition_examples": args.examples} if args.examples else {}),
                                      definition_distinct=args.distinct,
                                      **({"temperature": args.temperature} if args.temperature is not None else {}),
                                      **({"definition_samples": args.line_samples} if args.line_samples else {}))
            proposer = EditProposer(lm, config, use_grammar=True, labels=list(system.labels) if args.unseen else None)
            if args.examples_per_label:
                proposer.examples_per_label = args.examples_per_label
            proposer.prime(system.labelled_inputs(task.train))
            proposal = proposer.propose(
                Candidate(system.seed_candidate), system.module, failure, rng=random.Random(sample), iteration=1 + sample,
            )
            if proposal.text is None:
                rows.append({"name": f"set {sample}", "refused": [a.refusal for a in proposal.attempts]})
            else:
                rows.append({"name": f"set {sample}", **score(system, proposal.text, task, **scored), "text": proposal.text})
            print({k: v for k, v in rows[-1].items() if k != "text"}, flush=True)
            if args.pair_name and proposal.text is not None:
                named = with_name_lines(proposal.text, {ex["label"] for ex in task.train})
                row = {"name": f"set {sample} name", "changed": named != proposal.text}
                row.update(score(system, named, task, **scored) if named != proposal.text
                           else {k: rows[-1][k] for k in rows[-1] if k not in ("name", "text")})
                rows.append({**row, "text": named})
                print({k: v for k, v in rows[-1].items() if k != "text"}, flush=True)
            if args.pair_distinct and proposal.text is not None:
                separated, asks = proposer.separate_blurred(system.module, proposal.text, failure[0], iteration=1 + sample)
                row = {"name": f"set {sample} distinct", "asks": [[a.refusal, a.reply] for a in asks],
                       "changed": separated != proposal.text}
                if separated != proposal.text:
                    row.update(score(system, separated, task, **scored))
                else:
                    row.update({k: rows[-1][k] for k in rows[-1] if k not in ("name", "text")})
                rows.append({**row, "text": separated})
                print({k: v for k, v in rows[-1].items() if k != "text"}, flush=True)
    sets = [r for r in rows if r["name"].startswith("set") and not r["name"].endswith(("distinct", "name")) and "test" in r]
    summary: dict = {}
    paired = [r for r in rows if r["name"].endswith("distinct") and "test" in r]
    named = [r for r in rows if r["name"].endswith(" name") and "test" in r]
    if sets:
        tests = [r["test"] for r in sets]
        summary = {"sets": len(sets), "test_mean": statistics.fmean(tests), "test_min": min(tests), "test_max": max(tests),
                   **({"dev_mean": statistics.fmean(r["dev"] for r in sets)} if args.holdout else {}),
                   "test_of_best_val": max(sets, key=lambda r: (r["val"], -sets.index(r)))["test"]}
        if len(sets) > 2:
            summary["val_test_rank_corr"] = statistics.correlation(ranks([r["val"] for r in sets]), ranks(tests))
            if lik:
                for key in ("train_logp", "val_logp", "trainval_logp", "test_logp"):
                    summary[f"{key}_test_rank_corr"] = statistics.correlation(ranks([r[key] for r in sets]), ranks(tests))
        if lik and len(sets) >= args.choose:
            summary.update(selection_rules(sets, args.choose))
        if paired:
            summary["distinct_test_mean"] = statistics.fmean(r["test"] for r in paired)
            summary["distinct_sets_changed"] = sum(1 for r in paired if r["changed"])
        if named:
            summary["name_test_mean"] = statistics.fmean(r["test"] for r in named)
            summary["name_sets_changed"] = sum(1 for r in named if r["changed"])
    print()
    logp_head = " train logp | val logp | test logp |" if lik else ""
    dev_head = " held-out | dev |" if args.holdout else ""
    print("| instruction | train (30) | val (30) | test (100) |" + dev_head + logp_head)
    print("|---|---|---|---|" + ("---|---|" if args.holdout else "") + ("---|---|---|" if lik else ""))
    for r in rows:
        if "test" in r:
            logp = f" {r['train_logp']:.3f} | {r['val_logp']:.3f} | {r['test_logp']:.3f} |" if lik else ""
            dev = f" {r['holdout']:.3f} | {r['dev']:.3f} |" if args.holdout else ""
            print(f"| {r['name']} | {r['train']:.3f} | {r['val']:.3f} | {r['test']:.3f} |" + dev + logp)
        else:
            print(f"| {r['name']} | refused: {', '.join(str(x) for x in r['refused'] if x)} | | |")
    print(summary)
    meta = {"date": time.strftime("%Y-%m-%d"), "model": args.model, "samples": args.samples, "likelihood": lik, "contrast": args.contrast, "unseen": args.unseen, "line_samples": args.line_samples or ReflectionConfig().definition_samples,
            "examples_per_label": args.examples_per_label, "task": args.task,
            "examples": args.examples or ReflectionConfig().definition_examples, "distinct": args.distinct, "pair_distinct": args.pair_distinct, "pair_name": args.pair_name,
            "temperature": args.temperature if args.temperature is not None else ReflectionConfig().temperature, "holdout": args.holdout,
            "wall_s": time.monotonic() - started,
            "commit": commit, "machine": f"{platform.machine()}"}
    out = ROOT / "benchmarks" / "results" / args.out
    out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
