"""MLflow tracking (the [mlflow] extra): params, metrics per rollout, best candidate artifact."""

from __future__ import annotations

import json

import pytest

from gepetto import Config, optimize
from tests.engine.toy import FeedbackReadingLM, ToySystem, make_examples

mlflow = pytest.importorskip("mlflow", reason="install the extra: pip install 'gepetto[mlflow]'")


def test_a_run_is_logged_to_a_local_mlflow_store(tmp_path) -> None:
    from gepetto.tracking.mlflow_tracker import MLflowTracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = Config(max_rollouts=80, minibatch_size=4)
    tracker = MLflowTracker(uri, experiment="toy", run_name="t1", params=config.model_dump())
    result = optimize(ToySystem(), make_examples(12, 1), make_examples(8, 2), reflection_lm=FeedbackReadingLM(),
                      config=config, observers=[tracker])
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(tracker.run_id)
    assert run.data.params["max_rollouts"] == "80" and run.data.params["reflection.temperature"] == "0.7"
    assert run.data.tags["stop_reason"] == result.stop_reason and run.info.status == "FINISHED"
    history = client.get_metric_history(tracker.run_id, "best_val")
    assert history[-1].value == result.best_score and history[0].value == result.seed_score
    assert [m.step for m in history] == sorted(m.step for m in history)
    path = client.download_artifacts(tracker.run_id, "best_candidate.json", str(tmp_path))
    best = json.loads(open(path).read())
    assert best["texts"] == result.best_candidate.to_dict()
