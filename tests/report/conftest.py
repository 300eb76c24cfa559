"""Run directories made once per session by the engine (fake systems, no LLM)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gepetto.core.result import Result
from gepetto.report import write_report
from tests.report.runs import RUNS


@dataclass(frozen=True)
class MadeRun:
    name: str
    run_dir: Path
    result: Result
    report: Path


@pytest.fixture(scope="session")
def made_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MadeRun]:
    base = tmp_path_factory.mktemp("report-runs")
    runs = {}
    for name, make in RUNS.items():
        run_dir = base / name
        result = make(run_dir)
        runs[name] = MadeRun(name, run_dir, result, write_report(run_dir, base / f"{name}.html"))
    return runs
