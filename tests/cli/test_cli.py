"""The command line end to end, against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gepetto.cli import main
from gepetto.proposers.reflective import SYSTEM_PROMPT
from tests.lm.lm_fakes import FakeOpenAIServer, ok

LABELS = ["fruit", "animal", "color"]
WORDS = {"fruit": ["apple", "pear", "plum", "mango"], "animal": ["cat", "horse", "otter", "crow"], "color": ["red", "teal", "ochre", "navy"]}


def respond(body):
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    if system == SYSTEM_PROMPT:
        return ok("```\nSort the word into its category: fruit, animal or color. Answer with the category only.\n```")
    if "category" in system:
        word = user.split()[-1]
        return ok(next(label for label, words in WORDS.items() if word in words))
    return ok("fruit")


@pytest.fixture
def fake():
    server = FakeOpenAIServer().start()
    server.default = respond
    yield server
    server.stop()


@pytest.fixture
def taskfile(tmp_path: Path, fake) -> Path:
    rng = random.Random(0)
    rows = [{"text": f"Which kind is {w}", "label": label} for label, words in WORDS.items() for w in words for _ in range(3)]
    rng.shuffle(rows)
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "task.yaml").write_text(f"""
name: kinds
data:
  train: data.jsonl
  input: text
  target: label
  split: {{train: 12, val: 8, test: 6, seed: 1}}
program:
  kind: classifier
  instruction: "Answer with one word."
task_lm:
  base_url: {fake.url}/v1
  model: fake
optimizer:
  max_rollouts: 60
  minibatch_size: 3
""")
    return tmp_path / "task.yaml"


def test_optimize_show_runs_evaluate(taskfile: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "runs" / "kinds"
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--plain"]) == 0
    out = capsys.readouterr().out
    assert "test (6 examples): seed" in out and "-> best 1.000" in out
    assert (run_dir / "run.sqlite").exists() and (run_dir / "task.yaml").exists()

    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "best candidate #1" in out and "category" in out
    # per-label validation recall from the stored replies: the seed answers "fruit" to everything
    assert "validation per label" in out
    shown = {line.split()[0]: line for line in out.split("validation per label")[1].splitlines() if line.split() and line.split()[0] in LABELS}
    assert set(shown) == set(LABELS)
    assert "0.00 -> 1.00" in shown["animal"] and "1.00 -> 1.00" in shown["fruit"]
    # the HTML report carries the same table
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report.html").read_text()
    section = html.split('id="labels"')[1].split("</section>")[0]
    assert "Validation per label" in section and all(f">{label}<" in section for label in LABELS)
    assert "Balanced accuracy (mean recall): 0.33 → 1.00" in section

    assert main(["runs", str(tmp_path / "runs")]) == 0
    assert "kinds" in capsys.readouterr().out

    assert main(["evaluate", str(run_dir), "--split", "test"]) == 0
    assert "on test (6 examples): 1.000" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--split", "val", "--candidate", "0"]) == 0
    out = capsys.readouterr().out
    assert "candidate #0 on val" in out
    # a classifier gets per-label recall and its commonest errors (the seed answers "fruit" to everything)
    assert "balanced accuracy (mean recall)" in out and "answered as fruit" in out
    assert main(["evaluate", str(run_dir), "--split", "train", "--vs-seed"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in LABELS}
    assert "0.00 -> 1.00" in rows["animal"] and "1.00 -> 1.00" in rows["fruit"]
    assert "seed (#0) on train:" in out and "commonest errors" not in out  # the best makes none


def test_resume_continues_with_a_larger_budget(taskfile: Path, tmp_path: Path, capsys, fake) -> None:
    run_dir = tmp_path / "r"
    # a proposer that never improves: replace the reflection answer with chatter
    fake.default = lambda body: ok("Certainly! Please provide the inputs.") if body["messages"][0]["content"] == SYSTEM_PROMPT else respond(body)
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--budget", "20", "--quiet"]) == 0
    assert main(["resume", str(run_dir), "--budget", "40", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "40 rollouts" in out or "/40 rollouts" in out


def test_resume_names_what_changed_and_force_resumes_anyway(taskfile: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "changed"
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--budget", "30", "--quiet"]) == 0
    capsys.readouterr()
    # a refused resume leaves the run's saved task file as it was: a plain resume still works after it
    assert main(["resume", str(run_dir), "--quiet", "--set", "optimizer.minibatch_size=2"]) == 2
    assert "minibatch_size: 2 now, 3 in the run" in capsys.readouterr().err
    assert main(["resume", str(run_dir), "--budget", "35", "--quiet"]) == 0
    data = tmp_path / "data.jsonl"
    rows = data.read_text().splitlines()
    data.write_text("\n".join(rows[1:] + rows[:1]))  # the same rows, another order: other splits
    assert main(["resume", str(run_dir), "--budget", "40", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the training data" in err and "gepetto resume --force" in err
    assert main(["resume", str(run_dir), "--budget", "40", "--quiet", "--force"]) == 0


def test_clear_errors(taskfile: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(taskfile.read_text().replace("max_rollouts: 60", "max_rolouts: 60"))
    assert main(["optimize", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "optimizer" in err and "unknown setting 'max_rolouts'; did you mean 'max_rollouts'" in err

    wrong_field = tmp_path / "field.yaml"
    wrong_field.write_text(taskfile.read_text().replace("target: label", "target: intent"))
    assert main(["optimize", str(wrong_field), "--run-dir", str(tmp_path / "w")]) == 2
    assert "field(s) ['intent'] not found" in capsys.readouterr().err

    assert main(["optimize", str(taskfile), "--set", "optimizer.selector=best"]) == 2
    assert "optimizer.selector" in capsys.readouterr().err

    run_dir = tmp_path / "once"
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--quiet"]) == 2
    assert "gepetto resume" in capsys.readouterr().err

    assert main(["show", str(tmp_path / "nothing")]) == 2
    assert main(["frobnicate"]) == 2


def test_diff_marks_only_what_changed() -> None:
    from gepetto.cli.inspect import diff_text

    text = diff_text("Answer with the label only.", "Answer with the label only.\n\nRules:\n- Be brief.")
    added = "".join(text.plain[s.start : s.end] for s in text.spans if s.style == "green")
    removed = [text.plain[s.start : s.end] for s in text.spans if "strike" in str(s.style)]
    assert added == "\n\nRules:\n- Be brief." and removed == []


def test_export(taskfile: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "e"
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--quiet"]) == 0
    assert main(["export", str(run_dir)]) == 0
    data = json.loads((run_dir / "export.json").read_text())
    assert data["candidates"][0]["origin"] == "seed" and data["candidates"][1]["parents"] == [0]
    assert all(len(c["val_scores"]) == 8 for c in data["candidates"])


def test_optimize_logs_to_mlflow_when_asked(taskfile: Path, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow", reason="install the extra: pip install 'gepetto[mlflow]'")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["optimize", str(taskfile), "--run-dir", str(tmp_path / "m"), "--quiet", "--mlflow", uri]) == 0
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("gepetto").experiment_id])
    assert len(runs) == 1 and runs[0].data.params["task"] == "kinds"
    assert runs[0].data.metrics["best_val"] == 1.0


def test_data_from_a_saved_hugging_face_dataset_and_csv(taskfile: Path, tmp_path: Path, capsys) -> None:
    datasets = pytest.importorskip("datasets", reason="install the extra: pip install 'gepetto[hf]'")
    rows = [json.loads(line) for line in (tmp_path / "data.jsonl").read_text().splitlines()]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    hf_task = tmp_path / "hf.yaml"
    hf_task.write_text(taskfile.read_text().replace("train: data.jsonl", "train: hf"))
    assert main(["optimize", str(hf_task), "--run-dir", str(tmp_path / "h"), "--quiet"]) == 0
    assert "-> best 1.000" in capsys.readouterr().out

    import csv

    with (tmp_path / "data.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    csv_task = tmp_path / "csv.yaml"
    csv_task.write_text(taskfile.read_text().replace("train: data.jsonl", "train: data.csv"))
    assert main(["optimize", str(csv_task), "--run-dir", str(tmp_path / "c"), "--quiet"]) == 0
    assert "-> best 1.000" in capsys.readouterr().out


def test_a_task_file_holdout_split_runs_the_final_check(taskfile: Path, tmp_path: Path, capsys) -> None:
    import sqlite3

    run_dir = tmp_path / "h"
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--quiet", "--set", "data.split.holdout=6"]) == 0
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        held = db.execute("SELECT COUNT(*), COUNT(DISTINCT candidate_id) FROM evaluations WHERE split='holdout'").fetchone()
    assert held[0] % 6 == 0 and held[0] >= 12 and held[1] >= 2  # the seed and at least one challenger, 6 examples each
    assert "plan:" not in capsys.readouterr().out  # --quiet prints only the summary


def test_transfer_scores_seed_and_best_with_another_model(taskfile: Path, tmp_path: Path, capsys, fake) -> None:
    run_dir = tmp_path / "t"
    assert main(["optimize", str(taskfile), "--run-dir", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()

    def weak(body):  # the other model ignores the instruction: always "fruit"
        if body["model"] == "weak":
            return ok("fruit")
        return respond(body)

    fake.default = weak
    before = len(fake.requests)
    assert main(["transfer", str(run_dir), "--base-url", f"{fake.url}/v1", "--model", "weak"]) == 0
    out = capsys.readouterr().out
    assert "optimized with fake, scored with weak on test (6 examples)" in out
    new = fake.requests[before:]
    assert new and all(r.body["model"] == "weak" for r in new if r.path.endswith("/chat/completions"))
    # both candidates answer "fruit" for every query with the weak model: the same score
    seed_part, best_part = out.split("seed ")[1].split(" -> ")
    assert seed_part.strip() == best_part.split()[2] and "(+0.000)" in out
    with pytest.raises(SystemExit):  # a target model is required
        main(["transfer", str(run_dir)])


def test_a_validation_split_without_a_label_is_warned_and_stratify_fixes_it(taskfile: Path, tmp_path: Path, caplog) -> None:
    from gepetto.taskfile import load_taskfile, task_splits

    caplog.set_level("WARNING", logger="gepetto")
    assert main(["optimize", str(taskfile), "--run-dir", str(tmp_path / "v"), "--quiet", "--set", "data.split.val=2"]) == 0
    assert "the validation set has no example of 2 of 3 labels (color, fruit)" in caplog.text
    caplog.clear()
    args = ["--set", "data.split.val=3", "--set", "data.split.stratify=true"]
    assert main(["optimize", str(taskfile), "--run-dir", str(tmp_path / "s"), "--quiet", *args]) == 0
    assert "no example of" not in caplog.text
    task = load_taskfile(taskfile, overrides=["data.split.val=3", "data.split.stratify=true"])
    splits = task_splits(task)
    assert sorted(r["label"] for r in splits.val) == ["animal", "color", "fruit"]
    assert sorted(r["label"] for r in splits.train) == sorted(LABELS * 4)
