"""Keeps a server process from outliving the Python process that started it.

Run by :class:`gepetto.lm.embedded.server.EmbeddedServer` as
``python -I _supervisor.py GRACE_SECONDS -- COMMAND...`` with a pipe on its stdin.
It starts COMMAND and then:

* when its stdin reaches EOF -- the parent closed it to stop the server, or the
  parent died, however abruptly, and the kernel closed it -- it sends SIGTERM to
  the server, waits up to GRACE_SECONDS, then SIGKILLs it;
* on SIGTERM/SIGHUP/SIGINT it does the same;
* on Linux the server also gets PR_SET_PDEATHSIG, so it dies if this supervisor
  is SIGKILLed;
* it exits with the server's exit status.

Standard library only: it is run by file path with ``-I`` and must not import gepetto.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading


def _pdeathsig_preexec():  # pragma: no cover - runs in the forked child
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the supervisor already died
            os._exit(1)

    return preexec


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: _supervisor.py GRACE_SECONDS -- COMMAND...", file=sys.stderr)
        return 2
    grace = float(argv[0])
    cmd = argv[2:]
    try:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig_preexec())
    except OSError as exc:
        print(f"gepetto supervisor: cannot start {cmd[0]}: {exc}", file=sys.stderr, flush=True)
        return 127

    lock = threading.Lock()
    stopping = threading.Event()

    def stop() -> None:
        with lock:
            if stopping.is_set():
                return
            stopping.set()
        if child.poll() is None:
            try:
                child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                child.wait(grace)
            except subprocess.TimeoutExpired:
                print(
                    f"gepetto supervisor: server ignored SIGTERM for {grace:g} s; killing it",
                    file=sys.stderr,
                    flush=True,
                )
                child.kill()

    def watch_stdin() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop()

    def on_signal(signum, frame) -> None:  # noqa: ARG001
        threading.Thread(target=stop, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            signal.signal(sig, on_signal)
        except (OSError, ValueError):  # pragma: no cover
            pass
    threading.Thread(target=watch_stdin, daemon=True).start()

    while True:
        try:
            rc = child.wait()
            break
        except InterruptedError:  # pragma: no cover
            continue
    sys.stdout.flush()
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
