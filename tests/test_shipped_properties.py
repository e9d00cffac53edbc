"""Properties the shipped models must keep whatever their weights (small frames, seconds).

Tolerances, not exact values: the weights may be retrained. Each test checks something a
broken export, a wrong input order or a bad retrain would visibly violate.
"""

from __future__ import annotations

import numpy as np
import pytest

from trt_gif2video.config import Backend, Dither, Quantizer
from trt_gif2video.eval.metrics import psnr
from trt_gif2video.models import Network, Variant, onnx_path
from trt_gif2video.palette import pad_palette
from trt_gif2video.quantize import quantize_rgb
from trt_gif2video.runtime.backends.base import SessionOptions, open_session

SHIPPED = all(onnx_path(n, v).is_file() for n, v in [(Network.DEQUANT, Variant.NODITHER), (Network.DEQUANT, Variant.DITHER),
                                                      (Network.INTERP, None), (Network.DITHER, None)])
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped ONNX models in trt_gif2video/weights/")
OPTS = SessionOptions(threads=2)


def _smooth(phase: float = 0.0, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A smooth 64x96 gradient: what 16-32 colour GIFs band and dequantizers are for; `shift` (x, y)
    moves the whole picture, a motion an interpolator can follow."""
    yy, xx = np.mgrid[0:64, 0:96].astype(np.float32)
    xx, yy = xx + shift[0], yy + shift[1]
    rgb = np.stack([60 + 1.5 * xx + 10 * np.sin(yy / 9 + phase), 40 + 2.0 * yy, 180 - (xx + yy) / 2], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _dequant(variant: Variant, gif: np.ndarray, palette: np.ndarray) -> np.ndarray:
    with open_session(Network.DEQUANT, Backend.ONNXRUNTIME, variant=variant, options=OPTS) as s:
        return s.infer({"gif": gif[None], "palette": pad_palette(palette)[None]})["restored"][0]


@pytest.mark.parametrize("colors", [16, 32])
@pytest.mark.parametrize("dither, variant", [(Dither.NONE, Variant.NODITHER), (Dither.FLOYD_STEINBERG, Variant.DITHER),
                                             (Dither.ORDERED, Variant.DITHER)])
def test_dequantizer_brings_the_gif_closer_to_the_original(colors, dither, variant):
    clean = _smooth()
    gif, palette = quantize_rgb(clean, colors, Quantizer.MEDIAN_CUT, dither)
    restored = _dequant(variant, gif, palette)
    assert restored.shape == gif.shape and restored.dtype == np.uint8
    assert psnr(restored, clean) > psnr(gif, clean) + 0.1  # a restorer, not an identity or worse


def test_dequantizer_keeps_flat_regions_at_the_gif_colour():
    flat = np.full((64, 96, 3), (120, 80, 200), np.uint8)
    palette = np.array([(120, 80, 200), (0, 0, 0), (255, 255, 255)], np.uint8)
    for variant in Variant:
        out = _dequant(variant, flat, palette).astype(int)
        assert np.abs(out - flat).max() <= 6, variant  # no colour shift, no texture invented


@pytest.mark.parametrize("dither, dithered", [(Dither.NONE, False), (Dither.FLOYD_STEINBERG, True), (Dither.ORDERED, True)])
def test_detector_tells_dithered_from_plain_gifs(dither, dithered):
    gif, _ = quantize_rgb(_smooth(), 16, Quantizer.MEDIAN_CUT, dither)
    with open_session(Network.DITHER, Backend.ONNXRUNTIME, options=OPTS) as s:
        p = float(s.infer({"gif": gif[None]})["p_dither"][0])
    assert 0.0 <= p <= 1.0
    assert (p > 0.5) is dithered, p


def test_interpolator_follows_t_and_keeps_a_still_frame():
    # A translation (4, 3) px. (Until 2026-12-02 this was a phase change of the red channel's wave alone,
    # which no flow explains; the retrained interpolator then blended 0.6 grey levels of img1 in at t = 0.02.)
    a, b = _smooth(), _smooth(shift=(4.0, 3.0))
    ga, _ = quantize_rgb(a, 32)
    gb, _ = quantize_rgb(b, 32)

    def run(g0, g1, i0, i1, t):
        with open_session(Network.INTERP, Backend.ONNXRUNTIME, options=OPTS) as s:
            return s.infer({"gif0": g0[None], "gif1": g1[None], "img0": i0[None], "img1": i1[None],
                            "t": np.array([t], np.float32)})["frame_t"][0].astype(int)

    def dist(x, y):
        return float(np.abs(x - y.astype(int)).mean())

    gap = dist(a.astype(int), b)
    near_a, mid, near_b = run(ga, gb, a, b, 0.02), run(ga, gb, a, b, 0.5), run(ga, gb, a, b, 0.98)
    assert dist(near_a, a) < 0.25 * gap and dist(near_b, b) < 0.25 * gap  # t ~ 0 is img0, t ~ 1 is img1
    assert dist(mid, a) < gap and dist(mid, b) < gap  # half way lies between them
    assert dist(mid, _smooth(shift=(2.0, 1.5))) < 0.25 * gap  # and is the half-way translation
    assert np.abs(run(ga, ga, a, a, 0.5) - a).max() <= 2  # nothing moves: the frame itself
