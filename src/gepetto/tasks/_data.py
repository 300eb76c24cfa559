"""Reading the bundled datasets (package data under ``gepetto/tasks/data``).

Why bundled: tasks must work on a fresh machine with no network beyond the package
index, and the splits must be identical everywhere. Each dataset keeps its LICENSE
beside it; large files are gzipped.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from typing import Any


def data_file(dataset: str, name: str):  # noqa: ANN201 - importlib Traversable
    path = resources.files("gepetto.tasks") / "data" / dataset / name
    if not path.is_file():
        raise FileNotFoundError(f"bundled data file {dataset}/{name} is missing from the gepetto package")
    return path


def read_json_gz(dataset: str, name: str) -> Any:
    with data_file(dataset, name).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl_gz(dataset: str, name: str) -> list[dict[str, Any]]:
    with data_file(dataset, name).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
