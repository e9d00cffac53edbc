"""Transparent GIFs end to end: fill before the networks, alpha after, per output format.

The end-to-end GIF is the one from issue 15: a blue square moving beside a green circle on a
transparent canvas whose background palette entry is green too (so painting transparent
pixels with it hides the circle). It runs through the shipped networks on ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import gifcraft as gc
from trt_gif2video.cli import app
from trt_gif2video.config import Backend, OutputFormat
from trt_gif2video.errors import BadArgumentError
from trt_gif2video.io.encode import open_writer
from trt_gif2video.io.gif_decode import read_frames
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions
from trt_gif2video.stages import alpha as alpha_stage

H, W = 48, 64
GREEN, BLUE = (0, 200, 0), (0, 0, 255)
CLEAR = 3  # transparent palette index


def _circle() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (yy - 24) ** 2 + (xx - 46) ** 2 <= 10**2


def _square(k: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[16:32, 4 + 4 * k : 20 + 4 * k] = True
    return m


def sticker_gif(path: Path, background: int = 0, frames: int = 3) -> Path:
    """Transparent index 3; background entry 0 (green, as the circle) unless told otherwise.
    The decoder keeps the background colour under alpha 0: nobody should see it."""
    palette = np.array([GREEN, BLUE, (255, 0, 255), (0, 0, 0)], np.uint8)
    out = []
    for k in range(frames):
        idx = np.full((H, W), CLEAR, np.uint8)
        idx[_circle()] = 0
        idx[_square(k)] = 1
        out.append(gc.Frame(idx, transparent=CLEAR, disposal=gc.DISPOSE_BACKGROUND, delay_cs=10))
    return gc.write(path, gc.make_gif(W, H, out, global_palette=palette, background=background, loop=0))


def expected_alpha(k: int) -> np.ndarray:
    return ((_circle() | _square(k)) * 255).astype(np.uint8)


# GIF frames 0, 1, 2 at 100 ms each, --interp 2 -> 20 fps, 6 frames: the GIF frame whose alpha
# each output frame takes (t = 0.5 takes the later one, stages.alpha.nearer_alpha).
ALPHA_OF_OUTPUT = [0, 1, 1, 2, 2, 2]


def _near(pixel, colour, tol: int = 40) -> bool:
    return int(np.abs(np.asarray(pixel[:3], int) - np.asarray(colour, int)).max()) <= tol


# --- fill -----------------------------------------------------------------------------------


def test_fill_copies_nearby_opaque_colours_and_keeps_opaque_pixels():
    rgb = np.zeros((9, 20, 3), np.uint8)
    alpha = np.zeros((9, 20), np.uint8)
    rgb[:, :4], alpha[:, :4] = (200, 0, 0), 255  # red on the left
    rgb[:, 16:], alpha[:, 16:] = (0, 0, 200), 255  # blue on the right
    rgb[:, 4:16] = (7, 7, 7)  # what the GIF stored under transparency: must not survive
    out = alpha_stage.fill_transparent(rgb, alpha)
    assert np.array_equal(out[alpha > 0], rgb[alpha > 0])
    assert (out[:, 4] == (200, 0, 0)).all() and (out[:, 15] == (0, 0, 200)).all()
    assert not (out == 7).all(axis=-1).any()


def test_fill_of_a_fully_transparent_or_opaque_frame_is_the_frame():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    assert alpha_stage.fill_transparent(rgb, np.zeros((5, 6), np.uint8)) is rgb
    assert alpha_stage.fill_transparent(rgb, np.full((5, 6), 255, np.uint8)) is rgb


def test_composite_and_background_parsing():
    rgb = np.full((2, 2, 3), 9, np.uint8)
    alpha = np.array([[0, 255], [255, 0]], np.uint8)
    out = alpha_stage.composite(rgb, alpha, (255, 255, 255))
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [9, 9, 9]
    assert alpha_stage.parse_color("black") == (0, 0, 0) and alpha_stage.parse_color("#1e90ff") == (30, 144, 255)
    with pytest.raises(BadArgumentError, match="unknown colour"):
        alpha_stage.parse_color("blurple")


# --- writers keep alpha -----------------------------------------------------------------------


def _rgba_frame() -> np.ndarray:
    f = np.zeros((32, 48, 4), np.uint8)
    f[..., 2] = 255
    f[8:24, 8:24, 3] = 255
    return f


def read_webm_rgba(path: Path) -> list[np.ndarray]:
    """VP9 alpha lives beside the colour; only the libvpx decoder reads it back."""
    import av

    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = av.CodecContext.create("libvpx-vp9", "r")
        ctx.extradata = stream.codec_context.extradata
        for packet in container.demux(stream):
            for frame in ctx.decode(packet):
                frames.append(frame.to_ndarray(format="rgba"))
    return frames


@pytest.mark.parametrize("ext", ["png", "webm", "gif", "dir"])
def test_writers_keep_alpha(ext, tmp_path):
    frame = _rgba_frame()
    path = tmp_path / ("frames" if ext == "dir" else f"a.{ext}")
    with open_writer(path, 10, alpha=True) as w:
        for _ in range(2):
            w.write(frame)
    if ext == "webm":
        got = read_webm_rgba(path)[-1]
    elif ext == "dir":
        got = np.asarray(Image.open(path / "frame_000001.png"))
    else:
        with Image.open(path) as im:
            im.seek(1)
            got = np.asarray(im.convert("RGBA"))
    assert got.shape == (32, 48, 4)
    assert np.array_equal(got[..., 3] > 127, frame[..., 3] > 127)
    assert _near(got[16, 16], (0, 0, 255), 8)


def test_mp4_refuses_alpha(tmp_path):
    with pytest.raises(BadArgumentError, match="cannot store alpha"):
        open_writer(tmp_path / "a.mp4", 10, alpha=True)


# --- the pipeline -------------------------------------------------------------------------------


def _opts(**kw) -> RestoreOptions:
    return RestoreOptions(backend=Backend.ONNXRUNTIME, session=SessionOptions(threads=1), **kw)


def test_decoded_sticker_has_browser_alpha(tmp_path):
    frames = read_frames(sticker_gif(tmp_path / "s.gif"))
    for k, f in enumerate(frames):
        assert np.array_equal(f.alpha, expected_alpha(k))


def test_transparent_pixels_do_not_feed_the_networks(tmp_path):
    # Two GIFs differing only in the colour under transparency (background entry green or
    # magenta): the restored opaque pixels must be identical (the fill ignores that colour),
    # with the real networks. Without the fill they differ near the shapes' edges.
    outs = []
    for name, background in (("g", 0), ("m", 2)):
        gif = sticker_gif(tmp_path / f"{name}.gif", background=background, frames=2)
        restore(gif, tmp_path / name, _opts(interp=1, fmt=OutputFormat.PNG_DIR))
        outs.append([np.asarray(Image.open(p)) for p in sorted((tmp_path / name).glob("frame_*.png"))])
    for a, b in zip(*outs):
        opaque = a[..., 3] > 0
        assert np.array_equal(a[opaque], b[opaque])


def test_opaque_gifs_take_the_opaque_path(tmp_path):
    # No transparent pixel anywhere (the transparent index only marks unchanged pixels): RGB out.
    first = np.random.default_rng(3).integers(0, 3, (H, W), dtype=np.uint8)
    second = first.copy()
    second[:8, :8] = (first[:8, :8] + 1) % 3
    second[second == first] = CLEAR
    palette = np.array([GREEN, BLUE, (255, 0, 255), (0, 0, 0)], np.uint8)
    path = gc.write(tmp_path / "o.gif", gc.make_gif(W, H, [gc.Frame(first), gc.Frame(second, transparent=CLEAR)],
                                                   global_palette=palette))
    restore(path, tmp_path / "o.png", _opts(interp=1))
    with Image.open(tmp_path / "o.png") as im:
        assert im.mode == "RGB"


def _cli(*args: str):
    result = CliRunner().invoke(app, ["restore", *args, "--backend", "onnxruntime", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def sticker(tmp_path_factory) -> Path:
    return sticker_gif(tmp_path_factory.mktemp("sticker") / "sticker.gif")


def _check_rgba_frames(frames: list[np.ndarray], exact: bool) -> None:
    assert len(frames) == len(ALPHA_OF_OUTPUT)
    for frame, k in zip(frames, ALPHA_OF_OUTPUT):
        want = expected_alpha(k) > 127
        got = frame[..., 3] > 127
        if exact:
            assert np.array_equal(got, want)
        else:  # lossy VP9 alpha: edges may move a pixel
            assert (got == want).mean() > 0.97
        assert _near(frame[24, 46], GREEN), f"circle lost: {frame[24, 46]}"
        assert _near(frame[24, 8 + 4 * k], BLUE), f"square lost: {frame[24, 8 + 4 * k]}"


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_end_to_end_apng_and_gif_keep_circle_and_transparency(ext, sticker, tmp_path):
    _cli(str(sticker), "-o", str(tmp_path / f"out.{ext}"))
    with Image.open(tmp_path / f"out.{ext}") as im:
        assert im.mode == "RGBA" if ext == "png" else "transparency" in im.info
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGBA")))
    _check_rgba_frames(frames, exact=True)


def test_end_to_end_png_frames_keep_alpha(sticker, tmp_path):
    _cli(str(sticker), "-o", str(tmp_path / "frames"), "--format", "png")
    frames = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "frames").glob("frame_*.png"))]
    _check_rgba_frames(frames, exact=True)


def test_end_to_end_webm_keeps_alpha(sticker, tmp_path):
    _cli(str(sticker), "-o", str(tmp_path / "out.webm"))
    _check_rgba_frames(read_webm_rgba(tmp_path / "out.webm"), exact=False)


@pytest.mark.parametrize("background, colour", [(None, (255, 255, 255)), ("black", (0, 0, 0)), ("#1e90ff", (30, 144, 255))])
def test_end_to_end_mp4_composites_onto_background(background, colour, sticker, tmp_path):
    import av

    _cli(str(sticker), "-o", str(tmp_path / "out.mp4"), *(["--background", background] if background else []))
    with av.open(str(tmp_path / "out.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(ALPHA_OF_OUTPUT)
    for frame, k in zip(frames, ALPHA_OF_OUTPUT):
        assert _near(frame[4, 30], colour, 12), f"transparent area shows {frame[4, 30]}, not the background"
        assert _near(frame[24, 46], GREEN) and _near(frame[24, 8 + 4 * k], BLUE)


def test_bad_background_is_one_line_error(sticker, tmp_path):
    result = CliRunner().invoke(app, ["restore", str(sticker), "-o", str(tmp_path / "x.mp4"), "--background", "blurple"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "blurple" in lines[0]
    assert not (tmp_path / "x.mp4").exists()


def test_held_frames_keep_alpha(tmp_path):
    # Two identical transparent GIF frames: the interpolator holds the first (no network call),
    # and every output frame must still carry the GIF's transparency.
    palette = np.array([GREEN, BLUE, (255, 0, 255), (0, 0, 0)], np.uint8)
    idx = np.full((H, W), CLEAR, np.uint8)
    idx[_circle()] = 0
    frames = [gc.Frame(idx.copy(), transparent=CLEAR, delay_cs=10) for _ in range(2)]
    gif = gc.write(tmp_path / "still.gif", gc.make_gif(W, H, frames, global_palette=palette, loop=0))
    restore(gif, tmp_path / "still", _opts(interp=2, fmt=OutputFormat.PNG_DIR))
    outs = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "still").glob("frame_*.png"))]
    assert len(outs) == 4
    want = _circle() * 255
    for out in outs:
        assert out.shape[-1] == 4 and np.array_equal(out[..., 3], want)


def test_frames_differing_only_in_alpha_are_not_held():
    from trt_gif2video.clip import GifFrame
    from trt_gif2video.stages.interpolate import _same_picture

    rgb = np.zeros((4, 4, 3), np.uint8)
    pal = np.zeros((2, 3), np.uint8)
    opaque = np.full((4, 4), 255, np.uint8)
    holed = opaque.copy()
    holed[0, 0] = 0
    a, b = GifFrame(0, rgb, pal, 0, 100, 10, opaque), GifFrame(1, rgb.copy(), pal, 100, 100, 10, holed)
    assert not _same_picture(a, b)
    assert _same_picture(a, GifFrame(1, rgb.copy(), pal, 100, 100, 10, opaque.copy()))
    assert not _same_picture(GifFrame(0, rgb, pal, 0, 100, 10), b)
    assert _same_picture(GifFrame(0, rgb, pal, 0, 100, 10), GifFrame(1, rgb, pal, 100, 100, 10))
