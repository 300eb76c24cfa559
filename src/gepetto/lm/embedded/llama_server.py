"""Getting a ``llama-server`` binary: an explicit one, a cached build, or a fresh build.

llama.cpp publishes no binaries we can fetch here, but PyPI carries its whole source
tree inside the ``llama-cpp-python`` source distribution (``vendor/llama.cpp``). We
download that sdist with pip, build only the ``llama-server`` target with CMake and
Ninja (both also from PyPI), and keep the binary in the cache, keyed by the
llama-cpp-python version, OS, machine and CPU feature set (the build uses
``-march=native``, so a cache shared with another CPU model must not reuse it).

A fresh machine needs only Python, pip, a C/C++ compiler (gcc/g++) and PyPI.

Order of precedence in :func:`ensure_llama_server`:

1. ``$GEPETTO_LLAMA_SERVER=/path/to/llama-server`` (used as-is; must exist);
2. the cached build for this key;
3. a new build (about 5-15 minutes on 2 cores), under a file lock so concurrent
   processes build once; the build log stays at ``<cache>/bin/<key>/build.log``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from ._util import (
    EmbeddedError,
    cache_root,
    check_pip_available,
    file_lock,
    note,
    pip_command,
    run_logged,
    tail,
)

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LLAMA_SERVER_ENV",
    "BuildError",
    "build_key",
    "build_llama_server",
    "cmake_flags",
    "cached_llama_server_path",
    "ensure_llama_server",
]

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
"""The llama-cpp-python sdist whose vendored llama.cpp we build (pinned)."""

LLAMA_SERVER_ENV = "GEPETTO_LLAMA_SERVER"
SOURCE_ENV = "GEPETTO_LLAMA_CPP_SOURCE"
"""Optional: an already extracted llama.cpp source tree to build instead of the sdist."""

BUILD_TOOLS = ("cmake>=3.28", "ninja>=1.11")

CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DGGML_NATIVE=ON",
    "-DBUILD_SHARED_LIBS=OFF",
)

_EXE = ".exe" if os.name == "nt" else ""
_BINARY_NAME = "llama-server" + _EXE


class BuildError(EmbeddedError):
    """llama-server could not be found or built."""


# --------------------------------------------------------------------------- keys/paths


def _cpu_flags() -> str:
    """The CPU feature flags of this machine, sorted (empty where /proc/cpuinfo is missing)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):  # x86 / arm
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return ""


AMX_OFF_FLAGS = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")
"""Compiler flags that keep ggml's AMX kernels out of a ``-march=native`` build.

On a KVM guest with Sapphire Rapids AMX (seen 2026-12-04, the llama.cpp of
llama-cpp-python 0.3.36) the AMX matrix kernels crash llama-server with SIGSEGV on its
first decode (``ggml_backend_amx_mul_mat``), for the 0.5B and the 1.5B alike. Without
them ggml uses its AVX-512 kernels, which run there."""


def _disables_amx(cpu_flags: str, machine: str) -> bool:
    return machine.lower() in ("x86_64", "amd64") and "amx_int8" in cpu_flags.split()


def cmake_flags(cpu_flags: str | None = None, machine: str | None = None) -> tuple[str, ...]:
    """The CMake configure flags for a build on this machine (or on the one described)."""
    cpu_flags = _cpu_flags() if cpu_flags is None else cpu_flags
    machine = platform.machine() if machine is None else machine
    if not _disables_amx(cpu_flags, machine):
        return CMAKE_FLAGS
    extra = " ".join(AMX_OFF_FLAGS)
    return (*CMAKE_FLAGS, f"-DCMAKE_C_FLAGS={extra}", f"-DCMAKE_CXX_FLAGS={extra}")


def _cpu_tag() -> str:
    """A short fingerprint of the CPU features the native build depends on, and of the
    build recipe where it differs by CPU (a binary built with AMX must not be reused)."""
    flags = _cpu_flags() or platform.processor() or platform.machine()
    if _disables_amx(flags, platform.machine()):
        flags += " |no-amx"
    return hashlib.sha256(flags.encode()).hexdigest()[:10]


def build_key() -> str:
    """The cache key of a build here, e.g. ``llama-cpp-python-0.3.36-linux-x86_64-ab12cd34ef``."""
    machine = platform.machine().lower() or "unknown"
    return f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}-{sys.platform}-{machine}-{_cpu_tag()}"


def cached_llama_server_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the built binary lives for this machine (it may not exist yet)."""
    return cache_root(cache_dir) / "bin" / build_key() / _BINARY_NAME


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def ensure_llama_server(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    build: bool = True,
    jobs: int | None = None,
) -> Path:
    """Return a usable ``llama-server``: from ``$GEPETTO_LLAMA_SERVER``, the cache, or a build.

    ``build=False`` raises :class:`BuildError` instead of building. ``jobs`` is the
    compile parallelism (default: the number of CPUs).
    """
    override = os.environ.get(LLAMA_SERVER_ENV)
    if override:
        path = Path(override).expanduser()
        if not _is_executable(path):
            raise BuildError(
                f"{LLAMA_SERVER_ENV}={override} is not an executable file; unset it to "
                "let gepetto build llama-server itself"
            )
        return path.resolve()

    target = cached_llama_server_path(cache_dir)
    if _is_executable(target):
        return target
    if not build:
        raise BuildError(
            f"no llama-server built for this machine at {target} (build=False); run "
            "`gepetto serve-lm --prepare` once, or set "
            f"{LLAMA_SERVER_ENV} to an existing binary"
        )
    return build_llama_server(cache_dir, jobs=jobs)


# --------------------------------------------------------------------------- building


def build_llama_server(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    jobs: int | None = None,
    force: bool = False,
) -> Path:
    """Build llama-server from the pinned sdist into the cache and return its path.

    Holds a file lock for the whole build; a process that waits for it reuses the
    binary the other one built. Source and object files live in
    ``<cache>/build/<key>/`` during the build (kept after a failure, so a retry
    resumes; removed after success). Raises :class:`BuildError` naming the log.
    """
    root = cache_root(cache_dir)
    key = build_key()
    target = root / "bin" / key / _BINARY_NAME
    out_dir = target.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(root / "bin" / f".{key}.lock", "building llama-server"):
        if _is_executable(target) and not force:
            return target
        log_path = out_dir / "build.log"
        work = root / "build" / key
        work.mkdir(parents=True, exist_ok=True)
        builder = _Builder(
            root=root, work=work, log_path=log_path, jobs=jobs or os.cpu_count() or 2
        )
        note(
            f"building llama-server (llama.cpp from llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}); "
            f"this takes 5-15 minutes on 2 cores, once per machine. Log: {log_path}"
        )
        t0 = time.monotonic()
        built = builder.run()
        _install_binary(built, target)
        info = {
            "llama_cpp_python": LLAMA_CPP_PYTHON_VERSION,
            "key": key,
            "cmake_flags": list(cmake_flags()),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.monotonic() - t0, 1),
            "version": builder.version_text,
        }
        (out_dir / "build-info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.parent.rmdir()  # only if no other key's build is in there
        except OSError:
            pass
        # The private cmake/ninja copy (~90 MB) is only needed to build; a rebuild
        # (new version) reinstalls it in seconds.
        shutil.rmtree(root / "tools", ignore_errors=True)
        note(f"llama-server built in {info['build_seconds']:.0f} s: {target}")
        return target


def _install_binary(built: Path, target: Path) -> None:
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.copy2(built, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)


class _Builder:
    """One build attempt; every step appends to ``log_path``."""

    def __init__(self, *, root: Path, work: Path, log_path: Path, jobs: int) -> None:
        self.root = root
        self.work = work
        self.log_path = log_path
        self.jobs = jobs
        self.version_text = ""

    def fail(self, step: str, detail: str = "") -> BuildError:
        msg = f"building llama-server failed at step '{step}'"
        if detail:
            msg += f": {detail}"
        msg += f". Full log: {self.log_path}\n--- last lines ---\n{tail(self.log_path, 25)}"
        return BuildError(msg)

    def run(self) -> Path:
        with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
            log.write(
                f"\n===== build {time.strftime('%Y-%m-%d %H:%M:%S')} key={build_key()} "
                f"python={sys.executable}\n"
            )
            self._check_compiler(log)
            source = self._source(log)
            cmake, ninja = self._tools(log)
            build_dir = self.work / "cmake-build"
            configure = [
                cmake,
                "-S",
                source,
                "-B",
                build_dir,
                "-G",
                "Ninja",
                f"-DCMAKE_MAKE_PROGRAM={ninja}",
                *cmake_flags(),
            ]
            if run_logged(configure, log) != 0:
                # A stale cache from another generator/source: start the build dir over.
                shutil.rmtree(build_dir, ignore_errors=True)
                if run_logged(configure, log) != 0:
                    raise self.fail("cmake configure")

            progress = _Progress()
            rc = run_logged(
                [cmake, "--build", build_dir, "--target", "llama-server", "-j", str(self.jobs)],
                log,
                on_line=progress,
            )
            if rc != 0:
                raise self.fail("cmake --build", f"exit code {rc}")
            built = build_dir / "bin" / _BINARY_NAME
            if not _is_executable(built):
                raise self.fail("locate binary", f"{built} was not produced")
            # Smoke test: the binary runs on this machine.
            try:
                res = subprocess.run(
                    [str(built), "--version"], capture_output=True, text=True, timeout=60
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise self.fail("smoke test", str(exc)) from exc
            log.write(
                f"\n$ {built} --version\n{res.stdout}{res.stderr}[exit code {res.returncode}]\n"
            )
            if res.returncode != 0:
                raise self.fail("smoke test", f"`llama-server --version` exited {res.returncode}")
            self.version_text = (res.stdout + res.stderr).strip()
            return built

    # -- steps -------------------------------------------------------------------

    def _check_compiler(self, log) -> None:
        cxx = os.environ.get("CXX") or next(
            (c for c in ("c++", "g++", "clang++") if shutil.which(c)), None
        )
        if not cxx:
            log.write("no C++ compiler found on PATH\n")
            raise self.fail(
                "find compiler",
                "no C++ compiler (c++/g++/clang++) on PATH; install one, e.g. "
                "`apt-get install g++`",
            )
        log.write(f"C++ compiler: {cxx}\n")

    def _source(self, log) -> Path:
        override = os.environ.get(SOURCE_ENV)
        if override:
            src = Path(override).expanduser()
            if not (src / "CMakeLists.txt").is_file():
                raise self.fail("source", f"{SOURCE_ENV}={override} has no CMakeLists.txt")
            log.write(f"using llama.cpp source from {SOURCE_ENV}: {src}\n")
            return src
        src = self.work / "llama.cpp"
        if (self.work / ".source-complete").is_file() and (src / "CMakeLists.txt").is_file():
            log.write(f"reusing extracted source {src}\n")
            return src
        check_pip_available()
        sdist_dir = self.work / "sdist"
        sdist_dir.mkdir(parents=True, exist_ok=True)
        note(f"downloading llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} source (77 MB) from PyPI")
        # --no-binary forces the sdist. pip prepares its metadata in an isolated
        # environment (about 30 s); harmless, and the most robust way to get the file.
        rc = run_logged(
            pip_command(
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--no-cache-dir",
                "-d",
                str(sdist_dir),
                f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
            ),
            log,
        )
        archives = sorted(sdist_dir.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"))
        if rc != 0 or not archives:
            raise self.fail("download sdist", "pip download of llama-cpp-python failed")
        shutil.rmtree(src, ignore_errors=True)
        _extract_vendored_llama_cpp(archives[0], src, log)
        (self.work / ".source-complete").write_text("ok\n", encoding="utf-8")
        archives[0].unlink(missing_ok=True)
        return src

    def _tools(self, log) -> tuple[Path, Path]:
        """cmake and ninja from PyPI: already in this environment, or a private copy.

        We never install into the user's environment: the private copy goes to
        ``<cache>/tools/`` with ``pip install --target``.
        """
        found = _tools_in_environment()
        if found is not None:
            log.write(f"build tools from this environment: {found[0]}, {found[1]}\n")
            return found
        tools_dir = self.root / "tools" / f"py{sys.version_info[0]}{sys.version_info[1]}"
        found = _tools_in_target(tools_dir)
        if found is None:
            check_pip_available()
            note("installing cmake and ninja from PyPI into the gepetto cache (build tools)")
            shutil.rmtree(tools_dir, ignore_errors=True)
            rc = run_logged(
                pip_command(
                    "install",
                    "--no-cache-dir",
                    "--only-binary",
                    ":all:",
                    "--target",
                    str(tools_dir),
                    *BUILD_TOOLS,
                ),
                log,
            )
            found = _tools_in_target(tools_dir) if rc == 0 else None
            if found is None:
                raise self.fail("install cmake/ninja", f"pip install --target {tools_dir} failed")
        log.write(f"build tools: {found[0]}, {found[1]}\n")
        return found


def _tools_in_environment() -> tuple[Path, Path] | None:
    """cmake/ninja wheels already installed in the running interpreter's environment."""
    try:
        import cmake  # type: ignore[import-not-found]
        import ninja  # type: ignore[import-not-found]
    except ImportError:
        return None
    cmake_bin = Path(getattr(cmake, "CMAKE_BIN_DIR", "")) / ("cmake" + _EXE)
    ninja_bin = Path(getattr(ninja, "BIN_DIR", "") or "") / ("ninja" + _EXE)
    if _is_executable(cmake_bin) and _is_executable(ninja_bin):
        return cmake_bin, ninja_bin
    return None


def _tools_in_target(tools_dir: Path) -> tuple[Path, Path] | None:
    """The real cmake/ninja binaries inside a ``pip install --target`` directory."""
    cmake_candidates = [tools_dir / "cmake" / "data" / "bin" / ("cmake" + _EXE)]
    ninja_candidates = [
        tools_dir / "bin" / ("ninja" + _EXE),
        tools_dir / "ninja" / "data" / "bin" / ("ninja" + _EXE),
    ]
    cmake_bin = next((p for p in cmake_candidates if _is_executable(p)), None)
    ninja_bin = next((p for p in ninja_candidates if _is_executable(p)), None)
    if cmake_bin is None or ninja_bin is None:
        return None
    return cmake_bin, ninja_bin


def _extract_vendored_llama_cpp(archive: Path, dest: Path, log) -> None:
    """Extract only ``<top>/vendor/llama.cpp/`` from the sdist into ``dest``."""
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    staging = dest.with_name(dest.name + ".extracting")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tf:
        members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise BuildError(f"{archive} has no {prefix} directory")
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(staging, members=members, **kwargs)  # noqa: S202 - filtered
    log.write(f"extracted {len(members)} entries of {prefix} from {archive.name}\n")
    os.replace(staging / prefix.rstrip("/"), dest)
    shutil.rmtree(staging, ignore_errors=True)


class _Progress:
    """Relays ninja's ``[n/N]`` progress to the user every ~30 seconds."""

    _pattern = re.compile(r"^\[(\d+)/(\d+)\]")

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self.last = time.monotonic()

    def __call__(self, line: str) -> None:
        m = self._pattern.match(line)
        if m and time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            note(f"building llama-server: step {m.group(1)} of {m.group(2)}")
