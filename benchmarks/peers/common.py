"""What the peer runners share: the task, the LMs, the rollout counter, test scoring, output.

The peers (gepa 0.1.4, DSPy 3.4.1's MIPROv2) run in ``.venv-bench`` (see setup_env.sh),
never in gepetto's own venv. Everything that decides a score comes from gepetto, so
that all optimizers are measured alike: the task's splits, its seed instruction, its
message shape (system = instruction, user = ``render(example)``), its max_tokens and
temperature, and its metric (which parses exactly one final answer).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.lm import UsageTracker, make_lm
from gepetto.lm.base import LM
from gepetto.systems.metrics import MetricResult, as_metric_result

# Reflection / instruction-proposal sampling, the same for both peers. gepa 0.1.4 sends no
# temperature of its own (its `reflection_lm="openai/..."` path leaves it to the provider,
# i.e. 1.0 on OpenAI) and MIPROv2 proposes at init_temperature=1.0, so 1.0 is what their
# default usage implies; we send it explicitly so a server's own default does not decide.
# Neither peer caps the reflection reply; we cap it at gepetto's reflection default (1024)
# so a small local model cannot ramble to the context limit.
DEFAULT_REFLECTION_TEMPERATURE = 1.0
DEFAULT_REFLECTION_MAX_TOKENS = 1024


def parse_task_options(items: list[str] | None) -> dict[str, Any]:
    """``["max_tokens=192", ...]`` -> ``{"max_tokens": 192}`` (ints, floats, true/false converted), the
    extra keyword arguments of a bundled task that ``compare.py --task-option`` passes on."""
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--task-option {item!r}: write it as NAME=VALUE, e.g. max_tokens=192")
        value: Any = raw
        flags = {"true": True, "yes": True, "false": False, "no": False}
        if raw.strip().lower() in flags:
            options[key.strip()] = flags[raw.strip().lower()]
            continue
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
        options[key.strip()] = value
    return options


def load_task(name: str, n_train: int | None = None, n_val: int | None = None, options: dict[str, Any] | None = None):  # noqa: ANN201
    """``gepetto.tasks.get_task(name)``, with other train/validation sizes and task options
    when given (the comparison passes every optimizer the same ones, so all see the same
    splits and the same program)."""
    from gepetto.tasks import get_task

    sizes = {key: value for key, value in (("n_train", n_train), ("n_val", n_val)) if value is not None}
    return get_task(name, **sizes, **(options or {}))


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--task", required=True, help="a bundled gepetto task, e.g. banking-9")
    parser.add_argument("--base-url", required=True, help="task model endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", required=True, help="task model name as the server knows it")
    parser.add_argument("--reflection-base-url", help="reflection / prompt-model endpoint (default: --base-url)")
    parser.add_argument("--reflection-model", help="reflection / prompt-model name (default: --model)")
    parser.add_argument("--reflection-temperature", type=float, default=DEFAULT_REFLECTION_TEMPERATURE)
    parser.add_argument("--reflection-max-tokens", type=int, default=DEFAULT_REFLECTION_MAX_TOKENS)
    parser.add_argument("--budget", type=int, required=True, help="rollouts: metric calls on train + val")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="result JSON path")
    parser.add_argument("--n-test", type=int, default=None, help="score the first K test examples (default: all)")
    parser.add_argument("--n-train", type=int, default=None, help="training examples (default: the task's)")
    parser.add_argument("--n-val", type=int, default=None, help="validation examples (default: the task's)")
    parser.add_argument("--task-option", action="append", default=[], metavar="NAME=VALUE",
                        help="extra keyword argument of the bundled task, e.g. max_tokens=192 (repeatable)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="parallel task-model calls (default: the task system's, as gepetto uses)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    args.reflection_base_url = args.reflection_base_url or args.base_url
    args.reflection_model = args.reflection_model or args.model
    if args.budget < 1:
        parser.error("--budget must be >= 1")
    return args


class RolloutCounter:
    """Thread-safe count of metric calls (one per scored example, train and val alike)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, n: int = 1) -> int:
        with self._lock:
            self.count += n
            return self.count


@dataclass
class Setup:
    """The task, its system on the tracked task LM, and the tracked reflection LM."""

    args: argparse.Namespace
    task: Any
    system: Any  # gepetto PromptSystem on the optimization-phase task LM
    tracker: UsageTracker
    reflection_lm: LM
    counter: RolloutCounter = field(default_factory=RolloutCounter)

    @property
    def module(self) -> str:
        return self.system.module

    @property
    def seed_instruction(self) -> str:
        """Single-prompt tasks only (a program has one text per module: ``system.seed_candidate``)."""
        return self.system.seed_instruction


def is_program(setup: Setup) -> bool:
    """A system with several modules (no single ``module`` attribute): the runners drive
    it module by module instead of as one prompt."""
    return not hasattr(setup.system, "module")


def make_setup(args: argparse.Namespace) -> Setup:
    """Fresh, uncached, tracked LMs for the optimization phase (so wall times are honest
    and runs never share replies)."""
    task = load_task(args.task, args.n_train, args.n_val, parse_task_options(args.task_option))
    tracker = UsageTracker()
    task_lm = make_lm(base_url=args.base_url, model=args.model, role="task", tracker=tracker, cache=False)
    reflection_lm = make_lm(
        base_url=args.reflection_base_url, model=args.reflection_model, role="reflection", tracker=tracker, cache=False
    )
    system = task.make_system(task_lm)
    if args.concurrency is not None:
        system.concurrency = args.concurrency
    return Setup(args, task, system, tracker, reflection_lm)


def score_reply(system: Any, example: Any, reply: str) -> MetricResult:
    """The task metric on one reply; a metric that raises scores as the system's failure."""
    try:
        return as_metric_result(system.metric(example, reply))
    except Exception as exc:  # noqa: BLE001 - as gepetto's PromptSystem does
        return MetricResult(system.failure_score, f"The metric raised {type(exc).__name__}: {exc}")


def usage_fields(tracker: UsageTracker) -> dict[str, int]:
    out: dict[str, int] = {}
    for role in ("task", "reflection"):
        usage = tracker.role(role)
        out[f"{role}_calls"] = usage.calls
        out[f"{role}_prompt_tokens"] = usage.prompt_tokens
        out[f"{role}_completion_tokens"] = usage.completion_tokens
        out[f"{role}_errors"] = usage.errors
    return out


def test_examples(task: Any, n_test: int | None) -> list[Any]:
    examples = list(task.test)
    return examples if n_test is None else examples[:n_test]


def score_on_test(
    args: argparse.Namespace,
    task: Any,
    instructions: Sequence[str | Mapping[str, str]],
    *,
    demos: Sequence[Sequence[tuple[str, str]]] | None = None,
) -> list[float]:
    """Mean test score of each instruction, outside the budget and the accounting: a
    fresh uncached task LM with its own tracker, gepetto's message shape and metric.

    ``demos[i]``, when given, are (user, assistant) turns put between the system
    message and the question for instruction i (MIPROv2 with --demos).
    """
    lm = make_lm(base_url=args.base_url, model=args.model, role="task", tracker=UsageTracker(), cache=False)
    system = task.make_system(lm)
    if args.concurrency is not None:
        system.concurrency = args.concurrency
    examples = test_examples(task, args.n_test)
    scores = []
    for i, instruction in enumerate(instructions):
        turns = list(demos[i]) if demos is not None else []
        if turns and isinstance(instruction, str):  # MIPROv2 with --demos
            values = _score_with_demos(system, instruction, turns, examples)
        else:
            # a program names one text per module; a single prompt is its system's one module
            texts = dict(instruction) if not isinstance(instruction, str) else {system.module: instruction}
            values = [r.score for r in system.evaluate(Candidate(texts), examples)]
        scores.append(sum(values) / len(values) if values else 0.0)
    return scores


def _score_with_demos(system: Any, instruction: str, turns: Sequence[tuple[str, str]], examples: Sequence[Any]) -> list[float]:
    def one(example: Any) -> float:
        messages = [{"role": "system", "content": instruction}]
        for user, assistant in turns:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        messages.append({"role": "user", "content": system.render(example)})
        try:
            reply = system.lm.complete(messages, temperature=system.temperature, max_tokens=system.max_tokens).text
        except Exception:  # noqa: BLE001 - a failed call is a failed example
            return system.failure_score
        return score_reply(system, example, reply).score

    with ThreadPoolExecutor(max_workers=max(1, system.concurrency)) as pool:
        return list(pool.map(one, examples))


def best_so_far(points: Sequence[tuple[int, float]]) -> list[list[float]]:
    """[[rollouts, best val score so far], ...] from (rollouts, val score) events."""
    curve: list[list[float]] = []
    best = float("-inf")
    for rollouts, score in points:
        best = max(best, score)
        curve.append([int(rollouts), float(best)])
    return curve


def result_record(
    optimizer: str, setup: Setup, usage: dict[str, int], wall_s: float, *, seed_val: float | None,
    best_val: float | None, seed_test: float, best_test: float, best_instruction: str | Mapping[str, str],
    curve: list[list[float]], details: dict[str, Any],
) -> dict[str, Any]:
    """The JSON result both peer runners write: the fields compare.py reads, plus the
    peer-specific ``details`` with the settings and sizes every run records."""
    args, task = setup.args, setup.task
    return {
        "optimizer": optimizer, "task": args.task, "seed": args.seed, "budget": args.budget,
        "rollouts_used": setup.counter.count, "seed_val": seed_val, "best_val": best_val,
        "seed_test": seed_test, "best_test": best_test,
        **{k: usage[k] for k in ("task_calls", "task_prompt_tokens", "task_completion_tokens",
                                 "reflection_calls", "reflection_prompt_tokens", "reflection_completion_tokens")},
        "wall_s": round(wall_s, 3),
        "prompt_chars": len(best_instruction) if isinstance(best_instruction, str) else sum(len(t) for t in best_instruction.values()),
        "best_instruction": best_instruction if isinstance(best_instruction, str) else dict(best_instruction),
        "curve": curve,
        "details": {
            **details,
            "reflection_temperature": args.reflection_temperature,
            "reflection_max_tokens": args.reflection_max_tokens,
            "task_errors": usage["task_errors"],
            "reflection_errors": usage["reflection_errors"],
            "n_test": len(test_examples(task, args.n_test)),
            "n_train": len(task.train),
            "n_val": len(task.val),
        },
    }


def write_result(path: str, result: dict[str, Any]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    summary = {k: result[k] for k in ("optimizer", "task", "budget", "rollouts_used", "seed_val", "best_val",
                                      "seed_test", "best_test", "wall_s") if k in result}
    print(json.dumps(summary), file=sys.stderr)


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
