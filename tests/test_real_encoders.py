"""Real GIF encoders (ffmpeg, ImageMagick, gifski): one tiny frame each, cached; eval's `real` section.

An encoder whose tool is missing is skipped with the reason (gifski: `npm install --prefix
~/.cache/trt-gif2video/tools/gifski gifski`, or set $TRT_GIF2VIDEO_GIFSKI).
"""

from __future__ import annotations

import numpy as np
import pytest

from trt_gif2video.errors import BackendUnavailableError, DataError
from trt_gif2video.eval import encoders
from trt_gif2video.eval.encoders import ENCODERS, Tool, encode_frame, encode_frames, missing_reason
from trt_gif2video.eval.real import eval_real, to_markdown
from trt_gif2video.quantize import nearest_palette_index


def _frame(seed: int = 0, h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x * 255 / w, y * 255 / h, (x + y) * 128 / (h + w) + 60], -1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _require(tool: Tool, cache_dir=None) -> None:
    reason = missing_reason(tool, cache_dir)
    if reason:
        pytest.skip(reason)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    # Own cache for encodes; gifski is still looked up in the real user cache (npm install there).
    real_gifski = encoders.gifski_path()
    if real_gifski:
        monkeypatch.setenv(encoders.GIFSKI_ENV, real_gifski)
    return tmp_path


@pytest.mark.parametrize("enc", ENCODERS, ids=lambda e: e.name)
def test_encoder_makes_a_palette_gif_of_the_frame(enc, cache):
    _require(enc.tool, cache)
    rgb = _frame()
    out = encode_frame(rgb, enc, 8, cache)
    assert out.gif.shape == rgb.shape and out.gif.dtype == np.uint8
    assert 2 <= len(out.palette) <= 256
    if enc.fixed_colors:
        assert len(np.unique(out.gif.reshape(-1, 3), axis=0)) <= 8
    assert (out.palette[nearest_palette_index(out.gif, out.palette)] == out.gif).all()  # only palette colours
    err = np.abs(out.gif.astype(int) - rgb).mean()
    assert 0 < err < 40  # lossy, but the picture


def test_encodes_are_cached_and_batch_equals_single(cache):
    _require(Tool.FFMPEG)
    enc = encoders.BY_NAME["ffmpeg-floyd_steinberg"]
    a, b = _frame(1), _frame(2)
    both = encode_frames([a, b], enc, 8, cache)
    files = sorted((cache / "realgif").rglob("*.npz"))
    assert len(files) == 2
    stamp = [f.stat().st_mtime_ns for f in files]
    again = encode_frame(b, enc, 8, cache)  # from the cache: no new file, same pixels
    assert [f.stat().st_mtime_ns for f in sorted((cache / "realgif").rglob("*.npz"))] == stamp
    assert (again.gif == both[1].gif).all() and (again.palette == both[1].palette).all()
    fresh = encode_frame(b, enc, 8, cache, use_cache=False)  # per-frame palette: same as in the batch
    assert (fresh.gif == both[1].gif).all()


def test_missing_tool_is_reported_not_fatal(cache, monkeypatch):
    monkeypatch.setenv(encoders.GIFSKI_ENV, str(cache / "no-such-gifski"))
    assert "gifski" in missing_reason(Tool.GIFSKI, cache)
    with pytest.raises(BackendUnavailableError, match="gifski"):
        encode_frame(_frame(), encoders.BY_NAME["gifski"], 8, cache)
    res = eval_real([_frame()], None, 8, ("gifski",), with_ffmpeg=False, cache_dir=cache)
    assert "gifski" in res["gifski"]["skipped"]
    assert "skipped" in "\n".join(to_markdown(res))


def test_unknown_encoder_name_is_an_error():
    with pytest.raises(DataError, match="no-such"):
        eval_real([_frame()], None, 8, ("no-such",))


class _Oracle:
    """Knows the truth: ours is exact, and the detector says 'dithered' for everything."""

    def __init__(self, truth):
        self.truth = truth
        self.calls = []

    def dequant(self, gif, palette, dithered):
        self.calls.append(dithered)
        return np.stack([self.truth] * len(gif))

    def p_dither(self, gif):
        return np.ones(len(gif), np.float32)


def test_eval_real_scores_methods_and_uses_the_encoders_dither_flag(cache):
    _require(Tool.FFMPEG)
    truth = _frame(3)
    oracle = _Oracle(truth)
    res = eval_real([truth], oracle, 8, ("ffmpeg-none", "ffmpeg-bayer3"), with_ffmpeg=True, cache_dir=cache)
    none, bayer = res["ffmpeg-none"], res["ffmpeg-bayer3"]
    assert not none["dithered"] and bayer["dithered"]
    assert none["ours"]["psnr"] == 100.0 and none["gif"]["psnr"] < 45
    assert none["gain_ours"] > 0 and "ffmpeg-deband" in none
    assert oracle.calls[0] is False  # plain GIF: the no-dither model; the detector then flips it
    assert "ffmpeg-none" in "\n".join(to_markdown(res))


def test_real_training_pairs_feed_the_patch_pool(cache):
    _require(Tool.FFMPEG)
    _require(Tool.IMAGEMAGICK)
    from trt_gif2video.train.patches import Degradation, PatchPool
    from trt_gif2video.train.real_pairs import encoders_for, real_frames

    assert {e.name for e in encoders_for(False)} == {"ffmpeg-none", "magick-none"}
    sources = [_frame(7, 48, 64), _frame(8, 40, 40)]
    frames = real_frames(sources, False, per_source=2, frame=32, cache_dir=cache, log=lambda m: None)
    assert len(frames) == 2 * 2 * 2 and {f.encoder for f in frames} == {"ffmpeg-none", "magick-none"}
    for f in frames:
        assert f.gif.shape == f.target.shape == (32, 32, 3) and f.palette.shape == (256, 3) and not f.dithered
        assert (f.palette[nearest_palette_index(f.gif, f.palette)] == f.gif).all()
    again = real_frames(sources, False, per_source=2, frame=32, cache_dir=cache, log=lambda m: None)
    assert all((a.gif == b.gif).all() and (a.target == b.target).all() for a, b in zip(frames, again))
    pool = PatchPool(sources, Degradation(), patch=16, size=8, frame=32, real=frames, real_fraction=1.0)
    gifs = {f.gif.tobytes(): f for f in frames}
    for g, t in zip(pool.gif, pool.target):  # every patch is a crop of some real frame, with its clean crop
        assert any(_is_crop(g, f.gif) and _is_crop(t, f.target) for f in gifs.values())


def _is_crop(patch: np.ndarray, image: np.ndarray) -> bool:
    p = patch.shape[0]
    return any((image[y:y + p, x:x + p] == patch).all()
               for y in range(image.shape[0] - p + 1) for x in range(image.shape[1] - p + 1))


def test_project_to_cell_puts_pixels_back_in_their_palette_cell():
    from trt_gif2video.eval.cell import cell_agreement, project_to_cell
    from trt_gif2video.quantize import quantize_rgb

    truth = _frame(4, 32, 32)
    gif, pal = quantize_rgb(truth, 8)
    assert cell_agreement(truth, gif, pal) > 0.99  # median cut maps (nearly) every pixel to its nearest colour
    rng = np.random.default_rng(0)
    noisy = np.clip(truth.astype(int) + rng.integers(-40, 41, truth.shape), 0, 255).astype(np.uint8)
    assert cell_agreement(noisy, gif, pal) < 0.9
    fixed = project_to_cell(noisy, gif, pal)
    assert cell_agreement(fixed, gif, pal) > 0.99
    inside = (pal[nearest_palette_index(noisy, pal)] == gif).all(-1)
    assert (fixed[inside] == noisy[inside]).all()  # pixels already in their cell are untouched
    # projecting onto a convex set that holds the truth never moves a pixel away from the truth
    d0 = np.linalg.norm(noisy.astype(float) - truth, axis=-1)
    d1 = np.linalg.norm(fixed.astype(float) - truth, axis=-1)
    assert (d1 <= d0 + 1.5).all() and d1.mean() < d0.mean()
