"""A stand-in for llama.cpp's llama-server, for lifecycle tests (stdlib only).

Understands the flags EmbeddedServer passes; behaviour is steered by environment:

FAKE_LOAD_SECONDS    answer /health with 503 for this long first (default 0)
FAKE_NEVER_READY     if set, /health stays 503 forever
FAKE_EXIT_CODE       if set, print a load error and exit with this code at once
FAKE_BIND_FAIL_ONCE  path: if it does not exist, create it, print llama-server's bind
                     error and exit 1 (the next start succeeds)
FAKE_IGNORE_SIGTERM  if set, ignore SIGTERM
FAKE_PID_FILE        write our pid here
FAKE_ARGV_FILE       write {"argv": [...], "env": {...}} here as JSON
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def arg(flag, default=None):
    argv = sys.argv[1:]
    if flag in argv:
        return argv[argv.index(flag) + 1]
    return default


def main():
    host = arg("--host", "127.0.0.1")
    port = int(arg("--port", "8080"))
    alias = arg("--alias", "fake")
    print(f"fake llama-server: loading model '{arg('-m')}' FAKE-LOG-MARKER", flush=True)

    if os.environ.get("FAKE_PID_FILE"):
        with open(os.environ["FAKE_PID_FILE"], "w") as fh:
            fh.write(str(os.getpid()))
    if os.environ.get("FAKE_ARGV_FILE"):
        with open(os.environ["FAKE_ARGV_FILE"], "w") as fh:
            json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, fh)
    once = os.environ.get("FAKE_BIND_FAIL_ONCE")
    if once and not os.path.exists(once):
        open(once, "w").close()
        print(f"couldn't bind HTTP server socket, hostname: {host}, port: {port}", flush=True)
        sys.exit(1)
    if os.environ.get("FAKE_EXIT_CODE"):
        print("error: failed to load model: FAKE-LOAD-ERROR", flush=True)
        sys.exit(int(os.environ["FAKE_EXIT_CODE"]))
    if os.environ.get("FAKE_IGNORE_SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    ready_at = time.monotonic() + float(os.environ.get("FAKE_LOAD_SECONDS", "0"))
    never = bool(os.environ.get("FAKE_NEVER_READY"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            print("request: " + fmt % args, flush=True)

        def send_json(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                if never or time.monotonic() < ready_at:
                    self.send_json(503, {"error": {"code": 503, "message": "Loading model"}})
                else:
                    self.send_json(200, {"status": "ok"})
            elif self.path == "/v1/models":
                self.send_json(200, {"object": "list", "data": [{"id": alias}]})
            else:
                self.send_json(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/chat/completions":
                self.send_json(404, {"error": "not found"})
                return
            last = body.get("messages", [{}])[-1].get("content", "")
            self.send_json(
                200,
                {
                    "object": "chat.completion",
                    "model": alias,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": f"echo: {last}"},
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                },
            )

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True

    def on_term(signum, frame):
        print("fake llama-server: got SIGTERM, shutting down", flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    if not os.environ.get("FAKE_IGNORE_SIGTERM"):
        signal.signal(signal.SIGTERM, on_term)
    print(f"listening on http://{host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.05)
    print("fake llama-server: bye", flush=True)


if __name__ == "__main__":
    main()
