"""Run DSPy 3.4.1's MIPROv2 on a bundled gepetto task within a rollout budget; write a JSON result.

    .venv-bench/bin/python benchmarks/peers/run_mipro.py --task banking-9 \
        --base-url http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b \
        --budget 300 --seed 0 --out runs/peers/mipro-banking-9-s0.json

How MIPROv2 is driven (see README.md):

* A single-prompt task's program is one ``dspy.Predict("user_message -> reply")`` whose
  instruction is the task's seed instruction. A small adapter sends it exactly gepetto's messages
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
* A multi-module task (a gepetto ``ProgramSystem``: ifbench, ifeval, pupa) becomes a
  ``GepettoProgram``: one ``dspy.Predict`` per gepetto module (its input and output
  fields, its seed instruction), so MIPROv2 proposes and searches one instruction per
  module. ``forward`` reads the current instructions from those predictors and runs the
  example through gepetto's own ``ProgramSystem.run_one`` on gepetto's LM client (the task
  model sees exactly gepetto's messages; the score is the task's metric, failures score
  as gepetto scores them), then records one DSPy trace entry per module call, so that
  MIPROv2's bootstrap collects per-module demos for its grounded proposer. Zero-shot only;
  the budget plan and the rollout counter are the single-prompt path's (one metric call =
  one example run through the whole program).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import random
import tempfile
import threading
from typing import Any, Mapping, Sequence

# Before dspy (and litellm, should it be loaded) is imported: no network, no shared cache.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["DSPY_CACHEDIR"] = tempfile.mkdtemp(prefix="dspy-cache-")

import dspy  # noqa: E402
from dspy.clients._deprecation import adapter_message_call  # noqa: E402
from dspy.teleprompt import MIPROv2  # noqa: E402
from dspy.teleprompt.mipro_optimizer_v2 import MIN_MINIBATCH_SIZE  # noqa: E402

from common import (  # noqa: E402
    Setup,
    is_program,
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
from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.lm.base import Completion, UsageTracker  # noqa: E402
from gepetto.systems.program import parse_outputs  # noqa: E402

INPUT, OUTPUT = "user_message", "reply"
ID_KEY = "dspy_example_id"  # dspy_-prefixed keys are hidden from the proposer's view of the data
WRAP_KEY = "gepetto_example"  # a program example that is not a plain dict travels whole under this input


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


def module_signature(module: Any) -> Any:
    """A DSPy signature for one gepetto ``Module``: its input and output fields, its seed
    instruction. Named after the module, so DSPy's printouts (and the proposer's view of
    the program) say which module a predictor stands for."""
    inputs, outputs = list(module.inputs), list(module.outputs)
    clash = sorted(set(inputs) & set(outputs))
    if clash:
        raise SystemExit(f"run_mipro: module {module.name!r} has fields {clash} both as input and output; "
                         "a DSPy signature cannot express that")
    fields: dict[str, Any] = {name: (str, dspy.InputField()) for name in inputs}
    fields.update({name: (str, dspy.OutputField()) for name in outputs})
    return dspy.Signature(fields, module.instruction, signature_name=module.name)


class GepettoProgram(dspy.Module):
    """The task's program: one LM step per predictor, in the order and data flow of the
    task's own program. Each step is one chat call whose system message is that step's
    instruction and whose user message lists the step's input fields (``name: value``
    lines) and asks for its output fields; a step's outputs feed later steps. The final
    outputs are scored by the task's metric.

    The predictors only hold the instructions (MIPROv2's search variables); the LM calls
    are made by the task's own program runner, so that every optimizer's task model
    sees the same messages. Each step's inputs and parsed outputs are recorded in DSPy's
    trace under its predictor, as a ``Predict`` call would record them.
    """

    def __init__(self, system: Any) -> None:
        super().__init__()
        self._system = system  # shared, never copied: see __deepcopy__
        self.module_names = tuple(m.name for m in system.modules)
        self.steps = [dspy.Predict(module_signature(m)) for m in system.modules]

    def __deepcopy__(self, memo: dict[int, Any]) -> "GepettoProgram":
        """MIPROv2 deep-copies the program for every trial; the predictors must be copied
        (each trial sets its own instructions) but the runner must be shared (it holds
        the LM client, its connection pool and the usage tracker)."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key == "_system" else copy.deepcopy(value, memo)
        return new

    def instructions(self) -> dict[str, str]:
        """The candidate these predictors stand for: module name -> instruction."""
        return {name: step.signature.instructions for name, step in zip(self.module_names, self.steps)}

    def forward(self, **inputs: Any) -> dspy.Prediction:
        example = inputs[WRAP_KEY] if WRAP_KEY in inputs else dict(inputs)  # see program_examples
        result = self._system.run_one(Candidate(self.instructions()), example, capture_traces=True)
        self._record_trace(result.records)
        output = result.output
        return dspy.Prediction(
            output=dict(output) if isinstance(output, Mapping) else output,
            score=float(result.score),
            feedback=result.feedback,
        )

    def _record_trace(self, records: Sequence[Any]) -> None:
        """Append (predictor, inputs, outputs) per module call to ``dspy.settings.trace``,
        the way ``Predict.__call__`` does (same size cap). MIPROv2's bootstrap turns the
        trace of a run the metric accepts into demos per predictor, and its grounded
        proposer shows them as "task demos" when proposing that predictor's
        instruction. A call whose reply did not parse (or that failed) has no outputs and
        is left out."""
        trace = dspy.settings.trace
        if trace is None or dspy.settings.max_trace_size <= 0:
            return
        by_name = dict(zip(self.module_names, self.steps))
        for record in records:
            step = by_name.get(record.module)
            if step is None or not record.output:
                continue
            try:
                parsed = parse_outputs(record.output, list(step.signature.output_fields))
            except ValueError:
                continue
            if len(trace) >= dspy.settings.max_trace_size:
                trace.pop(0)
            trace.append((step, dict(record.inputs), dspy.Prediction(**parsed)))


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


def candidates_for_trials(trials: int, n_predictors: int) -> int:
    """MIPROv2's own sizing, inverted: zero-shot it runs trials = max(2 M log2 N, 1.5 N)
    for M predictors and N candidates per predictor, so take the largest N (2..18) whose
    trial count the budget's trials cover. With one predictor that is N ~ trials / 1.5."""
    if n_predictors <= 1:
        return max(2, min(18, int(trials / 1.5)))
    n = 2
    while n < 18 and max(2 * n_predictors * math.log2(n + 1), 1.5 * (n + 1)) <= trials:
        n += 1
    return n


def plan(budget: int, n_train: int, n_val: int, args: argparse.Namespace, n_predictors: int = 1) -> dict[str, Any]:
    """Instruction candidates N (= demo sets: MIPROv2 proposes one instruction per demo
    set and predictor, N - 1 sets of which are bootstrapped), the valset size, the
    bootstrap pool and the minibatch settings, such that a worst-case bootstrap still
    leaves one trial. A program's example costs one rollout whatever its module count."""
    val_size, boot_pool = n_val, n_train
    minibatch = args.minibatch_size is not None or val_size > MIN_MINIBATCH_SIZE
    mb = min(args.minibatch_size or 35, val_size)
    steps = args.full_eval_steps

    def one_trial(v: int) -> int:
        return step3_cost(1, v, minibatch, min(mb, v), steps)

    trials0 = max_trials(budget, val_size, minibatch, mb, steps)
    n = args.num_candidates or candidates_for_trials(trials0, n_predictors)
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
        "n_predictors": n_predictors,
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


def program_examples(examples: list[Any]) -> list[dspy.Example]:
    """DSPy examples for a program task: the gepetto example's own fields, all of them
    inputs, so that ``forward`` gets the example back (DSPy drops ``dspy_``-prefixed keys
    when it passes inputs, so the single-prompt path's hidden key cannot carry it). A
    plain dict with str keys is spread into fields (the proposer's dataset summary then
    reads them as a DSPy user's examples would read, labels included, as the single-prompt
    path shows the gold reply); any other example is carried whole under ``WRAP_KEY``, as
    is a dict with a key that DSPy's call chain takes for its own parameter."""
    reserved = {WRAP_KEY, "self", "instance"}  # dspy.Module.__call__(self, ...) and its callback wrapper(instance, ...)
    out = []
    for example in examples:
        plain = type(example) is dict and all(isinstance(k, str) and not k.startswith("dspy_") for k in example)
        fields = dict(example) if plain and not reserved & set(example) else {WRAP_KEY: example}
        out.append(dspy.Example(fields).with_inputs(*fields))
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
    program = is_program(setup)
    if program and args.demos:
        raise SystemExit(
            f"run_mipro: --demos is for single-prompt tasks; {args.task} is a multi-module program, whose "
            "modules send gepetto's messages (instruction + inputs, no demo turns), so MIPROv2 runs it zero-shot"
        )
    task, system = setup.task, setup.system
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)

    # A program's LM calls go through gepetto's client (booked in the tracker's task role by
    # make_setup); this dspy task LM is then only MIPROv2's required default and stays idle.
    task_lm = make_dspy_lm(args.base_url, args.model, setup.tracker, "task",
                           temperature=system.temperature, max_tokens=system.max_tokens)
    prompt_lm = make_dspy_lm(args.reflection_base_url, args.reflection_model, setup.tracker, "reflection",
                             temperature=args.reflection_temperature, max_tokens=args.reflection_max_tokens)
    dspy.configure(lm=task_lm)

    if program:
        student: dspy.Module = GepettoProgram(system)
        trainset = program_examples(list(task.train))
        valset_full = program_examples(list(task.val))

        def metric(example: dspy.Example, prediction: Any, trace: Any = None) -> float:
            # forward already ran the example through gepetto's run_one, which scored it with
            # the task's metric (failures at the system's failure score); this is the rollout.
            setup.counter.add()
            return float(getattr(prediction, "score", system.failure_score))
    else:
        student = TaskProgram(setup.seed_instruction)
        trainset = to_examples(setup, list(task.train))
        valset_full = to_examples(setup, list(task.val))

        def metric(example: dspy.Example, prediction: Any, trace: Any = None) -> float:
            setup.counter.add()
            reply = getattr(prediction, OUTPUT, None) or ""
            return float(score_reply(system, example[ID_KEY], reply).score)

    n_predictors = len(student.predictors())
    p = plan(args.budget, len(trainset), len(valset_full), args, n_predictors)
    valset = valset_full
    if p["val_size"] < len(valset_full):
        valset = random.Random(args.seed).sample(valset_full, p["val_size"])

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

    extra: dict[str, Any] = {}
    if program:
        best_instruction: str | dict[str, str] = best.instructions()
        best_demos: list[tuple[str, str]] = []
        seed_test, best_test = score_on_test(args, task, [dict(system.seed_candidate), best_instruction])
        extra["modules"] = list(student.module_names)
    else:
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
            **extra,
        },
    )
    write_result(args.out, out)


if __name__ == "__main__":
    main()
