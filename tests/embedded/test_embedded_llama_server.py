"""Finding / building llama-server, with fake cmake and ninja (no compiler run)."""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile

import pytest
from embedded_helpers import make_executable_script

from gepetto.lm.embedded import llama_server
from gepetto.lm.embedded.llama_server import (
    CMAKE_FLAGS,
    LLAMA_CPP_PYTHON_VERSION,
    BuildError,
    build_key,
    cached_llama_server_path,
    cmake_flags,
    ensure_llama_server,
)

FAKE_CMAKE = r"""
import os, sys
from pathlib import Path
args = sys.argv[1:]
if "--build" in args:
    build = Path(args[args.index("--build") + 1])
    if os.environ.get("FAKE_CMAKE_FAIL"):
        print("[1/3] Building CXX object foo.o")
        print("error: FAKE-COMPILE-ERROR in server.cpp")
        sys.exit(1)
    for i in range(1, 4):
        print(f"[{i}/3] Building CXX object step{i}.o")
    (build / "bin").mkdir(parents=True, exist_ok=True)
    exe = build / "bin" / "llama-server"
    exe.write_text("#!/bin/sh\necho 'version: 0.0.0-fake'\n")
    exe.chmod(0o755)
else:
    build = Path(args[args.index("-B") + 1])
    assert Path(args[args.index("-S") + 1], "CMakeLists.txt").is_file()
    assert "-DGGML_NATIVE=ON" in args and "-DBUILD_SHARED_LIBS=OFF" in args
    build.mkdir(parents=True, exist_ok=True)
    print("-- Configuring done")
"""


@pytest.fixture
def fake_toolchain(tmp_path, monkeypatch):
    tools = tmp_path / "tools"
    tools.mkdir()
    cmake = make_executable_script(tools / "cmake", FAKE_CMAKE)
    ninja = make_executable_script(tools / "ninja", "print('ninja')\n")
    monkeypatch.setattr(llama_server, "_tools_in_environment", lambda: (cmake, ninja))
    src = tmp_path / "llama.cpp"
    src.mkdir()
    (src / "CMakeLists.txt").write_text("project(fake)\n")
    monkeypatch.setenv("GEPETTO_LLAMA_CPP_SOURCE", str(src))
    return cmake, ninja


def test_build_key_names_version_platform_and_cpu():
    key = build_key()
    assert key.startswith(f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}-")
    assert key == build_key()  # stable
    assert len(key.rsplit("-", 1)[1]) == 10


def test_amx_cpus_build_without_amx_kernels():
    """ggml's AMX kernels crash llama-server on AMX KVM guests: such builds turn them off."""
    amx = "avx2 avx512f avx512_vnni amx_bf16 amx_int8 amx_tile"
    flags = cmake_flags(amx, "x86_64")
    assert "-DGGML_NATIVE=ON" in flags
    for lang in ("C", "CXX"):
        assert f"-DCMAKE_{lang}_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in flags
    assert cmake_flags("avx2 avx512f avx512_vnni", "x86_64") == CMAKE_FLAGS  # no AMX: the build as before
    assert cmake_flags("fp asimd amx_int8", "aarch64") == CMAKE_FLAGS  # gcc on ARM knows no -mno-amx-*


def test_env_override_is_used_as_is(tmp_path, monkeypatch):
    exe = make_executable_script(tmp_path / "my-llama-server", "print('hi')\n")
    monkeypatch.setenv("GEPETTO_LLAMA_SERVER", str(exe))
    monkeypatch.setattr(llama_server, "build_llama_server", lambda *a, **k: pytest.fail("no build"))
    assert ensure_llama_server() == exe.resolve()


def test_env_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("GEPETTO_LLAMA_SERVER", str(tmp_path / "nope"))
    with pytest.raises(BuildError, match="GEPETTO_LLAMA_SERVER"):
        ensure_llama_server()


def test_cached_binary_is_reused(monkeypatch, tmp_path):
    target = cached_llama_server_path()
    assert target.is_relative_to(tmp_path / "cache" / "bin")
    target.parent.mkdir(parents=True)
    make_executable_script(target, "")
    monkeypatch.setattr(llama_server, "build_llama_server", lambda *a, **k: pytest.fail("no build"))
    assert ensure_llama_server() == target


def test_build_false_without_binary_says_what_to_do():
    with pytest.raises(BuildError, match="serve-lm --prepare"):
        ensure_llama_server(build=False)


def test_build_with_fake_toolchain_installs_binary(fake_toolchain, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="gepetto.lm.embedded")
    (tmp_path / "cache" / "tools" / "py311").mkdir(parents=True)  # a private cmake copy
    path = ensure_llama_server()
    assert path == cached_llama_server_path()
    assert os.access(path, os.X_OK)
    info = json.loads((path.parent / "build-info.json").read_text())
    assert info["llama_cpp_python"] == LLAMA_CPP_PYTHON_VERSION
    assert "0.0.0-fake" in info["version"]
    log = (path.parent / "build.log").read_text()
    assert "--target llama-server" in log and "Configuring done" in log
    assert not (tmp_path / "cache" / "build").exists()  # work dir removed
    assert not (tmp_path / "cache" / "tools").exists()  # build tools removed
    assert "building llama-server" in caplog.text
    # second call: cached, no rebuild
    (tmp_path / "tools" / "cmake").unlink()
    assert ensure_llama_server() == path


def test_build_failure_points_at_the_log(fake_toolchain, monkeypatch):
    monkeypatch.setenv("FAKE_CMAKE_FAIL", "1")
    with pytest.raises(BuildError) as info:
        ensure_llama_server()
    msg = str(info.value)
    log = cached_llama_server_path().parent / "build.log"
    assert str(log) in msg and "cmake --build" in msg
    assert "FAKE-COMPILE-ERROR" in msg  # the tail of the log is in the message
    assert log.is_file()
    assert not cached_llama_server_path().exists()


def test_missing_compiler_is_a_clear_error(fake_toolchain, monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(llama_server.shutil, "which", lambda name: None)
    with pytest.raises(BuildError, match="no C\\+\\+ compiler"):
        ensure_llama_server()


def test_extract_only_vendored_tree(tmp_path):
    top = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
    archive = tmp_path / f"{top}.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in {
            f"{top}/setup.py": b"x",
            f"{top}/vendor/llama.cpp/CMakeLists.txt": b"project(x)",
            f"{top}/vendor/llama.cpp/tools/server/server.cpp": b"int main(){}",
        }.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    dest = tmp_path / "work" / "llama.cpp"
    dest.parent.mkdir()
    llama_server._extract_vendored_llama_cpp(archive, dest, io.StringIO())
    assert (dest / "CMakeLists.txt").read_bytes() == b"project(x)"
    assert (dest / "tools" / "server" / "server.cpp").is_file()
    assert not (dest / "setup.py").exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["llama.cpp"]


def test_tools_found_in_pip_target_layout(tmp_path):
    d = tmp_path / "t"
    cmake = d / "cmake" / "data" / "bin" / "cmake"
    ninja = d / "bin" / "ninja"
    for p in (cmake, ninja):
        p.parent.mkdir(parents=True, exist_ok=True)
        make_executable_script(p, "")
    assert llama_server._tools_in_target(d) == (cmake, ninja)
    assert llama_server._tools_in_target(tmp_path / "empty") is None
