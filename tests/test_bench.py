"""`trt-gif2video bench`: percentile maths, the torch-free ONNX FLOP counter (against torch's
counter on real tiny networks and against hand counts), peak RSS, the report writer and a
tiny run through the CLI on tiny exported models."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from trt_gif2video.bench import memory
from trt_gif2video.bench.flops import count_graph
from trt_gif2video.bench.peak import Peak
from trt_gif2video.bench.report import markdown, targets, write_all
from trt_gif2video.bench.run import BenchConfig, BenchReport, EndToEnd, NetResult, Row, Size, parse_sizes
from trt_gif2video.bench.stats import Latency, percentile, time_calls
from trt_gif2video.errors import BadArgumentError

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch (exports, nets.flops)")


@pytest.fixture(scope="module", autouse=True)
def _torch_single_thread():
    """One torch thread for this file's tiny graphs: on the shared 2-core box, OpenMP workers
    spinning against other jobs make small ops ~20x slower than one thread."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- statistics -----------------------------------------------------------------------------


def test_percentiles_match_numpy_linear_interpolation():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        xs = sorted(rng.integers(1, 10**9, n).tolist())
        for q in (0, 50, 95, 99, 100):
            assert percentile(xs, q) == pytest.approx(np.percentile(xs, q), rel=1e-12)
    assert percentile([10, 20], 50) == 15.0 and percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)


def test_percentile_rejects_empty_and_out_of_range():
    with pytest.raises(BadArgumentError):
        percentile([], 50)
    with pytest.raises(BadArgumentError, match="0, 100"):
        percentile([1], 101)


def test_latency_per_frame_from_batched_calls():
    lat = Latency.from_ns([4_000_000, 8_000_000, 6_000_000], per=2)  # calls of 2 frames
    assert (lat.n, lat.mean_ms, lat.p50_ms, lat.max_ms) == (3, 3.0, 3.0, 4.0)
    assert lat.fps == pytest.approx(1000 / 3)
    assert lat.p50_ms <= lat.p95_ms <= lat.p99_ms <= lat.max_ms


def test_time_calls_runs_warmup_untimed():
    seen = []
    samples = time_calls(seen.append, n=3, warmup=2)
    assert seen == [0, 1, 0, 1, 2] and len(samples) == 3 and all(s >= 0 for s in samples)


def test_sizes_parse():
    assert parse_sizes("256x256, 480x270") == (Size(256, 256), Size(480, 270))
    assert Size(480, 270).label == "480x270"
    for bad in ("480", "x270", "0x10", "axb"):
        with pytest.raises(BadArgumentError, match="WIDTHxHEIGHT"):
            Size.parse(bad)


# --- FLOPs from ONNX ------------------------------------------------------------------------


def _hand_model() -> onnx.ModelProto:
    """NHWC uint8 -> Conv 3x3 (3->8) -> ConvTranspose 2x2 s2 (8->4) -> MatMul with a [W2, 5] -> Gemm-free tail."""
    x = helper.make_tensor_value_info("gif", TensorProto.UINT8, ["N", "H", "W", 3])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    w1 = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.zeros((8, 4, 2, 2), np.float32), "w2")
    m = numpy_helper.from_array(np.zeros((5, 7), np.float32), "m")
    nodes = [
        helper.make_node("Cast", ["gif"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["f"], ["x"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("ConvTranspose", ["c1", "w2"], ["c2"], strides=[2, 2]),
        helper.make_node("Slice", ["c2", "s0", "s1", "ax"], ["c3"]),  # [N,4,2H,5]
        helper.make_node("MatMul", ["c3", "m"], ["out"]),  # [N,4,2H,7]
    ]
    inits = [w1, w2, m] + [numpy_helper.from_array(np.array(v, np.int64), n)
                           for n, v in (("s0", [0]), ("s1", [5]), ("ax", [3]))]
    graph = helper.make_graph(nodes, "hand", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.append(onnx.StringStringEntryProto(key="stride", value="4"))
    return model


def test_onnx_flops_by_hand_with_stride_padding():
    g = count_graph(_hand_model(), batch=2, height=10, width=13)
    assert (g.height, g.width) == (12, 16)  # padded to the stride 4
    conv = 2 * 2 * 8 * 12 * 16 * 3 * 9
    convt = 2 * 2 * 12 * 16 * 8 * 4 * 4
    matmul = 2 * 2 * 4 * 24 * 5 * 7
    assert g.by_op == {"Conv": conv, "ConvTranspose": convt, "MatMul": matmul}
    assert g.per_frame == (conv + convt + matmul) / 2
    assert count_graph(_hand_model(), 1, 10, 13, pad=False).height == 10


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    """Tiny dequantizer and interpolator (random weights) as safetensors + exported FP32 ONNX."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("exporting needs torch")
    import torch

    from trt_gif2video.export import model_for_stem
    from trt_gif2video.export.onnx_export import export_module, load_deploy
    from trt_gif2video.nets.dequant import DequantConfig, Dequantizer
    from trt_gif2video.nets.interp import InterpConfig, Interpolator
    from trt_gif2video.nets.store import save_network

    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    nets = {"dequant_nodither": Dequantizer(DequantConfig(widths=(4, 8, 8), steps=2)),
            "interp": Interpolator(InterpConfig(flow_widths=(4, 8, 8), refine_widths=(4, 6, 8)))}
    for stem, net in nets.items():
        mf = model_for_stem(stem)
        save_network(net, folder / f"{stem}.safetensors", variant=mf.variant, dtype=torch.float32)
        export_module(load_deploy(mf, folder), mf, folder / mf.onnx_name(), verify=False)
    return folder


@needs_torch
def test_onnx_flops_match_torch_counter(tiny_models):
    from trt_gif2video.nets.flops import dequant_gflops
    from trt_gif2video.nets.interp import interp_gflops
    from trt_gif2video.nets.store import load_network

    h, w = 21, 30  # not multiples of the stride: both count at the padded size
    for stem, torch_gflops in (("dequant_nodither", dequant_gflops), ("interp", interp_gflops)):
        net = load_network(tiny_models / f"{stem}.safetensors")
        g = count_graph(tiny_models / f"{stem}.onnx", 1, h, w)
        assert g.total == pytest.approx(torch_gflops(net, h, w) * 1e9, rel=1e-9), stem
        assert (g.height, g.width) == (24, 32) and g.total > 0
    assert "MatMul" in count_graph(tiny_models / "dequant_nodither.onnx", 1, h, w).by_op  # palette distances


# --- memory ---------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_peak_rss_sees_an_allocation_and_resets():
    if not memory.reset_peak_rss():
        pytest.skip("kernel refuses clear_refs")
    before = memory.peak_rss_bytes()
    block = np.ones(64 * 2**20, np.uint8)  # touched: resident
    grown = memory.peak_rss_bytes()
    assert grown - before > 48 * 2**20
    del block
    memory.reset_peak_rss()
    assert memory.peak_rss_bytes() < grown - 32 * 2**20


# --- report ---------------------------------------------------------------------------------


def _lat(ms: float) -> Latency:
    return Latency(4, ms, ms, ms * 1.1, ms * 1.2, ms * 1.3)


def _row(backend: str, precision: str, deq_ms: float, int_ms: float, deq_gflop=20.0, int_gflop=10.0) -> Row:
    peak = 100.0
    nets = [NetResult(n, f"{n}.onnx", _lat(ms), g * 1e9, "480x272", g / ms * 1e3, g / ms * 1e3 / peak)
            for n, ms, g in (("dequant", deq_ms, deq_gflop), ("interp", int_ms, int_gflop))]
    return Row(backend, precision, "480x270", "cpu", 1, 1, "test", nets[0], nets[1], 0.1, 100.0)


def _report() -> BenchReport:
    meta = {"command": "trt-gif2video bench --test", "date": "2026-11-24T11:30:00+00:00", "host_cpu": "test CPU",
            "cpu_cores": 2, "load_avg_before": [0.1, 0.1, 0.1], "load_avg_after": [1.0, 0.5, 0.2],
            "versions": {"onnxruntime": "1.x"}, "threads": 0, "batch": 1, "streams": 1, "frames": 8,
            "large_frames": 3, "warmup": 2, "models_dir": "shipped weights"}
    report = BenchReport(meta, {"cpu": Peak("cpu", 100.0, {"numpy matmul": 100.0}, 2048, 0)})
    report.rows.extend([_row("onnxruntime", "fp32", 250, 150), _row("onnxruntime", "int8", 100, 100),
                        _row("torch", "fp32", 400, 200),
                        Row("torch", "int8", "480x270", "-", 1, 1, "-", skipped="torch backend: no int8")])
    report.baseline.append(_row("torch-eager (paper originals)", "fp32", 4000, 3000, 300.0, 300.0))
    report.end_to_end.append(EndToEnd("onnxruntime", "fp32", "480x270", 9, 18, 8, 4.5, 3.5, 0.3))
    return report


def test_targets_are_measured_ratios():
    got = {t.name.split(" ")[0] + t.threshold: t for t in targets(_report())}
    share = got["onnxruntime>= 0.7"]
    assert share.measured == {"480x270": 0.75} and share.met  # 30 GFLOP in 400 ms = 75 GFLOP/s of 100
    speed = [t for t in targets(_report()) if "PyTorch" in t.name][0]
    assert speed.measured == {"480x270": 1.5} and speed.met
    int8 = [t for t in targets(_report()) if "INT8" in t.name][0]
    assert int8.measured == {"480x270": 2.0} and int8.met
    e2e = [t for t in targets(_report()) if "end-to-end" in t.name][0]
    assert e2e.measured == {"480x270": pytest.approx(4.5 / 3.5, abs=1e-3)} and e2e.met is False
    cheaper = [t for t in targets(_report()) if "originals" in t.name][0]
    assert cheaper.measured == {"480x270": 20.0} and cheaper.met
    gpu = [t for t in targets(_report()) if "GPU" in t.name][0]
    assert gpu.met is None and "no GPU" in gpu.note


def test_report_writes_json_markdown_and_png(tmp_path):
    js, md, png = write_all(_report(), tmp_path / "out")
    data = json.loads(js.read_text())
    assert data["meta"]["command"] == "trt-gif2video bench --test"
    assert data["rows"][0]["fps_x2"] == pytest.approx(2000 / 400)
    assert data["rows"][0]["dequant"]["latency"]["p95_ms"] == pytest.approx(275.0)
    assert data["end_to_end"][0]["ratio"] == pytest.approx(4.5 / 3.5)
    assert len(data["targets"]) == 6
    text = md.read_text()
    assert "`trt-gif2video bench --test`" in text and "load average" in text and "streams 1, batch 1" in text
    assert "| onnxruntime | fp32 | 480x270 | 5.00 | 250.0 / 275.0 / 300.0 |" in text
    assert "skipped: torch backend: no int8" in text and "**no**" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert markdown(_report()) == text


# --- a tiny run -----------------------------------------------------------------------------


def test_config_rejects_nonsense():
    with pytest.raises(BadArgumentError):
        BenchConfig(frames=0)
    with pytest.raises(BadArgumentError):
        BenchConfig(sizes=())
    assert BenchConfig(frames=8, large_frames=3).timed(Size(1280, 720)) == 3
    assert BenchConfig(frames=8).timed(Size(480, 270)) == 8


@needs_torch
def test_tiny_bench_run_through_the_cli(tiny_models, tmp_path, monkeypatch):
    from trt_gif2video.cli import app
    from trt_gif2video.data.corpus import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # INT8 is made there on first use

    out = tmp_path / "res"
    args = ["bench", "--backend", "onnxruntime", "--precision", "fp32", "--precision", "int8", "--sizes", "40x24",
            "--frames", "3", "--warmup", "1", "--no-baseline", "--end-to-end", "--threads", "1",
            "--models-dir", str(tiny_models), "--peak-size", "128", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "bench.json").read_text())
    ort = [r for r in data["rows"] if r["precision"] == "fp32"][0]
    flops = count_graph(tiny_models / "dequant_nodither.onnx", 1, 24, 40).per_frame
    assert ort["dequant"]["flops_per_frame"] == flops and ort["dequant"]["counted_at"] == "40x24"
    assert ort["dequant"]["latency"]["n"] == 3 and ort["interp"]["latency"]["mean_ms"] > 0
    assert ort["dequant"]["gflops"] == pytest.approx(flops / ort["dequant"]["latency"]["mean_ms"] / 1e6)
    assert ort["fps_x2"] > 0 and ort["peak_rss_mib"] > 0
    int8 = [r for r in data["rows"] if r["precision"] == "int8"][0]  # none in the folder: made on first use
    assert int8["skipped"] is None and int8["dequant"]["model"] == "dequant_nodither.int8-cpu.onnx"
    assert int8["dequant"]["flops_per_frame"] == flops and int8["interp"]["latency"]["n"] == 3
    assert list((tmp_path / "cache" / "models").glob("*/interp.int8-cpu.onnx"))
    stages = {s["stage"]: s for s in data["stages"]}
    assert stages["decode"]["latency"]["n"] == 3 + 1 + 1 and stages["encode"]["latency"]["mean_ms"] > 0
    assert stages["host-to-device"]["latency"] is None  # CPU: no transfers
    e2e = data["end_to_end"][0]
    assert e2e["gif_frames"] == 5 and e2e["frames_written"] == 10 and e2e["interpolator_calls"] == 4
    assert e2e["pure_inference_s"] > 0 and math.isfinite(e2e["ratio"])
    assert data["peaks"]["cpu"]["gflops"] > 0 and data["meta"]["command"] == "trt-gif2video bench " + " ".join(
        ["--backend", "onnxruntime", "--precision", "fp32", "--precision", "int8", "--sizes", "40x24", "--frames", "3",
         "--large-frames", "3", "--warmup", "1", "--batch", "1", "--threads", "1", "--no-baseline", "--end-to-end",
         "--peak-size", "128", "--models-dir", str(tiny_models)])
    assert (out / "bench.png").is_file() and "| onnxruntime | fp32 | 40x24 |" in (out / "bench.md").read_text()
    ops = ort["op_ms"]["dequant"]  # the per-op profile ran at the only size
    assert ops and all(ms >= 0 for ms in ops.values()) and any("Conv" in op for op in ops)
    assert "Where ONNX Runtime spends its time" in (out / "bench.md").read_text()


@needs_torch
def test_original_networks_have_the_papers_size():
    from trt_gif2video.bench import original
    from trt_gif2video.nets.flops import n_params

    assert n_params(original.unet(3, 3, original.ccdnet_unet())) == pytest.approx(14.8e6, rel=0.01)
    assert n_params(original.unet(6, 2, original.slomo_unet())) == pytest.approx(19.8e6, rel=0.01)


@needs_torch
def test_original_networks_run_at_their_stride():
    import torch

    from trt_gif2video.bench import original

    x = torch.zeros(1, 3, 32, 32)
    with torch.inference_mode():  # narrow widths: the same graph, a fraction of the compute
        y = original.ccdnet2(width=8)(x, torch.rand(1, 256, 3))
        z = original.slomo(width=4)(x, x, x, x, torch.full((1,), 0.5))
    assert y.shape == z.shape == (1, 3, 32, 32) and float(y.abs().max()) <= 1.0


@needs_torch
def test_baseline_flops_scale_exactly_with_pixels():
    import torch

    from trt_gif2video.bench import original
    from trt_gif2video.bench.baseline import flops_per_frame
    from trt_gif2video.nets.flops import count_flops

    net, t = original.slomo(width=4), torch.full((1,), 0.5)
    make = lambda h, w: (*(torch.zeros(1, 3, h, w) for _ in range(4)), t)  # noqa: E731
    assert flops_per_frame(net, make, 96, 160) == count_flops(net, *make(96, 160))
    ccd = original.ccdnet2(width=8)
    make = lambda h, w: (torch.zeros(1, 3, h, w), torch.zeros(1, 256, 3))  # noqa: E731
    assert flops_per_frame(ccd, make, 48, 80) == count_flops(ccd, *make(48, 80))
