"""The restore flow checked pixel for pixel and in the written files, on the ONNX stand-ins.

The stand-ins (runtime_standins) use every input like the shipped graphs, so these tests see
stage bugs the backends would share: a frame restored with another frame's palette, GIF and
restored frames swapped, the wrong t, the dither threshold moved, the --compare panel showing
the wrong frame, timestamps shifted in the MP4/WebM file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runtime_standins as standins
from trt_gif2video.config import Backend, DitherChoice, OutputFormat
from trt_gif2video.io.gif_decode import read_frames
from trt_gif2video.models import Network, Variant
from trt_gif2video import pipeline
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions, open_session
from trt_gif2video.stages.dequantize import DequantizeConfig, Dequantizer, detect_dither

H, W = 36, 52  # not multiples of 16 or 32: the runtime pads and crops
DELAYS_CS = [10, 10, 20, 10, 10]  # frames at 0, 100, 200, 400, 500 ms; the GIF lasts 600 ms
# interp 2 at the median delay (100 ms) = 20 fps: (GIF frame shown, next GIF frame, t) per output frame
SCHEDULE = [(0, None, 0.0), (0, 1, 0.5), (1, None, 0.0), (1, 2, 0.5), (2, None, 0.0), (2, 3, 0.25),
            (2, 3, 0.5), (2, 3, 0.75), (3, None, 0.0), (3, 4, 0.5), (4, None, 0.0), (4, None, 0.0)]

needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"), p_dither=0.0)


def _opts(models: Path, **kw) -> RestoreOptions:
    return RestoreOptions(backend=Backend.ONNXRUNTIME, session=SessionOptions(threads=1, models_dir=models), **kw)


def _own_palette_frames(n: int, seed: int = 3) -> list[np.ndarray]:
    """Frames of 6 colours each, every frame from its own far-apart colour set: a frame snapped to
    another frame's palette changes colour everywhere."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        colours = (rng.integers(0, 40, (6, 3)) + 40 * i).astype(np.uint8)  # frame i: levels 40i .. 40i + 39
        blocks = rng.integers(0, 6, (H // 4 + 1, W // 4 + 1))
        frames.append(colours[np.kron(blocks, np.ones((4, 4), int))[:H, :W]])
    return frames


@pytest.fixture(scope="module")
def gif(tmp_path_factory) -> Path:
    return standins.write_gif(tmp_path_factory.mktemp("gif") / "pal.gif", _own_palette_frames(5), DELAYS_CS)


def _png_frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("frame_*.png"))]


def _close(got: np.ndarray, exact: np.ndarray) -> None:
    """Every pixel within half a grey level of the stand-in's exact (unrounded) value."""
    err = np.abs(got.astype(np.float64) - exact)
    assert got.shape == exact.shape and err.max() <= 0.5 + 1e-3, (err.max(), np.unravel_index(err.argmax(), err.shape))


def _check_against_reference(gif: Path, got: list[np.ndarray], offset: float) -> None:
    frames = read_frames(gif)
    assert len(got) == len(SCHEDULE)
    restored = {}
    for (shown, nxt, _), g in zip(SCHEDULE, got):
        if nxt is None:
            _close(g, standins.ref_dequant(frames[shown].rgb, frames[shown].palette, offset))
            restored[shown] = g
    assert sorted(restored) == list(range(len(frames)))
    for (shown, nxt, t), g in zip(SCHEDULE, got):
        if nxt is not None:
            _close(g, standins.ref_interp(frames[shown].rgb, frames[nxt].rgb, restored[shown], restored[nxt], t))


@pytest.mark.parametrize("dither, offset", [(DitherChoice.NO, 0.0), (DitherChoice.YES, standins.DITHER_OFFSET)])
def test_restore_matches_the_reference_pixel_for_pixel(models, gif, tmp_path, dither, offset):
    # batch 4 over 5 frames: one batch mixes four local palettes, the next holds the fifth
    result = restore(gif, tmp_path / "out", _opts(models, interp=2, dither=dither, batch=4, fmt=OutputFormat.PNG_DIR,
                                                  compare=tmp_path / "cmp"))
    assert result.frames_written == len(SCHEDULE) and result.fps == 20 and result.interpolator_calls == 4
    got = _png_frames(tmp_path / "out")
    _check_against_reference(gif, got, offset)
    # --compare: the GIF frame a viewer sees at that time on the left, the restored frame on the right
    # (a label strip above and a divider between the halves, where the layout has them)
    header, divider = getattr(pipeline, "COMPARE_HEADER", 0), getattr(pipeline, "COMPARE_DIVIDER", 0)
    gif_frames = read_frames(gif)
    sbs = _png_frames(tmp_path / "cmp")
    assert len(sbs) == len(SCHEDULE)
    for (shown, _, _), panel, restored in zip(SCHEDULE, sbs, got):
        assert panel.shape == (H + header, 2 * W + divider, 3)
        np.testing.assert_array_equal(panel[header:, :W], gif_frames[shown].rgb)
        np.testing.assert_array_equal(panel[header:, W + divider :], restored)


def test_each_frame_of_a_batch_gets_its_own_palette(models, gif):
    frames = read_frames(gif)
    assert len({f.palette.tobytes() for f in frames}) == len(frames)  # five different local palettes
    opener = lambda network, variant: open_session(network, Backend.ONNXRUNTIME, variant=variant,  # noqa: E731
                                                   options=SessionOptions(threads=1, models_dir=models))
    out = list(Dequantizer(opener, DequantizeConfig(batch=5, dither=DitherChoice.NO))(iter(frames)))
    for frame, restored in out:
        _close(restored, standins.ref_dequant(frame.rgb, frame.palette))
        # away from the blur's zero border, the colours are the frame's own palette's (blurred)
        assert abs(restored[2:-2, 2:-2].astype(int) - frame.rgb[2:-2, 2:-2].astype(int)).mean() < 20


def _detector_choice(models: Path, frames: list[np.ndarray]) -> tuple[Variant, float]:
    from trt_gif2video.clip import GifFrame

    gif_frames = [GifFrame(i, f, np.zeros((2, 3), np.uint8), 100 * i, 100, 10) for i, f in enumerate(frames)]
    with open_session(Network.DITHER, Backend.ONNXRUNTIME, options=SessionOptions(threads=1, models_dir=models)) as s:
        return detect_dither(s, gif_frames, DequantizeConfig())


@pytest.mark.parametrize("steps, variant", [
    ((16, 16, 16, 15), Variant.NODITHER),  # mean p = 15.75 / 32 = 0.492: just below 0.5
    ((16, 16, 16, 17), Variant.DITHER),  # mean p = 16.25 / 32 = 0.508: just above 0.5
    ((2, 2, 2, 2), Variant.NODITHER),  # 0.0625: far below
    ((12, 12, 12, 12), Variant.NODITHER),  # 0.375: between 0.25 and 0.5, still plain
])
def test_dither_decision_on_either_side_of_the_threshold(models, steps, variant):
    frames = [standins.striped(64, 64, 100, s) for s in steps]
    p_expected = standins.ref_p_dither(frames, 0.0)
    chosen, p = _detector_choice(models, frames)
    assert p == pytest.approx(p_expected, abs=1e-5)
    assert chosen is variant
    assert DequantizeConfig().threshold == 0.5  # the documented default the cases above straddle


def test_restore_with_auto_dither_follows_the_detector(models, tmp_path):
    near = [standins.striped(32, 48, 80 + 20 * i, s) for i, s in enumerate((16, 17, 17, 16))]  # mean p 0.516
    src = standins.write_gif(tmp_path / "d.gif", near, [10] * 4)
    result = restore(src, tmp_path / "o", _opts(models, interp=1, fmt=OutputFormat.PNG_DIR))
    assert result.variant is Variant.DITHER and result.p_dither == pytest.approx(16.5 / 32, abs=1e-5)
    first = read_frames(src)[0]
    _close(_png_frames(tmp_path / "o")[0], standins.ref_dequant(first.rgb, first.palette, standins.DITHER_OFFSET))


def _ffprobe_frames(path: Path) -> list[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=pts_time,duration_time", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["frames"]


@needs_ffprobe
@pytest.mark.parametrize("name", ["out.mp4", "out.webm"])
@pytest.mark.parametrize("interp", [1, 2])
def test_written_video_timestamps_follow_the_gif(models, gif, tmp_path, name, interp):
    result = restore(gif, tmp_path / name, _opts(models, interp=interp, dither=DitherChoice.NO))
    fps = Fraction(10 * interp)  # the median delay is 100 ms
    assert result.fps == fps
    frames = _ffprobe_frames(tmp_path / name)
    n = 6 * interp  # 600 ms of GIF at 10 x interp fps
    assert len(frames) == result.frames_written == n
    pts = [float(f["pts_time"]) for f in frames]
    assert pts[0] == 0.0  # starts at zero
    assert pts == pytest.approx([k / float(fps) for k in range(n)], abs=1e-3)  # steps by 1 / fps
    end = pts[-1] + float(frames[-1].get("duration_time", 1 / float(fps)))
    assert end == pytest.approx(0.6, abs=1e-3)  # ends at the GIF's duration
