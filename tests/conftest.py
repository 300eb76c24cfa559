"""Shared fixtures. ``embedded_assets`` gives the real llama-server binary and 0.5B
weights, skipping (or failing, when GEPETTO_REQUIRE_LLM is set) if they are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_response_cache(tmp_path_factory, monkeypatch) -> None:
    """Every test gets its own response cache. The default cache is keyed by endpoint URL;
    fake servers on loopback get random ports, and a port reused by another test's fake
    (answering differently) would otherwise serve that fake's cached replies."""
    monkeypatch.setenv("GEPETTO_LM_CACHE", str(tmp_path_factory.mktemp("lm-cache") / "lm_cache.sqlite"))


def require_or_skip(reason: str) -> None:
    if os.environ.get("GEPETTO_REQUIRE_LLM"):
        pytest.fail(f"GEPETTO_REQUIRE_LLM is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def embedded_assets() -> tuple[Path, Path]:
    from gepetto.lm.embedded import BuildError, WeightsError, ensure_llama_server, ensure_model, model_cache_path

    try:
        binary = ensure_llama_server(build=False)
    except BuildError as exc:
        require_or_skip(f"no built llama-server ({exc}); run `gepetto serve-lm --model 0.5b --prepare`")
    try:
        model = ensure_model("0.5b", download=False)
    except WeightsError:
        require_or_skip(f"the 0.5B model is not in the cache ({model_cache_path('0.5b')})")
    return binary, model
