"""The demo's run directory reads like any other: its task copy gives `gepetto show` and
`gepetto report` the gold labels of its stored validation replies."""

from __future__ import annotations

from pathlib import Path

from gepetto import Config, optimize
from gepetto.cli import main
from gepetto.demo import save_task_copy
from gepetto.lm import ScriptedLM
from gepetto.report.data import load_run
from gepetto.report.labels import stored_labels
from gepetto.taskfile import load_taskfile
from gepetto.tasks import get_task


def test_a_demo_run_gets_per_label_results_from_its_task_copy(tmp_path: Path, capsys) -> None:
    task = get_task("banking-9")
    system = task.make_system(ScriptedLM(respond=lambda messages: "card_arrival"))  # one answer for every query
    run_dir = tmp_path / "demo" / "edits-1.5b-budget300-seed0"
    config = Config(max_rollouts=36, minibatch_size=3, seed=0)  # the seed on validation and one proposal
    chatter = ScriptedLM(respond=lambda messages: "Certainly! Please provide the inputs.")  # refused: the seed stays best
    optimize(system, task.train, task.val, reflection_lm=chatter, config=config, run_dir=run_dir)
    data = load_run(run_dir)
    assert stored_labels(run_dir, data.seed, data.seed) is None  # no task copy: the gold labels are unknown

    path = save_task_copy(run_dir, task.name, "1.5b", config)
    copy = load_taskfile(path)
    assert copy.task == "banking-9" and copy.task_lm.embedded == "1.5b" and copy.optimizer == config
    labels = stored_labels(run_dir, data.seed, data.seed)
    assert labels is not None and labels.seed is None  # the best is the seed: one column
    assert labels.best.recall("card_arrival") == 1.0 and labels.best.recall("declined_transfer") == 0.0
    assert sum(labels.best.support.values()) == len(task.val)
    path.write_text(path.read_text() + "# edited\n")
    save_task_copy(run_dir, task.name, "0.5b", config)  # an existing copy is kept
    assert path.read_text().endswith("# edited\n")

    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "validation per label" in out and "declined_transfer answered as card_arrival" in out
