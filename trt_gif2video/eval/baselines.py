"""Classical baselines users would reach for instead: ffmpeg's debanding filters and
motion interpolation, nearest-frame repeat, linear blend. Numpy + the ffmpeg binary."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BackendUnavailableError

# Filters run in planar RGB so no YUV round trip adds error of its own.
FFMPEG_DEBAND = "format=gbrp,deband,format=rgb24"
FFMPEG_GRADFUN = "format=gbrp,gradfun,format=rgb24"


def ffmpeg_path() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise BackendUnavailableError("ffmpeg: not found on PATH (Debian: apt-get install ffmpeg); needed for the ffmpeg baselines")
    return exe


def _write_seq(frames: list[np.ndarray], folder: Path) -> None:
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:05d}.png", compress_level=1)


def _read_seq(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def ffmpeg_filter(frames: list[np.ndarray], vf: str, fps_in: float = 25.0) -> list[np.ndarray]:
    """Run an ffmpeg video filter over same-sized frames (one ffmpeg call for all)."""
    with tempfile.TemporaryDirectory(prefix="g2v-ff-") as tmp:
        src, dst = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        dst.mkdir()
        _write_seq(frames, src)
        cmd = [ffmpeg_path(), "-v", "error", "-framerate", f"{fps_in}", "-i", str(src / "%05d.png"),
               "-vf", vf, "-pix_fmt", "rgb24", "-start_number", "0", str(dst / "%05d.png")]
        subprocess.run(cmd, check=True, capture_output=True)
        return _read_seq(dst)


def minterpolate(keyframes: list[np.ndarray], factor: int, fps_in: float = 10.0) -> list[np.ndarray]:
    """ffmpeg's motion-compensated interpolation (mci, bidirectional ME) to `factor` x the frame rate.

    Output frame k*factor + j is the frame at time (k + j/factor) / fps_in.
    """
    vf = f"minterpolate=fps={fps_in * factor}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:scd=none"
    # minterpolate needs a frame of history and drops the tail: pad both ends, then align.
    lead = 2
    padded = [keyframes[0]] * lead + [*keyframes, keyframes[-1], keyframes[-1]]
    out = ffmpeg_filter(padded, vf, fps_in)
    want = (len(keyframes) - 1) * factor + 1
    aligned = out[lead * factor : lead * factor + want]
    if len(aligned) != want:
        raise RuntimeError(f"minterpolate: expected {want} frames, ffmpeg gave {len(out) - lead * factor}")
    return aligned


def nearest(gif0: np.ndarray, gif1: np.ndarray, t: float) -> np.ndarray:
    """Repeat the nearest GIF frame (ties go to the earlier one)."""
    return gif0 if t <= 0.5 else gif1


def linear_blend(gif0: np.ndarray, gif1: np.ndarray, t: float) -> np.ndarray:
    mix = (1.0 - t) * gif0.astype(np.float32) + t * gif1.astype(np.float32)
    return np.clip(np.rint(mix), 0, 255).astype(np.uint8)
