"""Run the standalone gepa 0.1.4 package on a bundled gepetto task; write a JSON result.

    .venv-bench/bin/python benchmarks/peers/run_gepa.py --task banking-9 \
        --base-url http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b \
        --budget 300 --seed 0 --out runs/peers/gepa-banking-9-s0.json

How gepa is driven (see README.md): ``gepa.optimize`` with a small adapter implementing
gepa's ``GEPAAdapter`` protocol instead of its ``DefaultAdapter``, because the default one
scores with a lenient "answer contained in the reply" check and calls the task model one
example at a time. The adapter runs each example through gepetto's own ``PromptSystem``
(same messages, max_tokens, temperature, concurrency and metric as gepetto) and hands
gepa the metric's feedback text, in the record format of gepa's DefaultAdapter
(Inputs / Generated Outputs / Feedback). The reflection LM is a plain ``str -> str``
callable over gepetto's LM client, so no litellm is involved.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

import gepa
from gepa.core.adapter import EvaluationBatch

from common import (
    Setup,
    is_program,
    Stopwatch,
    best_so_far,
    make_setup,
    parse_args,
    score_on_test,
    result_record,
    usage_fields,
    write_result,
)
from gepetto.core.candidate import Candidate

COMPONENT = "system_prompt"


class GepettoTaskAdapter:
    """gepa adapter over a gepetto PromptSystem: one component, the system prompt."""

    propose_new_texts = None  # use gepa's own reflective proposer

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.system = setup.system

    def evaluate(self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False) -> EvaluationBatch:
        instruction = candidate[COMPONENT]
        program = Candidate({self.system.module: instruction})

        def one(example: Any):  # noqa: ANN202
            result = self.system.run_one(program, example, capture_traces=False)
            self.setup.counter.add()  # one rollout = one scored example
            return result

        workers = max(1, min(self.system.concurrency, len(batch)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, batch))
        outputs = [{"full_assistant_response": r.output or ""} for r in results]
        scores = [float(r.score) for r in results]
        trajectories = None
        if capture_traces:
            trajectories = [
                {"input": self.system.render(ex), "reply": r.output or "", "feedback": r.feedback}
                for ex, r in zip(batch, results)
            ]
        return EvaluationBatch(outputs=outputs, scores=scores, trajectories=trajectories)

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: EvaluationBatch, components_to_update: list[str]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        assert eval_batch.trajectories is not None, "gepa asks for traces before reflecting"
        records = [
            {"Inputs": t["input"], "Generated Outputs": t["reply"], "Feedback": t["feedback"]}
            for t in eval_batch.trajectories
        ]
        return {name: records for name in components_to_update}


class GepettoProgramAdapter:
    """gepa adapter over a multi-module gepetto program (IFBench, PUPA, ...): one gepa
    component per module. Each example runs through gepetto's own ``System.evaluate``
    (same program, metric and per-module feedback); gepa reflects on one component at a
    time from that module's records (its inputs, its output, its feedback)."""

    propose_new_texts = None

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.system = setup.system

    def evaluate(self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False) -> EvaluationBatch:
        results = self.system.evaluate(Candidate(dict(candidate)), list(batch), capture_traces=capture_traces)
        self.setup.counter.add(len(batch))
        outputs = [{"output": "" if r.output is None else str(r.output)} for r in results]
        trajectories = None
        if capture_traces:
            trajectories = [
                {"records": [(rec.module, rec.inputs, rec.output, rec.feedback or r.feedback) for rec in r.records],
                 "feedback": r.feedback, "output": "" if r.output is None else str(r.output)}
                for r in results
            ]
        return EvaluationBatch(outputs=outputs, scores=[float(r.score) for r in results], trajectories=trajectories)

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: EvaluationBatch, components_to_update: list[str]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        assert eval_batch.trajectories is not None, "gepa asks for traces before reflecting"
        out: dict[str, list[dict[str, Any]]] = {}
        for name in components_to_update:
            records = []
            for t in eval_batch.trajectories:
                for module, inputs, output, feedback in t["records"]:
                    if module == name:
                        shown = "\n".join(f"{k}: {v}" for k, v in inputs.items())
                        records.append({"Inputs": shown, "Generated Outputs": str(output), "Feedback": feedback or t["feedback"]})
            out[name] = records
        return out


class ReflectionCallable:
    """gepa's ``LanguageModel``: ``(str | list[message]) -> str``, over gepetto's LM."""

    def __init__(self, setup: Setup) -> None:
        self.lm = setup.reflection_lm
        self.temperature = setup.args.reflection_temperature
        self.max_tokens = setup.args.reflection_max_tokens

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return self.lm.complete(messages, temperature=self.temperature, max_tokens=self.max_tokens).text


class AffordStopper:
    """Stop before an iteration that might not be paid for in full.

    gepa checks ``max_metric_calls`` only between iterations, so its last iteration can
    overshoot by up to 2 x minibatch + |val|. gepetto refuses to start an iteration it
    cannot finish; this stopper applies the same rule to gepa (``--budget-mode strict``).
    """

    def __init__(self, budget: int, worst_iteration: int) -> None:
        self.budget = budget
        self.worst_iteration = worst_iteration

    def __call__(self, gepa_state: Any) -> bool:
        return gepa_state.total_num_evals + self.worst_iteration > self.budget


class CurveCallback:
    """Record (rollouts so far, full-val mean) each time gepa scores a candidate on val."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.points: list[tuple[int, float]] = []

    def on_valset_evaluated(self, event: Mapping[str, Any]) -> None:
        if event["num_examples_evaluated"] == event["total_valset_size"]:
            self.points.append((self.setup.counter.count, float(event["average_score"])))


def extra_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minibatch-size", type=int, default=3, help="gepa reflection_minibatch_size (its default: 3)")
    parser.add_argument("--use-merge", action="store_true", help="enable gepa's merge proposer (off by default in gepa)")
    parser.add_argument("--cache-evaluation", action="store_true",
                        help="gepa's cache_evaluation: never pay twice for a (candidate, example) (off by default in gepa)")
    parser.add_argument("--budget-mode", choices=("strict", "native"), default="strict",
                        help="strict: also stop before an iteration the budget may not cover (as gepetto does); "
                        "native: gepa's max_metric_calls alone (may overshoot by one iteration)")


def main() -> None:
    args = parse_args("Run gepa 0.1.4 on a gepetto task.", extra_args)
    setup = make_setup(args)
    task = setup.task
    program = is_program(setup)
    adapter = GepettoProgramAdapter(setup) if program else GepettoTaskAdapter(setup)
    seed_candidate = dict(setup.system.seed_candidate) if program else {COMPONENT: setup.seed_instruction}
    curve = CurveCallback(setup)
    worst_iteration = max(2 * args.minibatch_size, 5 if args.use_merge else 0) + len(task.val)
    stoppers = [AffordStopper(args.budget, worst_iteration)] if args.budget_mode == "strict" else None

    with Stopwatch() as watch:
        result = gepa.optimize(
            seed_candidate=seed_candidate,
            trainset=list(task.train),
            valset=list(task.val),
            adapter=adapter,
            reflection_lm=ReflectionCallable(setup),
            reflection_minibatch_size=args.minibatch_size,
            use_merge=args.use_merge,
            cache_evaluation=args.cache_evaluation,
            max_metric_calls=args.budget,
            stop_callbacks=stoppers,
            callbacks=[curve],
            seed=args.seed,
            display_progress_bar=False,
        )
    usage = usage_fields(setup.tracker)  # optimization phase only: test scoring uses its own LM

    best_idx = result.best_idx
    if program:
        best: str | dict[str, str] = dict(result.candidates[best_idx])
        seed_test, best_test = score_on_test(args, task, [seed_candidate, best])
    else:
        best = result.candidates[best_idx][COMPONENT]
        seed_test, best_test = score_on_test(args, task, [setup.seed_instruction, best])
    out = result_record(
        "gepa-0.1.4", setup, usage, watch.elapsed,
        seed_val=float(result.val_aggregate_scores[0]), best_val=float(result.val_aggregate_scores[best_idx]),
        seed_test=seed_test, best_test=best_test, best_instruction=best,
        curve=best_so_far(curve.points),
        details={
            "gepa_total_metric_calls": result.total_metric_calls,
            "num_candidates": result.num_candidates,
            "discovery_eval_counts": list(result.discovery_eval_counts),
            "val_aggregate_scores": [float(s) for s in result.val_aggregate_scores],
            "budget_mode": args.budget_mode,
            "minibatch_size": args.minibatch_size,
            "use_merge": args.use_merge,
            "cache_evaluation": args.cache_evaluation,
        },
    )
    write_result(args.out, out)


if __name__ == "__main__":
    main()
