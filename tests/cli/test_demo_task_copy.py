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


def test_a_demo_run_of_other_settings_is_kept_and_the_new_run_goes_next_to_it(tmp_path: Path) -> None:
    """An earlier gepetto's demo run (other defaults) is neither continued nor touched: the
    README's first command starts the new run beside it, and a rerun continues that one."""
    from gepetto.core.config import ReflectionConfig
    from gepetto.demo import run_dir_for
    from gepetto.store.identity import RunIdentity

    task = get_task("banking-9")
    system = task.make_system(ScriptedLM(respond=lambda messages: "card_arrival"))
    named = tmp_path / "demo" / "edits-1.5b-budget300-seed0"
    old = Config(max_rollouts=36, minibatch_size=3, seed=0, reflection=ReflectionConfig(demonstrations_layout="section"))
    chatter = ScriptedLM(respond=lambda messages: "Certainly! Please provide the inputs.")
    optimize(system, task.train, task.val, reflection_lm=chatter, config=old, run_dir=named)
    before = (named / "run.sqlite").read_bytes()

    same = RunIdentity.of(old, task.train, task.val, system.seed_candidate)
    assert run_dir_for(named, same) == (named, True, [])  # the same settings: continue it

    new = Config(max_rollouts=36, minibatch_size=3, seed=0)
    run_dir, resume, passed = run_dir_for(named, RunIdentity.of(new, task.train, task.val, system.seed_candidate))
    assert run_dir == named.with_name(named.name + "-2") and not resume
    assert passed == ["reflection.demonstrations_layout: 'labelled' now, 'section' in the run"]
    optimize(system, task.train, task.val, reflection_lm=chatter, config=new, run_dir=run_dir)
    assert (named / "run.sqlite").read_bytes() == before  # the earlier run is untouched
    assert run_dir_for(named, RunIdentity.of(new, task.train, task.val, system.seed_candidate)) == (run_dir, True, passed)
