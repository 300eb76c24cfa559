"""Task files: one YAML file that names the data, the program, the LMs and the optimizer
settings of a run, validated before any model is called.

Every key is checked by pydantic with ``extra="forbid"``, so a typo fails with the key's
path and the allowed values. See the README ("Task files") for a full example.
"""

from __future__ import annotations

import csv
import importlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gepetto.core.config import Config
from gepetto.lm.base import LM, UsageTracker
from gepetto.systems.adapter import System
from gepetto.tasks.splits import stratified_order


class TaskFileError(ValueError):
    """The task file is invalid; the message names the key and the fix."""


class SplitSizes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: int = Field(30, ge=1)
    val: int = Field(30, ge=1)
    test: int = Field(0, ge=0)
    holdout: int = Field(0, ge=0, description="examples for the final held-out check (cut after val)")
    seed: int = 0
    stratify: bool = Field(
        False, description="cut every split with each target value in its share of the data (for classifiers: the "
        "validation set then shows every label the data has enough of)",
    )


class DataSpec(BaseModel):
    """Where the examples come from and which fields matter."""

    model_config = ConfigDict(extra="forbid")
    train: str = Field(description="JSONL, CSV, or a directory saved by Hugging Face `datasets`")
    val: str | None = None
    test: str | None = None
    input: str | list[str] = "input"
    target: str = "target"
    split: SplitSizes = Field(default_factory=SplitSizes)


class LMSpec(BaseModel):
    """The embedded model (``embedded: 1.5b``) or any OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid")
    embedded: str | None = None
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(None, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_concurrency: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> "LMSpec":
        if self.embedded is None and (self.base_url is None or self.model is None):
            raise ValueError("give either `embedded: 1.5b` (or 0.5b, or a .gguf path) or both `base_url` and `model`")
        if self.embedded is not None and self.base_url is not None:
            raise ValueError("give either `embedded` or `base_url`, not both")
        return self


class ProgramSpec(BaseModel):
    """What is optimized: a bundled program kind, or your own factory."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["classifier", "answer", "custom"] = "classifier"
    instruction: str | None = Field(None, description="the seed instruction (classifier/answer)")
    labels: list[str] | None = None
    object: str | None = Field(None, description="custom: 'package.module:factory', factory(task_lm) -> System")

    @model_validator(mode="after")
    def _check(self) -> "ProgramSpec":
        if self.kind == "custom" and not self.object:
            raise ValueError("program.kind 'custom' needs program.object: 'package.module:factory'")
        if self.kind != "custom" and not self.instruction:
            raise ValueError(f"program.kind '{self.kind}' needs program.instruction (the seed instruction)")
        return self


class TaskFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    task: str | None = Field(None, description="a bundled task instead of data/program, e.g. banking-9")
    data: DataSpec | None = None
    program: ProgramSpec | None = None
    task_lm: LMSpec = Field(default_factory=lambda: LMSpec(embedded="1.5b"))
    reflection_lm: LMSpec | None = None
    optimizer: Config = Field(default_factory=Config)
    run_dir: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "TaskFile":
        if self.task is None and (self.data is None or self.program is None):
            raise ValueError("give a bundled `task: banking-9`, or both `data:` and `program:`")
        if self.task is not None:
            from gepetto.tasks import task_names

            if self.task not in task_names():
                raise ValueError(f"unknown bundled task {self.task!r}; known: {', '.join(task_names())}")
        return self


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid task file:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see the README's task file reference)"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise TaskFileError(f"--set {dotted}: {key} is not a section")
    node[keys[-1]] = value


def load_taskfile(path: str | Path, overrides: Sequence[str] = ()) -> TaskFile:
    """Parse and validate a task file; ``overrides`` are ``key.path=value`` strings."""
    path = Path(path)
    if not path.exists():
        raise TaskFileError(f"task file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TaskFileError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise TaskFileError(f"{path} must hold a mapping of keys (data:, program:, optimizer:, ...)")
    for item in overrides:
        if "=" not in item:
            raise TaskFileError(f"--set expects key.path=value, got {item!r}")
        key, value = item.split("=", 1)
        _set_path(raw, key.strip(), yaml.safe_load(value))
    # resolve data paths relative to the task file
    data = raw.get("data")
    if isinstance(data, dict):
        for key in ("train", "val", "test"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str((path.parent / data[key]).resolve())
    raw.setdefault("name", path.stem)
    try:
        return TaskFile.model_validate(raw)
    except ValidationError as exc:
        raise TaskFileError(_format_validation_error(exc, str(path))) from None


# --------------------------------------------------------------------------- data
def read_examples(source: str) -> list[dict[str, Any]]:
    """Rows of a JSONL or CSV file, or of a dataset directory saved by `datasets`."""
    path = Path(source)
    if not path.exists():
        raise TaskFileError(f"data file {source} does not exist")
    if path.is_dir():
        try:
            from datasets import load_from_disk  # type: ignore[import-not-found]
        except ImportError as exc:
            raise TaskFileError(
                f"{source} is a directory: reading a Hugging Face dataset needs `pip install 'gepetto[hf]'`"
            ) from exc
        dataset = load_from_disk(str(path))
        if hasattr(dataset, "keys"):
            raise TaskFileError(f"{source} holds several splits ({list(dataset.keys())}); point at one split's directory")
        return [dict(row) for row in dataset]
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise TaskFileError(f"{source}:{number} is not valid JSON: {exc}") from None
        return rows
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    raise TaskFileError(f"{source}: unsupported data format; use .jsonl, .csv or a `datasets` directory")


@dataclass
class Splits:
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]
    holdout: list[dict[str, Any]] = field(default_factory=list)


def load_splits(spec: DataSpec) -> Splits:
    fields = [spec.input] if isinstance(spec.input, str) else list(spec.input)
    rows = read_examples(spec.train)
    for label, part in (("train", rows),):
        _check_fields(part, fields + [spec.target], spec.train, label)
    if spec.val is not None:
        train = rows
        val = read_examples(spec.val)
        _check_fields(val, fields + [spec.target], spec.val, "val")
        test = read_examples(spec.test) if spec.test else []
        return Splits(train, val, test)
    shuffled = list(rows)
    random.Random(spec.split.seed).shuffle(shuffled)
    sizes = spec.split
    if sizes.stratify:
        shuffled = stratified_order(shuffled, lambda row: str(row[spec.target]))
    need = sizes.train + sizes.val + sizes.holdout + (0 if spec.test else sizes.test)
    if need > len(shuffled):
        raise TaskFileError(
            f"{spec.train} has {len(rows)} rows but data.split asks for {need} (train {sizes.train} + val {sizes.val}"
            f" + holdout {sizes.holdout} + test {sizes.test}); lower the sizes"
        )
    train = shuffled[: sizes.train]
    val = shuffled[sizes.train : sizes.train + sizes.val]
    start = sizes.train + sizes.val
    holdout = shuffled[start : start + sizes.holdout]
    start += sizes.holdout
    test = read_examples(spec.test) if spec.test else shuffled[start : start + sizes.test]
    return Splits(train, val, test, holdout)


def _check_fields(rows: list[dict[str, Any]], fields: list[str], source: str, split: str) -> None:
    if not rows:
        raise TaskFileError(f"{source} ({split}) has no rows")
    missing = [f for f in fields if f not in rows[0]]
    if missing:
        raise TaskFileError(
            f"{source} ({split}): field(s) {missing} not found; rows have {sorted(rows[0])}. "
            "Set data.input / data.target to the right field names"
        )


# ------------------------------------------------------------------------ program
def render_input(fields: str | list[str]):  # noqa: ANN201
    if isinstance(fields, str):
        return lambda ex: str(ex[fields])
    return lambda ex: "\n".join(f"{f}: {ex[f]}" for f in fields)


def build_system(task: TaskFile, lm: LM, splits: Splits | None) -> System:
    """The System a task file describes, wired to ``lm``."""
    from gepetto.systems.metrics import LabelMetric, exact_answer_metric
    from gepetto.systems.prompt_system import PromptSystem

    if task.task is not None:
        from gepetto.tasks import get_task

        return get_task(task.task).make_system(lm)
    assert task.program is not None and task.data is not None
    program, data = task.program, task.data
    if program.kind == "custom":
        factory = import_object(program.object or "")
        system = factory(lm)
        if not hasattr(system, "evaluate"):
            raise TaskFileError(f"{program.object} returned {type(system).__name__}, which has no evaluate(); it must return a System")
        return system
    target = data.target
    if program.kind == "classifier":
        labels = program.labels
        if labels is None:
            assert splits is not None
            labels = sorted({str(ex[target]) for ex in splits.train + splits.val})
        metric = LabelMetric(labels)
        return PromptSystem(
            lm=lm, seed_instruction=program.instruction or "", render=render_input(data.input),
            metric=lambda ex, reply: metric(str(ex[target]), reply), module="instruction",
            expected=lambda ex: str(ex[target]), max_tokens=task.task_lm.max_tokens or 32, labels=list(labels),
        )
    return PromptSystem(
        lm=lm, seed_instruction=program.instruction or "", render=render_input(data.input),
        metric=lambda ex, reply: exact_answer_metric(str(ex[target]), reply), module="instruction",
        expected=lambda ex: str(ex[target]), max_tokens=task.task_lm.max_tokens or 256,
    )


def import_object(spec: str) -> Any:
    if ":" not in spec:
        raise TaskFileError(f"{spec!r}: write the object as 'package.module:name'")
    module_name, attr = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskFileError(f"cannot import {module_name!r} ({exc}); is it on PYTHONPATH?") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise TaskFileError(f"{module_name} has no {attr!r}") from None


def task_splits(task: TaskFile) -> Splits:
    if task.task is not None:
        from gepetto.tasks import get_task

        t = get_task(task.task)
        return Splits(list(t.train), list(t.val), list(t.test))
    assert task.data is not None
    return load_splits(task.data)


# ---------------------------------------------------------------------------- LMs
def make_lms(task: TaskFile, tracker: UsageTracker, stack: Any) -> tuple[LM, LM]:
    """Task and reflection LMs; embedded servers are entered into ``stack`` (ExitStack)."""
    from gepetto.lm import make_lm

    servers: dict[str, Any] = {}

    def build(spec: LMSpec, role: str) -> LM:
        extra: dict[str, Any] = {"timeout_s": spec.timeout_s, "max_concurrency": spec.max_concurrency}
        if spec.embedded is not None:
            if spec.embedded not in servers:
                from gepetto.lm.embedded import start_embedded

                print(f"starting the embedded model {spec.embedded} on 127.0.0.1 ...", flush=True)
                servers[spec.embedded] = stack.enter_context(start_embedded(spec.embedded))
            server = servers[spec.embedded]
            return make_lm(base_url=server.base_url, model=server.model, role=role, tracker=tracker,
                           cache_sampled=role == "reflection", identity=server.identity, seed_samples=True, **extra)
        return make_lm(base_url=spec.base_url or "", model=spec.model or "", api_key_env=spec.api_key_env, role=role,
                       tracker=tracker, cache_sampled=role == "reflection", **extra)

    task_lm = build(task.task_lm, "task")
    reflection_lm = build(task.reflection_lm or task.task_lm, "reflection")
    return task_lm, reflection_lm
