"""Padding to the stride and seam-free overlapping tiles."""

from __future__ import annotations

import numpy as np
import pytest

from trt_gif2video.clip import GifFrame
from trt_gif2video.config import DitherChoice
from trt_gif2video.errors import BadArgumentError
from trt_gif2video.runtime.backends.base import Session, ShapeLimits, TensorSpec
from trt_gif2video.stages.dequantize import DequantizeConfig, Dequantizer
from trt_gif2video.stages.pad import PadMode, TileSpec, crop, pad_to_stride, run_tiled, tile_starts


def test_pad_to_stride_replicates_and_crop_restores():
    x = np.arange(2 * 5 * 7 * 3, dtype=np.uint8).reshape(2, 5, 7, 3)
    p = pad_to_stride(x, 4)
    assert p.shape == (2, 8, 8, 3)
    assert (p[:, 5:, :7] == x[:, 4:5]).all() and (p[:, :5, 7:] == x[:, :, 6:7]).all()
    r = pad_to_stride(x, 4, PadMode.REFLECT)
    assert (r[:, 5, :7] == x[:, 3]).all()
    assert np.array_equal(crop(p, 5, 7), x)
    assert pad_to_stride(p, 4) is p  # already aligned: no copy


@pytest.mark.parametrize("length", [64, 96, 608, 1000 // 16 * 16, 2048])
def test_tiles_cover_everything_with_equal_aligned_tiles(length):
    size, starts = tile_starts(length, 512, 32, 16)
    assert size % 16 == 0 and size <= max(512, 16)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= size - 32 for a, b in zip(starts, starts[1:]))  # neighbours share >= overlap
    if length == 608:
        assert (size, len(starts)) == (320, 2)  # fewest pixels, not 2 x 512


def _blur(feeds):
    """A 5x5 box blur with zero padding: wrong near every tile border, like a real conv net."""
    x = feeds["img"].astype(np.float32)
    p = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    h, w = x.shape[1:3]
    out = sum(p[:, dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5)) / 25.0
    return np.clip(np.rint(out + feeds["bias"][:, None, None, None]), 0, 255).astype(np.uint8)


def test_tiled_smooth_image_matches_untiled_and_has_no_seams():
    h, w = 300, 420
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    smooth = np.stack([60 + 0.3 * xx, 40 + 0.4 * yy, 100 + 0.1 * (xx + yy)], -1)
    img = np.clip(smooth, 0, 255).astype(np.uint8)[None].repeat(2, 0)
    bias = np.array([0.0, 5.0], np.float32)
    calls = []

    def fn(feeds):
        calls.append(feeds["img"].shape)
        return _blur(feeds)

    whole = run_tiled(fn, {"img": img}, {"bias": bias}, 16)
    calls.clear()
    tiled = run_tiled(fn, {"img": img}, {"bias": bias}, 16, TileSpec(max_tile=128, overlap=32))
    assert len(calls) > 4 and len({c for c in calls}) == 1  # several tiles, all one shape
    assert tiled.shape == img.shape and tiled.dtype == np.uint8
    diff = np.abs(tiled.astype(int) - whole.astype(int))
    assert diff[:, 3:-3, 3:-3].max() <= 1  # identical away from the frame's own border
    # No seam: the horizontal/vertical steps of the tiled output never exceed the image's own.
    for axis in (1, 2):
        step_tiled = np.abs(np.diff(tiled[:, 3:-3, 3:-3].astype(int), axis=axis)).max()
        step_whole = np.abs(np.diff(whole[:, 3:-3, 3:-3].astype(int), axis=axis)).max()
        assert step_tiled <= step_whole + 1


def test_without_blending_the_same_tiles_would_show_seams():
    """Guards the test above: hard-cut tiles of this blur do leave steps at tile borders."""
    img = np.full((1, 128, 128, 3), 200, np.uint8)
    hard = np.concatenate([_blur({"img": img[:, :, :64], "bias": np.zeros(1)}),
                           _blur({"img": img[:, :, 64:], "bias": np.zeros(1)})], axis=2)
    blended = run_tiled(_blur, {"img": img}, {"bias": np.zeros(1, np.float32)}, 16, TileSpec(max_tile=96, overlap=32))
    assert np.abs(np.diff(hard[0, 10:-10, 10:-10].astype(int), axis=1)).max() >= 40
    assert np.abs(np.diff(blended[0, 10:-10, 10:-10].astype(int), axis=1)).max() == 0


def test_tile_must_exceed_twice_the_overlap():
    with pytest.raises(BadArgumentError, match="--tile must be > 2 x overlap"):
        TileSpec(max_tile=64, overlap=32)


class Profiled(Session):
    """A numpy identity dequantizer with a TensorRT-like profile that refuses any other shape."""

    description = "numpy identity with a profile"

    def __init__(self) -> None:
        u8 = np.dtype(np.uint8)
        super().__init__("profiled", (TensorSpec("gif", u8, ("N", "H", "W", 3)), TensorSpec("palette", u8, ("N", 256, 3))),
                         (TensorSpec("restored", u8, ("N", "H", "W", 3)),), {"stride": "16"})
        self.shapes: list[tuple[int, ...]] = []

    @property
    def limits(self) -> ShapeLimits:
        return ShapeLimits(max_batch=2, min_hw=(64, 64), max_hw=(96, 128))

    def _infer_impl(self, feeds):
        n, h, w = feeds["gif"].shape[:3]
        assert n <= 2 and 64 <= h <= 96 and 64 <= w <= 128 and h % 16 == 0 and w % 16 == 0
        self.shapes.append((n, h, w))
        return {"restored": feeds["gif"].copy()}


@pytest.mark.parametrize("size", [(40, 50), (150, 300)])
def test_stages_respect_a_sessions_shape_limits(size):
    session = Profiled()
    rng = np.random.default_rng(0)
    frames = [GifFrame(i, rng.integers(0, 256, (*size, 3), dtype=np.uint8), np.zeros((4, 3), np.uint8), 100 * i, 100, 10)
              for i in range(5)]
    stage = Dequantizer(lambda network, variant: session, DequantizeConfig(batch=4, dither=DitherChoice.NO))
    out = list(stage(iter(frames)))
    assert [f.index for f, _ in out] == list(range(5))
    assert all(np.array_equal(f.rgb, r) for f, r in out)  # identity survives padding, splitting, tiling
    assert max(n for n, _, _ in session.shapes) == 2
    if size == (40, 50):
        assert {s[1:] for s in session.shapes} == {(64, 64)}  # padded up to the profile minimum
    else:
        assert len(session.shapes) > 3 * 5  # split into batches of <= 2 and tiles of <= 96x128
