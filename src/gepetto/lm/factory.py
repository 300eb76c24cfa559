"""One call to build the usual stack: server client -> cache -> accounting.

Why the order: the cache sits right on the client so that it keys on what is
really sent; accounting sits outside the cache so cache hits are counted as hits.
"""

from __future__ import annotations

import os
from typing import Any

from .accounting import TrackedLM
from .base import LM, UsageTracker
from .cache import CachedLM, CachePolicy, ResponseCache
from .openai_compat import OpenAICompatibleLM


def make_lm(
    *,
    base_url: str,
    model: str,
    api_key_env: str | None = None,
    cache: bool | ResponseCache | str | os.PathLike[str] = True,
    cache_sampled: bool = False,
    role: str | None = None,
    tracker: UsageTracker | None = None,
    **lm_kwargs: Any,
) -> LM:
    """``TrackedLM(CachedLM(OpenAICompatibleLM(...)))``, each layer optional.

    ``cache``: ``True`` for the default cache file (see
    :func:`~gepetto.lm.cache.default_cache_path`), a path or a :class:`ResponseCache`
    to choose one, ``False`` for none. ``tracker`` + ``role`` add accounting;
    ``tracker`` without ``role`` is an error (usage would land nowhere sensible).
    Other keywords go to :class:`OpenAICompatibleLM` (``timeout_s``,
    ``max_concurrency``, ``temperature``, ``seed``, ...).
    """
    if tracker is not None and not role:
        raise ValueError("make_lm(tracker=...) needs role= (e.g. 'task' or 'reflection')")
    lm: LM = OpenAICompatibleLM(base_url, model, api_key_env=api_key_env, **lm_kwargs)
    if cache is not False:
        if cache is True:
            store = ResponseCache()
        elif isinstance(cache, ResponseCache):
            store = cache
        else:
            store = ResponseCache(cache)
        lm = CachedLM(lm, store, CachePolicy(cache_sampled=cache_sampled))
    if tracker is not None and role:
        lm = TrackedLM(lm, tracker, role)
    return lm
