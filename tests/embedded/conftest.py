from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make the helper module importable as ``embedded_helpers`` from the test modules,
# whatever import mode or working directory pytest runs with.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from embedded_helpers import HERE, make_executable_script  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_env(request, tmp_path, monkeypatch):
    """Unit tests never touch the user's cache or a configured binary."""
    if request.node.get_closest_marker("llm") is None:
        monkeypatch.setenv("GEPETTO_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("GEPETTO_LLAMA_SERVER", raising=False)
        monkeypatch.delenv("GEPETTO_LLAMA_CPP_SOURCE", raising=False)
    yield


@pytest.fixture
def fake_server_bin(tmp_path) -> Path:
    """An executable fake ``llama-server`` (see fake_llama_server.py)."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    source = (HERE / "fake_llama_server.py").read_text(encoding="utf-8")
    return make_executable_script(tmp_path / "bin" / "llama-server", source)


@pytest.fixture
def fake_model(tmp_path) -> Path:
    path = tmp_path / "tiny-model.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path
