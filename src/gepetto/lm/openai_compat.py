"""Talk to any server that speaks the OpenAI ``/chat/completions`` dialect.

Why one client for everything: llama.cpp's ``llama-server``, llama-cpp-python's
server, vLLM, Ollama (``/v1``) and OpenAI itself all accept the same request, so
the optimizer runs offline on a small local model or against a hosted one by
changing ``base_url`` and ``model``, nothing else.

What this module owns, and why:

* **Retries** with exponential backoff and full jitter (see :mod:`gepetto.lm.retry`)
  on 429, 5xx, connection errors, timeouts and malformed bodies: a long
  optimization run must not die because a local server hiccuped once.
* **Bounded concurrency**: a local server has a few slots; flooding it only
  turns into timeouts. Sync calls share a ``threading.BoundedSemaphore``; async
  calls get an ``asyncio.Semaphore`` (and an ``httpx.AsyncClient``) per event
  loop, because both are bound to the loop that created them.
* **Errors that say what to do**: connection refused names the URL and says to
  start the server; 401 names the environment variable to set; 404 names the
  model and how to list what the server serves.
* **The API key never leaks**: it is read from the environment at call time, put
  only in the ``Authorization`` header, and scrubbed from every message we build
  (including server replies quoted in errors). It is not stored on the object, so
  it cannot show up in ``repr``, ``identity``, pickles or logs.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from .base import Completion, LMError, Message
from .retry import BackoffPolicy, is_retryable_status, parse_retry_after
from .sampling import merge_params

logger = logging.getLogger("gepetto.lm")

_SNIPPET_CHARS = 300


def normalize_base_url(base_url: str) -> str:
    """Canonical form of an endpoint URL, so equal endpoints get equal identities.

    Lower-cases scheme and host, drops a trailing ``/`` and a pasted
    ``/chat/completions`` suffix. Keeps the path (``/v1`` matters) and the port.
    """
    raw = base_url.strip()
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url must look like 'http://127.0.0.1:8080/v1', got {raw!r} "
            "(missing http:// or https://?)"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process, shared by every client.

    Building one costs ~30 ms (it parses the CA bundle); httpx would build a new one
    per client, and we make a client per instance and per event loop.
    """
    import certifi  # an httpx dependency

    return ssl.create_default_context(cafile=certifi.where())


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _redact_userinfo(url: str) -> str:
    """``http://user:secret@host`` -> ``http://user:***@host`` for messages and identity."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


@dataclass(frozen=True)
class _Retry:
    """One failed attempt that is worth repeating."""

    kind: str  # "status" | "connect" | "refused" | "timeout" | "malformed"
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass
class _LoopState:
    """The async client and semaphore belonging to one event loop."""

    client: httpx.AsyncClient
    semaphore: asyncio.Semaphore


class OpenAICompatibleLM:
    """An :class:`~gepetto.lm.base.LM` backed by ``POST {base_url}/chat/completions``.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8080/v1`` (llama-server),
    ``http://127.0.0.1:11434/v1`` (Ollama), ``https://api.openai.com/v1``.
    ``api_key_env`` names the environment variable holding the key (read on every
    call, so rotating it needs no restart); ``None`` sends no key (local servers).
    ``max_retries`` is the number of *extra* attempts after the first one.
    ``max_concurrency`` bounds in-flight requests of this instance; share one
    instance between callers that should share the bound.

    ``temperature``, ``max_tokens`` and any other keyword (``top_p``, ``seed``,
    ``stop``, ``grammar``, ``json_schema``, ...) are defaults for the request body;
    per-call arguments override them. ``None`` means "let the server decide" and is
    not sent. ``sample_index`` is a cache concept and is never sent.

    Proxy variables (``HTTP_PROXY``, ...) are honoured, except for loopback
    servers (``localhost``, ``127.*``, ``::1``), which are always reached directly.
    ``verify`` is passed to httpx (``False`` or a CA bundle path for self-signed
    local HTTPS); by default one shared, verifying TLS context is used.

    ``latency_s`` of a completion is the duration of the successful HTTP request
    (not the time spent queueing for a slot or sleeping between retries; those show
    up as ``retries``).

    ``seed_samples=True`` sends a sampled call (temperature not 0) a ``seed`` derived
    from its messages and ``sample_index`` (unless the call sets one), so "sample k of
    this prompt" is the same draw in every run, as the response cache already treats
    it. Why: without it the server draws a fresh seed per request, and two runs with the
    same ``Config.seed`` take different paths from their first reflection reply on
    (measured: the same banking-9 seed ended 0.78 and 0.70 on test on two days). Off by
    default because not every hosted API accepts ``seed``; the embedded server turns
    it on. A server batching several requests at once can still differ in the last
    bits of its logits, so this makes reruns far closer, not bit-identical.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        max_concurrency: int = 4,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 60.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str | ssl.SSLContext = True,
        identity: str | None = None,
        seed_samples: bool = False,
        **default_params: Any,
    ) -> None:
        # ``identity`` overrides the cache identity for servers whose URL changes between
        # runs but whose model does not (the embedded server picks a free port each time).
        self.cache_identity = identity
        self.seed_samples = bool(seed_samples)
        if not model:
            raise ValueError("model must be a non-empty string (the name the server serves)")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if "sample_index" in default_params:
            raise ValueError("sample_index is a per-call cache concept, not a default param")
        _check_not_reserved(default_params)
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_concurrency = int(max_concurrency)
        self.headers = dict(headers or {})
        self.verify = verify
        self.default_params: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            **default_params,
        }
        self.policy = BackoffPolicy(
            max_retries=max_retries,
            base_s=backoff_base_s,
            max_s=backoff_max_s,
            retry_after_max_s=retry_after_max_s,
        )
        self._init_runtime()

    # ------------------------------------------------------------------ plumbing

    def _init_runtime(self) -> None:
        """Locks, clients and counters: everything that is per-process, not config."""
        self._lock = threading.Lock()
        self._sync_semaphore = threading.BoundedSemaphore(self.max_concurrency)
        self._sync_client: httpx.Client | None = None
        self._loop_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._retries = 0

    def __getstate__(self) -> dict[str, Any]:
        # Clients, locks and semaphores cannot cross a process boundary; rebuild them.
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def __repr__(self) -> str:
        key = f", api_key_env={self.api_key_env!r}" if self.api_key_env else ""
        return f"OpenAICompatibleLM(base_url={self.display_url!r}, model={self.model!r}{key})"

    @property
    def display_url(self) -> str:
        """The base URL as shown in messages (any password in it masked)."""
        return _redact_userinfo(self.base_url)

    @property
    def identity(self) -> str:
        return self.cache_identity or f"{self.display_url}|{self.model}"

    @property
    def retries(self) -> int:
        """Failed attempts that were retried, over the lifetime of this instance."""
        with self._lock:
            return self._retries

    @property
    def max_retries(self) -> int:
        return self.policy.max_retries

    def _count_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def _client_options(self) -> dict[str, Any]:
        verify = _default_ssl_context() if self.verify is True else self.verify
        return {
            "timeout": httpx.Timeout(self.timeout_s),
            "limits": httpx.Limits(
                max_connections=self.max_concurrency + 2,
                max_keepalive_connections=self.max_concurrency,
            ),
            "verify": verify,
            # A proxy from HTTP(S)_PROXY must not swallow calls to a local server.
            "trust_env": not _is_loopback(self.base_url),
        }

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(**self._client_options())
            return self._sync_client

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loop_states.get(loop)
            if state is None:
                state = _LoopState(
                    client=httpx.AsyncClient(**self._client_options()),
                    semaphore=asyncio.Semaphore(self.max_concurrency),
                )
                self._loop_states[loop] = state
            return state

    def close(self) -> None:
        """Close the sync client (async clients: see :meth:`aclose`)."""
        with self._lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, and the sync client."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loop_states.pop(loop, None)
        if state is not None:
            await state.client.aclose()
        self.close()

    def __enter__(self) -> OpenAICompatibleLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> OpenAICompatibleLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ request

    def resolve_params(
        self,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """The sampling parameters a call with these arguments sends (see :mod:`.sampling`)."""
        params.pop("sample_index", None)
        return merge_params(
            self.default_params, temperature=temperature, max_tokens=max_tokens, params=params
        )

    def _api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise LMError(
                f"{self.display_url} (model {self.model!r}) needs an API key, but environment "
                f"variable {self.api_key_env} is not set or empty. Set it (export "
                f"{self.api_key_env}=...) or pass api_key_env=None for a server without auth."
            )
        return key

    def _request_headers(self, key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.headers)
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(
        self,
        messages: Sequence[Message],
        temperature: float | None,
        max_tokens: int | None,
        params: dict[str, Any],
        sample_index: int = 0,
    ) -> dict[str, Any]:
        _check_not_reserved(params)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
        }
        body.update(self.resolve_params(temperature=temperature, max_tokens=max_tokens, **params))
        if self.seed_samples and "seed" not in body and body.get("temperature") != 0:
            body["seed"] = sample_seed(body["messages"], sample_index)
        body["stream"] = False
        return body

    @property
    def _chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    # ------------------------------------------------------------------ calls

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        body = self._body(messages, temperature, max_tokens, params, sample_index)
        key = self._api_key()
        headers = self._request_headers(key)
        retries = 0
        while True:
            with self._sync_semaphore:
                started = time.perf_counter()
                try:
                    response = self._client().post(self._chat_url, json=body, headers=headers)
                    outcome = self._interpret(response, time.perf_counter() - started, key)
                except httpx.HTTPError as exc:
                    outcome = self._interpret_exception(exc, key)
            if isinstance(outcome, Completion):
                return replace(outcome, retries=retries)
            if isinstance(outcome, LMError) or retries >= self.policy.max_retries:
                raise self._final_error(outcome, retries, key)
            delay = self._before_retry(outcome, retries)
            retries += 1
            time.sleep(delay)

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        body = self._body(messages, temperature, max_tokens, params, sample_index)
        key = self._api_key()
        headers = self._request_headers(key)
        state = self._loop_state()
        retries = 0
        while True:
            async with state.semaphore:
                started = time.perf_counter()
                try:
                    response = await state.client.post(self._chat_url, json=body, headers=headers)
                    outcome = self._interpret(response, time.perf_counter() - started, key)
                except httpx.HTTPError as exc:
                    outcome = self._interpret_exception(exc, key)
            if isinstance(outcome, Completion):
                return replace(outcome, retries=retries)
            if isinstance(outcome, LMError) or retries >= self.policy.max_retries:
                raise self._final_error(outcome, retries, key)
            delay = self._before_retry(outcome, retries)
            retries += 1
            await asyncio.sleep(delay)

    def _before_retry(self, outcome: _Retry, retries: int) -> float:
        delay = self.policy.delay(retries, outcome.retry_after)
        self._count_retry()
        logger.info(
            "%s (model %s): %s; retry %d/%d in %.2fs",
            self.display_url,
            self.model,
            outcome.detail,
            retries + 1,
            self.policy.max_retries,
            delay,
        )
        return delay

    def list_models(self) -> list[str]:
        """Model ids the server serves (``GET {base_url}/models``), one attempt.

        Meant for health checks and for error messages that say what *is* available.
        """
        key = self._api_key()
        url = f"{self.base_url}/models"
        try:
            response = self._client().get(url, headers=self._request_headers(key))
        except httpx.HTTPError as exc:
            outcome = self._interpret_exception(exc, key)
            raise self._final_error(outcome, 0, key) from None
        if response.status_code != 200:
            raise self._status_error(response, key, endpoint=url)
        try:
            data = response.json()
            entries = data["data"] if isinstance(data, dict) else data
            return [str(entry["id"]) for entry in entries]
        except (ValueError, KeyError, TypeError) as exc:
            raise LMError(
                f"{url} returned an unexpected model list ({type(exc).__name__}): "
                f"{self._snippet(response.text, key)}"
            ) from None

    # ------------------------------------------------------------------ interpretation

    @staticmethod
    def _redact(text: str, key: str | None) -> str:
        if key:
            text = text.replace(key, "***")
        return text

    def _snippet(self, text: str, key: str | None) -> str:
        text = self._redact(text.strip(), key)
        if len(text) > _SNIPPET_CHARS:
            text = text[:_SNIPPET_CHARS] + "..."
        return text or "<empty body>"

    def _server_message(self, response: httpx.Response, key: str | None) -> str:
        """The human part of an error body (``{"error": {"message": ...}}`` and friends)."""
        try:
            data = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
            return self._snippet(response.text, key)
        message: Any = data
        if isinstance(data, dict):
            # OpenAI/llama.cpp/vLLM: {"error": {"message"}}; Ollama: {"error": str};
            # FastAPI-based servers: {"detail": ...}; some: {"message": ...}.
            inner = data.get("error")
            source = inner if isinstance(inner, dict) else data
            message = inner if isinstance(inner, str) else None
            message = message or source.get("message") or source.get("detail") or data
        if not isinstance(message, str):
            message = json.dumps(message, ensure_ascii=False)
        return self._snippet(message, key)

    def _interpret(
        self, response: httpx.Response, latency_s: float, key: str | None
    ) -> Completion | _Retry | LMError:
        status = response.status_code
        if status != 200:
            if is_retryable_status(status):
                return _Retry(
                    kind="status",
                    status=status,
                    detail=f"HTTP {status}: {self._server_message(response, key)}",
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
            return self._status_error(response, key, endpoint=self._chat_url)
        try:
            data = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
            return _Retry("malformed", f"reply is not JSON: {self._snippet(response.text, key)}")
        return self._parse_completion(data, latency_s, key)

    def _parse_completion(
        self, data: Any, latency_s: float, key: str | None
    ) -> Completion | _Retry:
        def malformed(why: str) -> _Retry:
            body = json.dumps(data, ensure_ascii=False) if data is not None else ""
            return _Retry("malformed", f"{why}: {self._snippet(body, key)}")

        if not isinstance(data, dict):
            return malformed("reply is not a JSON object")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return malformed("reply has no choices")
        choice = choices[0]
        message = choice.get("message")
        if isinstance(message, dict):
            content = message.get("content")
        elif "text" in choice:  # a few servers answer chat requests in completion shape
            content = choice.get("text")
        else:
            return malformed("reply has no message")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
        text = "" if content is None else str(content)
        raw_usage = data.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        return Completion(
            text=text,
            finish_reason=str(choice.get("finish_reason") or "stop"),
            prompt_tokens=_as_int(usage.get("prompt_tokens")),
            completion_tokens=_as_int(usage.get("completion_tokens")),
            latency_s=latency_s,
            cached=False,
            model=str(data.get("model") or self.model),
            logprobs=_token_logprobs(choice.get("logprobs")),
        )

    def _status_error(self, response: httpx.Response, key: str | None, *, endpoint: str) -> LMError:
        """A non-retryable HTTP status turned into an error that says what to do."""
        status = response.status_code
        server = self._server_message(response, key)
        where = f"{endpoint} (model {self.model!r})"
        if status in (401, 403):
            if self.api_key_env:
                fix = (
                    f"Check that environment variable {self.api_key_env} holds a valid key "
                    "for this endpoint (and that it may use this model)."
                )
            else:
                fix = (
                    "This endpoint needs an API key: put it in an environment variable and "
                    "pass its name as api_key_env= (e.g. api_key_env='OPENAI_API_KEY')."
                )
            kind = "unauthorized" if status == 401 else "forbidden"
            return LMError(f"{where} refused the request: HTTP {status} ({kind}): {server}. {fix}")
        if status == 404:
            return LMError(
                f"{where}: HTTP 404: {server}. Either the model {self.model!r} is not served "
                f"there (list what is: GET {self.base_url}/models, or OpenAICompatibleLM."
                f"list_models(); for Ollama `ollama pull {self.model}`), or base_url is wrong "
                "(it usually ends with /v1)."
            )
        return LMError(f"{where} rejected the request: HTTP {status}: {server}")

    def _interpret_exception(self, exc: httpx.HTTPError, key: str | None) -> _Retry | LMError:
        detail = self._redact(str(exc) or type(exc).__name__, key)
        if isinstance(exc, httpx.TimeoutException):
            return _Retry("timeout", f"timed out ({type(exc).__name__}) after {self.timeout_s:g}s")
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
            return LMError(f"{self.display_url}: cannot send the request: {detail}")
        if isinstance(exc, httpx.ConnectError) and _is_refused(exc):
            return _Retry("refused", f"connection refused ({detail})")
        if isinstance(exc, httpx.DecodingError):
            return _Retry("malformed", f"reply could not be decoded: {detail}")
        if isinstance(exc, httpx.TransportError):
            return _Retry("connect", f"connection error ({type(exc).__name__}: {detail})")
        return LMError(f"{self.display_url}: request failed: {type(exc).__name__}: {detail}")

    def _final_error(self, outcome: _Retry | LMError, retries: int, key: str | None) -> LMError:
        """The error a caller sees once we stop trying; carries ``retries`` for accounting."""
        if isinstance(outcome, LMError):
            error = outcome
        else:
            attempts = retries + 1
            tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"
            where = f"{self.display_url} (model {self.model!r})"
            if outcome.kind == "refused":
                message = (
                    f"Cannot connect to {self.display_url}: connection refused ({tried}). "
                    "Nothing is listening there: start the model server (e.g. run "
                    "`gepetto serve-lm`) or check base_url."
                )
            elif outcome.kind == "connect":
                message = (
                    f"Cannot reach {self.display_url}: {outcome.detail} ({tried}). Check that "
                    "the server is running and that base_url (host, port, http/https) is right."
                )
            elif outcome.kind == "timeout":
                message = (
                    f"{where} did not answer in time: {outcome.detail} ({tried}). The server "
                    "may be overloaded or generating too long: raise timeout_s, lower "
                    "max_tokens, or lower max_concurrency."
                )
            elif outcome.kind == "malformed":
                message = (
                    f"{where} kept returning malformed replies ({tried}); last: {outcome.detail}. "
                    "Is base_url an OpenAI-compatible API root (usually ending with /v1)?"
                )
            else:
                message = f"{where} kept failing ({tried}); last: {outcome.detail}"
            error = LMError(self._redact(message, key))
        error.retries = retries  # type: ignore[attr-defined]
        error.endpoint = self.display_url  # type: ignore[attr-defined]
        return error


def sample_seed(messages: Sequence[Mapping[str, Any]], sample_index: int) -> int:
    """A sampling seed fixed by the prompt and the sample's index (31 bits: every server
    takes it), the same in every process (no ``hash()``: it is salted per process)."""
    canonical = json.dumps([list(messages), int(sample_index)], sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


_RESERVED_PARAMS = frozenset({"model", "messages", "stream"})


def _check_not_reserved(params: Mapping[str, Any]) -> None:
    """``model``/``messages``/``stream`` are ours: a param must not silently replace them."""
    clash = sorted(_RESERVED_PARAMS.intersection(params))
    if clash:
        raise ValueError(
            f"{', '.join(clash)} cannot be passed as sampling params (model is set on the "
            "LM, messages is the first argument, and replies are never streamed)"
        )


def _is_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        current = current.__cause__ or current.__context__
    return "refused" in str(exc).lower()


def _token_logprobs(value: Any) -> tuple[float, ...] | None:
    """Per-token log-probabilities of an OpenAI-format ``choice.logprobs`` object
    (``{"content": [{"token": ..., "logprob": ...}, ...]}``); ``None`` when absent or not
    in that shape (a server that ignores ``logprobs`` is not an error here; the caller
    that needs them says so)."""
    if not isinstance(value, dict) or not isinstance(value.get("content"), list):
        return None
    out: list[float] = []
    for item in value["content"]:
        if not isinstance(item, dict):
            return None
        try:
            out.append(float(item["logprob"]))
        except (KeyError, TypeError, ValueError):
            return None
    return tuple(out)


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
