"""A persistent cache of model replies, so a rerun costs nothing it already paid for.

Why SQLite: one file, safe across threads and processes (WAL mode), no server,
survives crashes mid-run. Why a sha256 of canonical JSON as the key: the key must
change whenever anything that can change the answer changes (endpoint, model,
messages, any sampling parameter, the deliberate re-sample index) and must not
change for cosmetic differences (dict ordering, ``0`` vs ``0.0``).

What is cached (the policy, see :class:`CachedLM`): by default only deterministic
calls (temperature 0). Sampled calls (temperature > 0) are cached only with
``cache_sampled=True``; ``sample_index`` is part of the key, so asking for sample
#2 of the same prompt is never answered with sample #1.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from .base import LM, Completion, LMError, Message
from .sampling import resolve_params

logger = logging.getLogger("gepetto.lm")

SCHEMA_VERSION = 1
"""Bump when the key recipe or the table layout changes; older caches are then
discarded (a cache is only ever a copy of what the servers said)."""


def default_cache_path() -> Path:
    """``$GEPETTO_LM_CACHE`` (a file path), else ``$GEPETTO_CACHE_DIR/lm_cache.sqlite``, else
    ``~/.cache/gepetto/lm_cache.sqlite``. The first lets tests and benchmarks use a private
    response cache while the model weights stay in the shared cache directory."""
    explicit = os.environ.get("GEPETTO_LM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    directory = os.environ.get("GEPETTO_CACHE_DIR")
    base = Path(directory).expanduser() if directory else Path.home() / ".cache" / "gepetto"
    return base / "lm_cache.sqlite"


def _canonical(value: Any) -> Any:
    """JSON-ready form where equal requests look equal (``1.0`` -> ``1``, tuples -> lists)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot build a cache key from a {type(value).__name__}: {value!r}")


def cache_key(
    identity: str,
    messages: Sequence[Message],
    params: Mapping[str, Any],
    sample_index: int = 0,
) -> str:
    """sha256 of the canonical JSON of everything that can change the reply.

    Raises ``TypeError`` if a parameter is not JSON-like (then the call is not
    cacheable; :class:`CachedLM` passes it through uncached).
    """
    payload = {
        "identity": identity,
        "messages": [_canonical(dict(m)) for m in messages],
        "params": _canonical(dict(params)),
        "sample_index": int(sample_index),
        "v": SCHEMA_VERSION,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """SQLite-backed map from :func:`cache_key` to :class:`Completion`.

    One connection guarded by a lock: LM calls take seconds and a lookup takes
    microseconds, so serializing lookups costs nothing and keeps it simple. Several
    processes may share the file (WAL + a busy timeout).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(self.path), check_same_thread=False, timeout=30.0, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._setup_schema()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    def _setup_schema(self) -> None:
        conn = self._connection()
        with self._lock:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise LMError(
                    f"LM cache {self.path} was written by a newer gepetto (schema {version} > "
                    f"{SCHEMA_VERSION}); upgrade gepetto or point GEPETTO_CACHE_DIR elsewhere."
                )
            if version is not None and version < SCHEMA_VERSION:
                logger.info("discarding LM cache %s with old schema %s", self.path, version)
                conn.execute("DROP TABLE IF EXISTS responses")
            conn.execute(
                """CREATE TABLE IF NOT EXISTS responses (
                    key TEXT PRIMARY KEY,
                    identity TEXT NOT NULL,
                    text TEXT NOT NULL,
                    finish_reason TEXT NOT NULL,
                    prompt_tokens INTEGER NOT NULL,
                    completion_tokens INTEGER NOT NULL,
                    latency_s REAL NOT NULL,
                    model TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    logprobs TEXT
                )"""
            )
            columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
            if "logprobs" not in columns:  # a cache written before replies carried logprobs: keep its entries
                try:
                    conn.execute("ALTER TABLE responses ADD COLUMN logprobs TEXT")
                except sqlite3.OperationalError as exc:  # another process sharing the file added it first
                    if "duplicate column" not in str(exc):
                        raise
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LMError(f"LM cache {self.path} is closed")
        return self._conn

    def get(self, key: str) -> Completion | None:
        """The stored completion (as originally returned, ``cached=False``), or ``None``."""
        conn = self._connection()
        with self._lock:
            row = conn.execute(
                "SELECT text, finish_reason, prompt_tokens, completion_tokens, latency_s, model, logprobs"
                " FROM responses WHERE key=?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        text, finish_reason, prompt_tokens, completion_tokens, latency_s, model, logprobs = row
        return Completion(
            text=text,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency_s,
            model=model,
            logprobs=tuple(json.loads(logprobs)) if logprobs else None,
        )

    def put(self, key: str, identity: str, completion: Completion) -> None:
        conn = self._connection()
        with self._lock:
            conn.execute(
                "INSERT OR REPLACE INTO responses (key, identity, text, finish_reason,"
                " prompt_tokens, completion_tokens, latency_s, model, created_at, logprobs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    identity,
                    completion.text,
                    completion.finish_reason,
                    completion.prompt_tokens,
                    completion.completion_tokens,
                    completion.latency_s,
                    completion.model,
                    time.time(),
                    json.dumps(list(completion.logprobs)) if completion.logprobs is not None else None,
                ),
            )

    def __len__(self) -> int:
        conn = self._connection()
        with self._lock:
            return int(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self, identity: str | None = None) -> int:
        """Delete every entry (or those of one LM identity); returns how many went."""
        conn = self._connection()
        with self._lock:
            if identity is None:
                cursor = conn.execute("DELETE FROM responses")
            else:
                cursor = conn.execute("DELETE FROM responses WHERE identity=?", (identity,))
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class CachePolicy:
    """Which calls may be answered from the cache.

    ``cache_sampled=False`` (default): only calls whose *effective* temperature is 0.
    The effective temperature is the call's ``temperature``, else the wrapped LM's
    default (via its ``resolve_params`` hook, see :mod:`gepetto.lm.sampling`). When
    neither says anything (``None``: "server default", usually 0.7-1.0) the call is
    treated as sampled and not cached: we cannot prove it is deterministic.
    ``cache_sampled=True``: cache every call; ``sample_index`` in the key keeps
    deliberate re-samples apart.
    """

    cache_sampled: bool = False

    def allows(self, params: Mapping[str, Any]) -> bool:
        if self.cache_sampled:
            return True
        temperature = params.get("temperature")
        try:
            return temperature is not None and float(temperature) == 0.0
        except (TypeError, ValueError):
            return False


class CachedLM:
    """Wraps any :class:`~gepetto.lm.base.LM`; answers repeated calls from a :class:`ResponseCache`.

    Hits come back with ``cached=True`` (accounting counts them as cache hits, not
    calls) and ``retries=0``; their token counts are the original ones, their
    ``latency_s`` is the lookup time. Failures are never cached (they raise).
    Truncated replies (``finish_reason == "length"``) *are* cached: with the same
    ``max_tokens`` the server would cut them the same way, and the finish reason is
    kept so callers still see ``truncated``.

    Two concurrent identical calls may both miss and both reach the model; the
    second write wins, which is harmless.
    """

    def __init__(
        self,
        inner: LM,
        cache: ResponseCache,
        policy: CachePolicy | None = None,
        *,
        cache_sampled: bool | None = None,
    ) -> None:
        if policy is None:
            policy = CachePolicy(cache_sampled=bool(cache_sampled))
        elif cache_sampled is not None:
            policy = replace(policy, cache_sampled=cache_sampled)
        self.inner = inner
        self.cache = cache
        self.policy = policy

    def __repr__(self) -> str:
        return f"CachedLM({self.inner!r}, {self.cache!r}, {self.policy!r})"

    @property
    def identity(self) -> str:
        return self.inner.identity

    def resolve_params(
        self, *, temperature: float | None = None, max_tokens: int | None = None, **params: Any
    ) -> dict[str, Any]:
        return resolve_params(self.inner, temperature=temperature, max_tokens=max_tokens, **params)

    def _key(
        self,
        messages: Sequence[Message],
        temperature: float | None,
        max_tokens: int | None,
        sample_index: int,
        params: dict[str, Any],
    ) -> str | None:
        """The cache key, or ``None`` when this call must bypass the cache."""
        effective = self.resolve_params(temperature=temperature, max_tokens=max_tokens, **params)
        if not self.policy.allows(effective):
            return None
        try:
            return cache_key(self.identity, messages, effective, sample_index)
        except TypeError as exc:
            logger.debug("not caching call: %s", exc)
            return None

    def _hit(self, key: str, started: float) -> Completion | None:
        stored = self.cache.get(key)
        if stored is None:
            return None
        return replace(stored, cached=True, retries=0, latency_s=time.perf_counter() - started)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        started = time.perf_counter()
        key = self._key(messages, temperature, max_tokens, sample_index, params)
        if key is not None and (hit := self._hit(key, started)) is not None:
            return hit
        completion = self.inner.complete(
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            sample_index=sample_index,
            **params,
        )
        if key is not None and not completion.cached:
            self.cache.put(key, self.identity, completion)
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
        started = time.perf_counter()
        key = self._key(messages, temperature, max_tokens, sample_index, params)
        if key is not None and (hit := self._hit(key, started)) is not None:
            return hit
        completion = await self.inner.acomplete(
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            sample_index=sample_index,
            **params,
        )
        if key is not None and not completion.cached:
            self.cache.put(key, self.identity, completion)
        return completion
