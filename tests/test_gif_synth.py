"""GIF synthesis: sampling and delays, exact palettes/indices in real GIF89a files, dithering, palette modes."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from trt_gif2video.cli import app
from trt_gif2video.config import Dither, Quantizer
from trt_gif2video.errors import BadArgumentError, GifDecodeError, OutputError
from trt_gif2video.io.encode import open_writer
from trt_gif2video.io.gif_synth import (GifSpec, PaletteMode, make_gif, output_fps, sample_frames, synthesize,
                                        write_gif)
from trt_gif2video.io.video_read import iter_video_frames

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed (independent decoder)")
needs_magick = pytest.mark.skipif(shutil.which("identify") is None, reason="ImageMagick not installed")

H, W = 40, 56


def scene(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Smooth colour gradients that move: many colours, so quantization bites."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 120 * np.sin((x + 3 * i) / 9.0)
    g = 255 * y / (h - 1)
    b = 128 + 120 * np.cos((x - y + 2 * i) / 15.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def identify(path) -> list[tuple[int, int]]:
    """(delay cs, colours) per frame, as ImageMagick reads them."""
    out = subprocess.run(["identify", "-format", "%T %k\n", str(path)], capture_output=True, text=True, check=True)
    return [tuple(map(int, line.split())) for line in out.stdout.splitlines()]


def ffprobe_frames(path) -> list[tuple[float, float]]:
    """(pts, duration) in seconds per frame; ffprobe >= 6 renamed pkt_duration_time to duration_time."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "frame=pts_time,pkt_duration_time,duration_time",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    frames = json.loads(out.stdout)["frames"]
    return [(float(f["pts_time"]), float(f.get("duration_time", f.get("pkt_duration_time")))) for f in frames]


def decoded_frames(path) -> list[np.ndarray]:
    im = Image.open(path)
    frames = []
    for k in range(im.n_frames):
        im.seek(k)
        frames.append(np.asarray(im.convert("RGB")))
    return frames


# --- sampling -----------------------------------------------------------------------------


def delays_for(n: int, src, **spec) -> list[int]:
    return [d for _, d in sample_frames((np.zeros((1, 1, 3), np.uint8) for _ in range(n)), src, GifSpec(**spec))]


def test_stride_delays_follow_the_sampling():
    assert delays_for(30, 30, stride=3) == [10] * 10


def test_target_fps_carries_the_rounding():
    d = delays_for(30, 30, fps=15)
    assert d[:6] == [7, 6, 7, 7, 6, 7] and len(d) == 15 and sum(d) == 100
    ntsc = delays_for(300, Fraction(30000, 1001), fps=10)  # 10.01 s of NTSC video
    assert len(ntsc) == 101 and set(ntsc) == {10} and abs(sum(ntsc) - 1001) <= 10


def test_sampling_picks_the_frame_on_screen():
    frames = [np.full((1, 1, 3), i, np.uint8) for i in range(10)]
    kept = [int(f[0, 0, 0]) for f, _ in sample_frames(frames, 25, GifSpec(fps=10))]
    assert kept == [0, 2, 5, 7]  # shown at 0, 0.1, 0.2, 0.3 s


def test_fps_is_capped_and_checked():
    assert output_fps(12, GifSpec(fps=30)) == 12
    # No --fps / --stride: a too-fast source keeps every n-th frame for the smallest legal n.
    assert output_fps(60, GifSpec()) == 30 and output_fps(100, GifSpec()) == 50 and output_fps(144, GifSpec()) == 48
    assert output_fps(50, GifSpec()) == 50
    with pytest.raises(BadArgumentError, match=r"--fps 60 is above the 50 fps"):
        output_fps(100, GifSpec(fps=60))
    with pytest.raises(BadArgumentError, match=r"--stride 1 leaves 100 fps.*use --stride 2"):
        output_fps(100, GifSpec(stride=1))
    with pytest.raises(BadArgumentError, match="not both"):
        GifSpec(fps=10, stride=2)
    with pytest.raises(BadArgumentError, match="2..256"):
        GifSpec(colors=300)


# --- written files ------------------------------------------------------------------------


@pytest.mark.parametrize("quantizer", list(Quantizer))
@pytest.mark.parametrize("dither", list(Dither))
@needs_magick
def test_written_gif_has_exactly_our_palettes_and_indices(tmp_path, quantizer, dither):
    frames = [scene(i) for i in range(3)]
    path = tmp_path / "q.gif"
    indexed = write_gif(path, frames, [4, 6, 9], colors=16, quantizer=quantizer, dither=dither)
    assert all(len(pal) <= 16 for _, pal in indexed)
    for (idx, pal), got in zip(indexed, decoded_frames(path)):
        assert np.array_equal(got, pal[idx])
    assert identify(path) == [(d, k) for d, k in zip([4, 6, 9], [len(np.unique(p[i].reshape(-1, 3), axis=0)) for i, p in indexed])]


@needs_ffmpeg
@needs_magick
def test_gif_opens_in_ffprobe_and_imagemagick_with_our_timing(tmp_path):
    frames = [scene(i) for i in range(12)]
    path = tmp_path / "t.gif"
    kept = list(sample_frames(frames, 30, GifSpec(fps=15)))
    write_gif(path, [f for f, _ in kept], [d for _, d in kept], colors=8)
    assert [k <= 8 for _, k in identify(path)] == [True] * 6
    assert [d for d, _ in identify(path)] == [7, 6, 7, 7, 6, 7]
    pts, durations = zip(*ffprobe_frames(path))
    assert durations == pytest.approx([0.07, 0.06, 0.07, 0.07, 0.06, 0.07])
    assert pts == pytest.approx([0, 0.07, 0.13, 0.20, 0.27, 0.33])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(6, H, W, 3), np.stack(decoded_frames(path)))


def test_loop_count(tmp_path):
    frames = [scene(0), scene(1)]
    write_gif(tmp_path / "l.gif", frames, [10, 10], loop=3)
    write_gif(tmp_path / "once.gif", frames, [10, 10], loop=None)
    assert Image.open(tmp_path / "l.gif").info["loop"] == 3
    assert "loop" not in Image.open(tmp_path / "once.gif").info


def test_global_vs_local_palette(tmp_path):
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)
    blue = red[..., ::-1].copy()
    frames = [red, blue]
    local = write_gif(tmp_path / "local.gif", frames, [10, 10], colors=8)
    shared = write_gif(tmp_path / "global.gif", frames, [10, 10], colors=8, palette_mode=PaletteMode.GLOBAL)
    # Local: each frame gets its own 8 shades; global: 8 colours shared by both frames.
    assert not np.array_equal(local[0][1], local[1][1])
    assert np.array_equal(shared[0][1], shared[1][1]) and len(shared[0][1]) <= 8
    all_colours = np.unique(np.concatenate([p[i].reshape(-1, 3) for i, p in shared]), axis=0)
    assert len(all_colours) <= 8
    err_local = np.mean([np.abs(p[i].astype(int) - f).mean() for (i, p), f in zip(local, frames)])
    err_global = np.mean([np.abs(p[i].astype(int) - f).mean() for (i, p), f in zip(shared, frames)])
    assert err_local < err_global
    # The file says so: global colour table flag in the logical screen descriptor, and no local tables.
    assert (tmp_path / "global.gif").read_bytes()[10] & 0x80
    assert not (tmp_path / "local.gif").read_bytes()[10] & 0x80


def test_web_quantizer_respects_colours():
    out = synthesize([scene(0)], GifSpec(colors=16, quantizer=Quantizer.WEB))
    assert len(out[0][1]) == 16


@pytest.mark.parametrize("dither", [Dither.FLOYD_STEINBERG, Dither.ORDERED])
def test_dithering_trades_noise_for_local_average(dither):
    """Dither keeps the local average colour closer to the source and adds high-frequency texture."""
    grad = np.repeat(np.linspace(0, 255, 128, dtype=np.float32)[None, :], 64, 0)
    frame = np.stack([grad, grad * 0.6 + 40, 255 - grad], -1).astype(np.uint8)
    (plain, _), = synthesize([frame], GifSpec(colors=4))
    (dithered, _), = synthesize([frame], GifSpec(colors=4, dither=dither))

    def blur(img):  # 8x8 box means
        return img.reshape(8, 8, 16, 8, 3).astype(np.float64).mean((1, 3))

    def changes(img):  # fraction of horizontal neighbours that differ
        return np.any(img[:, 1:] != img[:, :-1], -1).mean()

    err_plain, err_dithered = (np.abs(blur(img) - blur(frame)).mean() for img in (plain, dithered))
    assert err_dithered < 0.8 * err_plain, (err_dithered, err_plain)
    assert changes(dithered) > 5 * changes(plain)


def test_synthesize_gives_frames_a_viewer_shows():
    frames = [scene(i) for i in range(4)]
    out = synthesize(frames, GifSpec(colors=32, palette_mode=PaletteMode.GLOBAL))
    assert len(out) == 4
    for gif_rgb, pal in out:
        assert gif_rgb.shape == (H, W, 3) and gif_rgb.dtype == np.uint8 and len(pal) <= 32
        assert np.isin(gif_rgb.reshape(-1, 3).view("V3"), pal.view("V3")).all()
    assert all(np.array_equal(out[0][1], p) for _, p in out)


# --- from video ---------------------------------------------------------------------------


@pytest.fixture
def clip(tmp_path):
    """30 frames of 30 fps video."""
    path = tmp_path / "clip.mp4"
    with open_writer(path, 30) as w:
        for i in range(30):
            w.write(scene(i, 48, 64))
    return path


@needs_magick
def test_make_gif_from_video(clip, tmp_path):
    out = tmp_path / "c.gif"
    summary = make_gif(clip, out, GifSpec(colors=16, fps=Fraction(10)), max_size=32)
    assert (summary.frames, summary.width, summary.height, summary.duration_cs) == (10, 32, 24, 100)
    assert identify(out) == [(10, k) for _, k in identify(out)] and all(k <= 16 for _, k in identify(out))


@needs_magick
def test_make_gif_cut_and_cli(clip, tmp_path):
    out = tmp_path / "cli.gif"
    result = CliRunner().invoke(app, ["make-gif", str(clip), "-o", str(out), "--colors", "8", "--stride", "3",
                                      "--global-palette", "--start", "0.5", "--duration", "0.5", "--dither", "fs"])
    assert result.exit_code == 0, result.output
    frames = identify(out)
    assert len(frames) == 5 and all(d == 10 and k <= 8 for d, k in frames)
    assert out.read_bytes()[10] & 0x80  # global colour table


def test_variable_rate_video_is_held_on_a_constant_grid(tmp_path):
    """Frames at 0, 1, 2, 6, 7, 8 / 30 s come out at 30 fps with frame 2 held over the gap."""
    import av

    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        for i, pts in enumerate([0, 1, 2, 6, 7, 8]):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, np.uint8), format="rgb24")
            f.pts, f.time_base = pts, Fraction(1, 30)
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    video = iter_video_frames(path)
    levels = [round(int(f[16, 16, 0]) / 40) for f in video.frames]
    assert video.fps == 30 and video.count == 9
    assert levels == [0, 1, 2, 2, 2, 2, 3, 4, 5]
    cut = iter_video_frames(path, start=0.1, duration=0.1)
    assert [round(int(f[16, 16, 0]) / 40) for f in cut.frames] == [2, 2, 2]


def test_make_gif_from_image_directory(tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    for i in (1, 2, 10):  # natural order: 1, 2, 10
        Image.fromarray(scene(i)).save(src / f"f{i}.png")
    video = iter_video_frames(src, dir_fps=Fraction(20))
    assert video.fps == 20 and video.count == 3
    assert np.array_equal(list(video.frames)[2], scene(10))
    summary = make_gif(src, tmp_path / "d.gif", GifSpec(colors=8), dir_fps=Fraction(20))
    assert summary.frames == 3 and summary.duration_cs == 15


def test_bad_inputs_and_outputs(tmp_path, clip):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(GifDecodeError, match="bad.mp4"):
        iter_video_frames(bad)
    with pytest.raises(GifDecodeError, match="no such file"):
        iter_video_frames(tmp_path / "missing.avi")
    with pytest.raises(OutputError, match="does not exist"):
        make_gif(clip, tmp_path / "no" / "x.gif")
    with pytest.raises(OutputError, match=r"\.gif"):
        make_gif(clip, tmp_path / "x.mp4")
    result = CliRunner().invoke(app, ["make-gif", str(bad), "-o", str(tmp_path / "y.gif")])
    assert result.exit_code == 2 and "bad.mp4" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4", "clip.mp4"]


def test_bundled_sample_is_a_32_colour_10_fps_gif():
    from pathlib import Path

    import trt_gif2video

    path = Path(trt_gif2video.__file__).parent / "samples" / "sample.gif"
    assert path.stat().st_size <= 300_000
    im = Image.open(path)
    assert im.n_frames == 24 and im.size == (256, 192) and im.info["loop"] == 0
    for k in range(im.n_frames):
        im.seek(k)
        assert im.info["duration"] == 100
        assert len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) <= 32
