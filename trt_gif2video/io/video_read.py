"""Read real footage: a video file (anything FFmpeg decodes: mp4, avi, webm, ...) or a directory of images.

Frames stream out one at a time as HxWx3 uint8 RGB, optionally downscaled so the
longer side is at most `max_size`, optionally cut to [start, start + duration) seconds.
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import BadArgumentError, GifDecodeError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm"})
DEFAULT_DIR_FPS = Fraction(25)
MAX_GRID_FPS = 240


class VideoFrames(NamedTuple):
    frames: Iterator[np.ndarray]  # HxWx3 uint8 RGB, after scaling
    fps: Fraction
    size: tuple[int, int]  # (width, height) of the frames yielded
    count: int | None  # frames expected (an estimate for video files; None when unknown)


def fit_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """(width, height) scaled down so the longer side is <= max_size, aspect kept; never scaled up."""
    if max_size is None or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _natural_key(name: str) -> list:
    # frame2 before frame10
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _check_args(max_size: int | None, start: float, duration: float | None) -> None:
    if max_size is not None and max_size < 1:
        raise BadArgumentError(f"max_size must be >= 1, got {max_size}")
    if start < 0:
        raise BadArgumentError(f"start must be >= 0 seconds, got {start}")
    if duration is not None and duration <= 0:
        raise BadArgumentError(f"duration must be > 0 seconds, got {duration}")


def iter_video_frames(path: str | os.PathLike, max_size: int | None = None, *, start: float = 0.0,
                      duration: float | None = None, dir_fps: Fraction = DEFAULT_DIR_FPS) -> VideoFrames:
    """Open a video file or image directory; errors (missing, not a video, no frames) are raised here, not mid-stream.

    dir_fps: the frame rate given to an image directory (images carry no timing).
    """
    _check_args(max_size, start, duration)
    p = Path(path)
    if p.is_dir():
        return _iter_dir(p, max_size, start, duration, Fraction(dir_fps))
    if not p.is_file():
        raise GifDecodeError(f"{p}: no such file or directory: give a video file or a directory of images")
    return _iter_video(p, max_size, start, duration)


def _cut(fps: Fraction, start: float, duration: float | None) -> tuple[int, int | None]:
    """Frame n is shown at n / fps: the [first, stop) frame range of [start, start + duration) seconds."""
    first = math.ceil(start * fps - 1e-6)
    return first, None if duration is None else math.ceil((start + duration) * fps - 1e-6)


def _iter_dir(p: Path, max_size: int | None, start: float, duration: float | None, fps: Fraction) -> VideoFrames:
    files = sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()),
                   key=lambda f: _natural_key(f.name))
    first, stop = _cut(fps, start, duration)
    files = files[first:stop]
    if not files:
        raise GifDecodeError(f"{p}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in the selected range")
    w0, h0 = _load(files[0]).size
    size = fit_size(w0, h0, max_size)

    def frames() -> Iterator[np.ndarray]:
        for f in files:
            img = _load(f)
            if img.size != (w0, h0):
                raise GifDecodeError(f"{f}: is {img.size[0]}x{img.size[1]}, all images must be {w0}x{h0} like {files[0].name}")
            if img.size != size:
                img = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            yield np.asarray(img, dtype=np.uint8)

    return VideoFrames(frames(), fps, size, len(files))


def _load(f: Path) -> Image.Image:
    try:
        with Image.open(f) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise GifDecodeError(f"{f}: not a readable image: {exc}") from None


def _iter_video(p: Path, max_size: int | None, start: float, duration: float | None) -> VideoFrames:
    import av  # heavy: only when reading video

    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError) as exc:
        # strerror, not str(exc): that repeats the path and adds FFmpeg's errno
        raise GifDecodeError(f"{p}: not a readable video: {exc.strerror or exc}") from None
    if not container.streams.video:
        container.close()
        raise GifDecodeError(f"{p}: has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    # The rate all timestamps fit on (ffprobe's r_frame_rate, what ffmpeg -vsync cfr uses), so a
    # variable-rate file maps onto a grid without losing frames; the average rate if that looks bogus
    # (containers with millisecond ticks report 1000).
    rate = stream.guessed_rate
    if not rate or rate > MAX_GRID_FPS:
        rate = stream.average_rate or stream.base_rate
    if not rate:
        container.close()
        raise GifDecodeError(f"{p}: the video stream has no frame rate")
    fps = Fraction(rate)
    cc = stream.codec_context
    size = fit_size(cc.width, cc.height, max_size)
    if stream.duration:  # frame counts in headers miss held frames of variable-rate files
        total = round(stream.duration * stream.time_base * fps)
    elif container.duration:
        total = round(container.duration / av.time_base * fps)
    else:
        total = stream.frames or None
    count = None
    if total:  # an estimate for the progress bar
        remaining = max(0, total - int(start * fps))
        count = remaining if duration is None else min(remaining, round(duration * fps))
    if start > 0:
        # Seek lands on the keyframe at or before `start` (or nowhere); earlier frames are skipped below.
        container.seek(int(start / stream.time_base), stream=stream, backward=True)
    first, stop = _cut(fps, start, duration)

    def frames() -> Iterator[np.ndarray]:
        # Constant rate out of a variable-rate source (like ffmpeg -vsync cfr): each decoded
        # frame is held (repeated) until the next one's time; late duplicates are dropped.
        held: _Held | None = None
        try:
            for i, frame in enumerate(container.decode(stream)):
                n = round(frame.time * fps) if frame.time is not None else i
                if held is not None:
                    if n <= held.n:
                        continue
                    yield from held.repeat(first, n if stop is None else min(n, stop))
                if stop is not None and n >= stop:
                    return
                held = _Held(n, frame, size)
            if held is not None:
                yield from held.repeat(first, held.n + 1 if stop is None else min(held.n + 1, stop))
        except av.error.FFmpegError as exc:
            raise GifDecodeError(f"{p}: decoding failed: {exc}") from None
        finally:
            container.close()

    return VideoFrames(frames(), fps, size, count)


class _Held:
    """A decoded frame at output index n, converted to RGB only if it is shown."""

    def __init__(self, n: int, frame, size: tuple[int, int]):
        self.n, self._frame, self._size = n, frame, size
        self._rgb: np.ndarray | None = None

    def repeat(self, first: int, upto: int) -> Iterator[np.ndarray]:
        for _ in range(max(self.n, first), upto):
            if self._rgb is None:
                w, h = self._size
                self._rgb = self._frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
            yield self._rgb
