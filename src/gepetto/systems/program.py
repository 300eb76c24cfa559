"""Compound AI systems as plain Python: modules that record their own traces.

A :class:`Module` is one LM step with a name, an instruction (the text GEPA evolves) and
declared input and output fields. A *program* is any Python function that calls modules.
:class:`ProgramSystem` makes a program optimizable: it applies a candidate's texts by
module name, runs examples concurrently, collects every module call into a per-example
trace (context variables keep concurrent examples apart, with nothing passed around by
the user), scores with a feedback metric that may see the trace, and turns the trace into
per-module reflection records.

    classify = Module("classify", "Classify the query.", inputs=["query"], outputs=["label"])

    def program(example):
        return classify(query=example["text"])

    system = ProgramSystem(program, [classify], metric, lm=task_lm)
"""

from __future__ import annotations

import contextvars
import inspect
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.lm.base import LM, LMError, failure_feedback
from gepetto.systems.adapter import ExampleResult, ModuleRecord
from gepetto.systems.metrics import MetricResult, as_metric_result


class ModuleError(RuntimeError):
    """A module call failed (LM error or unparseable reply); the example scores as a failure."""

    def __init__(self, module: str, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.module = module
        self.raw = raw


@dataclass
class TraceEntry:
    """One module call: what it was given, what the LM said, what was parsed."""

    module: str
    inputs: dict[str, Any]
    raw: str
    outputs: dict[str, str]
    error: str | None = None


@dataclass
class Prediction(Mapping[str, str]):
    """A module's parsed outputs; read as ``pred["label"]`` or ``pred.label``."""

    fields: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def __iter__(self):  # noqa: ANN204
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getattr__(self, key: str) -> str:
        try:
            return self.__dict__["fields"][key]
        except KeyError:
            raise AttributeError(key) from None


@dataclass
class _RunContext:
    candidate: Candidate
    lm: LM
    trace: list[TraceEntry]
    temperature: float
    max_tokens: int


_CONTEXT: contextvars.ContextVar[_RunContext | None] = contextvars.ContextVar("gepetto_program_context", default=None)


def parse_outputs(reply: str, outputs: Sequence[str]) -> dict[str, str]:
    """Parse a reply into the declared output fields, tolerant of small models.

    Tried in order: a JSON object with the fields; ``field: value`` labels (a value runs
    to the next label); for a single output field, the bare reply. Raises ``ValueError``
    naming the missing fields otherwise.
    """
    text = reply.strip()
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            if isinstance(data, dict) and all(f in data for f in outputs):
                return {f: str(data[f]).strip() for f in outputs}
        except json.JSONDecodeError:
            pass
    labelled: dict[str, str] = {}
    names = "|".join(re.escape(f) for f in outputs)
    pattern = re.compile(rf"^\s*\**\s*({names})\s*\**\s*[:=]\s*\**\s*(.*)$", re.IGNORECASE | re.MULTILINE)
    hits = list(pattern.finditer(text))
    for i, hit in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        value = (hit.group(2) + text[hit.end() : end]).strip()
        labelled[next(f for f in outputs if f.lower() == hit.group(1).lower())] = value
    if all(f in labelled for f in outputs):
        return {f: labelled[f] for f in outputs}
    if len(outputs) == 1 and text:
        return {outputs[0]: text}
    missing = [f for f in outputs if f not in labelled]
    raise ValueError(f"the reply has no {', '.join(missing)} field")


@dataclass
class Module:
    """One LM step of a program. ``instruction`` is the seed text GEPA evolves."""

    name: str
    instruction: str
    inputs: Sequence[str]
    outputs: Sequence[str]

    def render(self, values: Mapping[str, Any]) -> str:
        lines = [f"{k}: {values[k]}" for k in self.inputs]
        if len(self.outputs) == 1:
            lines.append(f"Reply with the {self.outputs[0]} only.")
        else:
            lines.append("Reply with these fields, one per line: " + ", ".join(f"{f}: ..." for f in self.outputs))
        return "\n".join(lines)

    def expected_format(self) -> str:
        if len(self.outputs) == 1:
            return f"the {self.outputs[0]} alone"
        return "one line per field: " + "; ".join(f"{f}: <{f}>" for f in self.outputs)

    def __call__(self, **values: Any) -> Prediction:
        context = _CONTEXT.get()
        if context is None:
            raise RuntimeError(
                f"module {self.name!r} was called outside a run; call it inside ProgramSystem.evaluate "
                "(or use gepetto.systems.program.run_program for a one-off call)"
            )
        missing = [k for k in self.inputs if k not in values]
        if missing:
            raise TypeError(f"module {self.name!r} needs inputs {missing}")
        instruction = context.candidate[self.name] if self.name in context.candidate else self.instruction
        user = self.render(values)
        shown = {k: values[k] for k in self.inputs}
        try:
            completion = context.lm.complete(
                [{"role": "system", "content": instruction}, {"role": "user", "content": user}],
                temperature=context.temperature, max_tokens=context.max_tokens,
            )
        except LMError as exc:
            context.trace.append(TraceEntry(self.name, shown, "", {}, failure_feedback(exc)))
            raise ModuleError(self.name, f"the model call of module {self.name!r} failed: {exc}") from exc
        try:
            parsed = parse_outputs(completion.text, self.outputs)
        except ValueError as exc:
            message = (
                f"module {self.name!r} could not parse the reply ({exc}). Expected {self.expected_format()}. "
                f"The reply was: {completion.text.strip()[:400]!r}"
            )
            context.trace.append(TraceEntry(self.name, shown, completion.text, {}, message))
            raise ModuleError(self.name, message, completion.text) from exc
        if completion.truncated:
            context.trace.append(TraceEntry(self.name, shown, completion.text, parsed, "reply cut at the token limit"))
        else:
            context.trace.append(TraceEntry(self.name, shown, completion.text, parsed))
        return Prediction(parsed)


Metric = Callable[..., "MetricResult | float | tuple[float, str]"]


def _wants_trace(metric: Metric) -> bool:
    """Does the metric take a third (trace) argument?"""
    try:
        params = list(inspect.signature(metric).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


@dataclass
class ProgramSystem:
    """Makes a program (a function of one example) optimizable. See the module docstring.

    ``metric(example, prediction, trace)`` (or ``metric(example, prediction)``) returns a
    float, ``(score, feedback)`` or :class:`MetricResult`; its ``module_feedback`` reaches
    only the named module's reflection records.
    """

    program: Callable[[Any], Any]
    modules: Sequence[Module]
    metric: Metric
    lm: LM
    concurrency: int = 4
    temperature: float = 0.0
    max_tokens: int = 256
    failure_score: float = 0.0
    expected: Callable[[Any], str | None] | None = None
    _names: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        names = [m.name for m in self.modules]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"module names must be unique; {sorted(duplicates)} appear more than once")
        self._names = tuple(names)

    @property
    def seed_candidate(self) -> dict[str, str]:
        return {m.name: m.instruction for m in self.modules}

    def run_one(self, candidate: Candidate, example: Any, capture_traces: bool) -> ExampleResult:
        context = _RunContext(candidate, self.lm, [], self.temperature, self.max_tokens)
        token = _CONTEXT.set(context)
        try:
            prediction = self.program(example)
            error = None
        except ModuleError as exc:
            prediction, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug on one example is a failure, not a crash
            prediction, error = None, f"the program raised {type(exc).__name__}: {exc}"
        finally:
            _CONTEXT.reset(token)
        trace = context.trace
        if error is not None:
            scored = MetricResult(self.failure_score, error)
        else:
            try:
                raw = self.metric(example, prediction, trace) if _wants_trace(self.metric) else self.metric(example, prediction)
                scored = as_metric_result(raw)
            except Exception as exc:  # noqa: BLE001
                scored = MetricResult(self.failure_score, f"The metric raised {type(exc).__name__}: {exc}")
                error = str(exc)
        records: tuple[ModuleRecord, ...] = ()
        if capture_traces:
            expected = self.expected(example) if self.expected else None
            records = tuple(
                ModuleRecord(
                    module=entry.module,
                    inputs=entry.inputs,
                    output=entry.raw,
                    feedback=(entry.error + ". " if entry.error else "") + scored.module_feedback.get(entry.module, scored.feedback),
                    score=scored.module_scores.get(entry.module, scored.score),
                    expected=expected if entry is trace[-1] else None,
                )
                for entry in trace
            )
        output = dict(prediction) if isinstance(prediction, Prediction) else prediction
        return ExampleResult(scored.score, output, scored.feedback, scored.objectives, records, error)

    def evaluate(self, candidate: Candidate, examples: Sequence[Any], *, capture_traces: bool = False) -> list[ExampleResult]:
        unknown = set(candidate) - set(self._names)
        if unknown:
            raise ValueError(f"the candidate names modules {sorted(unknown)} that the program does not have ({list(self._names)})")
        if len(examples) <= 1 or self.concurrency <= 1:
            return [self.run_one(candidate, ex, capture_traces) for ex in examples]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(examples))) as pool:
            futures = [pool.submit(contextvars.copy_context().run, self.run_one, candidate, ex, capture_traces) for ex in examples]
            return [f.result() for f in futures]
