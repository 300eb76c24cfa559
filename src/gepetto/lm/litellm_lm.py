"""An LM backed by litellm, for providers that do not speak the OpenAI dialect.

Why optional: litellm is a large dependency and everything offline (llama.cpp,
Ollama, vLLM) already works through :class:`~gepetto.lm.openai_compat.OpenAICompatibleLM`.
It is imported lazily, on first use, so ``import gepetto.lm`` never needs it.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

from .base import Completion, LMError, Message
from .sampling import merge_params

INSTALL_HINT = "pip install 'gepetto[litellm]'"


def _import_litellm() -> Any:
    try:
        import litellm  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise LMError(
            f"LiteLLMLM needs the optional dependency litellm, which is not installed: "
            f"run `{INSTALL_HINT}` (or `pip install litellm`)."
        ) from exc
    return litellm


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key access: litellm objects behave like both, depending on version."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class LiteLLMLM:
    """``litellm.completion`` behind the :class:`~gepetto.lm.base.LM` protocol.

    ``model`` is a litellm model string (``"anthropic/claude-3-5-haiku-latest"``,
    ``"gemini/gemini-1.5-flash"``, ...). ``api_key_env`` names an environment
    variable read at call time (``None`` lets litellm find its usual variables).
    Retries are delegated to litellm (``num_retries``). Extra keywords are default
    sampling parameters, overridden per call; ``sample_index`` is never sent.
    """

    def __init__(
        self,
        model: str,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        *,
        api_base: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **default_params: Any,
    ) -> None:
        _import_litellm()  # fail at construction, with the install hint, not mid-run
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.api_base = api_base
        self.default_params: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            **default_params,
        }

    def __repr__(self) -> str:
        return f"LiteLLMLM(model={self.model!r}, api_key_env={self.api_key_env!r})"

    @property
    def identity(self) -> str:
        return f"litellm:{self.api_base or ''}|{self.model}"

    def resolve_params(
        self, *, temperature: float | None = None, max_tokens: int | None = None, **params: Any
    ) -> dict[str, Any]:
        params.pop("sample_index", None)
        return merge_params(
            self.default_params, temperature=temperature, max_tokens=max_tokens, params=params
        )

    def _key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise LMError(
                f"litellm model {self.model!r} needs an API key, but environment variable "
                f"{self.api_key_env} is not set or empty."
            )
        return key

    def _kwargs(
        self,
        messages: Sequence[Message],
        temperature: float | None,
        max_tokens: int | None,
        params: dict[str, Any],
        key: str | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "timeout": self.timeout_s,
            "num_retries": self.max_retries,
            **self.resolve_params(temperature=temperature, max_tokens=max_tokens, **params),
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if key is not None:
            kwargs["api_key"] = key
        return kwargs

    def _error(self, exc: Exception, key: str | None) -> LMError:
        detail = str(exc)
        if key:
            detail = detail.replace(key, "***")
        hint = f" Check environment variable {self.api_key_env}." if self.api_key_env else ""
        return LMError(
            f"litellm model {self.model!r} failed: {type(exc).__name__}: {detail}.{hint}"
        )

    def _completion(self, response: Any, latency_s: float) -> Completion:
        choices = _field(response, "choices") or []
        if not choices:
            raise LMError(f"litellm model {self.model!r} returned no choices")
        choice = choices[0]
        message = _field(choice, "message")
        usage = _field(response, "usage")
        return Completion(
            text=str(_field(message, "content") or ""),
            finish_reason=str(_field(choice, "finish_reason") or "stop"),
            prompt_tokens=int(_field(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(_field(usage, "completion_tokens", 0) or 0),
            latency_s=latency_s,
            model=str(_field(response, "model") or self.model),
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        litellm = _import_litellm()
        key = self._key()
        started = time.perf_counter()
        try:
            response = litellm.completion(
                **self._kwargs(messages, temperature, max_tokens, params, key)
            )
        except Exception as exc:
            raise self._error(exc, key) from None
        return self._completion(response, time.perf_counter() - started)

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        litellm = _import_litellm()
        key = self._key()
        started = time.perf_counter()
        try:
            response = await litellm.acompletion(
                **self._kwargs(messages, temperature, max_tokens, params, key)
            )
        except Exception as exc:
            raise self._error(exc, key) from None
        return self._completion(response, time.perf_counter() - started)
