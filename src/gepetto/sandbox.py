"""Run untrusted generated code in a separate Python process with limits.

Used by evaluators of ``optimize_text`` that execute what the reflection LM wrote: the
code runs in a fresh isolated interpreter (``python -I``) in a temporary directory, with
a wall-clock timeout, CPU-time, memory and file-size limits, and an environment without
the parent's variables (so no API key can be read). An infinite loop or a memory bomb
ends as a result with ``timed_out`` / an error, never as a hung or crashed run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def summary(self, limit: int = 1500) -> str:
        """A short text for feedback: what happened and the tail of the output."""
        if self.timed_out:
            head = f"timed out after {self.seconds:.1f}s (an infinite loop or far too slow)"
        elif self.returncode == 0:
            head = "ran successfully"
        else:
            head = f"failed with exit code {self.returncode}"
        tail = (self.stderr.strip() or self.stdout.strip())[-limit:]
        return head + (f"\n{tail}" if tail else "")


def _limits(cpu_s: int, memory_mb: int, file_mb: int):  # noqa: ANN202
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def run_python(
    source: str, *, timeout_s: float = 10.0, memory_mb: int = 512, file_mb: int = 16, stdin: str | None = None
) -> SandboxResult:
    """Run ``source`` as a script in a sandboxed interpreter and return what happened."""
    started = time.monotonic()
    env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}
    with tempfile.TemporaryDirectory(prefix="gepetto-sandbox-") as workdir:
        script = os.path.join(workdir, "main.py")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(source)
        proc = subprocess.Popen(
            [sys.executable, "-I", script], cwd=workdir, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=_limits(max(1, int(timeout_s) + 1), memory_mb, file_mb), start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout_s)
            return SandboxResult(proc.returncode, out, err, False, time.monotonic() - started)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            return SandboxResult(None, out or "", err or "", True, time.monotonic() - started)
