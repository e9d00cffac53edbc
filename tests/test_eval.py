"""Evaluation metrics and baselines: checked against independent references."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from trt_gif2video.config import Dither
from trt_gif2video.eval import baselines
from trt_gif2video.eval.harness import EvalConfig, eval_dequant, eval_interp, fit_video_frame, photo_crops, to_markdown
from trt_gif2video.eval.metrics import psnr, ssim

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (apt-get install ffmpeg)")


def _noisy(seed=0, shape=(48, 64, 3), amp=20):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-amp, amp + 1, shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_ssim_match_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    a, b = _noisy()
    assert psnr(a, b) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    ref = skm.structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)


def test_identical_images_are_perfect_and_noise_lowers_scores():
    a, b = _noisy(amp=5)
    _, c = _noisy(amp=40)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, b) > psnr(a, c) and ssim(a, b) > ssim(a, c)


def test_nearest_and_linear_blend():
    g0, g1 = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)
    assert baselines.nearest(g0, g1, 0.5) is g0 and baselines.nearest(g0, g1, 0.75) is g1
    assert baselines.linear_blend(g0, g1, 0.25).max() == 50


def _moving_bar(n=5, size=64):
    frames = []
    for i in range(n):
        f = np.full((size, size, 3), 40, np.uint8)
        f[:, 8 + 6 * i : 24 + 6 * i] = 230
        frames.append(f)
    return frames


@needs_ffmpeg
@pytest.mark.parametrize("factor", [2, 4])
def test_minterpolate_keeps_key_frames_aligned(factor):
    keys = _moving_bar()
    out = baselines.minterpolate(keys, factor)
    assert len(out) == (len(keys) - 1) * factor + 1
    for k, key in enumerate(keys):  # key frames come back where they belong
        assert psnr(out[k * factor], key) > 35
    mid = out[factor // 2]  # between frames 0 and 1 the bar sits half way
    assert np.abs(mid.astype(int) - keys[0]).mean() > 1 and np.abs(mid.astype(int) - keys[1]).mean() > 1


@needs_ffmpeg
def test_ffmpeg_filters_keep_count_and_size():
    frames = _moving_bar(3)
    for vf in (baselines.FFMPEG_DEBAND, baselines.FFMPEG_GRADFUN):
        out = baselines.ffmpeg_filter(frames, vf)
        assert len(out) == 3 and out[0].shape == frames[0].shape


def test_fit_video_frame_and_photo_crops(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert fit_video_frame(rgb).shape == (224, 320, 3)
    p = tmp_path / "p.png"
    Image.fromarray(rgb).save(p)
    crops = photo_crops([p], 64, 3)
    assert len(crops) == 3 and all(c.shape == (64, 64, 3) for c in crops)
    assert not np.array_equal(crops[0], crops[1])


def _gradient(size=64):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return np.stack([x * 255, y * 255, (1 - x) * 200], -1).astype(np.uint8)


class _Oracle:
    """Returns the truth: proves the harness scores what it is given (not a model test)."""

    def __init__(self, truth):
        self.truth = truth

    def dequant(self, gif, palette, dithered):
        return np.stack([self.truth[0]] * len(gif))

    def p_dither(self, gif):
        return np.zeros(len(gif), np.float32)

    def interp(self, gif0, gif1, img0, img1, t):
        return img0


def test_eval_dequant_scores_methods_per_case():
    crops = [_gradient()]
    cfg = EvalConfig(colors=(8,), dithers=(Dither.NONE, Dither.FLOYD_STEINBERG), with_ffmpeg=False)
    res = eval_dequant(crops, _Oracle(crops), cfg)
    assert set(res) == {"8c-none", "8c-fs"}
    assert res["8c-none"]["ours"]["psnr"] == 100.0  # capped: the oracle is exact
    assert res["8c-none"]["gif"]["psnr"] < 40
    assert "8c-none" in to_markdown({"dequant": res})


def test_eval_interp_counts_every_frame_of_each_interval():
    clip = _moving_bar(9)
    cfg = EvalConfig(factors=(2, 4), with_ffmpeg=False)
    res = eval_interp([clip], None, cfg)
    assert res["x2"]["nearest"]["n"] == 8 and res["x4"]["nearest"]["n"] == 8
    # x2: 4 key frames come back exactly (capped at 100 dB); half way, the truth's 16-px bar sits 6 px
    # from each key's bar. Nearest is wrong on 12 columns by 190 (10 in the last interval, where the
    # bar leaves the 64-px frame); the blend is 135 on 24 columns where the truth is 40 or 230 (16 last).
    def mean_db(*wrong_columns_and_error):
        return (4 * 100 + sum(10 * np.log10(255**2 / (c / 64 * e**2)) for c, e in wrong_columns_and_error)) / 8

    assert res["x2"]["nearest"]["psnr"] == pytest.approx(mean_db(*[(12, 190)] * 3, (10, 190)), abs=1e-3)
    assert res["x2"]["linear-blend"]["psnr"] == pytest.approx(mean_db(*[(24, 95)] * 3, (16, 95)), abs=1e-3)
