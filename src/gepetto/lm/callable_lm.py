"""LMs made from plain Python: a ``str -> str`` function, or a script for tests.

Why: the engine must be testable without any model, and users with an odd backend
(a local transformers pipeline, a rule-based baseline) should be able to plug it in
with one line instead of writing a server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .base import Completion, LMError, Message


def render_messages(messages: Sequence[Message]) -> str:
    """Chat messages as one plain-text prompt, for backends that take a string.

    System messages come first (in order), then the other messages in order; each
    contributes its content, separated by a blank line. Assistant turns are prefixed
    with ``"Assistant: "`` so a multi-turn exchange stays readable; system and user
    contents are unprefixed, so a lone user message renders to exactly its content.
    """
    system = [m for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    parts: list[str] = []
    for message in system + rest:
        content = str(message.get("content", ""))
        if message.get("role") == "assistant":
            content = f"Assistant: {content}"
        parts.append(content)
    return "\n\n".join(parts)


def _approx_tokens(text: str) -> int:
    """A whitespace word count: not real tokens, but makes accounting non-trivial."""
    return len(text.split())


class CallableLM:
    """An LM around any ``fn(prompt: str) -> str``; the prompt is :func:`render_messages`.

    Sampling parameters are accepted and ignored (the function has none). Token
    counts are approximate word counts. ``acomplete`` runs ``fn`` in a worker
    thread so a slow function does not block the event loop; make ``fn``
    thread-safe if you call it concurrently.
    """

    def __init__(self, fn: Callable[[str], str], name: str = "callable") -> None:
        self.fn = fn
        self.name = name

    def __repr__(self) -> str:
        return f"CallableLM(name={self.name!r})"

    @property
    def identity(self) -> str:
        return f"callable|{self.name}"

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        prompt = render_messages(messages)
        started = time.perf_counter()
        text = self.fn(prompt)
        if not isinstance(text, str):
            raise LMError(f"CallableLM {self.name!r}: fn returned {type(text).__name__}, not str")
        return Completion(
            text=text,
            prompt_tokens=_approx_tokens(prompt),
            completion_tokens=_approx_tokens(text),
            latency_s=time.perf_counter() - started,
            model=self.name,
        )

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        return await asyncio.to_thread(
            self.complete,
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            sample_index=sample_index,
            **params,
        )


@dataclass(frozen=True)
class ScriptedCall:
    """One call a :class:`ScriptedLM` received, for assertions in tests."""

    messages: list[dict[str, str]]
    temperature: float | None
    max_tokens: int | None
    sample_index: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return render_messages(self.messages)

    @property
    def user(self) -> str:
        """Content of the last user message (what tests usually want to look at)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message.get("content", "")
        return ""

    @property
    def system(self) -> str:
        return "\n\n".join(m.get("content", "") for m in self.messages if m.get("role") == "system")


class ScriptedLM:
    """A deterministic fake LM for tests, recording every call in :attr:`calls`.

    Either ``replies`` (answered in order) or ``respond`` (a function of the
    messages), not both::

        ScriptedLM(replies=["A", "B"])                  # 3rd call raises LMError
        ScriptedLM(replies=["A", "B"], cycle=True)      # A, B, A, B, ...
        ScriptedLM(respond=lambda msgs: msgs[-1]["content"].upper())
        ScriptedLM(replies=["ok", LMError("boom"), "ok again"])   # scripted failure

    A reply may be a ``str``, a ready :class:`Completion` (to script
    ``finish_reason="length"``, token counts, ...) or an exception instance, which
    is raised. ``respond`` may likewise return a ``str`` or a ``Completion``, or
    raise. Thread-safe; ``acomplete`` behaves exactly like ``complete``.
    """

    def __init__(
        self,
        replies: Sequence[str | Completion | BaseException] | None = None,
        *,
        respond: Callable[[list[dict[str, str]]], str | Completion] | None = None,
        cycle: bool = False,
        name: str = "scripted",
        finish_reason: str = "stop",
    ) -> None:
        if (replies is None) == (respond is None):
            raise ValueError("ScriptedLM needs exactly one of replies=[...] or respond=fn")
        if replies is not None and len(replies) == 0:
            raise ValueError("ScriptedLM(replies=[]) would fail on the first call")
        self.replies = list(replies) if replies is not None else None
        self.respond = respond
        self.cycle = cycle
        self.name = name
        self.finish_reason = finish_reason
        self.calls: list[ScriptedCall] = []
        self._lock = threading.Lock()
        self._next = 0

    def __repr__(self) -> str:
        return f"ScriptedLM(name={self.name!r}, calls={len(self.calls)})"

    @property
    def identity(self) -> str:
        return f"scripted|{self.name}"

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def prompts(self) -> list[str]:
        """The last user message of every call, in order."""
        return [call.user for call in self.calls]

    @property
    def last(self) -> ScriptedCall:
        if not self.calls:
            raise AssertionError(f"ScriptedLM {self.name!r} was never called")
        return self.calls[-1]

    def reset(self) -> None:
        """Forget the recorded calls and start the replies from the top again."""
        with self._lock:
            self.calls.clear()
            self._next = 0

    def _pick(self, messages: list[dict[str, str]]) -> str | Completion | BaseException:
        if self.respond is not None:
            return self.respond(messages)
        assert self.replies is not None
        with self._lock:
            index = self._next
            self._next += 1
        if index >= len(self.replies):
            if not self.cycle:
                raise LMError(
                    f"ScriptedLM {self.name!r} ran out of replies: call #{index + 1} but only "
                    f"{len(self.replies)} scripted (pass cycle=True to repeat them)"
                )
            index %= len(self.replies)
        return self.replies[index]

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        copied = [dict(m) for m in messages]
        call = ScriptedCall(copied, temperature, max_tokens, sample_index, dict(params))
        with self._lock:
            self.calls.append(call)
        started = time.perf_counter()
        reply = self._pick(copied)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        if not isinstance(reply, str):
            raise LMError(f"ScriptedLM {self.name!r}: reply {reply!r} is not a str or Completion")
        return Completion(
            text=reply,
            finish_reason=self.finish_reason,
            prompt_tokens=_approx_tokens(call.prompt),
            completion_tokens=_approx_tokens(reply),
            latency_s=time.perf_counter() - started,
            model=self.name,
        )

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        return self.complete(
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            sample_index=sample_index,
            **params,
        )
