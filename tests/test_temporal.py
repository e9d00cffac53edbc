"""The opt-in neighbouring-frame blend (stages.temporal): it cancels frame-to-frame noise where the
scene holds still, leaves moving parts alone, keeps the stream's length and order, and runs in restore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trt_gif2video.clip import GifFrame
from trt_gif2video.config import Backend, OutputFormat
from trt_gif2video.errors import BadArgumentError
from trt_gif2video.eval.metrics import psnr
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions
from trt_gif2video.stages.temporal import blend, temporal_filter

import runtime_standins as standins


def _frame(i: int, rgb: np.ndarray) -> GifFrame:
    return GifFrame(i, rgb, np.zeros((2, 3), np.uint8), 100 * i, 100, 10)


def test_still_scene_noise_is_averaged_away():
    rng = np.random.default_rng(0)
    truth = np.full((32, 32, 3), 120, np.uint8)
    noisy = [np.clip(truth.astype(int) + rng.integers(-6, 7, truth.shape), 0, 255).astype(np.uint8) for _ in range(5)]
    out = list(temporal_filter(((_frame(i, f), f) for i, f in enumerate(noisy)), sigma=8.0))
    assert [f.index for f, _ in out] == list(range(5))  # same frames, same order
    for (_, o), n in zip(out, noisy):
        assert psnr(o, truth) > psnr(n, truth) + 1.0


def test_moving_parts_are_kept():
    a = np.zeros((16, 16, 3), np.uint8)
    b = a.copy()
    b[4:12, 4:12] = 200  # a square appears: neighbours disagree by 200 grey levels there
    out = blend(a, b, a, sigma=8.0)
    assert np.array_equal(out[6:10, 6:10], b[6:10, 6:10])
    assert np.array_equal(out[0:2, 0:2], b[0:2, 0:2])  # where they agree (all 0) nothing changes


def test_single_frame_and_bad_sigma():
    f = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    ((_, only),) = list(temporal_filter([(_frame(0, f), f)], sigma=8.0))
    assert np.array_equal(only, f)
    with pytest.raises(BadArgumentError, match="--temporal"):
        list(temporal_filter([(_frame(0, f), f)], sigma=0.0))
    with pytest.raises(BadArgumentError, match="--temporal"):
        RestoreOptions(temporal=-1.0)


def test_restore_with_temporal_keeps_timing_and_changes_pixels(tmp_path):
    models = standins.write_models(tmp_path / "m")
    rng = np.random.default_rng(2)
    palette = (np.arange(8)[:, None] * np.array([30, 20, 10])).astype(np.uint8)
    base = rng.integers(0, 7, (32, 48))
    # the same picture with a different dither-like pattern each frame (20 % of pixels one entry up)
    frames = [palette[base + (rng.random(base.shape) < 0.2)] for _ in range(4)]
    gif = standins.write_gif(tmp_path / "in.gif", frames, [10] * 4)
    outs = {}
    for name, sigma in (("plain", None), ("temporal", 8.0)):
        opts = RestoreOptions(interp=2, fmt=OutputFormat.PNG_DIR, backend=Backend.ONNXRUNTIME, temporal=sigma,
                              session=SessionOptions(threads=1, models_dir=models))
        r = restore(gif, tmp_path / name, opts)
        assert r.frames_written == 8
        outs[name] = sorted(Path(tmp_path / name).glob("frame_*.png"))
    assert len(outs["plain"]) == len(outs["temporal"]) == 8
    from PIL import Image

    differ = [not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
              for a, b in zip(outs["plain"], outs["temporal"])]
    assert any(differ)
