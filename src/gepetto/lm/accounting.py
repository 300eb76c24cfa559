"""Count what every model call cost, per role, without the callers having to.

Why a wrapper: the engine and the proposers just call ``lm.complete``; wrapping
the task LM as role ``"task"`` and the reflection LM as ``"reflection"`` makes
every call, cache hit, retry and failure show up in one :class:`UsageTracker`.
Put it *outside* the cache (``TrackedLM(CachedLM(...))``) so hits are seen.

Thread safety: ``UsageTracker`` itself is a plain dataclass (so it can be copied
and serialized with the run). All ``TrackedLM`` instances update trackers under
one module-level lock, which covers several roles sharing one tracker; an update
is a handful of additions, so the lock is never contended for long.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

from .base import LM, Completion, Message, RoleUsage, UsageTracker
from .sampling import resolve_params

_TRACKER_LOCK = threading.Lock()


class TrackedLM:
    """Wraps any LM and records each completion (or failure) under ``role``.

    A failure is recorded as an error (plus the retries it burned, when the
    exception carries a ``retries`` attribute, as :class:`OpenAICompatibleLM`'s
    errors do) and then re-raised unchanged.
    """

    def __init__(self, inner: LM, tracker: UsageTracker, role: str) -> None:
        self.inner = inner
        self.tracker = tracker
        self.role = role

    def __repr__(self) -> str:
        return f"TrackedLM({self.inner!r}, role={self.role!r})"

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def usage(self) -> RoleUsage:
        """This role's live counters in the tracker (not a snapshot)."""
        with _TRACKER_LOCK:
            return self.tracker.role(self.role)

    def resolve_params(
        self, *, temperature: float | None = None, max_tokens: int | None = None, **params: Any
    ) -> dict[str, Any]:
        return resolve_params(self.inner, temperature=temperature, max_tokens=max_tokens, **params)

    def _record(self, completion: Completion) -> None:
        with _TRACKER_LOCK:
            self.tracker.record(self.role, completion)

    def _record_error(self, exc: BaseException) -> None:
        retries = getattr(exc, "retries", 0)
        with _TRACKER_LOCK:
            self.tracker.record_error(self.role, retries if isinstance(retries, int) else 0)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        try:
            completion = self.inner.complete(
                messages,
                temperature=temperature,
                max_tokens=max_tokens,
                sample_index=sample_index,
                **params,
            )
        except Exception as exc:
            self._record_error(exc)
            raise
        self._record(completion)
        return completion

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        try:
            completion = await self.inner.acomplete(
                messages,
                temperature=temperature,
                max_tokens=max_tokens,
                sample_index=sample_index,
                **params,
            )
        except Exception as exc:
            self._record_error(exc)
            raise
        self._record(completion)
        return completion
