"""Padding to the stride, and tiles that carry the receptive-field margin: tiled == whole frame."""

from __future__ import annotations

import numpy as np
import pytest

from trt_gif2video.clip import GifFrame
from trt_gif2video.config import DitherChoice
from trt_gif2video.errors import BadArgumentError
from trt_gif2video.runtime.backends.base import Session, ShapeLimits, TensorSpec
from trt_gif2video.stages.dequantize import DequantizeConfig, Dequantizer
from trt_gif2video.stages.pad import PadMode, TileSpec, crop, pad_to_stride, run_tiled, tile_windows


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
@pytest.mark.parametrize("margin", [0, 32, 48])
def test_tile_windows_cover_everything_with_equal_aligned_windows(length, margin):
    windows = tile_windows(length, 512, margin, 16)
    assert len({w.stop - w.start for w in windows}) == 1  # one window size: fixed-profile engines fit
    assert windows[0].keep_start == 0 and windows[-1].keep_stop == length
    for w, nxt in zip(windows, windows[1:]):
        assert w.keep_stop == nxt.keep_start  # cores partition the axis
    for w in windows:
        assert w.start % 16 == 0 and 0 <= w.start <= w.keep_start < w.keep_stop <= w.stop <= length
        assert w.keep_stop - w.keep_start <= 512
        # a full margin of real image on each side, except at the frame's own edges
        assert w.keep_start - w.start >= margin or w.start == 0
        assert w.stop - w.keep_stop >= margin or w.stop == length
    if length == 608 and margin == 0:
        assert [(w.start, w.stop) for w in windows] == [(0, 304), (304, 608)]  # balanced, not 512 + 96


def _blur(feeds):
    """A 5x5 box blur with zero padding (radius 2): wrong near every tile border, like a real conv net."""
    x = feeds["img"].astype(np.float32)
    p = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    h, w = x.shape[1:3]
    out = sum(p[:, dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5)) / 25.0
    return np.clip(np.rint(out + feeds["bias"][:, None, None, None]), 0, 255).astype(np.uint8)


def test_tiles_with_the_receptive_margin_equal_the_whole_frame():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 300, 420, 3), dtype=np.uint8)  # noise: any wrong pixel shows
    bias = np.array([0.0, 5.0], np.float32)
    calls = []

    def fn(feeds):
        calls.append(feeds["img"].shape)
        return _blur(feeds)

    whole = run_tiled(fn, {"img": img}, {"bias": bias}, 16)
    calls.clear()
    tiled = run_tiled(fn, {"img": img}, {"bias": bias}, 16, TileSpec(max_tile=96), margin=2)
    assert len(calls) == 4 * 5 and len(set(calls)) == 1  # 304 x 432 padded: 4 x 5 cores, one window shape
    assert max(calls[0][1:3]) < 96 + 2 * 16 + 1  # each window: a core plus the margin (rounded to the stride)
    np.testing.assert_array_equal(tiled, whole)  # exact, to the frame's edges: no seam anywhere


def test_without_the_margin_tile_borders_show():
    """Guards the test above: the same tiles with no margin differ from the whole frame."""
    img = np.full((1, 128, 128, 3), 200, np.uint8)
    zero = {"bias": np.zeros(1, np.float32)}
    whole = run_tiled(_blur, {"img": img}, zero, 16)
    hard = run_tiled(_blur, {"img": img}, zero, 16, TileSpec(max_tile=64), margin=0)
    exact = run_tiled(_blur, {"img": img}, zero, 16, TileSpec(max_tile=64), margin=2)
    assert np.abs(hard.astype(int) - whole).max() >= 40  # the blur saw zeros at the inner tile borders
    np.testing.assert_array_equal(exact, whole)


def test_tiling_needs_a_known_margin_and_a_sane_tile():
    img = np.zeros((1, 128, 128, 3), np.uint8)
    zero = {"bias": np.zeros(1, np.float32)}
    with pytest.raises(BadArgumentError, match="receptive field"):
        run_tiled(_blur, {"img": img}, zero, 16, TileSpec(max_tile=64), margin=None)
    assert run_tiled(_blur, {"img": img}, zero, 16, TileSpec(max_tile=128), margin=None).shape == img.shape  # fits
    with pytest.raises(BadArgumentError, match="--tile must be >= 32"):
        TileSpec(max_tile=16)
    with pytest.raises(BadArgumentError, match="largest input side 96 px cannot hold a tile plus"):
        run_tiled(_blur, {"img": img}, zero, 16, TileSpec(max_tile=64), ShapeLimits(max_hw=(96, 96)), margin=48)
    # an axis that fits the engine whole is not tiled, however big the margin: only the wide one is
    wide = np.random.default_rng(1).integers(0, 256, (1, 96, 400, 3), dtype=np.uint8)
    shapes = []

    def fn(feeds):
        shapes.append(feeds["img"].shape[1:3])
        return _blur(feeds)

    got = run_tiled(fn, {"img": wide}, zero, 16, limits=ShapeLimits(max_hw=(96, 256)), margin=40)
    np.testing.assert_array_equal(got, _blur({"img": wide, **zero}))
    assert set(shapes) == {(96, 240)} and len(shapes) == 3  # cores <= 256 - 2 x 48: 400 -> 3 x 144, +96 each


class Profiled(Session):
    """A numpy identity dequantizer with a TensorRT-like profile that refuses any other shape."""

    description = "numpy identity with a profile"

    def __init__(self) -> None:
        u8 = np.dtype(np.uint8)
        super().__init__("profiled", (TensorSpec("gif", u8, ("N", "H", "W", 3)), TensorSpec("palette", u8, ("N", 256, 3))),
                         (TensorSpec("restored", u8, ("N", "H", "W", 3)),), {"stride": "16", "receptive_radius": "0"})
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
