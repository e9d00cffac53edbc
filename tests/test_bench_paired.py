"""bench/paired.py: share of the matmul peak measured round by round, on the shipped FP32 networks at a tiny size."""

from __future__ import annotations

import json
import math

import pytest

from trt_gif2video.bench.flops import count_graph
from trt_gif2video.bench.paired import PairedConfig, main, measure
from trt_gif2video.bench.run import Size, _counted
from trt_gif2video.config import Backend, Precision
from trt_gif2video.errors import BadArgumentError, ModelError
from trt_gif2video.models import Network, Variant, onnx_path

DEQUANT = onnx_path(Network.DEQUANT, Variant.NODITHER)
INTERP = onnx_path(Network.INTERP)
TINY = Size(64, 48)  # 48 is a multiple of the dequantizer's stride (16), not the interpolator's (32)


@pytest.mark.parametrize("path, network, counted_at", [(DEQUANT, Network.DEQUANT, "64x48"),
                                                       (INTERP, Network.INTERP, "64x64")])
def test_rounds_pair_a_peak_with_a_call_and_count_flops_as_bench(path, network, counted_at):
    config = PairedConfig((path,), TINY, rounds=2, peak_size=128, peak_reps=1, settle_s=0.0)
    r = measure(path, config)
    assert r.network == network.value and r.counted_at == counted_at and len(r.rounds) == 2
    # the FLOPs are bench's: the counter on this file, and what `bench` puts in its rows at this size
    assert r.flops == count_graph(path, 1, TINY.height, TINY.width).total
    assert r.flops == _counted(Backend.ONNXRUNTIME, network, Precision.FP32, TINY, 1, None)[0]
    for x in r.rounds:
        assert all(v > 0 and math.isfinite(v) for v in (x.peak_gflops, x.call_ms, x.gflops, x.share))
        assert x.peak_gflops == max(x.peak_by_engine.values())
        assert x.gflops == pytest.approx(r.flops / x.call_ms / 1e6) and x.share == pytest.approx(x.gflops / x.peak_gflops)
    q1, q3 = r.iqr
    assert min(x.share for x in r.rounds) <= q1 <= r.median_share <= q3 <= max(x.share for x in r.rounds)
    assert len(r.load_avg_before) == len(r.load_avg_after) == 3


def test_command_line_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(DEQUANT), "--size", "64x48", "--rounds", "1", "--peak-size", "128", "--peak-reps", "1",
                 "--out", str(out)]) == 0
    data = json.loads((out / "paired.json").read_text())
    assert data["meta"]["command"] == ("python -m trt_gif2video.bench.paired " + str(DEQUANT) +
                                       " --size 64x48 --rounds 1 --threads 0 --peak-size 128 --peak-reps 1 --settle 0.2")
    assert {"load_avg_before", "load_avg_after", "threads", "versions", "env"} <= set(data["meta"])
    (res,) = data["results"]
    assert len(res["rounds"]) == 1 and res["summary"]["median_share"] == res["rounds"][0]["share"] > 0
    assert "median share" in (out / "paired.md").read_text() and "median share" in capsys.readouterr().out


def test_refuses_a_network_it_cannot_feed_and_nonsense_options():
    detector = onnx_path(Network.DITHER)
    with pytest.raises(ModelError, match="dither_detector.onnx"):
        measure(detector, PairedConfig((detector,), TINY, rounds=1, peak_size=128, peak_reps=1))
    with pytest.raises(BadArgumentError, match="rounds"):
        PairedConfig((DEQUANT,), TINY, rounds=0)
    assert main([str(detector), "--size", "64x48", "--rounds", "1", "--peak-size", "128"]) == 2
