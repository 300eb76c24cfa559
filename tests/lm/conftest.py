"""Fixtures for the LM layer tests (the fake server itself lives in lm_fakes.py)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

# Make the helper module importable as ``lm_fakes`` from the test modules, whatever
# import mode or working directory pytest runs with.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm_fakes import FakeOpenAIServer  # noqa: E402


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def refused_url() -> str:
    """A URL on a port where nothing listens (bound then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test touch the user's real ~/.cache/gepetto."""
    monkeypatch.setenv("GEPETTO_CACHE_DIR", str(tmp_path / "cache"))
