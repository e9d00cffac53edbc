"""Derived model files: every shipped one belongs to the FP32 file beside it (sha256 in its metadata);
missing or stale ones are made on first use into the user cache, never into the package; each backend
gets the INT8 flavour it runs (ONNX Runtime CPU: uint8 activations; TensorRT: symmetric Q/DQ)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from trt_gif2video.config import Backend, Precision
from trt_gif2video.derived import (SOURCE_KEY, Flavour, file_name, flavour_for, model_file, ranges_name,
                                   source_sha256)
from trt_gif2video.errors import ModelError
from trt_gif2video.export.check import check_model, read_metadata, set_metadata
from trt_gif2video.export.derived import SHIPPED
from trt_gif2video.export.int8 import check_qdq, read_ranges
from trt_gif2video.hashing import sha256_file
from trt_gif2video.models import Network, Variant, weights_dir

WEIGHTS = weights_dir()
HINT = "run `trt-gif2video export --derived` (needs the corpus)"


def test_every_shipped_derivative_is_present_and_made_from_the_fp32_beside_it():
    for stem, flavours in SHIPPED.items():
        sha = sha256_file(WEIGHTS / f"{stem}.onnx")
        for path in [WEIGHTS / ranges_name(stem)] + [WEIGHTS / file_name(stem, f) for f in flavours]:
            assert path.is_file(), f"{path.name} missing: {HINT}"
            assert source_sha256(path) == sha, f"{path.name} was made from another {stem}.onnx (stale): {HINT}"
    # nothing derived ships that the table does not list: it would go stale unseen
    for path in WEIGHTS.glob("*.*.onnx"):
        stem, flavour = path.name.split(".")[:2]
        assert Flavour(flavour) in SHIPPED[stem], f"{path.name} ships but export --derived does not make it"


def test_shipped_ranges_come_from_the_corpus():
    for stem in SHIPPED:
        ranges, provenance = read_ranges(WEIGHTS / ranges_name(stem))
        assert provenance["calib_source"].startswith("corpus train split")
        assert ranges and all(lo <= hi for lo, hi in ranges.values())


def test_cpu_int8_is_uint8_activations_and_runs_as_integer_convolutions():
    from trt_gif2video.bench.opprofile import ort_op_profile

    path = WEIGHTS / file_name("dequant_nodither", Flavour.INT8_CPU)
    model = onnx.load(str(path))
    check_model(model, Precision.INT8)
    assert read_metadata(model)["int8_flavour"] == "int8-cpu"
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    q_zero_points = [init[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert q_zero_points and all(z.dtype == np.uint8 for z in q_zero_points)
    weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and init.get(n.input[0]) is not None
               and init[n.input[0]].ndim == 4]
    assert weights and all(init[n.input[0]].dtype == np.int8 and init[n.input[1]].ndim == 1 for n in weights)
    rng = np.random.default_rng(0)
    feeds = {"gif": rng.integers(0, 256, (1, 32, 32, 3), np.uint8),
             "palette": rng.integers(0, 256, (1, 256, 3), np.uint8)}
    ops = ort_op_profile(path, feeds, runs=1, threads=1)
    assert "QLinearConv" in ops  # x86 ONNX Runtime fuses uint8 DQ -> Conv -> Q into its integer kernel


def test_cpu_int8_interpolator_keeps_its_unet_body_in_integer_kernels():
    """No float AveragePool, Resize or Concat between Q/DQ passes: pools run as depthwise QLinearConvs
    (QLinearAveragePool is ~10x slower), upsampling on uint8, decoder concatenations as QLinearConcat."""
    from trt_gif2video.bench.opprofile import ort_op_profile

    rng = np.random.default_rng(0)
    img = lambda: rng.integers(0, 256, (1, 64, 64, 3), np.uint8)  # noqa: E731
    feeds = {"gif0": img(), "gif1": img(), "img0": img(), "img1": img(), "t": np.array([0.5], np.float32)}
    ops = ort_op_profile(WEIGHTS / file_name("interp", Flavour.INT8_CPU), feeds, runs=1, threads=1)
    assert {"QLinearConv", "QLinearConcat"} <= set(ops)
    assert not {"AveragePool", "QLinearAveragePool"} & set(ops), ops
    # what stays float: the warp, the input convolutions and the heads, and the inputs' own concatenations
    assert ops.get("Concat", 0) < ops["QLinearConcat"], ops


def test_body_pools_as_depthwise_convs_compute_the_same(tmp_path):
    import onnxruntime as ort

    from trt_gif2video.export.int8 import _pools_as_depthwise, _preprocess

    pre = tmp_path / "pre.onnx"
    _preprocess(WEIGHTS / "interp.onnx", pre)
    model = onnx.load(str(pre))
    pools = sum(n.op_type == "AveragePool" for n in model.graph.node)
    assert _pools_as_depthwise(model) == pools > 0
    assert not any(n.op_type == "AveragePool" for n in model.graph.node)
    rng = np.random.default_rng(1)
    img = lambda: rng.integers(0, 256, (1, 64, 96, 3), np.uint8)  # noqa: E731
    feeds = {"gif0": img(), "gif1": img(), "img0": img(), "img1": img(), "t": np.array([0.5], np.float32)}
    run = lambda m: ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feeds)[0]  # noqa: E731
    before, after = run(str(pre)), run(model.SerializeToString())
    assert np.abs(before.astype(int) - after.astype(int)).max() <= 1  # uint8 image: at most a rounding flip


def test_the_detector_high_pass_pool_is_not_rewritten(tmp_path):
    from trt_gif2video.export.int8 import _pools_as_depthwise, _preprocess

    pre = tmp_path / "pre.onnx"
    _preprocess(WEIGHTS / "dither_detector.onnx", pre)
    assert _pools_as_depthwise(onnx.load(str(pre))) == 0  # before the first conv: part of the FP32 input path


def test_backends_pick_their_flavour():
    from trt_gif2video.engine.build import spec_for
    from trt_gif2video.engine.recipe import load_recipe, recipe_path
    from trt_gif2video.runtime.backends.base import SessionOptions, open_session

    assert flavour_for(Precision.INT8, cpu=True) is Flavour.INT8_CPU
    assert flavour_for(Precision.INT8, cpu=False) is Flavour.INT8 and flavour_for(Precision.FP32, True) is None
    with open_session(Network.DITHER, Backend.ONNXRUNTIME, Precision.INT8,
                      options=SessionOptions(models_dir=WEIGHTS)) as session:
        assert session.path.name == "dither_detector.int8-cpu.onnx"
    spec = spec_for(load_recipe(recipe_path("ampere")).with_overrides(precision=Precision.INT8), Network.DITHER, None,
                    WEIGHTS)
    assert spec.onnx.name == "dither_detector.int8.onnx"


def _folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in names:
        shutil.copy2(WEIGHTS / name, folder / name)
    return folder


def _calls(lines: list[str]):
    return lambda msg: lines.append(msg)


def test_tensorrt_int8_is_made_on_first_use_from_the_shipped_ranges(tmp_path):
    folder = _folder(tmp_path, "dither_detector.onnx", "dither_detector.calib.json")
    before = sorted(p.name for p in folder.iterdir())
    lines: list[str] = []
    path = model_file(Network.DITHER, None, Precision.INT8, cpu=False, models_dir=folder, cache_dir=tmp_path / "cache",
                      notify=_calls(lines))
    assert path.is_relative_to(tmp_path / "cache") and sorted(p.name for p in folder.iterdir()) == before
    model = onnx.load(str(path))
    check_qdq(model)  # TensorRT's rules: int8, zero point 0, per-channel weights
    meta = read_metadata(model)
    assert meta[SOURCE_KEY] == sha256_file(folder / "dither_detector.onnx")
    assert meta["int8_flavour"] == "int8" and meta["calib_source"].startswith("corpus")
    assert any("first use" in line for line in lines) and any(line.endswith(" s") for line in lines)
    lines.clear()
    again = model_file(Network.DITHER, None, Precision.INT8, cpu=False, models_dir=folder, cache_dir=tmp_path / "cache",
                       notify=_calls(lines))
    assert again == path and not lines  # cached: nothing made, nothing said


def test_fp16_first_use_and_a_stale_shipped_file_is_replaced(tmp_path):
    folder = _folder(tmp_path, "dither_detector.onnx", "dither_detector.fp16.onnx")
    assert model_file(Network.DITHER, None, Precision.FP16, models_dir=folder, cache_dir=tmp_path / "c",
                      notify=_calls([])) == folder / "dither_detector.fp16.onnx"  # current: the shipped one
    fp32 = onnx.load(str(folder / "dither_detector.onnx"))
    set_metadata(fp32, retrained="yes")  # any change to the FP32 file makes its derivatives stale
    onnx.save(fp32, str(folder / "dither_detector.onnx"))
    lines: list[str] = []
    path = model_file(Network.DITHER, None, Precision.FP16, models_dir=folder, cache_dir=tmp_path / "c",
                      notify=_calls(lines))
    assert path.is_relative_to(tmp_path / "c") and "stale" in lines[0]
    assert source_sha256(path) == sha256_file(folder / "dither_detector.onnx")
    check_model(path, Precision.FP16)


def test_int8_without_ranges_calibrates_on_the_bundled_sample_and_says_so(tmp_path):
    import onnxruntime as ort

    folder = _folder(tmp_path, "dither_detector.onnx")
    lines: list[str] = []
    path = model_file(Network.DITHER, None, Precision.INT8, models_dir=folder, cache_dir=tmp_path / "c",
                      notify=_calls(lines))
    assert path.name == "dither_detector.int8-cpu.onnx"
    assert "sample.gif" in read_metadata(onnx.load(str(path)))["calib_source"]
    assert any("bundled sample GIF" in line for line in lines)
    p = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"gif": np.zeros((1, 32, 32, 3), np.uint8)})[0]
    assert p.shape == (1,) and 0.0 <= float(p[0]) <= 1.0


def test_a_derived_file_alone_is_used_and_nothing_at_all_is_named(tmp_path):
    folder = _folder(tmp_path, "dither_detector.int8.onnx")  # no FP32 to make anything from
    assert model_file(Network.DITHER, None, Precision.INT8, models_dir=folder) == folder / "dither_detector.int8.onnx"
    with pytest.raises(ModelError, match=r"dither_detector.fp16.onnx: ONNX file not found; derive it from "
                                         r"dither_detector.onnx"):
        model_file(Network.DITHER, None, Precision.FP16, models_dir=folder)
    with pytest.raises(ModelError, match="dequant_dither.onnx"):
        model_file(Network.DEQUANT, Variant.DITHER, Precision.FP32, models_dir=folder)


def test_restore_int8_runs_out_of_the_box(tmp_path):
    from typer.testing import CliRunner

    from trt_gif2video.bench.stages import synthetic_gif
    from trt_gif2video.cli import app

    gif = synthetic_gif(tmp_path / "in.gif", 64, 48, 3)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["restore", str(gif), "-o", str(out), "--precision", "int8", "--dither", "no",
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and "6 frames" in result.output


def test_build_makes_the_fp16_its_recipe_needs(tmp_path, monkeypatch):
    from trt_gif2video.data.corpus import CACHE_ENV
    from trt_gif2video.engine.build import spec_for
    from trt_gif2video.engine.recipe import load_recipe, recipe_path

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    folder = _folder(tmp_path, "dither_detector.onnx")  # FP32 only, as after a fresh export
    recipe = load_recipe(recipe_path("jetson-orin-nano"))
    assert recipe.precision is Precision.FP16
    spec = spec_for(recipe, Network.DITHER, None, folder)
    assert spec.onnx.name == "dither_detector.fp16.onnx" and spec.onnx.is_relative_to(tmp_path / "cache")
    assert spec.precision is Precision.FP16 and source_sha256(spec.onnx) == sha256_file(folder / "dither_detector.onnx")


def test_onnx_metadata_reads_the_wire_format_as_onnx_does(tmp_path):
    from trt_gif2video.derived import onnx_metadata

    files = sorted(weights_dir().glob("*.onnx"))
    assert len(files) >= 8
    for path in files:  # FP32, FP16, both INT8 flavours: graphs of every size, initializers inline
        assert onnx_metadata(path) == read_metadata(onnx.load(str(path), load_external_data=False)), path
    model = onnx.load(str(weights_dir() / "dither_detector.onnx"))
    set_metadata(model, **{SOURCE_KEY: "ab" * 32, "note": "ünïcode"})
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert onnx_metadata(tmp_path / "m.onnx")[SOURCE_KEY] == "ab" * 32
    assert onnx_metadata(tmp_path / "m.onnx")["note"] == "ünïcode"
    data = (tmp_path / "m.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])  # a length runs past the end
    with pytest.raises(ModelError, match="cut.onnx: not a readable ONNX file"):
        onnx_metadata(tmp_path / "cut.onnx")
    (tmp_path / "gif.onnx").write_bytes(b"GIF89a\x01\x00\x01\x00")  # 'G' = field 8 with wire type 7
    with pytest.raises(ModelError, match="gif.onnx: not a readable ONNX file"):
        onnx_metadata(tmp_path / "gif.onnx")
