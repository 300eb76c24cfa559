"""The one interface through which every model call in gepetto goes.

Why a protocol and not a base class: users plug in their own backends (an
OpenAI-compatible server, litellm, a Python function in a test) and none of them
should have to inherit from us. Everything the engine and the proposers need is
``complete`` (sync) and ``acomplete`` (async) returning a :class:`Completion`.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

Message = Mapping[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


@dataclass(frozen=True)
class Completion:
    """What one model call returned, with what it cost.

    ``finish_reason`` is passed through from the server (``"stop"``, ``"length"``, ...);
    ``"length"`` means the reply was cut by ``max_tokens`` and callers must treat the
    text as possibly incomplete (see :attr:`truncated`).
    ``retries`` counts the failed attempts (429, 5xx, timeouts, ...) that preceded this
    successful one, so accounting can show how flaky an endpoint was.
    ``logprobs``: the natural-log probability of each reply token, when the request asked
    for them (``logprobs=True``) and the server sent them; ``None`` otherwise. They are
    what :mod:`gepetto.systems.likelihood` reads to score how likely a model finds a gold
    answer.
    """

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    model: str = ""
    retries: int = 0
    logprobs: tuple[float, ...] | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@runtime_checkable
class LM(Protocol):
    """A chat model.

    ``identity`` names the endpoint and model (e.g. ``"http://127.0.0.1:8080/v1|qwen"``)
    so that caches never replay one server's answers for another.
    ``sample_index`` distinguishes deliberate re-samples of the same prompt: two calls
    that differ only in ``sample_index`` are different cache entries.
    """

    @property
    def identity(self) -> str: ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion: ...

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion: ...


class LMError(RuntimeError):
    """A model call failed for good (after retries), or cannot work at all.

    The message always names the endpoint and says what to do about it. It never
    contains an API key.
    """


_URL = re.compile(r"https?://[^\s:]+(?::\d+)?[^\s:]*:?")


class LikelihoodUnsupported(LMError):
    """The endpoint cannot score a given answer: no token logprobs, or a ``grammar`` it
    ignores or rejects (see :mod:`gepetto.systems.likelihood`)."""


def failure_feedback(exc: BaseException) -> str:
    """An LM failure as feedback for reflection: what went wrong, without the endpoint.

    The endpoint URL (with its random local port) is noise to a reflection LM, and would
    make otherwise identical reflection prompts differ between runs, defeating the cache.
    The full message stays in the rollout's ``error``.
    """
    text = _URL.sub("", str(exc)).strip(" :")
    return f"The model call failed: {text}"


@dataclass
class RoleUsage:
    """Counters for one role (``"task"`` or ``"reflection"``)."""

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    retries: int = 0
    truncated: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class UsageTracker:
    """Per-role accounting shared by the LMs of one optimization run.

    ``price_per_million`` maps role -> (prompt $, completion $) per 1M tokens; roles
    without a price cost nothing (local models).
    """

    roles: dict[str, RoleUsage] = field(default_factory=dict)
    price_per_million: dict[str, tuple[float, float]] = field(default_factory=dict)

    def role(self, name: str) -> RoleUsage:
        return self.roles.setdefault(name, RoleUsage())

    def record(self, role: str, completion: Completion) -> None:
        usage = self.role(role)
        if completion.cached:
            usage.cache_hits += 1
            return
        usage.calls += 1
        usage.retries += completion.retries
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
        usage.latency_s += completion.latency_s
        if completion.truncated:
            usage.truncated += 1
        price = self.price_per_million.get(role)
        if price is not None:
            usage.cost_usd += (
                completion.prompt_tokens * price[0] + completion.completion_tokens * price[1]
            ) / 1e6

    def record_error(self, role: str, retries: int = 0) -> None:
        """Count a call that failed for good (``retries`` = attempts it burned first)."""
        usage = self.role(role)
        usage.errors += 1
        usage.retries += retries

    def as_dict(self) -> dict[str, dict[str, float | int]]:
        return {name: usage.as_dict() for name, usage in sorted(self.roles.items())}
