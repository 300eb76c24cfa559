"""Driving the system's headless Chromium (Debian's ``chromium``) with no extra download.

Console output is read from Chromium's own log (``--enable-logging=stderr``): every
``console.*`` call and every uncaught error is logged as a ``:CONSOLE`` line (uncaught
ones say ``Uncaught``). The report logs nothing, so any such line is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
    "--enable-logging=stderr", "--v=0",
)


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """The browser's path; skip (or fail, with GEPETTO_REQUIRE_BROWSER=1) without one."""
    path = find_chromium()
    if path is None:
        reason = ("no headless Chromium on PATH (looked for " + ", ".join(CANDIDATES) + "); "
                  "install it with `apt-get install -y chromium` to run the report's browser checks")
        if os.environ.get("GEPETTO_REQUIRE_BROWSER") == "1":
            pytest.fail("GEPETTO_REQUIRE_BROWSER=1 but " + reason)
        pytest.skip(reason)
    return path


@dataclass
class BrowserRun:
    stdout: str
    stderr: str
    returncode: int

    @property
    def console(self) -> list[str]:
        """Console messages and uncaught errors the page produced."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def run_chromium(browser: str, page: Path, *args: str, timeout: float = 90) -> BrowserRun:
    with tempfile.TemporaryDirectory(prefix="gepetto-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return BrowserRun(proc.stdout, proc.stderr, proc.returncode)


def dump_dom(browser: str, page: Path) -> BrowserRun:
    """The DOM after the page's scripts ran (``--dump-dom`` waits for the load event)."""
    run = run_chromium(browser, page, "--dump-dom")
    assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
    return run


def screenshot(browser: str, page: Path, png: Path, width: int = 1400, height: int = 2000) -> BrowserRun:
    png.parent.mkdir(parents=True, exist_ok=True)
    run = run_chromium(browser, page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    assert run.returncode == 0 and png.is_file(), run.stderr[-2000:]
    return run


def png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def inject(html: str, snippet: str) -> str:
    """``snippet`` inserted just before ``</body>`` (after the page's own script)."""
    head, sep, tail = html.rpartition("</body>")
    assert sep, "no </body> in the page"
    return head + snippet + sep + tail
