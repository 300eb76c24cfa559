"""Helpers shared by the embedded-model tests (imported by name: keep it unique)."""

from __future__ import annotations

import os
import stat
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).parent


def make_executable_script(path: Path, source: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def make_wheel(directory: Path, package: str, version: str, member: str, data: bytes) -> Path:
    """A minimal wheel named like pip would save it, holding ``member``."""
    dist = package.replace("-", "_").replace(".", "_").lower()
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{member.split('/')[0]}/__init__.py", "")
        zf.writestr(member, data)
        zf.writestr(
            f"{dist}-{version}.dist-info/METADATA", f"Name: {package}\nVersion: {version}\n"
        )
    return path


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    return False
