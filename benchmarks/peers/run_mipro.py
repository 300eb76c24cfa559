"""Run DSPy 3.4.1's MIPROv2 on a bundled gepetto task within a rollout budget; write a JSON result.

    .venv-bench/bin/python benchmarks/peers/run_mipro.py --task banking-9 \
        --base-url http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b \
        --budget 300 --seed 0 --out runs/peers/mipro-banking-9-s0.json

How MIPROv2 is driven (see README.md):

* The program is one ``dspy.Predict("user_message -> reply")`` whose instruction is the
  task's seed instruction. A small adapter sends it exactly gepetto's messages
  (system = instruction, [demo user/assistant turns,] user = ``render(example)``) and
  takes the raw reply as the output, so the task model sees what gepetto and gepa show
  it and the task metric scores the same text. Only this program uses that adapter; the
  prompt model (instruction proposal) keeps DSPy's ChatAdapter.
* Both LMs are ``dspy.LM("openai/<model>", api_base=..., api_key="local", cache=False)``;
  DSPy's disk and memory caches are switched off and DSPY_CACHEDIR points at a fresh temp
  dir, so runs never share replies. Their token usage goes to gepetto's UsageTracker.
* Budget: MIPROv2 has no rollout budget of its own. Its metric calls are (1) bootstrapping
  demo sets on the trainset (up to |train| calls per set; MIPROv2 does this even zero-shot,
  to show the proposer examples), (2) one full-val evaluation of the seed program, (3) one
  evaluation per trial: the full valset, or a minibatch plus periodic full evaluations when
  the valset is large. We choose the number of instruction candidates before compiling so
  that even a worst-case bootstrap leaves room for at least one trial, then, after the
  bootstrap, choose ``num_trials`` as the largest that the *remaining* budget pays for.
  Every metric call goes through a counter; ``rollouts_used`` is that count.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import threading
from typing import Any

# Before dspy (and litellm, should it be loaded) is imported: no network, no shared cache.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["DSPY_CACHEDIR"] = tempfile.mkdtemp(prefix="dspy-cache-")

import dspy  # noqa: E402
from dspy.clients._deprecation import adapter_message_call  # noqa: E402
from dspy.teleprompt import MIPROv2  # noqa: E402
from dspy.teleprompt.mipro_optimizer_v2 import MIN_MINIBATCH_SIZE  # noqa: E402

from common import (  # noqa: E402
    Setup,
    Stopwatch,
    best_so_far,
    make_setup,
    parse_args,
    score_on_test,
    score_reply,
    result_record,
    usage_fields,
    write_result,
)
from gepetto.lm.base import Completion, UsageTracker  # noqa: E402

INPUT, OUTPUT = "user_message", "reply"
ID_KEY = "dspy_example_id"  # dspy_-prefixed keys are hidden from the proposer's view of the data


# ----------------------------------------------------------------------------- LMs


class AccountedLM(dspy.LM):
    """dspy.LM that also books each call's usage in a gepetto UsageTracker role.

    ``update_history`` runs once per finished (uncached) call; copies made by
    ``lm.copy(...)`` (MIPROv2's proposer does that) share the tracker through __dict__.
    """

    def bind(self, tracker: UsageTracker, role: str) -> "AccountedLM":
        self._gepetto_accounting = (tracker, role, threading.Lock())
        return self

    def update_history(self, entry: dict[str, Any]) -> None:
        accounting = getattr(self, "_gepetto_accounting", None)
        if accounting is not None:
            tracker, role, lock = accounting
            usage = entry.get("usage") or {}
            with lock:
                tracker.record(role, Completion(
                    text="",
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0),
                ))
        super().update_history(entry)


def make_dspy_lm(base_url: str, model: str, tracker: UsageTracker, role: str, **kwargs: Any) -> AccountedLM:
    lm = AccountedLM(f"openai/{model}", api_base=base_url, api_key="local", cache=False, **kwargs)
    return lm.bind(tracker, role)


# ----------------------------------------------------------------------------- program


class PlainChatAdapter(dspy.Adapter):
    """gepetto's message shape for the task program; the reply text is the output.

    Subclasses the base Adapter, not ChatAdapter, so a reply it cannot "parse" (there is
    nothing to parse) never triggers ChatAdapter's extra JSON-mode retry call.
    """

    def format(self, signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]) -> list[dict[str, Any]]:
        messages = [{"role": "system", "content": signature.instructions}]
        for demo in demos:
            if demo.get(INPUT) is not None and demo.get(OUTPUT) is not None:
                messages.append({"role": "user", "content": str(demo[INPUT])})
                messages.append({"role": "assistant", "content": str(demo[OUTPUT])})
        messages.append({"role": "user", "content": str(inputs[INPUT])})
        return messages

    def parse(self, signature: Any, completion: str) -> dict[str, Any]:
        return {OUTPUT: completion}

    @staticmethod
    def _text(output: Any) -> str:
        if isinstance(output, dict):
            output = output.get("text")
        return output or ""

    def __call__(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any, demos: list, inputs: dict) -> list[dict]:
        messages = self.format(signature, demos, inputs)
        with adapter_message_call(lm, messages):
            outputs = lm(messages=messages, **lm_kwargs)
        return [self.parse(signature, self._text(o)) for o in outputs]

    async def acall(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any, demos: list, inputs: dict) -> list[dict]:
        messages = self.format(signature, demos, inputs)
        with adapter_message_call(lm, messages):
            outputs = await lm.acall(messages=messages, **lm_kwargs)
        return [self.parse(signature, self._text(o)) for o in outputs]


class TaskProgram(dspy.Module):
    """One Predict; the plain adapter applies to it alone (the proposer keeps ChatAdapter)."""

    def __init__(self, instruction: str) -> None:
        super().__init__()
        self.predict = dspy.Predict(dspy.Signature(f"{INPUT} -> {OUTPUT}", instruction))

    def forward(self, user_message: str):  # noqa: ANN201
        with dspy.context(adapter=PlainChatAdapter()):
            return self.predict(user_message=user_message)


# ----------------------------------------------------------------------------- budget


def step3_cost(trials: int, n_val: int, minibatch: bool, minibatch_size: int, full_eval_steps: int) -> int:
    """Metric calls of MIPROv2's search phase (dspy 3.4.1 `_optimize_prompt_parameters`):
    the seed program's full eval, then per trial a full or minibatch eval, plus, when
    minibatching, a full eval whenever trial_num % (steps + 1) == 0 or at the last trial.
    trial_num follows optuna's numbering, where the seed trial and each full-eval trial
    (both added with study.add_trial) take a number too."""
    if not minibatch:
        return n_val * (1 + trials)
    adjusted = trials + trials // full_eval_steps + 1 + (1 if trials % full_eval_steps else 0)
    cost, next_number = n_val, 1
    for _ in range(trials):
        trial_num = next_number + 1
        next_number += 1
        cost += minibatch_size
        if trial_num % (full_eval_steps + 1) == 0 or trial_num == adjusted - 1:
            cost += n_val
            next_number += 1
    return cost


def max_trials(budget_left: int, n_val: int, minibatch: bool, minibatch_size: int, full_eval_steps: int) -> int:
    trials = 0
    while step3_cost(trials + 1, n_val, minibatch, minibatch_size, full_eval_steps) <= budget_left:
        trials += 1
    return trials


def plan(budget: int, n_train: int, n_val: int, args: argparse.Namespace) -> dict[str, Any]:
    """Instruction candidates N (= demo sets: MIPROv2 proposes one instruction per demo
    set, N - 1 of which are bootstrapped), the valset size, the bootstrap pool and the
    minibatch settings, such that a worst-case bootstrap still leaves one trial."""
    val_size, boot_pool = n_val, n_train
    minibatch = args.minibatch_size is not None or val_size > MIN_MINIBATCH_SIZE
    mb = min(args.minibatch_size or 35, val_size)
    steps = args.full_eval_steps

    def one_trial(v: int) -> int:
        return step3_cost(1, v, minibatch, min(mb, v), steps)

    trials0 = max_trials(budget, val_size, minibatch, mb, steps)
    # MIPROv2's own sizing (zero-shot, one predictor): trials = max(2 log2 N, 1.5 N), so N ~ trials / 1.5
    n = args.num_candidates or max(2, min(18, int(trials0 / 1.5)))
    while n > 2 and (n - 1) * boot_pool + one_trial(val_size) > budget:
        n -= 1
    if (n - 1) * boot_pool + one_trial(val_size) > budget:
        # Tiny budget: like MIPROv2's auto modes, evaluate on a subsample of the valset,
        # and bootstrap from a prefix of the trainset, so that the worst case still fits.
        val_size = max(1, min(n_val, budget // 3))
        mb = min(mb, val_size)
        boot_pool = max(1, min(n_train, (budget - one_trial(val_size)) // max(1, n - 1)))
    worst_bootstrap = (n - 1) * boot_pool
    return {
        "num_candidates": n,
        "val_size": val_size,
        "bootstrap_pool": boot_pool,
        "worst_case_bootstrap": worst_bootstrap,
        "minibatch": minibatch,
        "minibatch_size": mb,
        "minibatch_full_eval_steps": steps,
        "trials_if_bootstrap_free": max_trials(budget, val_size, minibatch, mb, steps),
        "trials_if_bootstrap_worst": max_trials(budget - worst_bootstrap, val_size, minibatch, mb, steps),
    }


class BudgetedMIPROv2(MIPROv2):
    """MIPROv2 unchanged, except that its trial count is fixed by the rollout budget left
    after bootstrapping, bootstrapping may use a prefix of the trainset (tiny budgets),
    and a due full evaluation with nothing left to evaluate is skipped instead of
    raising (dspy 3.4.1 raises ValueError there, which would end the run)."""

    def __init__(self, *a: Any, budget: int, counter: Any, boot_pool: int, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.budget = budget
        self.counter = counter
        self.boot_pool = boot_pool
        self.rollouts_after_bootstrap = None
        self.trials_run = None
        self.curve_points: list[tuple[int, float]] = []
        self.seed_val_score = None

    def _bootstrap_fewshot_examples(self, program: Any, trainset: list, seed: int, teacher: Any, **kw: Any):  # noqa: ANN202
        out = super()._bootstrap_fewshot_examples(program, trainset[: self.boot_pool], seed, teacher, **kw)
        self.rollouts_after_bootstrap = self.counter.count
        return out

    def _optimize_prompt_parameters(self, program, instruction_candidates, demo_candidates, evaluate, valset,  # noqa: ANN001, ANN202
                                    num_trials, minibatch, minibatch_size, minibatch_full_eval_steps, seed):
        left = self.budget - self.counter.count
        trials = max_trials(left, len(valset), minibatch, minibatch_size, minibatch_full_eval_steps)
        self.trials_run = trials
        runner = self

        class CurveEvaluate:
            """Records (rollouts so far, score) after each full-valset evaluation."""

            def __call__(self, prog: Any, devset: Any = None, **kwargs: Any) -> Any:
                result = evaluate(prog, devset=devset, **kwargs)
                if devset is not None and len(devset) == len(valset):
                    score = float(result.score) / 100.0
                    if runner.seed_val_score is None:
                        runner.seed_val_score = score
                    runner.curve_points.append((runner.counter.count, score))
                return result

        return super()._optimize_prompt_parameters(
            program, instruction_candidates, demo_candidates, CurveEvaluate(), valset,
            trials, minibatch, minibatch_size, minibatch_full_eval_steps, seed,
        )

    def _perform_full_evaluation(self, trial_num, adjusted_num_trials, param_score_dict, fully_evaled_param_combos,  # noqa: ANN001, ANN202
                                 evaluate, valset, trial_logs, total_eval_calls, score_data, best_score, best_program,
                                 study, instruction_candidates, demo_candidates):
        if all(key in fully_evaled_param_combos for key in param_score_dict):
            return best_score, best_program, total_eval_calls
        return super()._perform_full_evaluation(
            trial_num, adjusted_num_trials, param_score_dict, fully_evaled_param_combos, evaluate, valset, trial_logs,
            total_eval_calls, score_data, best_score, best_program, study, instruction_candidates, demo_candidates,
        )


# ----------------------------------------------------------------------------- run


def to_examples(setup: Setup, examples: list[Any]) -> list[dspy.Example]:
    system = setup.system
    out = []
    for example in examples:
        expected = system.expected(example) if system.expected is not None else None
        fields = {INPUT: system.render(example), ID_KEY: example}
        if expected is not None:
            fields[OUTPUT] = expected  # the label: shown to the proposer, used for labeled demos
        out.append(dspy.Example(**fields).with_inputs(INPUT))
    return out


def extra_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demos", action="store_true",
                        help="allow few-shot demos (MIPROv2's defaults: 4 bootstrapped, 4 labeled); default zero-shot")
    parser.add_argument("--num-candidates", type=int, default=None,
                        help="instruction candidates / demo sets (default: from the budget, as MIPROv2's auto sizing)")
    parser.add_argument("--minibatch-size", type=int, default=None,
                        help="force minibatch trials of this size (default: MIPROv2's rule, minibatch only if |val| > 50)")
    parser.add_argument("--full-eval-steps", type=int, default=5, help="MIPROv2 minibatch_full_eval_steps")


def main() -> None:
    args = parse_args("Run DSPy 3.4.1 MIPROv2 on a gepetto task.", extra_args)
    setup = make_setup(args)
    if not hasattr(setup.system, "module"):
        raise SystemExit(
            f"run_mipro: {args.task} is a multi-module program; this runner builds a one-Predict DSPy program and "
            "drives single-prompt tasks only (gepa's runner handles programs)"
        )
    task, system = setup.task, setup.system
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)

    task_lm = make_dspy_lm(args.base_url, args.model, setup.tracker, "task",
                           temperature=system.temperature, max_tokens=system.max_tokens)
    prompt_lm = make_dspy_lm(args.reflection_base_url, args.reflection_model, setup.tracker, "reflection",
                             temperature=args.reflection_temperature, max_tokens=args.reflection_max_tokens)
    dspy.configure(lm=task_lm)

    trainset = to_examples(setup, list(task.train))
    valset_full = to_examples(setup, list(task.val))
    p = plan(args.budget, len(trainset), len(valset_full), args)
    valset = valset_full
    if p["val_size"] < len(valset_full):
        valset = random.Random(args.seed).sample(valset_full, p["val_size"])

    def metric(example: dspy.Example, prediction: Any, trace: Any = None) -> float:
        setup.counter.add()
        reply = getattr(prediction, OUTPUT, None) or ""
        return float(score_reply(system, example[ID_KEY], reply).score)

    zero_shot = not args.demos
    demo_kwargs = {"max_bootstrapped_demos": 0, "max_labeled_demos": 0} if zero_shot else {}
    optimizer = BudgetedMIPROv2(
        metric=metric,
        prompt_model=prompt_lm,
        task_model=task_lm,
        auto=None,
        num_candidates=p["num_candidates"],
        num_threads=system.concurrency,
        seed=args.seed,
        init_temperature=args.reflection_temperature,
        budget=args.budget,
        counter=setup.counter,
        boot_pool=p["bootstrap_pool"],
        **demo_kwargs,
    )
    student = TaskProgram(setup.seed_instruction)
    with Stopwatch() as watch:
        best = optimizer.compile(
            student,
            trainset=trainset,
            valset=valset,
            num_trials=max(1, p["trials_if_bootstrap_worst"]),  # replaced once the bootstrap cost is known
            minibatch=p["minibatch"],
            minibatch_size=p["minibatch_size"],
            minibatch_full_eval_steps=p["minibatch_full_eval_steps"],
        )
    usage = usage_fields(setup.tracker)  # optimization phase only: test scoring uses its own LM

    predictor = best.predictors()[0]
    best_instruction = predictor.signature.instructions
    best_demos = [(str(d[INPUT]), str(d[OUTPUT])) for d in (predictor.demos or [])
                  if d.get(INPUT) is not None and d.get(OUTPUT) is not None]
    seed_test, best_test = score_on_test(args, task, [setup.seed_instruction, best_instruction],
                                         demos=[[], best_demos])
    best_val = float(getattr(best, "score", float("nan"))) / 100.0
    out = result_record(
        "mipro-3.4.1", setup, usage, watch.elapsed,
        seed_val=optimizer.seed_val_score, best_val=best_val if not math.isnan(best_val) else None,
        seed_test=seed_test, best_test=best_test, best_instruction=best_instruction,
        curve=best_so_far(optimizer.curve_points),
        details={
            "plan": p,
            "zero_shot": zero_shot,
            "best_demos": len(best_demos),
            "rollouts_bootstrap": optimizer.rollouts_after_bootstrap,
            "trials_run": optimizer.trials_run,
            "mipro_val_size": len(valset),
        },
    )
    write_result(args.out, out)


if __name__ == "__main__":
    main()
