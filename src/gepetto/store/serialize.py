"""Turning run data into JSON and back, without ever failing on an odd output type."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

from gepetto.systems.adapter import ExampleResult, ModuleRecord


def to_jsonable(value: Any, fallback: Callable[[Any], Any] = str) -> Any:
    """Best-effort JSON form: containers recursed, dataclasses as dicts, the rest through
    ``fallback`` (``str`` by default)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, fallback) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, fallback) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), fallback) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(), fallback)
    return fallback(value)


def dumps(value: Any, fallback: Callable[[Any], Any] = str) -> str:
    return json.dumps(to_jsonable(value, fallback), ensure_ascii=False, sort_keys=True)


def result_to_row(result: ExampleResult) -> dict[str, Any]:
    return {
        "score": float(result.score),
        "output": dumps(result.output),
        "feedback": result.feedback,
        "objectives": dumps(dict(result.objectives)) if result.objectives else None,
        "records": dumps([dataclasses.asdict(r) for r in result.records]) if result.records else None,
        "error": result.error,
    }


def result_from_row(row: Any) -> ExampleResult:
    records = tuple(ModuleRecord(**r) for r in json.loads(row["records"])) if row["records"] else ()
    return ExampleResult(
        score=float(row["score"]),
        output=json.loads(row["output"]) if row["output"] is not None else None,
        feedback=row["feedback"] or "",
        objectives=json.loads(row["objectives"]) if row["objectives"] else None,
        records=records,
        error=row["error"],
    )
