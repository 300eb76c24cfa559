"""Running ``llama-server`` as a child process that gepetto owns.

:class:`EmbeddedServer` starts the server on 127.0.0.1 (a free port unless told
otherwise), waits until ``GET /health`` answers 200 (the model is loaded), exposes
the OpenAI-compatible ``base_url``, and stops it again: explicitly, on ``with``
exit, when garbage-collected, at interpreter exit, and -- through a tiny supervisor
process holding a pipe to us -- even when this process is killed outright.

Context size: llama-server's ``-c`` is the *total* KV cache, split evenly over the
``-np`` slots. Here ``n_ctx`` is what one request can use (per slot), so the server
gets ``-c n_ctx*parallel``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any, Sequence

import httpx

from ._util import EmbeddedError, cache_root, tail

__all__ = ["EmbeddedServer", "LocalServer", "ServerError", "find_free_port"]

_SUPERVISOR = Path(__file__).with_name("_supervisor.py")
_BIND_FAILURE = "couldn't bind HTTP server socket"
_KEEP_LOGS = 20


class ServerError(EmbeddedError):
    """llama-server did not start, did not become healthy, or died."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if os.name != "nt":  # like the server: TIME_WAIT leftovers do not count
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _shutdown(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Stop the supervisor and its server: close its stdin, wait, then kill the group.

    Module-level (no reference to the server object) so it can be a weakref finalizer.
    """
    if proc.poll() is None:
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # EOF -> the supervisor SIGTERMs the server
        except OSError:
            pass
        try:
            proc.wait(grace + 5.0)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        # The supervisor is stuck. It leads its own process group, which also holds
        # the server: kill the whole group. (Only while it is alive and unreaped is
        # its pid guaranteed to still name our group.)
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                proc.kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:  # pragma: no cover
            pass


class EmbeddedServer:
    """A ``llama-server`` child process serving one GGUF model on localhost.

    Use as a context manager (``with EmbeddedServer(path) as srv: ...``) or call
    :meth:`start` / :meth:`stop`. ``base_url`` is the OpenAI-compatible root
    (``http://127.0.0.1:PORT/v1``); ``model`` is the name the server reports and
    accepts.

    ``n_ctx`` is the context per request (per slot); ``parallel`` the number of
    requests decoded concurrently; ``threads=None`` lets llama.cpp choose (the number
    of physical cores). ``cache_ram_mib`` caps the RAM llama-server may use to keep
    prompt states of idle slots for reuse (its own default, 8 GiB, is a lot on a
    shared 24 GiB machine running two servers; ``None`` keeps it). ``binary=None``
    uses :func:`ensure_llama_server` (which may build it). ``extra_args`` are
    appended to the command line verbatim.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 8192,
        parallel: int = 4,
        threads: int | None = None,
        cache_ram_mib: int | None = 2048,
        binary: str | os.PathLike[str] | None = None,
        model_name: str | None = None,
        extra_args: Sequence[str] = (),
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 300.0,
        stop_timeout: float = 10.0,
        cache_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if n_ctx <= 0 or parallel <= 0:
            raise ValueError("n_ctx and parallel must be positive")
        if threads is not None and threads <= 0:
            raise ValueError("threads must be positive (or None for llama.cpp's default)")
        self.model_path = Path(model_path)
        self.host = host
        self.requested_port = port or None
        self.n_ctx = int(n_ctx)
        self.parallel = int(parallel)
        self.threads = threads
        self.cache_ram_mib = cache_ram_mib
        self.binary = Path(binary) if binary is not None else None
        self.model = model_name or self.model_path.stem
        self.extra_args = tuple(str(a) for a in extra_args)
        self._log_path_arg = Path(log_path) if log_path is not None else None
        self.startup_timeout = float(startup_timeout)
        self.stop_timeout = float(stop_timeout)
        self.cache_dir = cache_dir
        self.env = env
        self.port: int | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    # -- public properties ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise ServerError("the server has not been started")
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def identity(self) -> str:
        """A cache identity that survives restarts: the model, not the (random) port.

        Pass it to the client (``make_lm(..., identity=server.identity)``) so that a
        second run against a freshly started server reuses the first run's replies.
        """
        try:
            size = self.model_path.stat().st_size
        except OSError:
            size = 0
        return f"embedded|{self.model}|{size}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, e.g. ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        """PID of the supervisor process (the server is its only child)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def command(self, port: int) -> list[str]:
        """The llama-server command line for ``port``."""
        if self.binary is None:
            raise ServerError("no llama-server binary set")
        cmd = [
            str(self.binary),
            "-m", str(self.model_path),
            "--host", self.host,
            "--port", str(port),
            "-c", str(self.n_ctx * self.parallel),
            "-np", str(self.parallel),
            "--no-kv-unified",  # each slot gets exactly n_ctx; no slot can starve another
            "--alias", self.model,
            "--jinja",  # the model's own chat template (the default in this version)
            "--no-webui",
            "--offline",  # never try to reach a model hub
        ]  # fmt: skip
        if self.threads is not None:
            cmd += ["-t", str(self.threads)]
        if self.cache_ram_mib is not None:
            cmd += ["--cache-ram", str(self.cache_ram_mib)]
        cmd += list(self.extra_args)
        return cmd

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines) if self.log_path is not None else ""

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> "EmbeddedServer":
        """Start the server and block until it is healthy; returns ``self``.

        Raises :class:`ServerError` (with the tail of the server log) if it exits or
        does not become healthy within ``startup_timeout`` seconds.
        """
        if self.running:
            return self
        if not self.model_path.is_file():
            raise ServerError(f"model file {self.model_path} does not exist")
        if self.binary is None:
            from .llama_server import ensure_llama_server

            self.binary = ensure_llama_server(self.cache_dir)
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise ServerError(f"llama-server binary {self.binary} is not an executable file")

        if self.requested_port and not _port_is_free(self.host, self.requested_port):
            raise ServerError(
                f"port {self.requested_port} on {self.host} is already in use; pick another "
                "port or leave it unset to use a free one"
            )
        attempts = 1 if self.requested_port else 3
        t0 = time.monotonic()
        for attempt in range(attempts):
            port = self.requested_port or find_free_port(self.host)
            self._spawn(port)
            try:
                self._wait_healthy(t0 + self.startup_timeout)
            except _PortTaken:
                self._stop_process()
                if attempt + 1 < attempts:
                    continue
                raise ServerError(
                    f"llama-server could not bind port {port} on {self.host} "
                    f"(tried {attempts} free ports). Log: {self.log_path}\n"
                    f"--- last lines ---\n{self.log_tail()}"
                ) from None
            except BaseException:
                self._stop_process()
                raise
            break
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``stop_timeout``). Idempotent."""
        self._stop_process()

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.running else "stopped"
        return f"<EmbeddedServer {self.model} {state}>"

    def health(self, timeout: float = 2.0) -> bool:
        """True if ``GET /health`` answers 200 right now."""
        if not self.running:
            return False
        try:
            with httpx.Client(timeout=timeout, trust_env=False) as client:
                return client.get(self.url + "/health").status_code == 200
        except httpx.HTTPError:
            return False

    # -- internals -----------------------------------------------------------------

    def _resolve_log_path(self, port: int) -> Path:
        if self._log_path_arg is not None:
            return self._log_path_arg
        logs = cache_root(self.cache_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        _prune_logs(logs)
        return logs / f"llama-server-{self.model}-{port}.log"

    def _spawn(self, port: int) -> None:
        self.port = port
        self.log_path = self._resolve_log_path(port)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command(port)
        supervisor = [
            sys.executable,
            "-I",
            str(_SUPERVISOR),
            f"{self.stop_timeout:g}",
            "--",
            *cmd,
        ]
        env = dict(os.environ if self.env is None else self.env)
        # llama-server is built with OpenMP, whose threads spin at every barrier. When
        # another process holds one of the cores (the optimizer itself, a test run),
        # spinning makes each token wait for a descheduled thread: measured 7x slower
        # on 2 cores. Passive waiting costs next to nothing when the machine is idle.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with open(self.log_path, "wb") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self._proc = subprocess.Popen(
                supervisor,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # own process group; Ctrl-C goes to us, not it
            )
        self._finalizer = weakref.finalize(self, _shutdown, self._proc, self.stop_timeout)

    def _stop_process(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # runs _shutdown once; also registered for atexit
            self._finalizer = None

    def _wait_healthy(self, deadline: float) -> None:
        assert self._proc is not None
        health = self.url + "/health"
        last = "no answer yet"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                rc = self._proc.poll()
                if rc is not None:
                    log = self.log_tail(60)
                    if _BIND_FAILURE in log and not self.requested_port:
                        raise _PortTaken()
                    raise ServerError(
                        f"llama-server exited with code {rc} while starting "
                        f"(model {self.model_path}). Log: {self.log_path}\n"
                        f"--- last lines ---\n{self.log_tail(30)}"
                    )
                try:
                    resp = client.get(health)
                    if resp.status_code == 200 and self._proc.poll() is None:
                        return
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise ServerError(
                        f"llama-server did not become healthy within "
                        f"{self.startup_timeout:g} s at {health} (last: {last}). "
                        f"Log: {self.log_path}\n--- last lines ---\n{self.log_tail(30)}"
                    )
                time.sleep(0.1)


LocalServer = EmbeddedServer
"""Alias of :class:`EmbeddedServer`."""


class _PortTaken(Exception):
    """The auto-selected port was grabbed by someone else before the server bound it."""


def _prune_logs(logs: Path, keep: int = _KEEP_LOGS) -> None:
    """Keep only the newest ``keep`` server logs."""
    try:
        files = sorted(
            logs.glob("llama-server-*.log"), key=lambda p: p.stat().st_mtime, reverse=True
        )
    except OSError:
        return
    for old in files[keep:]:
        try:
            old.unlink()
        except OSError:
            pass
