"""Output writers: formats decode back right, timing is exact, writes are atomic, bad paths fail early."""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from trt_gif2video.config import OutputFormat
from trt_gif2video.errors import BadArgumentError, OutputError
from trt_gif2video.io.encode import gif_delay_cs, lzw_compress, open_writer, resolve_format

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed (independent decoder)")
needs_magick = pytest.mark.skipif(shutil.which("identify") is None, reason="ImageMagick not installed")

H, W = 48, 64


def smooth(i: int, h: int = H, w: int = W) -> np.ndarray:
    """A smooth moving gradient: lossy codecs should get it back at high PSNR."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin((x + 2 * i) / 13.0)
    g = 128 + 100 * np.cos((y - i) / 11.0)
    b = 60 + 2 * (x + y) / (h + w) * 120
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def write_all(path, frames, fps=Fraction(25), **kw) -> None:
    with open_writer(path, fps, **kw) as w:
        for f in frames:
            w.write(f)


def decode_av(path) -> tuple[list[np.ndarray], av.video.stream.VideoStream]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        return frames, stream


def leftovers(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("name", ["out.mp4", "out.webm"])
def test_lossy_video_round_trip(tmp_path, name):
    frames = [smooth(i) for i in range(10)]
    write_all(tmp_path / name, frames)
    got, _ = decode_av(tmp_path / name)
    assert len(got) == 10
    assert got[0].shape == (H, W, 3)
    assert min(psnr(g, f) for g, f in zip(got, frames)) > 30
    assert leftovers(tmp_path) == [name]


def test_mp4_odd_size_is_padded_and_rational_fps_kept(tmp_path):
    frames = [smooth(i, 33, 51) for i in range(5)]
    write_all(tmp_path / "odd.mp4", frames, fps=Fraction(100, 7))
    got, stream = decode_av(tmp_path / "odd.mp4")
    assert got[0].shape == (34, 52, 3)  # one replicated row and column, nothing cropped
    assert psnr(got[2][:33, :51], frames[2]) > 30
    assert stream.average_rate == Fraction(100, 7)


def test_png_dir_is_lossless_and_named(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8) for i in range(3)]
    out = tmp_path / "frames"  # no extension: a directory of PNGs
    write_all(out, frames)
    assert sorted(os.listdir(out)) == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    for i, f in enumerate(frames):
        assert np.array_equal(np.asarray(Image.open(out / f"frame_{i:06d}.png")), f)
    # Re-running replaces the previous frames.
    write_all(out, frames[:1])
    assert os.listdir(out) == ["frame_000000.png"]
    assert leftovers(tmp_path) == ["frames"]


def test_png_dir_refuses_a_directory_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="other files"):
        open_writer(tmp_path, 10)


@needs_ffmpeg
def test_apng_exact_frames_and_delay(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8) for i in range(4)]
    write_all(tmp_path / "a.png", frames, fps=Fraction(100, 7), loop=3)
    im = Image.open(tmp_path / "a.png")
    assert im.n_frames == 4 and im.info["loop"] == 3
    for i, f in enumerate(frames):
        im.seek(i)
        assert im.info["duration"] == 70
        assert np.array_equal(np.asarray(im.convert("RGB")), f)
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames",
                            "-of", "csv=p=0", str(tmp_path / "a.png")], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "4"


@needs_magick
def test_gif_output_frames_delays_and_colours(tmp_path):
    frames = [smooth(i) for i in range(6)]
    write_all(tmp_path / "o.gif", frames, fps=15)
    out = subprocess.run(["identify", "-format", "%T %k\n", str(tmp_path / "o.gif")],
                         capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    delays = [int(line.split()[0]) for line in out]
    assert delays == [7, 6, 7, 7, 6, 7]  # 15 fps: rounding carried, 6 frames = 40 cs exactly
    assert all(int(line.split()[1]) <= 256 for line in out)
    im = Image.open(tmp_path / "o.gif")
    assert im.n_frames == 6
    im.seek(3)
    assert psnr(np.asarray(im.convert("RGB")), frames[3]) > 30


def test_gif_delays_sum_to_the_exact_duration():
    fps = Fraction(30000, 1001) / 3
    assert sum(gif_delay_cs(k, fps) for k in range(999)) == round(999 * 100 / fps)


def test_gif_output_rejects_more_than_50_fps(tmp_path):
    with pytest.raises(OutputError, match="fps <= 50"):
        open_writer(tmp_path / "fast.gif", 60)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["x.mp4", "x.webm", "x.png", "x.gif", "xdir"])
def test_exception_mid_write_leaves_nothing(tmp_path, name):
    with pytest.raises(RuntimeError):
        with open_writer(tmp_path / name, 10) as w:
            w.write(smooth(0))
            w.write(smooth(1))
            raise RuntimeError("worker died")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["x.mp4", "x.gif", "xdir"])
def test_a_frame_that_fails_to_encode_leaves_nothing_even_outside_a_with_block(tmp_path, name, monkeypatch):
    w = open_writer(tmp_path / name, 10)
    w.write(smooth(0))

    def broken(rgb):
        raise ValueError("encoder rejected the frame")

    monkeypatch.setattr(w, "_write", broken)
    with pytest.raises(OutputError, match="encoding frame 1 failed: encoder rejected the frame"):
        w.write(smooth(1))
    assert leftovers(tmp_path) == []  # the writer cleaned up itself: no abort() or __exit__ needed


def test_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous")
    w = open_writer(target, 10)
    w.write(smooth(0))
    w.abort()
    assert target.read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["keep.mp4"]


def test_wrong_frame_size_and_empty_close(tmp_path):
    w = open_writer(tmp_path / "s.mp4", 10)
    w.write(smooth(0))
    with pytest.raises(BadArgumentError, match="all frames must be 64x48"):
        w.write(smooth(0, 40, 40))
    w.abort()
    empty = open_writer(tmp_path / "e.webm", 10)
    with pytest.raises(OutputError, match="no frames"):
        empty.close()
    assert leftovers(tmp_path) == []


def test_missing_directory_fails_at_open(tmp_path):
    with pytest.raises(OutputError, match="does not exist") as err:
        open_writer(tmp_path / "nope" / "out.mp4", 10)
    assert str(tmp_path / "nope") in str(err.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="does not exist"):
        open_writer(tmp_path / "file" / "out.gif", 10)
    assert leftovers(tmp_path) == ["file"]


def _unprivileged(fn) -> tuple[int, str]:
    """Run fn() in a forked child that first drops root to nobody (65534): root ignores mode bits.
    A fork, not a new interpreter: the interpreter may live where nobody cannot read it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        status = 1
        try:
            os.close(read)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            message = fn()
            os.write(write, message.encode())
            status = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and POSIX permissions")
@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_read_only_directory_fails_at_open(name):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ro-test-"))  # pytest's tmp_path is 0700 root: nobody could not reach it
    ro = base / "ro"
    try:
        base.chmod(0o755)
        ro.mkdir()
        ro.chmod(0o555)

        def attempt() -> str:
            try:
                open_writer(ro / name, 10)
            except OutputError as exc:
                return str(exc)
            return "UNEXPECTED: opened a writer in a read-only directory"

        code, message = _unprivileged(attempt)
        assert code == 0, message
        assert message.startswith(str(ro)) and "cannot write" in message, message
        assert os.listdir(ro) == []  # not even a temp file
    finally:
        ro.chmod(0o755)
        shutil.rmtree(base)


def test_resolve_format():
    assert resolve_format("a.MP4") is OutputFormat.MP4
    assert resolve_format("a.webm") is OutputFormat.WEBM
    assert resolve_format("a.apng") is OutputFormat.APNG
    assert resolve_format("a.gif") is OutputFormat.GIF
    assert resolve_format("frames") is OutputFormat.PNG_DIR
    assert resolve_format("a.bin", "webm") is OutputFormat.WEBM
    with pytest.raises(OutputError, match="unknown output extension"):
        resolve_format("a.bin")
    with pytest.raises(OutputError, match="unknown output format"):
        resolve_format("a.mp4", "mkv")


def test_bad_fps(tmp_path):
    for bad in (0, -3, "x"):
        with pytest.raises(BadArgumentError, match="fps"):
            open_writer(tmp_path / "a.mp4", bad)


@needs_ffmpeg
def test_lzw_decodes_with_table_resets(tmp_path):
    """Noise fills the 4096-entry table many times; ffmpeg must still decode every index."""
    from trt_gif2video.io.encode import GifBitstream

    rng = np.random.default_rng(0)
    idx = rng.integers(0, 256, (120, 160), dtype=np.uint8)
    pal = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    with open(tmp_path / "n.gif", "wb") as fh:
        gif = GifBitstream(fh, 160, 120, loop=None)
        gif.add_frame(idx, 10, pal)
        gif.finish()
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "n.gif"), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(120, 160, 3), pal[idx])
    assert len(lzw_compress(bytes(1000), 2)) < 60  # runs compress
