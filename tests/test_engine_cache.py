"""Engine cache logic on plain files: key, file name, sidecar, atomic write, lock,
and what happens when a plan belongs to another GPU or TensorRT version.

No TensorRT here: the plan bytes are opaque to the cache, so plain bytes exercise
exactly the code that runs on a GPU machine. Deserializing is passed in as a
function; these tests use `bytes` (the file's content) for it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest

from trt_gif2video.config import Precision
from trt_gif2video.engine import cache as cache_mod
from trt_gif2video.engine.cache import (
    EngineCache,
    EngineKey,
    Environment,
    atomic_write,
    environment_mismatch,
    load_checked,
    read_sidecar,
    sha256_file,
)
from trt_gif2video.engine.recipe import BuilderOptions
from trt_gif2video.errors import EngineMismatchError, OutputError

ENV = Environment("10.13.3.9", "NVIDIA GeForce RTX 3090", (8, 6))
OPTIONS = BuilderOptions(workspace_mib=4096, builder_optimization_level=3, dla_core=None, version_compatible=False)
PROFILE = {
    "gif": ((1, 64, 64, 3), (1, 272, 480, 3), (4, 720, 1280, 3)),
    "palette": ((1, 256, 3), (1, 256, 3), (4, 256, 3)),
}


def make_key(**changes) -> EngineKey:
    fields = dict(network="dequant_nodither", onnx_sha256="ab" * 32, profile=PROFILE, precision=Precision.FP16,
                  options=OPTIONS, environment=ENV)
    fields.update(changes)
    return EngineKey.create(**fields)


def test_key_changes_with_everything_that_changes_a_plan():
    base = make_key()
    variants = [
        make_key(onnx_sha256="cd" * 32),
        make_key(profile={**PROFILE, "gif": ((1, 64, 64, 3), (1, 272, 480, 3), (4, 736, 1280, 3))}),
        make_key(precision=Precision.INT8),
        make_key(options=dataclasses.replace(OPTIONS, builder_optimization_level=4)),
        make_key(options=dataclasses.replace(OPTIONS, workspace_mib=2048)),
        make_key(options=dataclasses.replace(OPTIONS, version_compatible=True)),
        make_key(environment=dataclasses.replace(ENV, tensorrt_version="11.4.0.106")),
        make_key(environment=dataclasses.replace(ENV, gpu_name="NVIDIA H100 80GB HBM3")),
        make_key(environment=dataclasses.replace(ENV, compute_capability=(8, 9))),
    ]
    digests = {base.digest()} | {k.digest() for k in variants}
    assert len(digests) == 1 + len(variants)
    assert len({base.file_stem()} | {k.file_stem() for k in variants}) == 1 + len(variants)
    # input order does not matter, the digest is stable
    assert make_key(profile=dict(reversed(list(PROFILE.items())))).digest() == base.digest()


def test_file_name_spells_out_the_readable_parts():
    stem = make_key().file_stem()
    assert stem.startswith("dequant_nodither_fp16_n1-4_64x64-272x480-720x1280_o3_trt10.13.3.9_nvidia-geforce-rtx-3090_sm86_")
    assert stem.endswith(make_key().digest()[:12])
    dla = make_key(options=dataclasses.replace(OPTIONS, dla_core=0, version_compatible=True)).file_stem()
    assert "_dla0_vc_" in dla


def test_store_writes_plan_then_sidecar_and_lookup_finds_it(tmp_path):
    cache = EngineCache(tmp_path)
    key = make_key()
    assert cache.lookup(key) is None
    path = cache.store(key, b"plan-bytes")
    assert path == tmp_path / f"{key.file_stem()}.plan" and path.read_bytes() == b"plan-bytes"
    sidecar = read_sidecar(path)
    assert sidecar["digest"] == key.digest() and sidecar["plan_bytes"] == 10
    assert sidecar["key"]["environment"]["gpu_name"] == ENV.gpu_name
    assert sidecar["key"]["profile"]["gif"][2] == [4, 720, 1280, 3]
    assert cache.lookup(key) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, path.with_suffix(".json").name])


def test_plan_without_matching_sidecar_is_not_a_hit(tmp_path):
    cache = EngineCache(tmp_path)
    key = make_key()
    path = cache.store(key, b"plan")
    path.with_suffix(".json").unlink()
    assert cache.lookup(key) is None  # half-written (crash between plan and sidecar)
    path.with_suffix(".json").write_text(json.dumps({"digest": "0" * 64}))
    assert cache.lookup(key) is None


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "x.plan"
    atomic_write(target, b"old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # fails after the temp file was created
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.plan"]  # no temp file left


def test_get_or_build_builds_once_under_concurrency(tmp_path):
    cache = EngineCache(tmp_path)
    key = make_key()
    calls = []

    def slow_build() -> bytes:
        calls.append(1)
        time.sleep(0.3)
        return b"plan"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_build(key, slow_build, notify=lambda m: None)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(built for _, built in results) == [False, False, True]
    assert {path for path, _ in results} == {cache.plan_path(key)}
    messages = []
    path, built = cache.get_or_build(key, lambda: b"new plan", force=True, notify=messages.append)
    assert built and path.read_bytes() == b"new plan" and messages == [f"building {path.name}"]


def test_cache_dir_falls_back_to_temp_when_user_cache_is_unwritable(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setattr(cache_mod.platformdirs, "user_cache_dir", lambda app: str(blocker / app))
    monkeypatch.setattr(cache_mod.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    directory = cache_mod.default_cache_dir()
    assert directory.is_relative_to(tmp_path / "tmp") and directory.is_dir()
    with pytest.raises(OutputError, match="not-a-dir.*is not writable"):
        EngineCache(blocker / "engines")


def test_sha256_file_streams(tmp_path):
    import hashlib

    data = bytes(range(256)) * 10000
    (tmp_path / "m.onnx").write_bytes(data)
    assert sha256_file(tmp_path / "m.onnx") == hashlib.sha256(data).hexdigest()


# --- plans from another GPU / TensorRT version ---------------------------------------------


def _foreign_plan(tmp_path: Path, environment: Environment, **option_changes) -> Path:
    key = make_key(environment=environment, options=dataclasses.replace(OPTIONS, **option_changes))
    return EngineCache(tmp_path).store(key, b"foreign plan")


def test_same_environment_loads_without_rebuilding(tmp_path):
    plan = _foreign_plan(tmp_path, ENV)
    assert environment_mismatch(plan, ENV) is None
    assert load_checked(plan, ENV, bytes, rebuild=None) == b"foreign plan"


def test_other_gpu_or_version_without_rebuild_is_an_engine_mismatch(tmp_path):
    other_gpu = _foreign_plan(tmp_path, Environment("10.13.3.9", "Orin", (8, 7)))
    with pytest.raises(EngineMismatchError, match=r"was built for Orin \(sm 8.7\) with TensorRT 10.13.3.9; this machine has "
                                                   r"NVIDIA GeForce RTX 3090 \(sm 8.6\) .*rebuild it with `trt-gif2video build`"):
        load_checked(other_gpu, ENV, bytes, rebuild=None)
    old_trt = _foreign_plan(tmp_path, dataclasses.replace(ENV, tensorrt_version="10.3.0"))
    with pytest.raises(EngineMismatchError, match="with TensorRT 10.3.0; this machine has"):
        load_checked(old_trt, ENV, bytes, rebuild=None)


def test_mismatch_rebuilds_with_a_message_when_it_can(tmp_path):
    plan = _foreign_plan(tmp_path, dataclasses.replace(ENV, tensorrt_version="10.3.0"))
    fresh = EngineCache(tmp_path / "fresh").store(make_key(), b"rebuilt plan")
    messages = []
    engine = load_checked(plan, ENV, bytes, rebuild=lambda: fresh, notify=messages.append)
    assert engine == b"rebuilt plan"
    assert len(messages) == 1 and messages[0].endswith(": rebuilding") and "TensorRT 10.3.0" in messages[0]


def test_version_compatible_plans_accept_a_newer_tensorrt_but_not_another_gpu(tmp_path):
    plan = _foreign_plan(tmp_path, dataclasses.replace(ENV, tensorrt_version="10.3.0"), version_compatible=True)
    assert environment_mismatch(plan, ENV) is None
    other = _foreign_plan(tmp_path / "o", dataclasses.replace(ENV, gpu_name="NVIDIA A100"), version_compatible=True)
    assert "NVIDIA A100" in environment_mismatch(other, ENV)


def test_version_compatibility_is_forward_only(tmp_path):
    """A plan from a NEWER TensorRT never runs on an older one, version-compatible or not."""
    newer = _foreign_plan(tmp_path, dataclasses.replace(ENV, tensorrt_version="10.16.1.11"), version_compatible=True)
    with pytest.raises(EngineMismatchError) as err:
        load_checked(newer, ENV, bytes, rebuild=None)
    message = str(err.value)
    assert "\n" not in message and message.startswith(newer.name)
    assert "built by TensorRT 10.16.1.11, newer than this machine's 10.13.3.9" in message
    assert message.endswith("rebuild it with `trt-gif2video build` (the ONNX is needed)")
    newer_major = _foreign_plan(tmp_path / "m", dataclasses.replace(ENV, tensorrt_version="11.4.0.106"), version_compatible=True)
    assert "newer than this machine's 10.13.3.9" in environment_mismatch(newer_major, ENV)


def test_another_compute_capability_is_named_even_for_version_compatible_plans(tmp_path):
    orin = Environment("10.13.3.9", "Orin", (8, 7))
    plan = _foreign_plan(tmp_path, orin, version_compatible=True)
    reason = environment_mismatch(plan, ENV)
    assert reason == (f"{plan.name} was built for Orin (sm 8.7) with TensorRT 10.13.3.9; this machine has "
                      "NVIDIA GeForce RTX 3090 (sm 8.6) with TensorRT 10.13.3.9 "
                      "(plans run only on the compute capability they were built for)")


def test_a_sidecar_with_an_unparsable_version_is_malformed_not_a_crash(tmp_path):
    plan = _foreign_plan(tmp_path, dataclasses.replace(ENV, tensorrt_version="ten"), version_compatible=True)
    assert environment_mismatch(plan, ENV) == f"{plan.name}: sidecar {plan.with_suffix('.json').name} is malformed"


def test_missing_plan_file_is_a_mismatch_not_a_crash(tmp_path):
    with pytest.raises(EngineMismatchError, match="plan file not found"):
        load_checked(tmp_path / "gone.plan", ENV, bytes, rebuild=None)
