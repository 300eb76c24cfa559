"""The API key never leaves the Authorization header: not into the run directory, the
LM cache, logs, stdout/stderr, error messages, results or pickles, even when the server
quotes the header back in its error replies and calls fail with 401 and 5xx."""

from __future__ import annotations

import logging
import pickle
import secrets
import sqlite3

import pytest

import gepetto
from gepetto.lm import LMError, UsageTracker, make_lm
from gepetto.store import RunStore

from tests.faults.fault_server import FaultPlan, FaultServer
from tests.faults.scenario import LABELS, LM_KWARGS, TASK, FailureCounter, config

pytestmark = pytest.mark.timeout(60)

ENV = "GEPETTO_FAULTS_TEST_API_KEY"


def test_api_key_is_sent_but_never_written_logged_or_shown(tmp_path, monkeypatch, caplog, capfd) -> None:
    key = "sk-test-" + secrets.token_urlsafe(32)
    monkeypatch.setenv(ENV, key)
    monkeypatch.setenv("GEPETTO_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.delenv("GEPETTO_LM_CACHE", raising=False)  # the default cache path is part of what is checked
    caplog.set_level(logging.DEBUG)  # everything: gepetto, httpx, httpcore

    # the server quotes the Authorization header in every error body and in garbage
    # replies; 401s are not retried, 5xx/429/garbage are
    plan = FaultPlan(rate=0.35, kinds=("http401", "http500", "http503", "http429", "garbage_json"), seed=3)
    tracker = UsageTracker()
    counter = FailureCounter()
    kwargs = {**LM_KWARGS, "max_retries": 1, "cache": tmp_path / "lm_cache.sqlite"}
    run_dir = tmp_path / "run"
    raised: list[BaseException] = []
    with FaultServer(LABELS, plan, echo_auth=True) as server:
        task_lm = make_lm(base_url=server.url, model="m", api_key_env=ENV, role="task", tracker=tracker, **kwargs)
        reflection_lm = make_lm(
            base_url=server.url, model="m", api_key_env=ENV, role="reflection", tracker=tracker, cache_sampled=True, **kwargs
        )
        try:
            result = gepetto.optimize(
                TASK.make_system(task_lm), TASK.train, TASK.val, reflection_lm=reflection_lm,
                config=config(max_rollouts=80), usage=tracker, run_dir=run_dir, observers=[counter],
            )
        except Exception as exc:  # noqa: BLE001 - its message is checked below, then re-raised
            raised.append(exc)
            result = None
        # a direct call that fails for good: its exception message is what users see
        server.set_down(True)
        with pytest.raises(LMError) as direct:
            task_lm.complete([{"role": "user", "content": "hi"}], temperature=0.0)
        server.set_down(False)
        stats = server.stats
    RunStore(run_dir).export_json(run_dir / "export.json")

    # the test can fail: the key really was sent, as a Bearer token, and errors happened
    assert stats.authorization == {f"Bearer {key}"}
    assert stats.faults["http401"] >= 1 and stats.faults["http500"] + stats.faults["http503"] >= 1
    assert counter.failed >= 1, "no rollout failed: the error paths did not run"
    errors_on_disk = sqlite3.connect(run_dir / "run.sqlite").execute(
        "SELECT error FROM evaluations WHERE error IS NOT NULL"
    ).fetchall()
    assert errors_on_disk
    # the server did quote the header back; what was kept of it is redacted
    assert any("Bearer ***" in e for (e,) in errors_on_disk) or "Bearer ***" in caplog.text

    # ---- now look for the key everywhere
    haystacks: dict[str, bytes] = {}
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():  # run.sqlite, -wal/-shm, reflection_cache.sqlite, lm_cache.sqlite, export.json
            haystacks[str(path)] = path.read_bytes()
    assert any(name.endswith("run.sqlite") for name in haystacks)
    assert any(name.endswith("reflection_cache.sqlite") for name in haystacks)
    assert any(name.endswith("lm_cache.sqlite") for name in haystacks)
    haystacks["caplog.text"] = caplog.text.encode()
    haystacks["log records"] = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    ).encode()
    out, err = capfd.readouterr()
    haystacks["stdout"], haystacks["stderr"] = out.encode(), err.encode()
    haystacks["failed rollouts"] = "\n".join(counter.errors).encode()
    haystacks["direct error"] = (str(direct.value) + repr(direct.value)).encode()
    haystacks["raised"] = "\n".join(repr(e) + str(e) for e in raised).encode()
    haystacks["result"] = repr(result).encode()
    haystacks["lm repr"] = (repr(task_lm) + repr(reflection_lm)).encode()
    haystacks["lm pickle"] = pickle.dumps(task_lm.inner.inner)  # TrackedLM(CachedLM(OpenAICompatibleLM))
    assert len(caplog.records) > 0

    needles = [key, key[:16], key[-16:]]  # also no half of it (a truncated snippet)
    leaks = [(name, needle[:12]) for name, blob in haystacks.items() for needle in needles if needle.encode() in blob]
    assert not leaks, f"API key found in: {leaks}"
    assert not raised, raised
