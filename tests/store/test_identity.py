"""Resuming a run directory: what must match, and a refusal that names what differs."""

from __future__ import annotations

import json
import sqlite3

import pytest

from gepetto import Config, optimize
from gepetto.core.config import ReflectionConfig
from gepetto.store import RunDirError
from gepetto.store.identity import RunIdentity, legacy_fingerprint
from tests.engine.toy import ToySystem, UnhelpfulProposer, make_examples

TRAIN, VAL = make_examples(12, 1), make_examples(8, 2)
SEED = {"instruction": "Answer."}


def test_stopping_settings_do_not_count_and_explicit_defaults_equal_implicit_ones() -> None:
    plain = RunIdentity.of(Config(), TRAIN, VAL, SEED)
    explicit = RunIdentity.of(Config(reflection=ReflectionConfig(strategy=Config().reflection.strategy)), TRAIN, VAL, SEED)
    stopping = RunIdentity.of(Config(max_rollouts=999, max_seconds=5, patience=3), TRAIN, VAL, SEED)
    assert plain.fingerprint == explicit.fingerprint == stopping.fingerprint
    assert plain.differences(stopping) == []
    assert "minibatch_size" in plain.defaults and "max_rollouts" not in plain.settings
    # holdout settings only count when there is a holdout
    assert RunIdentity.of(Config(holdout_top_k=5), TRAIN, VAL, SEED).differences(plain) == []
    with_holdout = RunIdentity.of(Config(), TRAIN, VAL, SEED, holdout=VAL[:2])
    assert RunIdentity.of(Config(holdout_top_k=5), TRAIN, VAL, SEED, holdout=VAL[:2]).differences(with_holdout) == [
        "holdout_top_k: 5 now, 3 in the run"
    ]


def test_a_setting_added_by_an_upgrade_keeps_old_runs_resumable_unless_set() -> None:
    class Upgraded(Config):
        brand_new_setting: int = 3

    recorded = RunIdentity.of(Config(minibatch_size=4), TRAIN, VAL, SEED)
    assert RunIdentity.of(Upgraded(minibatch_size=4), TRAIN, VAL, SEED).differences(recorded) == []
    assert RunIdentity.of(Upgraded(minibatch_size=4, brand_new_setting=5), TRAIN, VAL, SEED).differences(recorded) == [
        "brand_new_setting: 5 now, not a setting when the run started"
    ]


def test_a_default_changed_by_an_upgrade_is_a_difference() -> None:
    class Retuned(Config):
        minibatch_size: int = 4

    recorded = RunIdentity.of(Config(), TRAIN, VAL, SEED)
    assert RunIdentity.of(Retuned(), TRAIN, VAL, SEED).differences(recorded) == ["minibatch_size: 4 now, 3 in the run"]


def test_differences_name_the_setting_and_the_data_part() -> None:
    recorded = RunIdentity.of(Config(reflection=ReflectionConfig(strategy="rewrite")), TRAIN, VAL, SEED, holdout=VAL[:2])
    now = RunIdentity.of(Config(minibatch_size=2), TRAIN[:-1], VAL, {"instruction": "Other."})
    diffs = now.differences(recorded)
    assert "minibatch_size: 2 now, 3 in the run" in diffs
    assert "reflection.strategy: 'auto' now, 'rewrite' in the run" in diffs
    assert {"the training data", "the seed candidate", "the holdout data"} <= set(diffs)
    assert "the validation data" not in diffs
    assert RunIdentity.from_json(recorded.to_json()) == recorded


def test_resolved_choices_count_like_settings() -> None:
    recorded = RunIdentity.of(Config(), TRAIN, VAL, SEED, resolved={"reflection.strategy": "edits"})
    now = RunIdentity.of(Config(), TRAIN, VAL, SEED, resolved={"reflection.strategy": "rewrite"})
    assert now.differences(recorded) == ["reflection.strategy (resolved): 'rewrite' now, 'edits' in the run"]
    # a choice the recorded run did not note cannot be compared, and does not block
    assert now.differences(RunIdentity.of(Config(), TRAIN, VAL, SEED)) == []


def _run(tmp_path, train=TRAIN, val=VAL, seed=None, holdout=(), **kw):
    cfg = dict(max_rollouts=30, minibatch_size=3, seed=5)
    cfg.update(kw)
    return optimize(ToySystem(), train, val, proposer=UnhelpfulProposer(), config=Config(**cfg), run_dir=tmp_path / "r",
                    resume=True, seed_candidate=seed, holdout=holdout)


def test_refusal_names_what_differs_and_how_to_force(tmp_path) -> None:
    _run(tmp_path)
    with pytest.raises(RunDirError) as caught:
        _run(tmp_path, minibatch_size=2)
    message = str(caught.value)
    assert "differs from this one: minibatch_size: 2 now, 3 in the run." in message
    assert "gepetto resume --force" in message and "force=True" in message
    with pytest.raises(RunDirError, match="differs from this one: the validation data"):
        _run(tmp_path, val=VAL[:-1])
    with pytest.raises(RunDirError, match="differs from this one: the seed candidate"):
        _run(tmp_path, seed={"instruction": "Something else."})
    with pytest.raises(RunDirError, match="differs from this one: the holdout data"):
        _run(tmp_path, holdout=make_examples(4, 3))
    # stopping settings may change
    assert _run(tmp_path, max_rollouts=60).rollouts_used > 30


def test_a_run_recorded_with_the_old_fingerprint_still_resumes(tmp_path) -> None:
    _run(tmp_path)
    # the fingerprint gepetto recorded before run identities (commit 208d488), pinned
    old = "df906b1d8f6bbe7838352657d23a159732b8d4685b5c65a3bab07027b4332fc5"
    assert legacy_fingerprint(Config(max_rollouts=30, minibatch_size=3, seed=5), TRAIN, VAL, ToySystem().seed_candidate) == old
    db = sqlite3.connect(tmp_path / "r" / "run.sqlite")
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


class _Example:
    def __init__(self, question: str, answer: str) -> None:
        self.question, self.answer = question, answer


def test_plain_object_examples_digest_by_their_attributes_not_their_address() -> None:
    first = [_Example("2+2?", "4"), _Example("3+3?", "6")]
    again = [_Example("2+2?", "4"), _Example("3+3?", "6")]
    other = [_Example("2+2?", "4"), _Example("3+3?", "7")]
    assert RunIdentity.of(Config(), first, VAL, SEED).differences(RunIdentity.of(Config(), again, VAL, SEED)) == []
    assert RunIdentity.of(Config(), other, VAL, SEED).differences(RunIdentity.of(Config(), first, VAL, SEED)) == ["the training data"]


def test_a_resume_with_another_task_or_reflection_model_is_refused(tmp_path) -> None:
    """The stored evaluations were made by the run's task model; replaying them under
    another would mix two experiments. Names count, not endpoints (the embedded server
    takes a new port on every start)."""
    from gepetto import PromptSystem
    from gepetto.lm import ScriptedLM

    class Named(ScriptedLM):
        def __init__(self, model: str, **kw) -> None:
            super().__init__(**kw)
            self.model = model

    data = [{"q": f"q{i}", "a": "yes"} for i in range(6)]

    def run(task_model: str, reflection_model: str, **kw):
        system = PromptSystem(lm=Named(task_model, respond=lambda m: "no"), seed_instruction="Answer.",
                              render=lambda ex: ex["q"], metric=lambda ex, reply: float(reply == ex["a"]))
        reflection = Named(reflection_model, respond=lambda m: "Answer yes or no.")
        return optimize(system, data, data, reflection_lm=reflection, config=Config(max_rollouts=20, minibatch_size=2),
                        run_dir=tmp_path / "r", resume=True, **kw)

    run("task-a", "refl-a")
    run("task-a", "refl-a")  # the same models: resumes
    with pytest.raises(RunDirError, match="task_lm.model \\(resolved\\): 'task-b' now, 'task-a' in the run"):
        run("task-b", "refl-a")
    with pytest.raises(RunDirError, match="reflection_lm.model \\(resolved\\): 'refl-b' now, 'refl-a' in the run"):
        run("task-a", "refl-b")
    run("task-b", "refl-a", force=True)  # forced: the run now carries the new name
    run("task-b", "refl-a")
    with pytest.raises(RunDirError, match="'task-a' now, 'task-b' in the run"):
        run("task-a", "refl-a")
    # a run recorded before model names were part of a run's identity resumes with any model
    with sqlite3.connect(tmp_path / "r" / "run.sqlite") as conn:
        (raw,) = conn.execute("SELECT value FROM meta WHERE key='identity'").fetchone()
        old = json.loads(raw)
        old["settings"] = {k: v for k, v in old["settings"].items() if not k.endswith(".model (resolved)")}
        conn.execute("UPDATE meta SET value=? WHERE key='identity'", (json.dumps(old),))
        conn.execute("UPDATE meta SET value=? WHERE key='fingerprint'", ("recorded-before-model-names",))
    run("task-c", "refl-c")
