"""GIF-degraded training patches made on the fly from photos and video frames (numpy only).

A "frame" (a random crop of a source at a random downscale, like a GIF-sized picture) is
quantized as a whole, as a GIF encoder would (palette of the frame, 16..256 colours, random
quantizer, dither per variant); several patches are then cut from it and share its palette.
Quantization costs CPU time, so `PatchPool` keeps a few thousand patches in memory and
replaces a few of them per training step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import Dither, Quantizer
from ..errors import DataError
from ..palette import pad_palette
from ..quantize import quantize

LOAD_LONG_SIDE = 1024  # sources are stored at most this big; frames are cut from them
FRAMES_PER_VIDEO = 24

NO_DITHER = (Dither.NONE,)
WITH_DITHER = (Dither.FLOYD_STEINBERG, Dither.ORDERED)
ALL_DITHERS = NO_DITHER + WITH_DITHER


@dataclass(frozen=True)
class Degradation:
    """How a clean frame becomes a GIF frame."""

    dithers: tuple[Dither, ...] = NO_DITHER
    min_colors: int = 16
    max_colors: int = 256
    quantizers: tuple[Quantizer, ...] = (Quantizer.MEDIAN_CUT, Quantizer.KMEANS, Quantizer.OCTREE)


@dataclass(frozen=True)
class Batch:
    gif: np.ndarray  # [B,H,W,3] uint8
    target: np.ndarray  # [B,H,W,3] uint8
    palette: np.ndarray  # [B,256,3] uint8, padded
    dithered: np.ndarray  # [B] bool


def _resize_long(img: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(img.size)
    if scale >= 1:
        return img
    img.draft("RGB", (int(img.size[0] * scale) + 1, int(img.size[1] * scale) + 1))  # fast JPEG decode
    scale = long_side / max(img.size)
    if scale >= 1:
        return img.convert("RGB")
    size = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
    return img.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def load_photo(path: Path, long_side: int = LOAD_LONG_SIDE) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(_resize_long(img, long_side).convert("RGB"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read this photo ({exc}); re-fetch the corpus") from exc


def load_video_frames(path: Path, count: int = FRAMES_PER_VIDEO, long_side: int = LOAD_LONG_SIDE) -> list[np.ndarray]:
    """`count` frames spread over the clip (decode errors at a clip's start are skipped)."""
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            total = stream.frames or 300
            every = max(1, total // count)
            for i, frame in enumerate(container.decode(stream)):
                if i % every == 0:
                    frames.append(np.asarray(_resize_long(frame.to_image(), long_side).convert("RGB")))
                if len(frames) >= count:
                    break
    except av.error.FFmpegError as exc:
        if not frames:
            raise DataError(f"{path}: cannot decode this video ({exc}); re-fetch the corpus") from exc
    return frames


def load_sources(photos: list[Path], videos: list[Path] = ()) -> list[np.ndarray]:
    """All source pictures, in memory (a few hundred MB at most)."""
    sources = [load_photo(p) for p in photos]
    for v in videos:
        sources.extend(load_video_frames(v))
    if not sources:
        raise DataError("patches: no source pictures given; fetch the corpus (`trt-gif2video data fetch`)")
    return sources


def _source_weights(sources: list[np.ndarray]) -> np.ndarray:
    # Grey pictures (calibration boards, scans) teach little about colour: sample them less.
    w = np.array([0.25 if np.abs(s[::8, ::8, 0].astype(int) - s[::8, ::8, 2]).mean() < 2 else 1.0
                  for s in sources])
    return w / w.sum()


def random_frame(source: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size crop at a random downscale (1..3x) with random flip."""
    h, w = source.shape[:2]
    span = int(size * rng.uniform(1.0, 3.0))
    span = max(8, min(span, h, w))
    y = int(rng.integers(0, h - span + 1))
    x = int(rng.integers(0, w - span + 1))
    crop = source[y:y + span, x:x + span]
    if span != size:
        crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BILINEAR))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def random_colors(deg: Degradation, rng: np.random.Generator) -> int:
    """Log-uniform over [min, max]: 16..64 colours (where artefacts are worst) get half the mass."""
    return int(round(np.exp(rng.uniform(np.log(deg.min_colors), np.log(deg.max_colors)))))


def degrade(rgb: np.ndarray, deg: Degradation, rng: np.random.Generator,
            colors: int | None = None, dither: Dither | None = None) -> tuple[np.ndarray, np.ndarray, Dither]:
    """(GIF-looking frame, its padded 256x3 palette, the dither used)."""
    colors = random_colors(deg, rng) if colors is None else colors
    dither = deg.dithers[int(rng.integers(len(deg.dithers)))] if dither is None else dither
    quantizer = deg.quantizers[int(rng.integers(len(deg.quantizers)))]
    idx, pal = quantize(rgb, colors, quantizer, dither)
    return pal[idx], pad_palette(pal), dither


class PatchPool:
    """A refreshable pool of (GIF patch, clean patch, palette) triples."""

    def __init__(self, sources: list[np.ndarray], deg: Degradation, patch: int = 64, size: int = 2048,
                 frame: int = 192, crops_per_frame: int = 4, seed: int = 0, real: list = (),
                 real_fraction: float = 0.0):
        """`real`: frames made by real encoders (`train.real_pairs.RealFrame`); a `real_fraction`
        of the refreshed frames comes from them instead of our own synthesis."""
        self.sources, self.deg, self.patch, self.frame, self.crops = sources, deg, patch, frame, crops_per_frame
        self.real, self.real_fraction = list(real), real_fraction if real else 0.0
        self.weights = _source_weights(sources)
        self.rng = np.random.default_rng(seed)
        self.gif = np.zeros((size, patch, patch, 3), np.uint8)
        self.target = np.zeros_like(self.gif)
        self.palette = np.zeros((size, 256, 3), np.uint8)
        self.dithered = np.zeros(size, bool)
        self._next = 0
        self.refresh(-(-size // crops_per_frame))

    def refresh(self, frames: int) -> None:
        """Replace the oldest patches with `frames` * crops_per_frame new ones."""
        n = len(self.gif)
        for _ in range(frames):
            if self.real_fraction and self.rng.random() < self.real_fraction:
                r = self.real[int(self.rng.integers(len(self.real)))]
                clean, gif, pal, dithered = r.target, r.gif, r.palette, r.dithered
            else:
                src = self.sources[int(self.rng.choice(len(self.sources), p=self.weights))]
                clean = random_frame(src, self.frame, self.rng)
                gif, pal, dither = degrade(clean, self.deg, self.rng)
                dithered = dither is not Dither.NONE
            h, w = clean.shape[:2]
            for _ in range(self.crops):
                y = int(self.rng.integers(0, h - self.patch + 1))
                x = int(self.rng.integers(0, w - self.patch + 1))
                i = self._next
                self.gif[i] = gif[y:y + self.patch, x:x + self.patch]
                self.target[i] = clean[y:y + self.patch, x:x + self.patch]
                self.palette[i] = pal
                self.dithered[i] = dithered
                self._next = (i + 1) % n

    def batch(self, size: int) -> Batch:
        idx = self.rng.integers(0, len(self.gif), size=size)
        return Batch(self.gif[idx], self.target[idx], self.palette[idx], self.dithered[idx])


@dataclass(frozen=True)
class ValFrame:
    gif: np.ndarray  # HxWx3 uint8
    target: np.ndarray
    palette: np.ndarray  # 256x3 uint8
    colors: int
    dither: Dither


def validation_frames(sources: list[np.ndarray], colors: tuple[int, ...], dithers: tuple[Dither, ...],
                      size: int = 256, seed: int = 1234) -> list[ValFrame]:
    """A fixed set: one centre-ish frame per source, every (colours, dither) combination, median cut."""
    rng = np.random.default_rng(seed)
    deg = Degradation(quantizers=(Quantizer.MEDIAN_CUT,))
    out = []
    for src in sources:
        clean = random_frame(src, size, rng)
        for c in colors:
            for d in dithers:
                gif, pal, _ = degrade(clean, deg, rng, colors=c, dither=d)
                out.append(ValFrame(gif, clean, pal, c, d))
    return out
