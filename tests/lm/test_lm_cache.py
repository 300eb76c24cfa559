from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

import pytest
from lm_fakes import FakeOpenAIServer, error, ok

from gepetto.lm import (
    CachedLM,
    CachePolicy,
    Completion,
    LMError,
    OpenAICompatibleLM,
    ResponseCache,
    ScriptedLM,
    cache_key,
    default_cache_path,
)
from gepetto.lm.cache import SCHEMA_VERSION

MSGS = [{"role": "user", "content": "what is 2+2?"}]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    store = ResponseCache(tmp_path / "lm.sqlite")
    yield store
    store.close()


def http_lm(
    server: FakeOpenAIServer, model: str = "fake-model", **kw: object
) -> OpenAICompatibleLM:
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("max_retries", 1)
    return OpenAICompatibleLM(server.url, model, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- hits and misses


def test_second_identical_call_is_a_hit(server: FakeOpenAIServer, cache: ResponseCache) -> None:
    lm = CachedLM(http_lm(server), cache)
    first = lm.complete(MSGS, temperature=0)
    second = lm.complete(MSGS, temperature=0.0)  # 0 and 0.0 are the same request
    assert len(server.chat_requests) == 1
    assert not first.cached and second.cached
    assert second.text == first.text == "echo: what is 2+2?"
    assert (second.prompt_tokens, second.completion_tokens) == (7, 3)
    assert second.retries == 0


def test_lm_default_temperature_zero_makes_none_cacheable(
    server: FakeOpenAIServer, cache: ResponseCache
) -> None:
    lm = CachedLM(http_lm(server, temperature=0.0), cache)
    lm.complete(MSGS)
    assert lm.complete(MSGS, temperature=0).cached  # same effective request
    assert len(server.chat_requests) == 1


def test_unknown_temperature_is_not_cached_by_default(
    server: FakeOpenAIServer, cache: ResponseCache
) -> None:
    lm = CachedLM(http_lm(server), cache)  # no default temperature: server decides
    lm.complete(MSGS)
    assert not lm.complete(MSGS).cached
    assert len(server.chat_requests) == 2
    assert len(cache) == 0


def test_sampled_calls_not_cached_by_default(
    server: FakeOpenAIServer, cache: ResponseCache
) -> None:
    lm = CachedLM(http_lm(server), cache)
    lm.complete(MSGS, temperature=0.8)
    lm.complete(MSGS, temperature=0.8)
    assert len(server.chat_requests) == 2


def test_cache_sampled_keeps_sample_indices_apart(
    server: FakeOpenAIServer, cache: ResponseCache
) -> None:
    lm = CachedLM(http_lm(server), cache, cache_sampled=True)
    lm.complete(MSGS, temperature=0.8, sample_index=0)
    lm.complete(MSGS, temperature=0.8, sample_index=1)
    assert lm.complete(MSGS, temperature=0.8, sample_index=0).cached
    assert lm.complete(MSGS, temperature=0.8, sample_index=1).cached
    assert len(server.chat_requests) == 2
    assert lm.policy == CachePolicy(cache_sampled=True)


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.0, "max_tokens": 10},
        {"temperature": 0.0, "seed": 3},
        {"temperature": 0.0, "stop": ["\n"]},
        {"temperature": 0.0, "grammar": "root ::= 'x'"},
        {"temperature": 0.0, "sample_index": 1},
        {"temperature": 0.0, "messages": [{"role": "user", "content": "what is 2+3?"}]},
    ],
    ids=["max_tokens", "seed", "stop", "grammar", "sample_index", "messages"],
)
def test_any_change_is_a_miss(
    server: FakeOpenAIServer, cache: ResponseCache, change: dict[str, object]
) -> None:
    lm = CachedLM(http_lm(server), cache)
    lm.complete(MSGS, temperature=0.0)
    kwargs = dict(change)
    messages = kwargs.pop("messages", MSGS)
    assert not lm.complete(messages, **kwargs).cached  # type: ignore[arg-type]
    assert len(server.chat_requests) == 2


def test_model_change_is_a_miss(server: FakeOpenAIServer, cache: ResponseCache) -> None:
    CachedLM(http_lm(server, "model-a"), cache).complete(MSGS, temperature=0)
    assert not CachedLM(http_lm(server, "model-b"), cache).complete(MSGS, temperature=0).cached
    assert len(server.chat_requests) == 2


def test_default_params_are_part_of_the_key(server: FakeOpenAIServer, cache: ResponseCache) -> None:
    CachedLM(http_lm(server, temperature=0.0), cache).complete(MSGS)
    other = CachedLM(http_lm(server, temperature=0.0, grammar="root ::= 'y'"), cache)
    assert not other.complete(MSGS).cached


def test_base_url_change_is_a_miss(server: FakeOpenAIServer, cache: ResponseCache) -> None:
    other = FakeOpenAIServer().start()
    try:
        CachedLM(http_lm(server), cache).complete(MSGS, temperature=0)
        assert not CachedLM(http_lm(other), cache).complete(MSGS, temperature=0).cached
        assert len(server.chat_requests) == 1 and len(other.chat_requests) == 1
    finally:
        other.stop()


def test_cache_persists_across_instances(server: FakeOpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "persist.sqlite"
    with ResponseCache(path) as first_cache:
        CachedLM(http_lm(server), first_cache).complete(MSGS, temperature=0)
    with ResponseCache(path) as second_cache:
        again = CachedLM(http_lm(server), second_cache).complete(MSGS, temperature=0)
    assert again.cached and again.text == "echo: what is 2+2?"
    assert len(server.chat_requests) == 1


def test_truncated_replies_are_cached_with_their_finish_reason(
    server: FakeOpenAIServer, cache: ResponseCache
) -> None:
    server.push(ok("half an ans", finish_reason="length"))
    lm = CachedLM(http_lm(server), cache)
    lm.complete(MSGS, temperature=0, max_tokens=4)
    hit = lm.complete(MSGS, temperature=0, max_tokens=4)
    assert hit.cached and hit.truncated and hit.text == "half an ans"


def test_failures_are_not_cached(server: FakeOpenAIServer, cache: ResponseCache) -> None:
    server.push(error(400, "nope"))
    lm = CachedLM(http_lm(server), cache)
    with pytest.raises(LMError):
        lm.complete(MSGS, temperature=0)
    assert len(cache) == 0
    assert not lm.complete(MSGS, temperature=0).cached
    assert lm.complete(MSGS, temperature=0).cached


def test_async_path_uses_the_cache(server: FakeOpenAIServer, cache: ResponseCache) -> None:
    lm = CachedLM(http_lm(server), cache)

    async def main() -> tuple[Completion, Completion]:
        first = await lm.acomplete(MSGS, temperature=0)
        second = await lm.acomplete(MSGS, temperature=0)
        return first, second

    first, second = asyncio.run(main())
    assert not first.cached and second.cached
    assert lm.complete(MSGS, temperature=0).cached  # sync and async share entries
    assert len(server.chat_requests) == 1


def test_works_over_any_lm(cache: ResponseCache) -> None:
    inner = ScriptedLM(replies=["one", "two"])
    lm = CachedLM(inner, cache)
    assert lm.complete(MSGS, temperature=0).text == "one"
    assert lm.complete(MSGS, temperature=0).text == "one"
    assert inner.call_count == 1
    assert lm.identity == inner.identity


def test_unkeyable_params_bypass_the_cache(cache: ResponseCache) -> None:
    inner = ScriptedLM(replies=["a", "b"])
    lm = CachedLM(inner, cache)
    lm.complete(MSGS, temperature=0, weird=object())
    lm.complete(MSGS, temperature=0, weird=object())
    assert inner.call_count == 2 and len(cache) == 0


# ---------------------------------------------------------------- the store


def test_cache_key_is_canonical() -> None:
    a = cache_key("id", MSGS, {"temperature": 0, "top_p": 1.0, "stop": ("x",)}, 0)
    b = cache_key("id", MSGS, {"stop": ["x"], "top_p": 1, "temperature": 0.0}, 0)
    assert a == b
    assert a != cache_key("id2", MSGS, {"temperature": 0}, 0)
    assert a != cache_key("id", MSGS, {"stop": ["x"], "top_p": 1, "temperature": 0.0}, 1)
    assert len(a) == 64


def test_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "schema.sqlite"
    ResponseCache(path).close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert int(version) == SCHEMA_VERSION
    assert mode == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    ResponseCache(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(LMError, match="newer gepetto"):
        ResponseCache(path)


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEPETTO_LM_CACHE", str(tmp_path / "mine.sqlite"))
    monkeypatch.setenv("GEPETTO_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_path() == tmp_path / "mine.sqlite"
    monkeypatch.delenv("GEPETTO_LM_CACHE")
    assert default_cache_path() == tmp_path / "here" / "lm_cache.sqlite"
    monkeypatch.delenv("GEPETTO_CACHE_DIR")
    assert default_cache_path() == Path.home() / ".cache" / "gepetto" / "lm_cache.sqlite"


def test_thread_safety(cache: ResponseCache) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                key = f"{n}-{i}"
                cache.put(key, "id", Completion(text=key))
                got = cache.get(key)
                assert got is not None and got.text == key
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 400
    assert cache.clear(identity="id") == 400


def test_closed_cache_raises(tmp_path: Path) -> None:
    store = ResponseCache(tmp_path / "c.sqlite")
    store.close()
    with pytest.raises(LMError, match="closed"):
        store.get("k")


def test_logprobs_survive_the_cache(cache: ResponseCache) -> None:
    stored = Completion(text="yes", logprobs=(-0.1, -0.2))
    cache.put("k1", "id", stored)
    cache.put("k2", "id", Completion(text="no"))
    assert cache.get("k1").logprobs == (-0.1, -0.2)  # type: ignore[union-attr]
    assert cache.get("k2").logprobs is None  # type: ignore[union-attr]


def test_a_cache_written_before_logprobs_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, identity TEXT NOT NULL, text TEXT NOT NULL,"
        " finish_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
        " latency_s REAL NOT NULL, model TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    conn.execute("INSERT INTO responses VALUES ('old', 'id', 'kept', 'stop', 1, 1, 0.1, 'm', 0)")
    conn.commit()
    conn.close()
    upgraded = ResponseCache(path)
    try:
        hit = upgraded.get("old")
        assert hit is not None and hit.text == "kept" and hit.logprobs is None
        upgraded.put("new", "id", Completion(text="x", logprobs=(-1.0,)))
        assert upgraded.get("new").logprobs == (-1.0,)  # type: ignore[union-attr]
    finally:
        upgraded.close()
