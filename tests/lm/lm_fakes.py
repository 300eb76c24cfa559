"""A scriptable fake OpenAI-compatible server, for testing the LM layer offline.

Each POST to ``/v1/chat/completions`` is answered by the next queued
:class:`Reply` (see :meth:`FakeOpenAIServer.push`), or, when the queue is empty,
by ``server.default(body)`` (an echo of the last user message). The server
records every request and the maximum number handled at the same time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def ok(
    text: str = "hello",
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 7,
    completion_tokens: int = 3,
    model: str = "fake-model",
    delay_s: float = 0.0,
    logprobs: list[float] | None = None,
) -> Reply:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": finish_reason,
    }
    if logprobs is not None:
        choice["logprobs"] = {"content": [{"token": f"t{i}", "logprob": lp} for i, lp in enumerate(logprobs)]}
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
        delay_s=delay_s,
    )


def error(status: int, message: str = "boom", headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body={"error": {"message": message}}, headers=headers or {})


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.models = ["fake-model"]
        self.default: Callable[[Any], Reply] = self._echo
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @staticmethod
    def _echo(body: Any) -> Reply:
        messages = body.get("messages", []) if isinstance(body, dict) else []
        last = messages[-1]["content"] if messages else ""
        return ok(f"echo: {last}")

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.queue.extend(replies)

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_reply(self, body: Any) -> Reply:
        with self._lock:
            if self.queue:
                return self.queue.popleft()
        return self.default(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # silence
                pass

            def _send(self, reply: Reply) -> None:
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def do_GET(self) -> None:
                server.requests.append(Request(self.path, dict(self.headers), None))
                if self.path.endswith("/models"):
                    self._send(
                        Reply(
                            body={
                                "object": "list",
                                "data": [{"id": m, "object": "model"} for m in server.models],
                            }
                        )
                    )
                else:
                    self._send(error(404, "not found"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with server._lock:
                    server.requests.append(Request(self.path, dict(self.headers), body))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server._next_reply(body)
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                finally:
                    # Leave the in-flight count *before* answering, so the client can
                    # never start its next request while this one still counts.
                    with server._lock:
                        server.in_flight -= 1
                self._send(reply)

        return Handler
