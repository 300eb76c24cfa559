from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path

import pytest
from lm_fakes import FakeOpenAIServer, error, ok

from gepetto.lm import (
    LM,
    CachedLM,
    Completion,
    LMError,
    OpenAICompatibleLM,
    ResponseCache,
    ScriptedLM,
    TrackedLM,
    UsageTracker,
    make_lm,
)

MSGS = [{"role": "user", "content": "hello"}]


def test_records_calls_tokens_and_truncation() -> None:
    tracker = UsageTracker()
    inner = ScriptedLM(
        replies=[
            Completion("a", prompt_tokens=10, completion_tokens=2, latency_s=0.5),
            Completion("b", finish_reason="length", prompt_tokens=5, completion_tokens=8),
        ]
    )
    lm = TrackedLM(inner, tracker, "task")
    assert isinstance(lm, LM) and lm.identity == inner.identity
    lm.complete(MSGS)
    asyncio.run(lm.acomplete(MSGS))
    usage = tracker.role("task")
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (2, 15, 10)
    assert usage.truncated == 1 and usage.latency_s == 0.5
    assert lm.usage is usage


def test_cache_hits_are_counted_as_hits(tmp_path: Path) -> None:
    tracker = UsageTracker()
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        lm = TrackedLM(CachedLM(ScriptedLM(replies=["x"]), cache), tracker, "task")
        for _ in range(3):
            lm.complete(MSGS, temperature=0)
    usage = tracker.role("task")
    assert (usage.calls, usage.cache_hits) == (1, 2)


def test_errors_are_recorded_and_reraised() -> None:
    tracker = UsageTracker()
    lm = TrackedLM(ScriptedLM(replies=[LMError("down"), ValueError("bug"), "ok"]), tracker, "r")
    with pytest.raises(LMError):
        lm.complete(MSGS)
    with pytest.raises(ValueError):
        asyncio.run(lm.acomplete(MSGS))
    lm.complete(MSGS)
    usage = tracker.role("r")
    assert (usage.errors, usage.calls) == (2, 1)


def test_retries_are_accounted(server: FakeOpenAIServer) -> None:
    tracker = UsageTracker()
    http = OpenAICompatibleLM(server.url, "fake-model", max_retries=2, backoff_base_s=0.001)
    lm = TrackedLM(http, tracker, "task")
    server.push(error(500), ok("ok"))
    lm.complete(MSGS)
    server.push(error(503), error(503), error(503))
    with pytest.raises(LMError):
        lm.complete(MSGS)
    usage = tracker.role("task")
    assert usage.calls == 1 and usage.errors == 1
    assert usage.retries == 1 + 2
    assert http.retries == 3


def test_roles_are_separate_and_priced() -> None:
    tracker = UsageTracker(price_per_million={"reflection": (1.0, 2.0)})
    task = TrackedLM(ScriptedLM(replies=[Completion("t", prompt_tokens=100)]), tracker, "task")
    refl = TrackedLM(
        ScriptedLM(replies=[Completion("r", prompt_tokens=1_000_000, completion_tokens=500_000)]),
        tracker,
        "reflection",
    )
    task.complete(MSGS)
    refl.complete(MSGS)
    stats = tracker.as_dict()
    assert stats["task"]["calls"] == 1 and stats["task"]["cost_usd"] == 0.0
    assert stats["reflection"]["cost_usd"] == pytest.approx(2.0)


def test_thread_safe_with_shared_tracker() -> None:
    tracker = UsageTracker()
    lms = [
        TrackedLM(ScriptedLM(replies=[Completion("x", prompt_tokens=1)], cycle=True), tracker, role)
        for role in ("task", "reflection", "task", "reflection")
    ]

    def worker(lm: TrackedLM) -> None:
        for _ in range(500):
            lm.complete(MSGS)

    threads = [threading.Thread(target=worker, args=(lm,)) for lm in lms for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.role("task").calls == 2000 and tracker.role("task").prompt_tokens == 2000
    assert tracker.role("reflection").calls == 2000


def test_make_lm_composes_the_stack(server: FakeOpenAIServer, tmp_path: Path) -> None:
    tracker = UsageTracker()
    lm = make_lm(
        base_url=server.url,
        model="fake-model",
        cache=tmp_path / "stack.sqlite",
        role="task",
        tracker=tracker,
        temperature=0.0,
        backoff_base_s=0.001,
    )
    assert isinstance(lm, TrackedLM) and isinstance(lm.inner, CachedLM)
    assert lm.identity == f"{server.url}|fake-model"
    lm.complete(MSGS)
    lm.complete(MSGS)
    asyncio.run(lm.acomplete(MSGS))
    usage = tracker.role("task")
    assert (usage.calls, usage.cache_hits) == (1, 2)
    assert len(server.chat_requests) == 1


def test_make_lm_default_cache_and_no_cache(server: FakeOpenAIServer) -> None:
    cached = make_lm(base_url=server.url, model="fake-model")  # GEPETTO_CACHE_DIR is a tmp dir
    assert isinstance(cached, CachedLM)
    plain = make_lm(base_url=server.url, model="fake-model", cache=False)
    assert isinstance(plain, OpenAICompatibleLM)
    with pytest.raises(ValueError, match="role"):
        make_lm(base_url=server.url, model="m", tracker=UsageTracker())


@pytest.mark.skipif(importlib.util.find_spec("litellm") is not None, reason="litellm installed")
def test_litellm_missing_gives_install_hint() -> None:
    from gepetto.lm.litellm_lm import LiteLLMLM

    with pytest.raises(LMError, match=r"pip install 'gepetto\[litellm\]'"):
        LiteLLMLM("openai/gpt-4o-mini")


def test_failure_feedback_drops_the_endpoint() -> None:
    from gepetto.lm.base import LMError, failure_feedback

    text = failure_feedback(LMError("http://127.0.0.1:40123/v1: request failed: ReadTimeout: timed out"))
    assert text == "The model call failed: request failed: ReadTimeout: timed out"
    assert "127.0.0.1" not in failure_feedback(LMError("https://user:***@api.example.com/v1 rejected the request: HTTP 400: too long"))
