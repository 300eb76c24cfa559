"""Log a run to MLflow: config as params, scores per rollout as metrics, the best
candidate as an artifact. Needs the extra: ``pip install 'gepetto[mlflow]'``.

Local by default: a SQLite tracking store next to the runs (``sqlite:///runs/mlflow.db``),
which ``mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`` opens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gepetto.core.events import CandidateAccepted, CandidateScored, Event, ProposalEvaluated, RunFinished, RunStarted


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


class MLflowTracker:
    """An engine observer. ``params`` (e.g. ``config.model_dump()``) are logged at start."""

    def __init__(
        self, tracking_uri: str | None = None, experiment: str = "gepetto", run_name: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        try:
            import mlflow
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError("MLflow tracking needs the extra: pip install 'gepetto[mlflow]'") from exc
        self.mlflow = mlflow
        if tracking_uri is None:
            Path("runs").mkdir(exist_ok=True)
            tracking_uri = f"sqlite:///{Path('runs').resolve() / 'mlflow.db'}"
        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        if found:
            self.experiment_id = found.experiment_id
        else:
            # keep artifacts beside a local SQLite store, not in ./mlruns of whatever the cwd is
            location = None
            if tracking_uri.startswith("sqlite:///"):
                location = (Path(tracking_uri[len("sqlite:///"):]).parent / "mlflow-artifacts").resolve().as_uri()
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        self.run_name = run_name
        self.params = params or {}
        self.run_id: str | None = None
        self.texts: dict[int, dict[str, str]] = {}
        self.statuses: dict[str, int] = {}

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            run = self.client.create_run(self.experiment_id, run_name=self.run_name)
            self.run_id = run.info.run_id
            flat: dict[str, Any] = {}
            _flatten("", self.params, flat)
            flat.update({"n_train": event.n_train, "n_val": event.n_val, "modules": ",".join(event.modules)})
            for key, value in flat.items():
                self.client.log_param(self.run_id, key, str(value)[:500])
            return
        if self.run_id is None:
            return
        step = event.rollouts_used
        if isinstance(event, CandidateAccepted):
            self.texts[event.index] = dict(event.texts)
        elif isinstance(event, CandidateScored):
            self.client.log_metric(self.run_id, "best_val", event.best_val_mean, step=step)
            self.client.log_metric(self.run_id, "candidate_val", event.val_mean, step=step)
            self.client.log_metric(self.run_id, "candidates", event.index + 1, step=step)
        elif isinstance(event, ProposalEvaluated):
            self.statuses[event.status] = self.statuses.get(event.status, 0) + 1
            self.client.log_metric(self.run_id, f"proposals_{event.status}", self.statuses[event.status], step=step)
        elif isinstance(event, RunFinished):
            self.client.set_tag(self.run_id, "stop_reason", event.stop_reason)
            self.client.log_metric(self.run_id, "rollouts", event.rollouts_used, step=step)
            best = {"index": event.best_index, "val_mean": event.best_val_mean, "texts": self.texts.get(event.best_index, {})}
            self.client.log_text(self.run_id, json.dumps(best, indent=2, ensure_ascii=False), "best_candidate.json")
            status = "KILLED" if event.stop_reason == "interrupted" else "FINISHED"
            self.client.set_terminated(self.run_id, status=status)
