"""Make GIFs from video the way GIF makers do: sample frames, quantize colours, dither, write GIF89a.

Used three ways: `synthesize` (training pairs, in memory), `write_gif` (tests, a file
from frames) and `make_gif` (the `make-gif` command, streaming from a video).
The file holds exactly the palettes and indices computed here (encode.GifBitstream).
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from ..config import Dither, Quantizer
from ..errors import BadArgumentError, OutputError
from ..quantize import MAX_COLORS, apply_palette, make_palette, quantize
from .encode import MAX_GIF_FPS, MIN_GIF_DELAY_CS, AtomicTarget, GifBitstream, as_fps, gif_delay_cs
from .video_read import DEFAULT_DIR_FPS, iter_video_frames


class PaletteMode(str, enum.Enum):
    LOCAL = "local"  # a palette per frame (local colour tables), as GIF2Video's training GIFs
    GLOBAL = "global"  # one palette for the clip, computed on a sample of frames


@dataclass(frozen=True)
class GifSpec:
    """How a GIF is made. Give at most one of fps / stride (neither: keep every frame)."""

    colors: int = 32
    quantizer: Quantizer = Quantizer.MEDIAN_CUT
    dither: Dither = Dither.NONE
    palette_mode: PaletteMode = PaletteMode.LOCAL
    fps: Fraction | None = None  # target frame rate (never above the source's)
    stride: int | None = None  # keep every stride-th frame
    loop: int | None = 0  # 0 = forever, N = N extra plays, None = play once (no NETSCAPE2.0 block)
    palette_sample: int = 16  # frames (evenly spaced) a global palette is computed on

    def __post_init__(self) -> None:
        for name, enum_type in (("quantizer", Quantizer), ("dither", Dither), ("palette_mode", PaletteMode)):
            try:
                object.__setattr__(self, name, enum_type(getattr(self, name)))
            except ValueError:
                raise BadArgumentError(f"GifSpec: unknown {name} {getattr(self, name)!r}") from None
        if not 2 <= self.colors <= MAX_COLORS:
            raise BadArgumentError(f"GifSpec: colors must be in 2..256, got {self.colors}")
        if self.fps is not None and self.stride is not None:
            raise BadArgumentError("GifSpec: give fps or stride, not both")
        if self.fps is not None:
            object.__setattr__(self, "fps", as_fps(self.fps))
        if self.stride is not None and self.stride < 1:
            raise BadArgumentError(f"GifSpec: stride must be >= 1, got {self.stride}")
        if self.loop is not None and not 0 <= self.loop <= 0xFFFF:
            raise BadArgumentError(f"GifSpec: loop must be in 0..65535 or None, got {self.loop}")
        if self.palette_sample < 1:
            raise BadArgumentError(f"GifSpec: palette_sample must be >= 1, got {self.palette_sample}")


# --- frame sampling -----------------------------------------------------------------------


def output_fps(src_fps: Fraction | float, spec: GifSpec) -> Fraction:
    """The GIF's frame rate: src/stride, or the target fps capped at the source's (no frame is invented).

    With neither, the source's rate if a GIF can play it (<= 50 fps), else every n-th frame
    for the smallest n that fits (100 fps -> 50, 60 fps -> 30): evenly spaced frames, no judder.
    """
    src = as_fps(src_fps)
    if spec.stride is not None:
        out = src / spec.stride
        if out > MAX_GIF_FPS:
            raise BadArgumentError(f"--stride {spec.stride} leaves {float(out):.3g} fps of the source's {float(src):.3g}, "
                                   f"above the {MAX_GIF_FPS} fps a GIF can play (viewers play 1 cs delays at 10 fps): "
                                   f"use --stride {math.ceil(src / MAX_GIF_FPS)} or more")
    elif spec.fps is not None:
        out = min(spec.fps, src)
        if out > MAX_GIF_FPS:
            raise BadArgumentError(f"--fps {float(spec.fps):g} is above the {MAX_GIF_FPS} fps a GIF can play "
                                   "(viewers play 1 cs delays at 10 fps): use --fps 50 or less")
    else:
        out = src / math.ceil(src / MAX_GIF_FPS)
    return out


def sample_frames(frames: Iterable[np.ndarray], src_fps: Fraction | float,
                  spec: GifSpec) -> Iterator[tuple[np.ndarray, int]]:
    """(frame, delay_cs) for the frames a GIF keeps, streaming.

    Output frame k is shown at k / out_fps and is the source frame on screen then
    (index floor(k * src / out)). Delays carry their rounding: frame k starts at
    round(100 k / out_fps) cs, so 15 fps gives 7, 6, 7, 7, 6, 7 ... and the total is right.
    """
    src = as_fps(src_fps)
    out = output_fps(src, spec)
    k = 0
    for i, frame in enumerate(frames):
        while math.floor(k * src / out) == i:
            yield frame, gif_delay_cs(k, out)
            k += 1


# --- quantization -------------------------------------------------------------------------


def _limit(rgb: np.ndarray, palette: np.ndarray, colors: int) -> np.ndarray:
    """Keep a fixed palette (web: 216 entries) within `colors`: its most used entries for this image."""
    if len(palette) <= colors:
        return palette
    counts = np.bincount(apply_palette(rgb, palette, Dither.NONE).ravel(), minlength=len(palette))
    return palette[np.sort(np.argsort(-counts, kind="stable")[:colors])]


def clip_palette(frames: Sequence[np.ndarray], spec: GifSpec) -> np.ndarray:
    """One palette for a whole clip, computed on up to `spec.palette_sample` evenly spaced frames."""
    if not frames:
        raise BadArgumentError("GIF: no frames to compute a palette on")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(spec.palette_sample, len(frames))).round().astype(int))
    mosaic = np.concatenate([frames[i] for i in picks], axis=0)
    return _limit(mosaic, make_palette(mosaic, spec.colors, spec.quantizer), spec.colors)


def quantize_frame(rgb: np.ndarray, spec: GifSpec, palette: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(HxW uint8 indices, Nx3 palette) for one frame: its own palette, or `palette` if given (global mode)."""
    if palette is None:
        palette = _limit(rgb, make_palette(rgb, spec.colors, spec.quantizer), spec.colors)
    return quantize(rgb, spec.colors, spec.quantizer, spec.dither, palette=palette)


def synthesize(frames: Sequence[np.ndarray], spec: GifSpec = GifSpec()) -> list[tuple[np.ndarray, np.ndarray]]:
    """What a viewer would show for these frames as a GIF: [(HxWx3 uint8 gif_rgb, Nx3 palette)], no disk.

    Frames are not sampled here (training picks its own frames); colours, dither and
    palette mode follow `spec`.
    """
    shared = clip_palette(frames, spec) if spec.palette_mode is PaletteMode.GLOBAL else None
    return [(pal[idx], pal) for idx, pal in (quantize_frame(f, spec, shared) for f in frames)]


# --- writing ------------------------------------------------------------------------------


class GifSummary(NamedTuple):
    path: Path
    frames: int
    width: int
    height: int
    duration_cs: int


def write_indexed_gif(path: str | os.PathLike, frames: Iterable[tuple[np.ndarray, np.ndarray, int]],
                      loop: int | None = 0, global_palette: np.ndarray | None = None) -> GifSummary:
    """Write (indices, palette, delay_cs) frames exactly as given, atomically. With `global_palette`,
    the frames' palettes must be that palette and no local colour tables are written."""
    p = Path(path)
    target = AtomicTarget(p, is_dir=False)
    count = total = 0
    gif = None
    try:
        with open(target.tmp, "wb") as fh:
            for idx, pal, delay in frames:
                if not MIN_GIF_DELAY_CS <= delay <= 0xFFFF:
                    raise BadArgumentError(f"{p}: frame {count} delay must be in 2..65535 cs, got {delay}")
                if global_palette is not None and not np.array_equal(pal, global_palette):
                    raise BadArgumentError(f"{p}: frame {count} has its own palette but the GIF has a global one")
                if gif is None:
                    gif = GifBitstream(fh, idx.shape[1], idx.shape[0], loop, global_palette)
                gif.add_frame(idx, int(delay), None if global_palette is not None else pal)
                count += 1
                total += int(delay)
            if gif is None:
                raise OutputError(f"{p}: no frames to write (empty input or empty --start/--duration range)")
            gif.finish()
    except OSError as exc:  # a full disk (ENOSPC), a file size limit (EFBIG): one line, nothing left
        target.discard()
        raise OutputError(f"{p}: writing the GIF failed: {exc.strerror or exc}") from None
    except BaseException:  # anything, Ctrl-C included: leave nothing at the path
        target.discard()
        raise
    target.commit()
    return GifSummary(p, count, gif.width, gif.height, total)


def write_gif(path: str | os.PathLike, frames_rgb: Sequence[np.ndarray], delays_cs: Sequence[int], colors: int = 32,
              quantizer: Quantizer = Quantizer.MEDIAN_CUT, dither: Dither = Dither.NONE,
              palette_mode: PaletteMode = PaletteMode.LOCAL, loop: int | None = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Quantize full-colour frames and write them as a GIF; returns the (indices, palette) written."""
    if len(frames_rgb) != len(delays_cs):
        raise BadArgumentError(f"{path}: {len(frames_rgb)} frames but {len(delays_cs)} delays")
    spec = GifSpec(colors=colors, quantizer=quantizer, dither=dither, palette_mode=palette_mode, loop=loop)
    shared = clip_palette(frames_rgb, spec) if spec.palette_mode is PaletteMode.GLOBAL else None
    indexed = [quantize_frame(f, spec, shared) for f in frames_rgb]
    write_indexed_gif(path, ((idx, pal, d) for (idx, pal), d in zip(indexed, delays_cs)), loop, shared)
    return indexed


def make_gif(source: str | os.PathLike, out: str | os.PathLike, spec: GifSpec = GifSpec(), *,
             max_size: int | None = None, start: float = 0.0, duration: float | None = None,
             dir_fps: Fraction = DEFAULT_DIR_FPS, on_start: Callable[[int | None], None] | None = None,
             progress: Callable[[int], None] | None = None) -> GifSummary:
    """Video file or image directory -> GIF. Local palettes stream frame by frame; a global
    palette needs the sampled frames in memory first.

    on_start(expected source frames, or None) and progress(source frames read so far) drive a progress bar.
    """
    out_path = Path(out)
    if out_path.suffix.lower() != ".gif":
        raise OutputError(f"{out_path}: make-gif writes a .gif file: give a path ending in .gif")
    AtomicTarget(out_path, is_dir=False).discard()  # unwritable output: fail before decoding anything
    video = iter_video_frames(source, max_size, start=start, duration=duration, dir_fps=dir_fps)
    output_fps(video.fps, spec)  # reject > 50 fps before decoding
    if on_start is not None:
        on_start(video.count)

    def counted() -> Iterator[np.ndarray]:
        for n, frame in enumerate(video.frames, 1):
            yield frame
            if progress is not None:
                progress(n)

    sampled = sample_frames(counted(), video.fps, spec)
    if spec.palette_mode is PaletteMode.GLOBAL:
        kept = list(sampled)
        shared = clip_palette([f for f, _ in kept], spec) if kept else None
        indexed = ((*quantize_frame(f, spec, shared), d) for f, d in kept)
    else:
        shared = None
        indexed = ((*quantize_frame(f, spec), d) for f, d in sampled)
    return write_indexed_gif(out_path, indexed, spec.loop, shared)
