"""A fault-injecting OpenAI-compatible server on 127.0.0.1, for run-survival tests.

It plays two models behind one ``/v1/chat/completions`` endpoint:

* the **reflection LM** (recognised by gepetto's reflection system prompt): it reads the
  current instruction and the ``Expected:`` labels of the wrong cases it is shown, and
  replies with the instruction plus one hint ``tip(<label>)`` per label not hinted yet,
  in a fenced block;
* the **task LM** (a banking classifier): it answers the true label of the query when
  the instruction carries that label's hint, and a wrong label otherwise. The seed
  instruction has no hints, so it scores 0; an instruction hinting every label scores 1.

Faults are decided per request from ``sha256(seed | request content | n-th time this
content was seen)``: the schedule depends neither on thread interleaving nor on timing,
so a run against this server is as deterministic as a run against a healthy one.

The server is bounded: a daemon thread, handler sleeps that wake up on stop, and a
watchdog that shuts it down after ``lifetime_s`` even if a test forgets to.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Mapping

from gepetto.proposers.reflective import SYSTEM_PROMPT as REFLECTION_SYSTEM_PROMPT

WRONG_LABEL = "card_payment_declined"  # banking-9's distractor: never a true label


def hint(label: str) -> str:
    return f"tip({label})"


HINT = re.compile(r"tip\((\w+)\)")

RETRYABLE_KINDS = (
    "http500", "http503", "http429", "timeout", "drop", "empty_body", "garbage_json", "deep_json", "empty_choices",
)
"""Faults the client must retry: transient statuses, timeouts, dropped connections,
malformed bodies."""
CONTENT_KINDS = ("empty_content", "length")
"""Faults that come back as a (bad) answer: HTTP 200 with empty text, or a reply cut by
the token limit. The client cannot tell them from a real answer; callers must cope."""
ALL_KINDS = RETRYABLE_KINDS + CONTENT_KINDS
# Also available, not in ALL_KINDS: "http401" (not retried: the call fails at once).


@dataclass
class FaultPlan:
    """Which requests fail, and how. ``rate`` is the chance that one request faults;
    the kind is then drawn uniformly from ``kinds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ALL_KINDS
    seed: int = 0
    retry_after: str = "0.01"  # seconds, sent with 429 (fractional, as some servers do)
    hang_s: float = 2.0  # how long a "timeout" request sleeps (must exceed the client timeout)

    def decide(self, content_key: str, occurrence: int) -> str | None:
        if self.rate <= 0:
            return None
        digest = hashlib.sha256(f"{self.seed}|{content_key}|{occurrence}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:16], "big") % len(self.kinds)]


@dataclass
class Stats:
    requests: int = 0
    task_requests: int = 0
    reflection_requests: int = 0
    faults: Counter = field(default_factory=Counter)
    down_replies: int = 0
    authorization: set = field(default_factory=set)

    @property
    def faults_total(self) -> int:
        return sum(self.faults.values())

    @property
    def retryable_faults(self) -> int:
        return sum(n for kind, n in self.faults.items() if kind in RETRYABLE_KINDS) + self.down_replies

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "task_requests": self.task_requests,
            "reflection_requests": self.reflection_requests,
            "faults": dict(sorted(self.faults.items())),
            "faults_total": self.faults_total,
            "down_replies": self.down_replies,
        }


def _reply(text: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "model": "fault-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text.split())), "total_tokens": 11},
    }


def reflection_answer(prompt: str) -> str:
    """What the fake reflection LM writes: the current instruction plus missing hints."""
    match = re.search(r"CURRENT INSTRUCTION\n```\n(.*?)\n```", prompt, re.DOTALL)
    current = match.group(1).strip() if match else ""
    have = set(HINT.findall(current))
    wanted: list[str] = []
    for block in re.split(r"\nCase \d+ ", prompt)[1:]:
        if not block.startswith("(wrong"):
            continue
        expected = re.search(r"^Expected: (\w+)\s*$", block, re.MULTILINE)
        if expected and expected.group(1) not in have and expected.group(1) not in wanted:
            wanted.append(expected.group(1))
    if not wanted:
        return f"```\n{current}\n```"  # nothing to add: the client refuses it as unchanged
    tips = " ".join(hint(label) for label in sorted(wanted))
    return f"```\n{current}\nHints: {tips}\n```"


def classifier_answer(instruction: str, query: str, labels: Mapping[str, str]) -> str:
    label = labels.get(query.strip())
    if label is None:
        return "unknown"
    return label if hint(label) in instruction else WRONG_LABEL


class FaultServer:
    """``with FaultServer(labels, FaultPlan(rate=0.3)) as server: make_lm(base_url=server.url, ...)``.

    ``labels`` maps query text -> true label. ``set_down(True)`` makes every request
    answer 503 (a server that is up but broken for good) until ``set_down(False)``.
    ``echo_auth`` puts the request's Authorization header into error bodies, like a
    verbose proxy would: the client must redact it.
    """

    def __init__(
        self,
        labels: Mapping[str, str] | Iterable[Mapping[str, str]],
        plan: FaultPlan | None = None,
        *,
        echo_auth: bool = False,
        lifetime_s: float = 120.0,
    ) -> None:
        if not isinstance(labels, Mapping):
            labels = {row["text"].strip(): row["label"] for row in labels}
        self.labels = dict(labels)
        self.plan = plan or FaultPlan()
        self.echo_auth = echo_auth
        self.stats = Stats()
        self._seen: Counter = Counter()
        self._down = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = False
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._watchdog = threading.Timer(lifetime_s, self.stop)
        self._watchdog.daemon = True

    # ---------------------------------------------------------------- control
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FaultServer":
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        self._watchdog.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_down(self, down: bool) -> None:
        with self._lock:
            self._down = down

    # ------------------------------------------------------------- behaviour
    def _decide(self, body: Any, auth: str | None) -> tuple[str | None, str]:
        """(fault kind or None, role) for one request; updates the counters."""
        messages = body.get("messages", []) if isinstance(body, dict) else []
        role = "reflection" if messages and messages[0].get("content") == REFLECTION_SYSTEM_PROMPT else "task"
        # Error feedback quoted in reflection prompts names this server's (ephemeral) port:
        # leave it out of the key so the schedule is the same on every port.
        canonical = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", json.dumps(messages, sort_keys=True))
        key = hashlib.sha256(canonical.encode()).hexdigest()
        with self._lock:
            self.stats.requests += 1
            if role == "task":
                self.stats.task_requests += 1
            else:
                self.stats.reflection_requests += 1
            if auth is not None:
                self.stats.authorization.add(auth)
            if self._down:
                self.stats.down_replies += 1
                return "down", role
            occurrence = self._seen[key]
            self._seen[key] += 1
            kind = self.plan.decide(key, occurrence)
            if kind is not None:
                self.stats.faults[kind] += 1
        return kind, role

    def _answer(self, body: dict[str, Any], role: str) -> str:
        messages = body["messages"]
        if role == "reflection":
            return reflection_answer(messages[-1]["content"])
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        return classifier_answer(system, user, self.labels)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # silence
                pass

            def _send(self, status: int, payload: bytes, headers: Mapping[str, str] = {}) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeouts)

            def _error(self, status: int, message: str, headers: Mapping[str, str] = {}) -> None:
                auth = self.headers.get("Authorization")
                if server.echo_auth and auth:
                    message = f"{message} (request had Authorization: {auth})"
                self._send(status, json.dumps({"error": {"message": message}}).encode(), headers)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                kind, role = server._decide(body, self.headers.get("Authorization"))
                if not isinstance(body, dict) or not body.get("messages"):
                    self._error(400, "bad request")
                    return
                auth = self.headers.get("Authorization") or ""
                if kind == "down":
                    self._error(503, "service unavailable: the model is not loaded")
                elif kind == "http500":
                    self._error(500, "internal server error")
                elif kind == "http503":
                    self._error(503, "overloaded, try again")
                elif kind == "http429":
                    self._error(429, "rate limited", {"Retry-After": server.plan.retry_after})
                elif kind == "http401":
                    self._error(401, "invalid API key")
                elif kind == "timeout":
                    server._stopping.wait(server.plan.hang_s)
                    self._send(200, json.dumps(_reply(server._answer(body, role))).encode())
                elif kind == "drop":
                    # headers promise a body, half of it is sent, then the socket closes
                    try:
                        self.wfile.write(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
                            b'{"choices": [{"message": {"con'
                        )
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    self.close_connection = True
                elif kind == "empty_body":
                    self._send(200, b"")
                elif kind == "garbage_json":
                    text = "<html>502 Bad Gateway</html>" + (f" {auth}" if server.echo_auth else "")
                    self._send(200, text.encode())
                elif kind == "deep_json":
                    # valid-looking JSON nested deeper than any parser recursion limit
                    self._send(200, b"[" * 100_000 + b"]" * 100_000)
                elif kind == "empty_choices":
                    self._send(200, json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode())
                elif kind == "empty_content":
                    self._send(200, json.dumps(_reply("")).encode())
                elif kind == "length":
                    answer = server._answer(body, role)
                    self._send(200, json.dumps(_reply(answer[: max(1, len(answer) // 2)], "length")).encode())
                else:
                    self._send(200, json.dumps(_reply(server._answer(body, role))).encode())

        return Handler
