"""The LM layer: every model call in gepetto goes through an :class:`LM`.

Typical stack (what :func:`make_lm` builds)::

    TrackedLM(CachedLM(OpenAICompatibleLM(base_url, model), ResponseCache()), tracker, "task")

Tests use :class:`ScriptedLM`; any ``str -> str`` function becomes an LM with
:class:`CallableLM`. litellm support lives in :mod:`gepetto.lm.litellm_lm` (optional).
"""

from __future__ import annotations

from .accounting import TrackedLM
from .base import LM, Completion, LMError, Message, RoleUsage, UsageTracker
from .cache import CachedLM, CachePolicy, ResponseCache, cache_key, default_cache_path
from .callable_lm import CallableLM, ScriptedCall, ScriptedLM, render_messages
from .factory import make_lm
from .openai_compat import OpenAICompatibleLM, normalize_base_url
from .retry import BackoffPolicy
from .sampling import resolve_params

__all__ = [
    "LM",
    "BackoffPolicy",
    "CachePolicy",
    "CachedLM",
    "CallableLM",
    "Completion",
    "LMError",
    "Message",
    "OpenAICompatibleLM",
    "ResponseCache",
    "RoleUsage",
    "ScriptedCall",
    "ScriptedLM",
    "TrackedLM",
    "UsageTracker",
    "cache_key",
    "default_cache_path",
    "make_lm",
    "normalize_base_url",
    "render_messages",
    "resolve_params",
]
