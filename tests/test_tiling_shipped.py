"""Tiles of the shipped networks match whole frames: no seams.

Each tile carries the network's receptive-field margin, read from its ONNX graph
(stages/receptive.py), so `--tile 96` / `--tile 128` restores differ from whole-frame ones by
float rounding only. The strips are wide enough for several tiles with real margins between
them, and short, so each run takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runtime_standins as standins
from trt_gif2video.config import Backend, DitherChoice, OutputFormat
from trt_gif2video.io.gif_decode import read_frames
from trt_gif2video.models import Network, Variant, onnx_path, weights_dir
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions
from trt_gif2video.stages.receptive import receptive_radius, tile_margin

SAMPLE = Path(__file__).resolve().parents[1] / "trt_gif2video" / "samples" / "sample.gif"
SHIPPED = all(onnx_path(n, v).is_file() for n, v in [(Network.DEQUANT, Variant.NODITHER), (Network.INTERP, None)])
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped ONNX models in trt_gif2video/weights/")


def test_receptive_radius_is_read_from_the_architecture():
    # 5-level U-Nets twice (CCDNet-2): every 3x3 conv adds its level's jump; a bound, so > 2 x one net's
    dequant = receptive_radius(onnx_path(Network.DEQUANT, Variant.NODITHER))
    interp = receptive_radius(onnx_path(Network.INTERP))
    assert 100 < dequant < interp < 2000
    assert receptive_radius(onnx_path(Network.DITHER)) == float("inf")  # global pooling: never tiled
    assert receptive_radius(standins.dequant_model()) == 31  # 3x3 blur (1) + the 16-px stride guard (15 + 15)
    assert tile_margin(dequant, 16) % 16 == 0 and tile_margin(dequant, 16) >= dequant


def _strip(width: int, height: int = 32) -> list[np.ndarray]:
    """Two frames of the sample GIF (with motion between them), cut to a strip of `height` rows and
    repeated sideways to `width`: real GIF content, several tiles wide."""
    frames = read_frames(SAMPLE)
    out = []
    for f in (frames[0], frames[6]):
        band = f.rgb[80 : 80 + height]
        out.append(np.ascontiguousarray(np.tile(band, (1, -(-width // band.shape[1]), 1))[:, :width]))
    return out


def _frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")).astype(int) for p in sorted(folder.glob("frame_*.png"))]


@pytest.mark.parametrize("tile, width", [(96, 720), (128, 1344)])
def test_tiled_restore_of_the_shipped_models_matches_whole_frames(tmp_path, tile, width):
    margins = {n: tile_margin(receptive_radius(onnx_path(n, v)), s)
               for n, v, s in [(Network.DEQUANT, Variant.NODITHER, 16), (Network.INTERP, None, 32)]}
    # the strip needs more than one window per network that is meant to be tiled here
    assert width > tile + 2 * margins[Network.DEQUANT]
    if tile == 128:
        assert width > tile + 2 * margins[Network.INTERP]
    gif = standins.write_gif(tmp_path / "strip.gif", _strip(width), [10, 10])
    runs = {}
    for name, t in (("whole", None), ("tiled", tile)):
        opts = RestoreOptions(interp=2, tile=t, dither=DitherChoice.NO, fmt=OutputFormat.PNG_DIR, backend=Backend.ONNXRUNTIME,
                              session=SessionOptions(threads=2, models_dir=weights_dir()))
        restore(gif, tmp_path / name, opts)
        runs[name] = _frames(tmp_path / name)
    assert len(runs["whole"]) == len(runs["tiled"]) == 4  # restored, interpolated, restored, held
    for a, b in zip(runs["whole"], runs["tiled"]):
        assert np.abs(a - b).max() <= 2  # anywhere, frame edges and tile borders included
