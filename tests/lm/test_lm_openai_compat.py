from __future__ import annotations

import asyncio
import pickle
import threading
import time
import traceback

import pytest
from lm_fakes import FakeOpenAIServer, Reply, error, ok

from gepetto.lm import LM, LMError, OpenAICompatibleLM, normalize_base_url
from gepetto.lm.openai_compat import sample_seed
from gepetto.lm.retry import BackoffPolicy, parse_retry_after

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
FIXED_SEED = 389127065  # sample_seed([{"role": "user", "content": "hi"}], 3), computed once
SECRET = "sk-test-PLANTED-s3cr3t-value-0123456789"


def make(server: FakeOpenAIServer, **kw: object) -> OpenAICompatibleLM:
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("timeout_s", 5.0)
    return OpenAICompatibleLM(server.url, "fake-model", **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- basics


def test_is_an_lm_and_identity_is_normalized() -> None:
    lm = OpenAICompatibleLM("HTTP://LocalHost:8080/v1/", "qwen")
    assert isinstance(lm, LM)
    assert lm.identity == "http://localhost:8080/v1|qwen"
    assert normalize_base_url("http://h:1/v1/chat/completions") == "http://h:1/v1"
    with pytest.raises(ValueError, match="http://"):
        OpenAICompatibleLM("localhost:8080/v1", "qwen")


def test_success_parses_text_usage_and_model(server: FakeOpenAIServer) -> None:
    server.push(ok("the answer", prompt_tokens=11, completion_tokens=2, model="served-name"))
    completion = make(server).complete(MSGS)
    assert completion.text == "the answer"
    assert completion.finish_reason == "stop"
    assert not completion.truncated and not completion.cached
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 2)
    assert completion.model == "served-name"
    assert completion.latency_s > 0
    assert completion.retries == 0
    (request,) = server.chat_requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "fake-model"
    assert request.body["messages"] == MSGS
    assert "Authorization" not in request.headers


def test_params_pass_through_and_sample_index_is_not_sent(server: FakeOpenAIServer) -> None:
    lm = make(server, temperature=0.0, max_tokens=64, top_p=0.9, seed=1)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    lm.complete(
        MSGS,
        temperature=0.7,
        sample_index=5,
        stop=["\n"],
        grammar="root ::= 'x'",
        json_schema=schema,
        seed=None,  # None = "not specified here": the default stays
    )
    body = server.chat_requests[0].body
    assert body["temperature"] == 0.7
    assert body["max_tokens"] == 64
    assert body["top_p"] == 0.9
    assert body["seed"] == 1
    assert body["stop"] == ["\n"]
    assert body["grammar"] == "root ::= 'x'"
    assert body["json_schema"] == schema
    assert "sample_index" not in body


def test_seed_samples_gives_each_sample_of_a_prompt_its_own_fixed_seed(server: FakeOpenAIServer) -> None:
    lm = make(server, seed_samples=True, temperature=0.7)
    lm.complete(MSGS, sample_index=0)
    lm.complete(MSGS, sample_index=0)
    lm.complete(MSGS, sample_index=1)
    lm.complete([MSGS[0], {"role": "user", "content": "other"}], sample_index=0)
    asyncio.run(lm.acomplete(MSGS, sample_index=1))
    seeds = [r.body["seed"] for r in server.chat_requests]
    assert seeds[0] == seeds[1] == sample_seed(MSGS, 0)  # the same draw in every run and process
    assert len({seeds[0], seeds[2], seeds[3]}) == 3  # another sample, another prompt: another seed
    assert seeds[4] == seeds[2]  # async calls send the same seed
    assert all(isinstance(x, int) and 0 <= x < 2**31 for x in seeds)


def test_seed_samples_leaves_greedy_calls_and_explicit_seeds_alone(server: FakeOpenAIServer) -> None:
    lm = make(server, seed_samples=True)
    lm.complete(MSGS, temperature=0.0)
    lm.complete(MSGS, temperature=0.7, seed=42)
    lm.complete(MSGS)  # server-default temperature: sampled, so seeded
    make(server, temperature=0.7).complete(MSGS)  # off by default: hosted APIs may not take ``seed``
    bodies = [r.body for r in server.chat_requests]
    assert "seed" not in bodies[0]
    assert bodies[1]["seed"] == 42
    assert bodies[2]["seed"] == sample_seed(MSGS, 0)
    assert "seed" not in bodies[3]


def test_sample_seed_is_stable_across_processes() -> None:
    # a fixed value: a salted hash() would change from process to process
    assert sample_seed([{"role": "user", "content": "hi"}], 3) == sample_seed([{"content": "hi", "role": "user"}], 3)
    assert sample_seed([{"role": "user", "content": "hi"}], 3) == FIXED_SEED


def test_unset_params_are_not_sent(server: FakeOpenAIServer) -> None:
    make(server).complete(MSGS)
    body = server.chat_requests[0].body
    assert "temperature" not in body and "max_tokens" not in body


def test_finish_reason_length_is_passed_through(server: FakeOpenAIServer) -> None:
    server.push(ok("cut mid-sen", finish_reason="length"))
    completion = make(server).complete(MSGS, max_tokens=3)
    assert completion.finish_reason == "length"
    assert completion.truncated
    assert len(server.chat_requests) == 1  # truncation is an answer, not a failure


def test_null_content_becomes_empty_text(server: FakeOpenAIServer) -> None:
    reply = ok()
    reply.body["choices"][0]["message"]["content"] = None
    server.push(reply)
    assert make(server).complete(MSGS).text == ""


# ---------------------------------------------------------------- retries


def test_retries_5xx_then_succeeds(server: FakeOpenAIServer) -> None:
    server.push(error(500), error(502), error(503), ok("finally"))
    lm = make(server, max_retries=3)
    completion = lm.complete(MSGS)
    assert completion.text == "finally"
    assert completion.retries == 3
    assert lm.retries == 3
    assert len(server.chat_requests) == 4


def test_gives_up_after_max_retries_with_clear_error(server: FakeOpenAIServer) -> None:
    server.default = lambda body: error(500, "kaboom inside")
    lm = make(server, max_retries=2)
    with pytest.raises(LMError) as info:
        lm.complete(MSGS)
    message = str(info.value)
    assert server.url in message and "fake-model" in message
    assert "HTTP 500" in message and "kaboom inside" in message
    assert "3 attempts" in message
    assert info.value.retries == 2  # type: ignore[attr-defined]
    assert len(server.chat_requests) == 3


def test_429_honours_retry_after(server: FakeOpenAIServer) -> None:
    server.push(error(429, "slow down", {"Retry-After": "0.2"}), ok("ok"))
    started = time.perf_counter()
    completion = make(server, backoff_base_s=0.0).complete(MSGS)
    assert completion.text == "ok" and completion.retries == 1
    assert time.perf_counter() - started >= 0.19


def test_retry_after_is_capped(server: FakeOpenAIServer) -> None:
    server.push(error(429, "go away for an hour", {"Retry-After": "3600"}), ok("ok"))
    started = time.perf_counter()
    completion = make(server, retry_after_max_s=0.05).complete(MSGS)
    assert completion.text == "ok"
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    "bad",
    [
        Reply(raw=b"this is not json{"),
        Reply(raw=b""),
        Reply(body={"choices": []}),
        Reply(body={"object": "error"}),
        Reply(body=["a list"]),
    ],
    ids=["garbage", "empty-body", "empty-choices", "no-choices", "not-an-object"],
)
def test_malformed_replies_are_retried(server: FakeOpenAIServer, bad: Reply) -> None:
    server.push(bad, ok("good"))
    completion = make(server).complete(MSGS)
    assert completion.text == "good" and completion.retries == 1


def test_malformed_forever_gives_clear_error(server: FakeOpenAIServer) -> None:
    server.default = lambda body: Reply(body={"choices": []})
    with pytest.raises(LMError, match="malformed") as info:
        make(server, max_retries=1).complete(MSGS)
    assert "no choices" in str(info.value)


def test_timeout_is_retried_then_reported(server: FakeOpenAIServer) -> None:
    server.default = lambda body: ok("too late", delay_s=0.6)
    lm = make(server, timeout_s=0.1, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(LMError) as info:
        lm.complete(MSGS)
    assert time.perf_counter() - started < 0.6
    message = str(info.value)
    assert "timed out" in message and "timeout_s" in message and server.url in message
    assert len(server.chat_requests) == 2


def test_timeout_then_success(server: FakeOpenAIServer) -> None:
    server.push(ok("slow", delay_s=0.5), ok("fast"))
    completion = make(server, timeout_s=0.15).complete(MSGS)
    assert completion.text == "fast" and completion.retries == 1


def test_connection_refused_names_url_and_fix(refused_url: str) -> None:
    lm = OpenAICompatibleLM(refused_url, "m", max_retries=2, backoff_base_s=0.001)
    with pytest.raises(LMError) as info:
        lm.complete(MSGS)
    message = str(info.value)
    assert refused_url in message
    assert "connection refused" in message
    assert "gepetto serve-lm" in message and "base_url" in message
    assert info.value.retries == 2  # type: ignore[attr-defined]


def test_unresolvable_host_is_a_clear_error() -> None:
    lm = OpenAICompatibleLM("http://no-such-host.invalid/v1", "m", max_retries=0)
    with pytest.raises(LMError, match="no-such-host.invalid"):
        lm.complete(MSGS)


# ---------------------------------------------------------------- non-retryable


def test_404_model_not_found_is_not_retried(server: FakeOpenAIServer) -> None:
    server.push(error(404, "model 'fake-model' not found"))
    with pytest.raises(LMError) as info:
        make(server).complete(MSGS)
    message = str(info.value)
    assert "fake-model" in message and "404" in message
    assert "/models" in message and "base_url" in message
    assert len(server.chat_requests) == 1


def test_401_names_the_env_var(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    server.push(error(401, "invalid api key"))
    with pytest.raises(LMError) as info:
        make(server, api_key_env="FAKE_API_KEY").complete(MSGS)
    message = str(info.value)
    assert "401" in message and "FAKE_API_KEY" in message and "fake-model" in message
    assert len(server.chat_requests) == 1


def test_401_without_key_suggests_api_key_env(server: FakeOpenAIServer) -> None:
    server.push(error(401, "auth required"))
    with pytest.raises(LMError, match="api_key_env"):
        make(server).complete(MSGS)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "the reason", "type": "invalid_request_error"}},  # OpenAI, llama.cpp
        {"error": "the reason"},  # Ollama
        {"detail": "the reason"},  # FastAPI-based servers
        {"message": "the reason"},
    ],
)
def test_error_body_shapes_are_understood(
    server: FakeOpenAIServer, body: dict[str, object]
) -> None:
    server.push(Reply(status=422, body=body))
    with pytest.raises(LMError, match="HTTP 422: the reason$"):
        make(server).complete(MSGS)


def test_reserved_params_are_rejected(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="model"):
        make(server).complete(MSGS, model="other")
    with pytest.raises(ValueError, match="stream"):
        make(server, stream=True)
    assert server.chat_requests == []


def test_400_is_reported_not_retried(server: FakeOpenAIServer) -> None:
    server.push(error(400, "context length exceeded"))
    with pytest.raises(LMError, match="context length exceeded"):
        make(server).complete(MSGS)
    assert len(server.chat_requests) == 1


# ---------------------------------------------------------------- API key hygiene


def test_api_key_sent_as_bearer(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    make(server, api_key_env="FAKE_API_KEY").complete(MSGS)
    assert server.chat_requests[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_api_key_is_read_at_call_time(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = make(server, api_key_env="FAKE_API_KEY")
    monkeypatch.setenv("FAKE_API_KEY", "first")
    lm.complete(MSGS)
    monkeypatch.setenv("FAKE_API_KEY", "second")
    lm.complete(MSGS)
    assert [r.headers["Authorization"] for r in server.chat_requests] == [
        "Bearer first",
        "Bearer second",
    ]


def test_missing_env_var_is_a_clear_error(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_API_KEY", raising=False)
    with pytest.raises(LMError, match="FAKE_API_KEY"):
        make(server, api_key_env="FAKE_API_KEY").complete(MSGS)
    assert server.chat_requests == []


@pytest.mark.parametrize("status", [401, 400, 500, 404])
def test_api_key_never_leaks(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    # A hostile/buggy server that echoes the key back in its error body.
    server.default = lambda body: error(status, f"bad key Bearer {SECRET}")
    lm = make(server, api_key_env="FAKE_API_KEY", max_retries=1)
    with pytest.raises(LMError) as info:
        lm.complete(MSGS)
    rendered = "".join(traceback.format_exception(info.value))
    assert SECRET not in rendered
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in repr(lm) and SECRET not in lm.identity
    assert SECRET not in repr(pickle.dumps(lm))
    assert "***" in str(info.value)


def test_api_key_never_leaks_on_connection_errors(
    refused_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    lm = OpenAICompatibleLM(refused_url, "m", api_key_env="FAKE_API_KEY", max_retries=0)
    with pytest.raises(LMError) as info:
        lm.complete(MSGS)
    assert SECRET not in "".join(traceback.format_exception(info.value))


def test_password_in_url_is_masked() -> None:
    lm = OpenAICompatibleLM("http://user:hunter2@127.0.0.1:9/v1", "m")
    assert "hunter2" not in lm.identity and "hunter2" not in repr(lm)


def test_local_server_bypasses_proxy_env(
    server: FakeOpenAIServer, refused_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, refused_url.removesuffix("/v1"))
    assert make(server).complete(MSGS).text == "echo: hi"


# ---------------------------------------------------------------- concurrency


def test_sync_concurrency_is_bounded(server: FakeOpenAIServer) -> None:
    server.default = lambda body: ok("slow", delay_s=0.05)
    lm = make(server, max_concurrency=3)
    threads = [threading.Thread(target=lm.complete, args=(MSGS,)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.chat_requests) == 12
    assert server.max_in_flight == 3


def test_async_concurrency_is_bounded(server: FakeOpenAIServer) -> None:
    server.default = lambda body: ok("slow", delay_s=0.05)
    lm = make(server, max_concurrency=2)

    async def main() -> list[str]:
        async with lm:
            results = await asyncio.gather(*(lm.acomplete(MSGS) for _ in range(8)))
        return [c.text for c in results]

    assert asyncio.run(main()) == ["slow"] * 8
    assert server.max_in_flight == 2


def test_async_path_with_retries_across_event_loops(server: FakeOpenAIServer) -> None:
    lm = make(server)
    server.push(error(503), ok("one"))
    first = asyncio.run(lm.acomplete(MSGS))
    # A second asyncio.run is a new event loop: the client and semaphore must follow.
    second = asyncio.run(lm.acomplete([{"role": "user", "content": "again"}]))
    assert (first.text, first.retries) == ("one", 1)
    assert second.text == "echo: again"


def test_async_errors_are_lm_errors(refused_url: str) -> None:
    lm = OpenAICompatibleLM(refused_url, "m", max_retries=1, backoff_base_s=0.001)
    with pytest.raises(LMError, match="connection refused"):
        asyncio.run(lm.acomplete(MSGS))


# ---------------------------------------------------------------- helpers


def test_list_models(server: FakeOpenAIServer) -> None:
    server.models = ["a", "b"]
    assert make(server).list_models() == ["a", "b"]


def test_list_models_refused(refused_url: str) -> None:
    with pytest.raises(LMError, match="gepetto serve-lm"):
        OpenAICompatibleLM(refused_url, "m").list_models()


def test_pickle_roundtrip_rebuilds_runtime(server: FakeOpenAIServer) -> None:
    lm = make(server, temperature=0.0)
    lm.complete(MSGS)
    clone = pickle.loads(pickle.dumps(lm))
    assert clone.identity == lm.identity
    assert clone.complete(MSGS).text == "echo: hi"


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_backoff_full_jitter_is_bounded() -> None:
    policy = BackoffPolicy(base_s=1.0, max_s=4.0, retry_after_max_s=10.0)
    for attempt in range(8):
        assert 0.0 <= policy.delay(attempt) <= min(4.0, 2.0**attempt)
    assert policy.delay(0, retry_after=99.0) == 10.0


# ---------------------------------------------------------------- logprobs


def test_token_logprobs_are_parsed_when_sent(server: FakeOpenAIServer) -> None:
    server.push(ok("card_arrival", logprobs=[-0.25, -0.5, 0.0]))
    completion = make(server).complete(MSGS, logprobs=True, top_logprobs=1)
    assert completion.logprobs == (-0.25, -0.5, 0.0)
    body = server.chat_requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 1


def test_logprobs_absent_or_malformed_are_none_not_an_error(server: FakeOpenAIServer) -> None:
    server.push(ok("plain"))
    assert make(server).complete(MSGS).logprobs is None
    bad = ok("odd")
    bad.body["choices"][0]["logprobs"] = {"content": [{"token": "x"}]}  # no logprob value
    server.push(bad)
    completion = make(server).complete(MSGS)
    assert completion.text == "odd" and completion.logprobs is None
