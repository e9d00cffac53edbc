"""Calibration samples for INT8: representative GIF frames and palettes from the corpus (no torch).

What is sampled is a frozen `CalibManifest`; its defaults ARE `calib/manifest.toml` (a
test keeps the two equal), so a calibration is reproducible from the seed alone. Frames
come from the training split only (validation numbers must stay clean): random GIF-sized
crops of photos and video frames, quantized with a random palette size, quantizer and
dither from the manifest. The interpolator gets frame pairs: consecutive video frames at a
random stride, or a photo panned by a random offset; its dequantized inputs are the clean
frames (the same decoupling its training uses).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .config import Dither, Quantizer
from .errors import BadArgumentError, DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class CalibManifest:
    """How calibration frames are drawn. Mirrors calib/manifest.toml."""

    split: str = "train"
    colors: tuple[int, ...] = (16, 32, 64, 128, 256)
    quantizers: tuple[Quantizer, ...] = (Quantizer.MEDIAN_CUT, Quantizer.KMEANS, Quantizer.OCTREE, Quantizer.WEB)
    dithers: tuple[Dither, ...] = (Dither.NONE, Dither.FLOYD_STEINBERG, Dither.ORDERED)
    frames: int = 64  # samples per network
    crop: int = 128  # square crop side; a multiple of every network stride (32)
    max_side: int = 640  # sources are downscaled to GIF-like sizes first (long side)
    video_share: float = 0.5  # fraction of samples taken from videos (the rest from photos)
    max_pan: int = 12  # interpolator photo pairs: pan of up to this many pixels
    max_video_stride: int = 4  # interpolator video pairs: frames i and i + 1..stride
    seed: int = 2026

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "quantizers", tuple(Quantizer(q) for q in self.quantizers))
            object.__setattr__(self, "dithers", tuple(Dither(d) for d in self.dithers))
        except ValueError as exc:
            raise BadArgumentError(f"calibration manifest: {exc}") from None
        object.__setattr__(self, "colors", tuple(int(c) for c in self.colors))
        if not self.colors or any(not 2 <= c <= 256 for c in self.colors):
            raise BadArgumentError(f"calibration manifest: colors must be in 2..256, got {self.colors}")
        if self.frames < 1 or self.crop < 32 or self.crop % 32:
            raise BadArgumentError(f"calibration manifest: need frames >= 1 and crop a multiple of 32, got "
                                   f"frames={self.frames} crop={self.crop}")
        if not 0.0 <= self.video_share <= 1.0 or self.split not in ("train", "val"):
            raise BadArgumentError("calibration manifest: video_share must be in [0, 1] and split train or val")

    def key(self) -> str:
        """Short hash of every setting (the sample cache's file name)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:16]


DEFAULT_MANIFEST = CalibManifest()


def load_manifest(path: Path | str | None = None) -> CalibManifest:
    """The manifest at `path` (TOML, table [calibration]), or the shipped defaults."""
    if path is None:
        return DEFAULT_MANIFEST
    try:
        raw = tomllib.loads(Path(path).read_text())["calibration"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise BadArgumentError(f"{path}: need a readable TOML file with a [calibration] table ({exc})") from exc
    known = {f.name for f in fields(CalibManifest)}
    unknown = set(raw) - known
    if unknown:
        raise BadArgumentError(f"{path}: unknown calibration keys {sorted(unknown)}; known: {sorted(known)}")
    return CalibManifest(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


@dataclass(frozen=True)
class CalibSample:
    """One calibration item: GIF frame(s) with palette, and the clean frame(s) they came from."""

    gif: np.ndarray  # HxWx3 uint8
    palette: np.ndarray  # Nx3 uint8
    clean: np.ndarray  # HxWx3 uint8
    gif1: np.ndarray | None = None  # second frame of an interpolator pair
    palette1: np.ndarray | None = None
    clean1: np.ndarray | None = None
    clean_mid: np.ndarray | None = None  # the true frame halfway between (accuracy checks, t = 0.5)


def _fit(rgb: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR))


def _load_photo(path: Path, max_side: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced size directly
        return _fit(np.asarray(im.convert("RGB")), max_side)


def _video_triplet(path: Path, rng: np.random.Generator, m: CalibManifest) -> tuple[np.ndarray, ...]:
    """Frames i, i + s/2, i + s of a video, s even in 2..max_video_stride (the middle one is ground truth)."""
    from .io.video_read import iter_video_frames

    probe = iter_video_frames(path, max_size=m.max_side)  # header only: nothing is decoded
    fps, count = float(probe.fps), probe.count or 60
    probe.frames.close()
    step = 2 * int(rng.integers(1, max(1, m.max_video_stride // 2) + 1))
    first = int(rng.integers(0, max(1, count - step - 1)))
    # seek instead of decoding the clip up to `first`; a few spare frames absorb timestamp rounding
    video = iter_video_frames(path, max_size=m.max_side, start=first / fps, duration=(step + 4) / fps)
    frames = [f for i, f in enumerate(video.frames) if i in (0, step // 2, step)]
    if len(frames) < 3:
        raise DataError(f"{path}: fewer frames than its header says; cannot sample frames {first}..{first + step}")
    return tuple(frames)


def _crops(frames: tuple[np.ndarray, ...], rng: np.random.Generator, crop: int,
           pan: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, ...]:
    """The same crop window in every frame, frame k moved by k * pan / (len - 1) (a pan for a still photo)."""
    h, w = frames[0].shape[:2]
    dy, dx = pan
    need_h, need_w = crop + abs(dy), crop + abs(dx)
    if h < need_h or w < need_w:
        raise DataError(f"calibration source of {w}x{h} is smaller than the {crop}px crop plus pan")
    y = int(rng.integers(0, h - need_h + 1)) + max(0, -dy)
    x = int(rng.integers(0, w - need_w + 1)) + max(0, -dx)
    last = max(1, len(frames) - 1)
    out = []
    for k, f in enumerate(frames):
        oy, ox = y + dy * k // last, x + dx * k // last
        out.append(np.ascontiguousarray(f[oy:oy + crop, ox:ox + crop]))
    return tuple(out)


def _gif(rgb: np.ndarray, rng: np.random.Generator, m: CalibManifest, dithers: tuple[Dither, ...]) -> tuple:
    """(GIF frame, palette, GifSpec) with a random palette size, quantizer and dither from the manifest."""
    from .io.gif_synth import GifSpec

    spec = GifSpec(colors=int(rng.choice(m.colors)), quantizer=m.quantizers[int(rng.integers(len(m.quantizers)))],
                   dither=dithers[int(rng.integers(len(dithers)))])
    return (*_quantize_like(rgb, spec), spec)


def _quantize_like(rgb: np.ndarray, spec) -> tuple[np.ndarray, np.ndarray]:
    """The next frame of the same GIF: same palette size, quantizer and dither, its own palette."""
    from .io.gif_synth import quantize_frame

    idx, pal = quantize_frame(rgb, spec)
    return pal[idx], pal


def iter_samples(manifest: CalibManifest = DEFAULT_MANIFEST, dithers: tuple[Dither, ...] | None = None,
                 pairs: bool = False, cache_dir: Path | str | None = None) -> Iterator[CalibSample]:
    """`manifest.frames` samples, deterministic for a manifest; `pairs` adds a second frame (interpolator)."""
    from .data import corpus

    dithers = tuple(dithers or manifest.dithers)
    rng = np.random.default_rng([manifest.seed, int(pairs), *[list(Dither).index(d) for d in dithers]])
    split = corpus.Split(manifest.split)
    photos = corpus.photos(split, cache_dir)
    kinds = {e.kind for e in corpus.load_manifest(cache_dir).entries.values() if e.split == split}
    # a split without videos (a partial corpus) still calibrates, on photos alone
    videos = corpus.videos(split, cache_dir) if manifest.video_share > 0 and corpus.Kind.VIDEO in kinds else []
    photo_cache: dict[Path, np.ndarray] = {}
    half = manifest.max_pan // 2
    for _ in range(manifest.frames):
        if videos and rng.random() < manifest.video_share:
            frames = _crops(_video_triplet(videos[int(rng.integers(len(videos)))], rng, manifest), rng, manifest.crop)
        else:
            path = photos[int(rng.integers(len(photos)))]
            if path not in photo_cache:
                photo_cache[path] = _load_photo(path, manifest.max_side)
            # even pans, so the middle frame sits on whole pixels
            pan = tuple(2 * int(v) for v in rng.integers(-half, half + 1, size=2)) if pairs else (0, 0)
            frames = _crops((photo_cache[path],) * 3, rng, manifest.crop, pan)
        a, mid, b = frames
        gif, pal, spec = _gif(a, rng, manifest, dithers)
        if pairs:
            gif1, pal1 = _quantize_like(b, spec)
            yield CalibSample(gif, pal, a, gif1, pal1, b, mid)
        else:
            yield CalibSample(gif, pal, a)


def network_feeds(network: str, samples: list[CalibSample], seed: int = 0,
                  t: float | None = None) -> list[dict[str, np.ndarray]]:
    """Deploy-contract inputs (batch 1) for `network` (dequant | interp | dither) from samples.

    The interpolator's t is drawn in (0.1, 0.9), or fixed to `t` (0.5 to compare with `clean_mid`).
    """
    from .palette import pad_palette

    rng = np.random.default_rng(seed)
    feeds = []
    for s in samples:
        tt = np.array([t], np.float32) if t is not None else rng.uniform(0.1, 0.9, size=1).astype(np.float32)
        if network == "dequant":
            feeds.append({"gif": s.gif[None], "palette": pad_palette(s.palette)[None]})
        elif network == "dither":
            feeds.append({"gif": s.gif[None]})
        elif network == "interp":
            if s.gif1 is None:
                raise BadArgumentError("calibration: the interpolator needs frame pairs (iter_samples(pairs=True))")
            feeds.append({"gif0": s.gif[None], "gif1": s.gif1[None], "img0": s.clean[None], "img1": s.clean1[None],
                          "t": tt})
        else:
            raise BadArgumentError(f"calibration: unknown network {network!r}; need dequant, interp or dither")
    return feeds
