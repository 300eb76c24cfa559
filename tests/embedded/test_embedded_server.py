"""Server lifecycle against a fake llama-server (a small Python HTTP server)."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from embedded_helpers import wait_gone

from gepetto.lm.embedded import (
    EmbeddedServer,
    LocalServer,
    ServerError,
    find_free_port,
    start_embedded,
)

pytestmark = pytest.mark.timeout(60)

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _pid(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"no pid file {path}")


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def pid_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "server.pid"
    monkeypatch.setenv("FAKE_PID_FILE", str(path))
    return path


def test_start_health_chat_and_stop(fake_server_bin, fake_model, pid_file, tmp_path, monkeypatch):
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_ARGV_FILE", str(argv_file))
    srv = EmbeddedServer(
        fake_model, binary=fake_server_bin, n_ctx=2048, parallel=3, model_name="tiny"
    )
    assert not srv.running
    with srv:
        assert srv.running and srv.health()
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert srv.model == "tiny"
        assert srv.startup_seconds is not None and srv.startup_seconds < 30
        r = httpx.post(
            srv.base_url + "/chat/completions",
            json={"model": srv.model, "messages": [{"role": "user", "content": "ping"}]},
            trust_env=False,
        )
        assert r.json()["choices"][0]["message"]["content"] == "echo: ping"
        server_pid = _pid(pid_file)
        port = srv.port
        assert srv.log_path is not None and srv.log_path.is_relative_to(tmp_path / "cache" / "logs")
    assert not srv.running
    assert wait_gone(server_pid)
    assert _port_closed(port)
    assert "FAKE-LOG-MARKER" in srv.log_path.read_text()
    assert "got SIGTERM" in srv.log_path.read_text()  # graceful, not killed

    seen = json.loads(argv_file.read_text())
    argv = seen["argv"]

    def flag(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert flag("-m") == str(fake_model)
    assert flag("--host") == "127.0.0.1"
    assert flag("--port") == str(port)
    assert flag("-c") == str(2048 * 3)  # -c is the total, split over the slots
    assert flag("-np") == "3"
    assert flag("--alias") == "tiny"
    assert "--no-webui" in argv and "--jinja" in argv
    assert "-t" not in argv  # threads=None: llama.cpp decides
    assert flag("--cache-ram") == "2048"
    assert seen["env"]["OMP_WAIT_POLICY"] == "PASSIVE"


def test_threads_and_extra_args_are_passed(fake_server_bin, fake_model, tmp_path, monkeypatch):
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_ARGV_FILE", str(argv_file))
    with EmbeddedServer(fake_model, binary=fake_server_bin, threads=1, extra_args=["--metrics"]):
        pass
    argv = json.loads(argv_file.read_text())["argv"]
    assert argv[argv.index("-t") + 1] == "1"
    assert argv[-1] == "--metrics"


def test_default_model_name_is_file_stem(fake_server_bin, fake_model):
    assert LocalServer is EmbeddedServer
    srv = EmbeddedServer(fake_model, binary=fake_server_bin)
    assert srv.model == "tiny-model"


def test_free_ports_differ_between_servers(fake_server_bin, fake_model):
    with (
        EmbeddedServer(fake_model, binary=fake_server_bin) as a,
        EmbeddedServer(fake_model, binary=fake_server_bin) as b,
    ):
        assert a.port != b.port
        assert a.health() and b.health()


def test_explicit_port(fake_server_bin, fake_model):
    port = find_free_port()
    with EmbeddedServer(fake_model, binary=fake_server_bin, port=port) as srv:
        assert srv.port == port and srv.base_url.endswith(f":{port}/v1")


def test_explicit_port_in_use_is_refused(fake_server_bin, fake_model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port} .* already in use"):
            EmbeddedServer(fake_model, binary=fake_server_bin, port=port).start()


def test_waits_while_model_loads(fake_server_bin, fake_model, monkeypatch):
    monkeypatch.setenv("FAKE_LOAD_SECONDS", "1.0")
    with EmbeddedServer(fake_model, binary=fake_server_bin) as srv:
        assert srv.startup_seconds >= 1.0
        assert srv.health()


def test_health_timeout_reports_log_tail_and_cleans_up(
    fake_server_bin, fake_model, pid_file, monkeypatch
):
    monkeypatch.setenv("FAKE_NEVER_READY", "1")
    srv = EmbeddedServer(fake_model, binary=fake_server_bin, startup_timeout=1.5)
    t0 = time.monotonic()
    with pytest.raises(ServerError) as info:
        srv.start()
    assert time.monotonic() - t0 < 15
    msg = str(info.value)
    assert "did not become healthy within 1.5 s" in msg
    assert "HTTP 503" in msg  # what /health last said
    assert "FAKE-LOG-MARKER" in msg  # tail of the server log
    assert str(srv.log_path) in msg
    assert not srv.running
    assert wait_gone(_pid(pid_file))


def test_early_exit_reports_code_and_log(fake_server_bin, fake_model, monkeypatch):
    monkeypatch.setenv("FAKE_EXIT_CODE", "3")
    with pytest.raises(ServerError, match="exited with code 3") as info:
        EmbeddedServer(fake_model, binary=fake_server_bin).start()
    assert "FAKE-LOAD-ERROR" in str(info.value)


def test_port_race_is_retried_with_a_new_port(fake_server_bin, fake_model, tmp_path, monkeypatch):
    flag = tmp_path / "failed-once"
    monkeypatch.setenv("FAKE_BIND_FAIL_ONCE", str(flag))
    with EmbeddedServer(fake_model, binary=fake_server_bin) as srv:
        assert flag.exists() and srv.health()


def test_missing_model_or_binary(fake_server_bin, tmp_path):
    with pytest.raises(ServerError, match="does not exist"):
        EmbeddedServer(tmp_path / "nope.gguf", binary=fake_server_bin).start()
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(ServerError, match="not an executable"):
        EmbeddedServer(model, binary=tmp_path / "no-such-binary").start()


def test_sigterm_ignored_escalates_to_sigkill(fake_server_bin, fake_model, pid_file, monkeypatch):
    monkeypatch.setenv("FAKE_IGNORE_SIGTERM", "1")
    srv = EmbeddedServer(fake_model, binary=fake_server_bin, stop_timeout=1.0).start()
    server_pid = _pid(pid_file)
    t0 = time.monotonic()
    srv.stop()
    assert 0.9 <= time.monotonic() - t0 < 10
    assert wait_gone(server_pid, 5)
    assert "killing it" in srv.log_path.read_text()
    srv.stop()  # idempotent


def test_garbage_collected_server_is_stopped(fake_server_bin, fake_model, pid_file):
    srv = EmbeddedServer(fake_model, binary=fake_server_bin).start()
    server_pid = _pid(pid_file)
    del srv
    gc.collect()
    assert wait_gone(server_pid)


def test_restart_after_stop(fake_server_bin, fake_model):
    srv = EmbeddedServer(fake_model, binary=fake_server_bin)
    with srv:
        first = srv.port
    with srv:
        assert srv.health()
    assert first is not None


_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {src!r})
    from gepetto.lm.embedded import EmbeddedServer
    srv = EmbeddedServer({model!r}, binary={binary!r}).start()
    print("READY", srv.port, flush=True)
    if {mode!r} == "exit":
        sys.exit(0)  # no stop(): the atexit finalizer must do it
    time.sleep(600)
    """
)


@pytest.mark.parametrize("mode", ["exit", "sigkill"])
def test_server_does_not_outlive_its_parent(fake_server_bin, fake_model, pid_file, mode):
    code = _CHILD.format(src=SRC, model=str(fake_model), binary=str(fake_server_bin), mode=mode)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert line.startswith("READY"), line
        port = int(line.split()[1])
        server_pid = _pid(pid_file)
        if mode == "sigkill":
            parent.send_signal(signal.SIGKILL)
        parent.wait(20)
        assert wait_gone(server_pid, 15), "llama-server outlived its parent"
        assert _port_closed(port)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_start_embedded_with_local_gguf(fake_server_bin, fake_model, monkeypatch):
    monkeypatch.setenv("GEPETTO_LLAMA_SERVER", str(fake_server_bin))
    with start_embedded(str(fake_model), parallel=2, n_ctx=1024) as srv:
        assert srv.model == "tiny-model"
        assert srv.health()
        assert srv.parallel == 2
    assert not srv.running


def test_serve_lm_main_runs_until_interrupted(fake_server_bin, fake_model, pid_file):
    code = (
        f"import sys; sys.path.insert(0, {SRC!r});"
        "from gepetto.lm.embedded import serve_lm_main;"
        f"sys.exit(serve_lm_main(['--model', {str(fake_model)!r}, "
        "'--parallel', '2', '--ctx', '512']))"
    )
    env = {**os.environ, "GEPETTO_LLAMA_SERVER": str(fake_server_bin)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out = []
        for line in proc.stdout:
            out.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(out)
        assert "Serving tiny-model at http://127.0.0.1:" in text, text
        assert "curl -s http://127.0.0.1:" in text and "/v1/chat/completions" in text
        base = text.split(" at ", 1)[1].split()[0]
        assert httpx.get(base.removesuffix("/v1") + "/health", trust_env=False).status_code == 200
        server_pid = _pid(pid_file)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert wait_gone(server_pid)
        assert "Stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_lm_main_reports_errors(tmp_path, capsys):
    from gepetto.lm.embedded import serve_lm_main

    assert serve_lm_main(["--model", str(tmp_path / "missing.gguf")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_serve_lm_main_prepare(monkeypatch, capsys, tmp_path):
    from gepetto.lm.embedded import launch

    monkeypatch.setattr(launch, "ensure_model", lambda m, c=None, **k: tmp_path / f"{m}.gguf")
    monkeypatch.setattr(
        launch, "ensure_llama_server", lambda c=None, **k: tmp_path / "llama-server"
    )
    assert launch.serve_lm_main(["--prepare", "--model", "0.5b"]) == 0
    out = capsys.readouterr().out
    assert "0.5b.gguf" in out and "llama-server" in out
