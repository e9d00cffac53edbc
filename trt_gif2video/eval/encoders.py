"""GIFs made by the encoders people actually use: ffmpeg, ImageMagick, gifski (cached).

Each `RealEncoder` turns one RGB frame into a one-frame GIF file with an external tool; the
file is decoded by our own decoder (`io.gif_decode`), so the frame and the palette are what
`restore` would see. Files are cached under the user cache (`<cache>/realgif/<encoder>-<colors>/
<sha256 of frame and settings>.npz`: the decoded frame and its palette), so a rerun costs no encoding. Used by `eval` (validation
footage) and by `train.real_pairs` (training footage).

Tools: ffmpeg and ImageMagick from the system (Debian: apt-get install ffmpeg imagemagick);
gifski from PATH, `$TRT_GIF2VIDEO_GIFSKI`, or the npm package installed into the user cache:
`npm install --prefix ~/.cache/trt-gif2video/tools/gifski gifski` (the package ships
the binary; gifski is AGPL-3.0, run as a separate program and never shipped with us).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BackendUnavailableError, DataError

GIFSKI_ENV = "TRT_GIF2VIDEO_GIFSKI"
GIFSKI_NPM_DIR = Path("tools") / "gifski"  # under the user cache dir
_GIFSKI_IN_PACKAGE = Path("node_modules") / "gifski" / "bin" / "debian" / "gifski"


class Tool(str, enum.Enum):
    FFMPEG = "ffmpeg"
    IMAGEMAGICK = "imagemagick"
    GIFSKI = "gifski"


@dataclass(frozen=True)
class RealEncoder:
    """One encoder setting. `dithered` says which dequantizer the true label picks."""

    name: str
    tool: Tool
    dithered: bool
    option: str  # ffmpeg: paletteuse options; ImageMagick: -dither method; gifski: quality
    fixed_colors: bool = True  # False: the tool picks its palette size (gifski: up to 256)

    def command(self, exe: str, src: Path, dst: Path, colors: int) -> list[str]:
        """Encode the same-sized PNG frames `src/%05d.png`, each with its own `colors`-entry palette.

        ffmpeg writes one animated GIF `dst/all.gif` of full frames with local palettes
        (palettegen per frame, no inter-frame transparency); ImageMagick one GIF per frame.
        """
        if self.tool is Tool.FFMPEG:
            # palettegen reserves one entry for transparency by default: as a user gets it.
            vf = (f"split[a][b];[a]palettegen=max_colors={colors}:stats_mode=single[p];"
                  f"[b][p]paletteuse={self.option}:new=1")
            return [exe, "-v", "error", "-y", "-framerate", "1", "-i", str(src / "%05d.png"), "-filter_complex", vf,
                    "-gifflags", "-offsetting-transdiff", str(dst / "all.gif")]
        if self.tool is Tool.IMAGEMAGICK:  # -colors quantizes each image of the list on its own
            return [exe, str(src / "*.png"), "-dither", self.option, "-colors", str(colors), "+adjoin",
                    "-scene", "0", str(dst / "%05d.gif")]
        raise NotImplementedError("gifski encodes one frame per call (see _gifski)")


FFMPEG_BAYER_SCALES = (1, 3, 5)
ENCODERS: tuple[RealEncoder, ...] = (
    RealEncoder("ffmpeg-none", Tool.FFMPEG, False, "dither=none"),
    RealEncoder("ffmpeg-floyd_steinberg", Tool.FFMPEG, True, "dither=floyd_steinberg"),
    RealEncoder("ffmpeg-sierra2_4a", Tool.FFMPEG, True, "dither=sierra2_4a"),
    *(RealEncoder(f"ffmpeg-bayer{s}", Tool.FFMPEG, True, f"dither=bayer:bayer_scale={s}") for s in FFMPEG_BAYER_SCALES),
    RealEncoder("magick-none", Tool.IMAGEMAGICK, False, "None"),
    RealEncoder("magick-floydsteinberg", Tool.IMAGEMAGICK, True, "FloydSteinberg"),
    RealEncoder("magick-riemersma", Tool.IMAGEMAGICK, True, "Riemersma"),
    RealEncoder("gifski", Tool.GIFSKI, True, "90", fixed_colors=False),  # its default quality
)
BY_NAME = {e.name: e for e in ENCODERS}


def encoders_named(names: list[str] | tuple[str, ...] | None) -> tuple[RealEncoder, ...]:
    if not names:
        return ENCODERS
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise DataError(f"real encoders: unknown {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return tuple(BY_NAME[n] for n in names)


def _cache_root(cache_dir: Path | None) -> Path:
    from ..data.corpus import resolve_cache_dir

    return resolve_cache_dir(cache_dir)


def gifski_path(cache_dir: Path | None = None) -> str | None:
    env = os.environ.get(GIFSKI_ENV)
    if env:
        return env if Path(env).is_file() else None
    found = shutil.which("gifski")
    if found:
        return found
    npm = _cache_root(cache_dir) / GIFSKI_NPM_DIR / _GIFSKI_IN_PACKAGE
    return str(npm) if npm.is_file() else None


def tool_path(tool: Tool, cache_dir: Path | None = None) -> str | None:
    if tool is Tool.FFMPEG:
        return shutil.which("ffmpeg")
    if tool is Tool.IMAGEMAGICK:
        return shutil.which("convert") or shutil.which("magick")
    return gifski_path(cache_dir)


def missing_reason(tool: Tool, cache_dir: Path | None = None) -> str | None:
    """Why this tool cannot run here (None if it can)."""
    if tool_path(tool, cache_dir) is not None:
        return None
    return {Tool.FFMPEG: "ffmpeg not on PATH (Debian: apt-get install ffmpeg)",
            Tool.IMAGEMAGICK: "ImageMagick `convert` not on PATH (Debian: apt-get install imagemagick)",
            Tool.GIFSKI: f"gifski not found (PATH, ${GIFSKI_ENV}, or `npm install --prefix "
                         f"~/.cache/trt-gif2video/{GIFSKI_NPM_DIR} gifski`)"}[tool]


@functools.lru_cache(maxsize=None)
def tool_version(exe: str) -> str:
    """First line of `--version` (part of the cache key: another version encodes differently)."""
    out = subprocess.run([exe, "-version" if Path(exe).name == "ffmpeg" else "--version"],
                         capture_output=True, text=True, check=False)
    line = (out.stdout or out.stderr).strip().splitlines()
    return line[0] if line else "unknown"


def frame_key(rgb: np.ndarray, encoder: RealEncoder, colors: int, version: str) -> str:
    h = hashlib.sha256()
    h.update(f"{encoder.name}|{encoder.option}|{colors}|{version}|{rgb.shape}".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class EncodedFrame:
    gif: np.ndarray  # HxWx3 uint8, as our decoder shows it
    palette: np.ndarray  # Nx3 uint8, the colour table in effect (as `restore` feeds the network)


def _gifski(exe: str, src: Path, dst: Path, quality: str) -> subprocess.CompletedProcess:
    """gifski refuses a single input file: give it the frame twice; frame 0 is the one we read."""
    twin = src.with_name(src.stem + "_b.png")
    shutil.copyfile(src, twin)
    return subprocess.run([exe, "--quiet", "--no-sort", "--quality", quality, "-o", str(dst), str(src), str(twin)],
                          capture_output=True, text=True)


def _run_batch(encoder: RealEncoder, exe: str, frames: list[np.ndarray], colors: int) -> list[EncodedFrame]:
    """Encode same-sized frames in one tool call (ffmpeg, ImageMagick) or one call each (gifski)."""
    from ..io.gif_decode import read_frames

    with tempfile.TemporaryDirectory(prefix="g2v-enc-") as tmp:
        src, out = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        out.mkdir()
        for i, f in enumerate(frames):
            Image.fromarray(f).save(src / f"{i:05d}.png", compress_level=1)
        if encoder.tool is Tool.GIFSKI:
            runs = [_gifski(exe, src / f"{i:05d}.png", out / f"{i:05d}.gif", encoder.option) for i in range(len(frames))]
        else:
            runs = [subprocess.run(encoder.command(exe, src, out, colors), capture_output=True, text=True)]
        for run in runs:
            if run.returncode != 0:
                raise DataError(f"{encoder.name}: encoding failed ({run.stderr.strip()[:300] or run.returncode})")
        if encoder.tool is Tool.FFMPEG:
            decoded = read_frames(out / "all.gif")
        else:
            decoded = [read_frames(out / f"{i:05d}.gif")[0] for i in range(len(frames))]
    if len(decoded) != len(frames) or any(d.rgb.shape != f.shape for d, f in zip(decoded, frames)):
        raise DataError(f"{encoder.name}: got {len(decoded)} frames back for {len(frames)} of {frames[0].shape}")
    return [EncodedFrame(d.rgb, d.palette) for d in decoded]


def encode_frames(frames: list[np.ndarray], encoder: RealEncoder, colors: int = 32, cache_dir: Path | None = None,
                  use_cache: bool = True) -> list[EncodedFrame]:
    """Frames through a real encoder, each with its own palette, decoded by our decoder.

    Cached by content (frame, encoder, colours, tool version) as .npz of the decoded frame and
    its palette. Raises BackendUnavailableError if the tool is missing.
    """
    exe = tool_path(encoder.tool, cache_dir)
    if exe is None:
        raise BackendUnavailableError(f"{encoder.name}: {missing_reason(encoder.tool, cache_dir)}")
    colors = colors if encoder.fixed_colors else 256
    folder = _cache_root(cache_dir) / "realgif" / f"{encoder.name}-{colors}"
    version = tool_version(exe)
    paths = [folder / f"{frame_key(f, encoder, colors, version)}.npz" for f in frames]
    out: list[EncodedFrame | None] = [None] * len(frames)
    by_size: dict[tuple, list[int]] = {}
    for i, p in enumerate(paths):
        if use_cache and p.is_file():
            with np.load(p) as z:
                out[i] = EncodedFrame(z["gif"], z["palette"])
        else:
            by_size.setdefault(frames[i].shape, []).append(i)
    for idx in by_size.values():
        for i, enc in zip(idx, _run_batch(encoder, exe, [frames[i] for i in idx], colors)):
            out[i] = enc
            paths[i].parent.mkdir(parents=True, exist_ok=True)
            tmp = paths[i].with_suffix(".tmp.npz")
            np.savez_compressed(tmp, gif=enc.gif, palette=enc.palette)
            os.replace(tmp, paths[i])  # atomic: a killed run leaves no half file in the cache
    return out


def encode_frame(rgb: np.ndarray, encoder: RealEncoder, colors: int = 32, cache_dir: Path | None = None,
                 use_cache: bool = True) -> EncodedFrame:
    return encode_frames([rgb], encoder, colors, cache_dir, use_cache)[0]
