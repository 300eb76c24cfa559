"""End to end with the real llama-server and the real Qwen2.5-Coder-0.5B weights.

Skipped (with the reason) when the built binary or the cached model is missing,
unless ``GEPETTO_REQUIRE_LLM`` is set, in which case that is a failure. Provision
both once with ``gepetto serve-lm --prepare --model 0.5b`` (or
``python -c "from gepetto.lm.embedded import prepare_embedded; prepare_embedded('0.5b')"``).
"""

from __future__ import annotations

import time

import httpx
import pytest

from gepetto.lm.embedded import EmbeddedServer

pytestmark = [pytest.mark.llm, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def real_assets(embedded_assets):
    """The real binary and 0.5B weights (shared fixture in tests/conftest.py)."""
    return embedded_assets


def test_real_server_answers_a_chat_completion(real_assets):
    binary, model = real_assets
    with EmbeddedServer(
        model, binary=binary, n_ctx=2048, parallel=2, model_name="qwen2.5-coder-0.5b"
    ) as srv:
        assert srv.health()
        t0 = time.monotonic()
        r = httpx.post(
            srv.base_url + "/chat/completions",
            json={
                "model": srv.model,
                "messages": [
                    {"role": "system", "content": "Answer with one word: positive or negative."},
                    {
                        "role": "user",
                        "content": "Review: I loved it, best purchase ever.\nSentiment:",
                    },
                ],
                "max_tokens": 8,
                "temperature": 0,
            },
            timeout=300,
            trust_env=False,
        )
        r.raise_for_status()
        body = r.json()
        text = body["choices"][0]["message"]["content"]
        assert text.strip(), body
        assert body["model"] == "qwen2.5-coder-0.5b"
        assert body["usage"]["completion_tokens"] > 0
        print(
            f"\nstartup {srv.startup_seconds:.2f} s, "
            f"answer {text!r} in {time.monotonic() - t0:.2f} s"
        )
        models = httpx.get(srv.base_url + "/models", trust_env=False).json()
        assert models["data"][0]["id"] == "qwen2.5-coder-0.5b"
    assert not srv.running


def test_real_server_scores_a_forced_gold_answer(real_assets):
    """gepetto.systems.likelihood relies on llama-server reporting each grammar-forced
    token's probability from the model's own distribution (not the grammar's 1.0)."""
    from gepetto.lm import make_lm
    from gepetto.systems.likelihood import answer_logprob

    binary, model = real_assets
    with EmbeddedServer(model, binary=binary, n_ctx=2048, parallel=2, model_name="qwen2.5-coder-0.5b") as srv:
        lm = make_lm(base_url=srv.base_url, model=srv.model, cache=False, timeout_s=300)
        user = {"role": "user", "content": "Review: I loved it, best purchase ever."}
        hinted = [{"role": "system", "content": "Answer with one word: positive or negative."}, user]
        likely = answer_logprob(lm, hinted, "positive")
        unlikely = answer_logprob(lm, hinted, "negative")
        assert likely < 0 and unlikely < likely - 1.0, (likely, unlikely)
