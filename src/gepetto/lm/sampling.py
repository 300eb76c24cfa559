"""What sampling parameters a call will *really* use.

Why this exists: a cache key must describe the request the server actually sees,
not just what the caller typed. ``complete(msgs)`` on an LM constructed with
``temperature=0`` is the same request as ``complete(msgs, temperature=0)``, and two
LMs that differ only in a default ``grammar`` must not share cache entries.

An LM can opt in by defining ``resolve_params(temperature=..., max_tokens=...,
**params) -> dict``, returning the merged sampling parameters (its defaults
overridden by the call's arguments, ``None`` dropped). Wrappers (``CachedLM``,
``TrackedLM``) forward it. LMs without the hook get the call's own arguments.
"""

from __future__ import annotations

from typing import Any


def merge_params(
    defaults: dict[str, Any],
    *,
    temperature: float | None,
    max_tokens: int | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Defaults overridden by non-``None`` call arguments, with ``None`` values dropped.

    ``None`` means "not specified here", so it never overrides a default and is
    never sent (servers disagree on how they read an explicit ``null``).
    """
    merged = {k: v for k, v in defaults.items() if v is not None}
    call = dict(params)
    call["temperature"] = temperature
    call["max_tokens"] = max_tokens
    for key, value in call.items():
        if value is not None:
            merged[key] = value
    return merged


def resolve_params(
    lm: object,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The sampling parameters ``lm`` will use for a call with these arguments.

    Uses the LM's ``resolve_params`` hook when it has one; otherwise the call's own
    non-``None`` arguments (the LM's defaults are then unknown, and a missing
    ``temperature`` means "whatever the backend defaults to").
    """
    hook = getattr(lm, "resolve_params", None)
    if callable(hook):
        return dict(hook(temperature=temperature, max_tokens=max_tokens, **params))
    return merge_params({}, temperature=temperature, max_tokens=max_tokens, params=params)
