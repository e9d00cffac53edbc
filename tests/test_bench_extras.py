"""`bench --predict` (roofline per recipe from the ONNX and published peaks) and `bench --stream`
(a GIF played at its own delays: latency per output frame), and the op profile's roles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trt_gif2video.bench.flops import count_graph
from trt_gif2video.bench.predict import BoardPeaks, Work, count_work, load_peaks, predict
from trt_gif2video.config import Precision
from trt_gif2video.engine.recipe import available_targets, recipe_path
from trt_gif2video.errors import BadArgumentError
from trt_gif2video.models import weights_dir

runner = CliRunner()


def test_every_recipe_declares_its_published_peaks_with_a_source():
    for target in available_targets():
        p = load_peaks(recipe_path(target))
        assert min(p.int8_tops, p.fp16_tflops, p.fp32_tflops, p.memory_gbps) > 0
        assert p.int8_tops >= p.fp16_tflops > p.fp32_tflops  # tensor cores: INT8 >= FP16 > FP32 (CUDA cores)
        assert "NVIDIA" in p.source and "dense" in p.source
    nano, agx = load_peaks(recipe_path("jetson-orin-nano")), load_peaks(recipe_path("jetson-agx-orin"))
    assert (nano.int8_tops, nano.memory_gbps, agx.int8_tops, agx.memory_gbps) == (20.0, 68.0, 85.0, 204.8)


def test_peaks_missing_are_named(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('target = "r"\npeak_int8_tops = 1.0\n')
    with pytest.raises(BadArgumentError, match=r"peak_fp16_tflops.*peak_source"):
        load_peaks(recipe)


def test_work_is_read_from_the_graph():
    path = weights_dir() / "dither_detector.onnx"
    w = count_work(path, "dither", 100, 60)  # stride 16: runs as 112x64
    assert w.counted_at == "112x64" and w.flops == count_graph(path, 1, 64, 112).total > 0
    b = w.bytes_by_precision
    assert b["fp32"] == pytest.approx(2 * b["fp16"]) and b["int8"] < b["fp16"]
    small, bigger = count_work(path, "dither", 64, 48), count_work(path, "dither", 128, 96)
    assert bigger.flops == pytest.approx(4 * small.flops, rel=0.01)  # fully convolutional: scales with pixels


def test_roofline_takes_the_slower_roof():
    board = BoardPeaks("t", "board", int8_tops=2.0, fp16_tflops=1.0, fp32_tflops=0.5, memory_gbps=100.0, source="s")
    works = {"a": {"dequant": Work("dequant", "a", "a", 1e12, {"fp16": 1e9, "fp32": 2e9, "int8": 5e8}),
                   "interp": Work("interp", "a", "a", 1e12, {"fp16": 1e9, "fp32": 2e9, "int8": 5e8})}}
    (fp16,) = predict(board, works, (Precision.FP16,), 1.0, 1.0)
    assert fp16.dequant_ms == pytest.approx(1000.0) and fp16.bound == "compute"  # 1e12 / 1e12 FLOP/s = 1 s
    (half,) = predict(board, works, (Precision.FP16,), 0.5, 1.0)
    assert half.dequant_ms == pytest.approx(2000.0) and half.gif_fps == pytest.approx(0.25)
    slow_memory = BoardPeaks("t", "b", 2.0, 1.0, 0.5, memory_gbps=0.1, source="s")
    (mem,) = predict(slow_memory, works, (Precision.FP16,), 1.0, 1.0)
    assert mem.bound == "memory" and mem.dequant_ms == pytest.approx(1e9 / 0.1e9 * 1000)
    with pytest.raises(BadArgumentError):
        predict(board, works, (Precision.FP16,), 0.0, 1.0)


def test_predict_through_the_cli(tmp_path):
    from trt_gif2video.cli import app

    result = runner.invoke(app, ["bench", "--predict", "jetson-orin-nano", "--predict", "jetson-agx-orin", "--sizes",
                                 "256x256,1280x720", "--precision", "int8", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "predict.json").read_text())
    rows = {(p["target"], p["size"]): p for p in data["predictions"]}
    assert len(rows) == 4 and all(p["precision"] == "int8" for p in rows.values())
    nano, agx = rows[("jetson-orin-nano", "1280x720")], rows[("jetson-agx-orin", "1280x720")]
    assert agx["gif_fps"] > nano["gif_fps"] > 0  # the bigger board is faster at the same work
    assert rows[("jetson-orin-nano", "256x256")]["gif_fps"] > nano["gif_fps"]
    assert data["efficiency"]["basis"].startswith("assumed") and data["command"].startswith("trt-gif2video bench")
    md = (tmp_path / "predict.md").read_text()
    assert "real-time 25 fps GIF" in md and "Jetson Orin Nano 8 GB" in md


def test_stream_plays_at_the_gifs_delays(tmp_path):
    from trt_gif2video.cli import app

    result = runner.invoke(app, ["bench", "--stream", "--sizes", "64x48", "--stream-frames", "4", "--threads", "1",
                                 "--backend", "onnxruntime", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (r,) = json.loads((tmp_path / "stream.json").read_text())["results"]
    assert r["gif_frames"] == 4 and r["frames_out"] == 8 and r["gif_fps"] == 10 and r["out_fps"] == 20
    lat, comp = r["latency"], r["compute"]
    # every frame but the last GIF frame's waits for the next GIF frame (100 ms later) before it can be made
    assert lat["p50_ms"] >= 95.0 and lat["n"] == 8
    assert comp["p50_ms"] < lat["p50_ms"] and comp["p50_ms"] >= 0
    assert r["keeps_up"] == (r["late"] == 0)
    assert "keeps up" in (tmp_path / "stream.md").read_text()


def test_op_profile_names_the_non_convolution_cost():
    from trt_gif2video.bench.opprofile import ROLES, ort_profile

    rng = np.random.default_rng(0)
    feeds = {k: rng.integers(0, 256, (1, 32, 32, 3), np.uint8) for k in ("gif0", "gif1", "img0", "img1")}
    prof = ort_profile(weights_dir() / "interp.onnx", {**feeds, "t": np.array([0.5], np.float32)}, runs=1, threads=1)
    assert set(prof.by_role) == set(ROLES)
    assert prof.by_role["warp: GridSample + flow arithmetic"] > 0 and prof.by_role["convolutions (FLOPs counted)"] > 0
    assert prof.by_role["palette step"] == 0.0  # the interpolator has none
    assert sum(prof.by_role.values()) == pytest.approx(sum(prof.by_op.values()))
