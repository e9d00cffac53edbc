"""Training speed options: the fast training requantizer matches the deploy one; bf16 autocast trains."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trt_gif2video.nets.blocks import requantize  # noqa: E402
from trt_gif2video.nets.dequant import DequantConfig, Dequantizer, requantize_rows  # noqa: E402
from trt_gif2video.palette import pad_palette  # noqa: E402
from trt_gif2video.quantize import nearest_palette_index  # noqa: E402
from trt_gif2video.train import Precision  # noqa: E402
from trt_gif2video.train.common import autocast_context  # noqa: E402
from trt_gif2video.train.speed import SpeedCase, time_steps  # noqa: E402


def _batch(seed: int, n: int = 3, size: int = 12, colors: int = 20):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    pal = np.stack([pad_palette(rng.integers(0, 256, (colors, 3), dtype=np.uint8)) for _ in range(n)])
    pal[0, 1] = pal[0, 2]  # a duplicate entry: ties must go to the lowest index
    return img, pal


def test_requantize_rows_matches_deploy_requantize_and_numpy_reference():
    img, pal = _batch(0)
    x = torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255
    p = torch.from_numpy(pal).float() / 255
    fast = requantize_rows(x, p)
    assert torch.equal(fast, requantize(x, p))
    for i in range(len(img)):
        want = pal[i][nearest_palette_index(img[i], pal[i])]
        got = np.rint(fast[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        assert (got == want).all()


def test_requantize_rows_stays_exact_under_bf16_autocast():
    img, pal = _batch(1)
    x = torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255
    p = torch.from_numpy(pal).float() / 255
    with autocast_context(Precision.BF16):
        fast = requantize_rows(x, p)
    assert fast.dtype == torch.float32 and torch.equal(fast, requantize(x, p))


def test_bf16_training_step_close_to_fp32_and_finite():
    torch.manual_seed(0)
    net = Dequantizer(DequantConfig(widths=(8, 16), steps=2))
    for q in net.parameters():
        torch.nn.init.normal_(q, std=0.05)
    img, pal = _batch(2, size=16)
    x = torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255
    p = torch.from_numpy(pal).float() / 255
    ref = net.forward_all(x, p, requantize_rows)[-1]
    with autocast_context(Precision.BF16):
        out = net.forward_all(x, p, requantize_rows)[-1]
    loss = (out.float() - x).abs().mean()
    loss.backward()
    assert all(q.grad is not None and torch.isfinite(q.grad).all() for q in net.parameters())
    assert (out.float() - ref).abs().max() < 0.05  # bf16 has ~3 significant digits


def test_speed_benchmark_runs_each_case():
    for case in (SpeedCase(Precision.FP32, False, False), SpeedCase(Precision.BF16, True)):
        assert time_steps(case, batch=2, patch=16, steps=1, warmup=1, config=DequantConfig(widths=(8, 16))) > 0


def test_interp_speed_benchmark_and_bf16_option_reach_the_loop():
    from trt_gif2video.nets.interp import InterpConfig
    from trt_gif2video.train.interp import InterpTrainConfig, _options
    from trt_gif2video.train.speed import time_interp_steps

    assert _options(InterpTrainConfig(precision=Precision.BF16)).precision is Precision.BF16
    small = InterpConfig()
    assert time_interp_steps(Precision.BF16, batch=1, crop=64, steps=1, warmup=0, config=small) > 0


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_native_bf16_warns_in_the_log(tmp_path, monkeypatch, native):
    from trt_gif2video.train import common
    from trt_gif2video.train.common import RunLog, TrainOptions, fit

    monkeypatch.setattr(common, "has_native_bf16", lambda: native)
    net = Dequantizer(DequantConfig(widths=(8, 16), steps=1))
    opts = TrainOptions(out=tmp_path / "run", steps=1, precision=Precision.BF16, log_every=100)
    fit(opts, net, lambda step: sum(q.sum() for q in net.parameters()), RunLog(opts.out, echo=False))
    log = (opts.out / common.LOG_NAME).read_text()
    assert ("emulated" in log) is (not native)


def test_seed_checkpoint_starts_a_run_from_weights_once(tmp_path):
    from trt_gif2video.nets.store import save_network
    from trt_gif2video.train.common import CHECKPOINT_NAME, load_checkpoint, seed_checkpoint

    torch.manual_seed(0)
    net = Dequantizer(DequantConfig(widths=(8, 16), steps=1))
    weights = save_network(net, tmp_path / "w.safetensors", dtype=torch.float32)
    out = tmp_path / "run"
    assert seed_checkpoint(out, weights, lr=1e-3)
    other = Dequantizer(DequantConfig(widths=(8, 16), steps=1))
    step, elapsed, _ = load_checkpoint(out / CHECKPOINT_NAME, other)
    assert (step, elapsed) == (0, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    before = (out / CHECKPOINT_NAME).read_bytes()
    assert not seed_checkpoint(out, weights, lr=1e-3)  # a run in progress keeps its checkpoint
    assert (out / CHECKPOINT_NAME).read_bytes() == before
