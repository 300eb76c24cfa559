"""Resuming a run directory: what must match, and a refusal that names what differs."""

from __future__ import annotations

import sqlite3

import pytest

from gepetto import Config, optimize
from gepetto.core.config import ReflectionConfig
from gepetto.store import RunDirError
from gepetto.store.identity import RunIdentity, legacy_fingerprint
from tests.engine.toy import ToySystem, UnhelpfulProposer, make_examples

TRAIN, VAL = make_examples(12, 1), make_examples(8, 2)
SEED = {"instruction": "Answer."}


def test_settings_at_their_defaults_and_stopping_settings_do_not_count() -> None:
    plain = RunIdentity.of(Config(), TRAIN, VAL, SEED)
    explicit = RunIdentity.of(Config(reflection=ReflectionConfig(strategy=Config().reflection.strategy)), TRAIN, VAL, SEED)
    stopping = RunIdentity.of(Config(max_rollouts=999, max_seconds=5, patience=3), TRAIN, VAL, SEED)
    assert plain.fingerprint == explicit.fingerprint == stopping.fingerprint
    assert plain.settings == {}


def test_a_setting_added_by_an_upgrade_keeps_old_runs_resumable() -> None:
    class Upgraded(Config):
        brand_new_setting: int = 3

    before = RunIdentity.of(Config(minibatch_size=4), TRAIN, VAL, SEED)
    after = RunIdentity.of(Upgraded(minibatch_size=4), TRAIN, VAL, SEED)
    assert before.fingerprint == after.fingerprint
    # the old formula hashed every field, so the same upgrade broke it
    assert legacy_fingerprint(Config(minibatch_size=4), TRAIN, VAL, SEED) != legacy_fingerprint(Upgraded(minibatch_size=4), TRAIN, VAL, SEED)


def test_differences_name_the_setting_and_the_data_part() -> None:
    recorded = RunIdentity.of(Config(reflection=ReflectionConfig(strategy="rewrite")), TRAIN, VAL, SEED)
    now = RunIdentity.of(Config(minibatch_size=2), TRAIN[:-1], VAL, {"instruction": "Other."})
    diffs = now.differences(recorded)
    assert "minibatch_size: 2 now, the default in the run" in diffs
    assert "reflection.strategy: the default now, 'rewrite' in the run" in diffs
    assert "the training data" in diffs and "the seed candidate" in diffs
    assert "the validation data" not in diffs
    assert RunIdentity.from_json(recorded.to_json()) == recorded


def _run(tmp_path, **kw):
    cfg = dict(max_rollouts=30, minibatch_size=3, seed=5)
    cfg.update(kw)
    return optimize(ToySystem(), TRAIN, VAL, proposer=UnhelpfulProposer(), config=Config(**cfg), run_dir=tmp_path / "r", resume=True)


def test_refusal_names_what_differs_and_both_ways_to_force(tmp_path) -> None:
    _run(tmp_path)
    with pytest.raises(RunDirError) as caught:
        _run(tmp_path, minibatch_size=2)
    message = str(caught.value)
    assert "minibatch_size: 2 now, the default in the run" in message
    assert "--force" in message and "force=True" in message
    # stopping settings may change
    assert _run(tmp_path, max_rollouts=60).rollouts_used > 30


def test_a_run_recorded_with_the_old_fingerprint_still_resumes(tmp_path) -> None:
    _run(tmp_path)
    db = sqlite3.connect(tmp_path / "r" / "run.sqlite")
    old = legacy_fingerprint(Config(max_rollouts=30, minibatch_size=3, seed=5), TRAIN, VAL, ToySystem().seed_candidate)
    db.execute("UPDATE meta SET value=? WHERE key='fingerprint'", (old,))
    db.execute("DELETE FROM meta WHERE key='identity'")
    db.commit()
    db.close()
    assert _run(tmp_path, max_rollouts=45).rollouts_used > 30
    # and a mismatch on such a run says why it cannot name the difference
    db = sqlite3.connect(tmp_path / "r" / "run.sqlite")
    db.execute("UPDATE meta SET value='0000' WHERE key='fingerprint'")
    db.execute("DELETE FROM meta WHERE key='identity'")
    db.commit()
    db.close()
    with pytest.raises(RunDirError, match="predates gepetto naming the difference"):
        _run(tmp_path, max_rollouts=60)
