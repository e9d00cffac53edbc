"""Training sequences for the interpolator: synthetic motion from photos and real video clips.

A sequence is `stride + 1` clean frames (uint8 HxWx3) at times k/stride; a triplet is its two
end frames plus one intermediate frame with its time t. Synthetic motion (camera pan, zoom,
small rotation, plus an independently moving sprite that occludes the background) is how many
flow/interpolation datasets are made; it has exact intermediate frames at any t. Real clips
add natural motion at strides 2/4/8. Numpy + Pillow + PyAV only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import Dither, Quantizer
from ..errors import DataError
from ..quantize import quantize

STRIDES = (2, 4, 8)


@dataclass(frozen=True)
class MotionConfig:
    crop: int = 96
    max_shift: float = 20.0  # camera motion between the end frames, output pixels
    max_zoom: float = 0.12  # |log zoom| between the end frames
    max_rot_deg: float = 5.0
    scale_range: tuple[float, float] = (0.3, 1.0)  # output px per source px (photos are big)
    sprite_prob: float = 0.6
    sprite_size: tuple[int, int] = (20, 56)
    sprite_max_shift: float = 16.0  # per axis, in crop pixels
    video_short_side: int = 288  # clips are downscaled to GIF-like sizes


@dataclass(frozen=True)
class Sequence:
    frames: list[np.ndarray]  # stride + 1 frames at times k / stride
    # Ground-truth flows between the end frames where known (synthetic motion), else None:
    # [4,H,W] float32 = F01 (x, y), F10 (x, y) in pixels, frame0[p] ~ frame_end[p + F01(p)].
    flows: np.ndarray | None = None


@dataclass(frozen=True)
class Triplet:
    frame0: np.ndarray
    frame1: np.ndarray
    middle: np.ndarray
    t: float
    flows: np.ndarray | None = None  # as in Sequence


def load_photo(path: Path, max_short_side: int = 720) -> np.ndarray:
    """A photo as RGB uint8, downscaled so its short side is at most `max_short_side`."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = max_short_side / min(im.size)
            if scale < 1:
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
            return np.asarray(im)
    except OSError as exc:
        raise DataError(f"{path}: not a readable image ({exc}): re-fetch the corpus") from exc


def load_video(path: Path, short_side: int = 288, max_frames: int = 400) -> np.ndarray:
    """Up to `max_frames` decoded frames [T,H,W,3] uint8, downscaled to `short_side`.

    Corrupt packets are skipped (one corpus clip has decode errors at its start).
    """
    import av

    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            for packet in container.demux(video=0):
                try:
                    decoded = packet.decode()
                except av.FFmpegError:
                    continue
                for fr in decoded:
                    im = fr.to_image()
                    scale = short_side / min(im.size)
                    if scale < 1:
                        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR)
                    frames.append(np.asarray(im.convert("RGB")))
                if len(frames) >= max_frames:
                    break
    except av.FFmpegError as exc:
        raise DataError(f"{path}: not a readable video ({exc}): re-fetch the corpus") from exc
    if len(frames) < 9:
        raise DataError(f"{path}: need at least 9 decodable frames, got {len(frames)}")
    return np.stack(frames[:max_frames])


def _affine(cx: float, cy: float, scale: float, angle: float, crop: int) -> tuple[float, ...]:
    """PIL AFFINE coefficients (output -> source) for a crop centred at (cx, cy) in the source."""
    c, s = math.cos(angle) / scale, math.sin(angle) / scale
    h = crop / 2
    return (c, -s, cx - c * h + s * h, s, c, cy - s * h - c * h)


def _camera_flow(src_from: tuple[float, ...], src_to: tuple[float, ...], crop: int) -> np.ndarray:
    """[H,W,2] flow between two PIL affine crops of one image (PIL samples at pixel centres)."""
    m0, o0 = np.array([src_from[0:2], src_from[3:5]]), np.array([src_from[2], src_from[5]])
    m1, o1 = np.array([src_to[0:2], src_to[3:5]]), np.array([src_to[2], src_to[5]])
    yy, xx = np.mgrid[0:crop, 0:crop] + 0.5
    pts = np.stack([xx, yy], -1)
    q = (pts @ m0.T + o0 - o1) @ np.linalg.inv(m1).T
    return (q - pts).astype(np.float32)


def synth_sequence(photo: np.ndarray, stride: int, rng: np.random.Generator, cfg: MotionConfig = MotionConfig()
                   ) -> Sequence:
    """stride + 1 frames of camera motion (+ maybe a moving sprite) over one photo, motion linear in
    time, with the exact flows between the end frames (the sprite's where it is opaque)."""
    src = Image.fromarray(photo)
    crop = cfg.crop
    h, w = photo.shape[:2]
    for _ in range(20):
        scale0 = rng.uniform(*cfg.scale_range)
        zoom = math.exp(rng.uniform(-cfg.max_zoom, cfg.max_zoom))
        rot = math.radians(rng.uniform(-cfg.max_rot_deg, cfg.max_rot_deg))
        shift = rng.uniform(-cfg.max_shift, cfg.max_shift, size=2) * rng.uniform(0.1, 1.0)
        dsrc = shift / scale0
        radius = crop / 2 * math.sqrt(2) / min(scale0, scale0 * zoom) + np.abs(dsrc).max() + 2
        if 2 * radius < min(h, w):
            break
    else:
        scale0, zoom, rot, dsrc = 1.0, 1.0, 0.0, np.zeros(2)
        radius = crop / 2 * math.sqrt(2) + 2
        if 2 * radius >= min(h, w):
            raise DataError(f"photo of {w}x{h}: need at least {int(2 * radius) + 1} px on the short side")
    cx = rng.uniform(radius, w - radius)
    cy = rng.uniform(radius, h - radius)
    sprite = _sprite(photo, rng, cfg) if rng.random() < cfg.sprite_prob else None
    frames, cams, alphas = [], [], []
    for k in range(stride + 1):
        tau = k / stride
        coeffs = _affine(cx + tau * dsrc[0], cy + tau * dsrc[1], scale0 * zoom**tau, rot * tau, crop)
        cams.append(coeffs)
        frame = src.transform((crop, crop), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
        if sprite is not None:
            im, pos0, vel = sprite
            ox, oy = pos0 + tau * vel
            layer = im.transform((crop, crop), Image.Transform.AFFINE, (1, 0, -ox, 0, 1, -oy),
                                 resample=Image.Resampling.BILINEAR)
            alphas.append(np.asarray(layer)[..., 3] > 127)
            frame = Image.alpha_composite(frame.convert("RGBA"), layer).convert("RGB")
        frames.append(np.asarray(frame))
    f01 = _camera_flow(cams[0], cams[-1], crop)
    f10 = _camera_flow(cams[-1], cams[0], crop)
    if sprite is not None:
        f01[alphas[0]] = sprite[2]
        f10[alphas[-1]] = -sprite[2]
    return Sequence(frames, np.concatenate([f01, f10], -1).transpose(2, 0, 1).copy())


def _sprite(photo: np.ndarray, rng: np.random.Generator, cfg: MotionConfig):
    """An elliptical patch of the photo (RGBA), a start position and a velocity in crop pixels."""
    sw, sh = rng.integers(cfg.sprite_size[0], cfg.sprite_size[1] + 1, size=2)
    y = rng.integers(0, photo.shape[0] - sh)
    x = rng.integers(0, photo.shape[1] - sw)
    patch = photo[y:y + sh, x:x + sw]
    yy, xx = np.mgrid[0:sh, 0:sw]
    inside = ((yy - (sh - 1) / 2) / (sh / 2)) ** 2 + ((xx - (sw - 1) / 2) / (sw / 2)) ** 2 <= 1.0
    if rng.random() < 0.5:  # rectangles too: GIF content has hard-edged objects and text boxes
        inside[:] = True
    rgba = np.dstack([patch, (inside * 255).astype(np.uint8)])
    vel = rng.uniform(-cfg.sprite_max_shift, cfg.sprite_max_shift, size=2)
    pos0 = rng.uniform(0, cfg.crop - np.array([sw, sh])) - vel / 2
    return Image.fromarray(rgba, "RGBA"), pos0, vel


def video_sequence(frames: np.ndarray, stride: int, rng: np.random.Generator, cfg: MotionConfig = MotionConfig()
                   ) -> Sequence:
    """stride + 1 consecutive frames of a clip, one random crop (flipped at random)."""
    n, h, w = frames.shape[:3]
    if n <= stride or min(h, w) < cfg.crop:
        raise DataError(f"video clip of {n} frames {w}x{h}: need > {stride} frames and >= {cfg.crop} px")
    start = int(rng.integers(0, n - stride))
    y = int(rng.integers(0, h - cfg.crop + 1))
    x = int(rng.integers(0, w - cfg.crop + 1))
    seq = frames[start:start + stride + 1, y:y + cfg.crop, x:x + cfg.crop]
    if rng.random() < 0.5:
        seq = seq[:, :, ::-1]
    return Sequence([np.ascontiguousarray(f) for f in seq])


def pick_triplet(seq: Sequence, rng: np.random.Generator, k: int | None = None) -> Triplet:
    """End frames + intermediate frame k (random when None) at t = k / stride."""
    frames = seq.frames
    stride = len(frames) - 1
    k = int(rng.integers(1, stride)) if k is None else k
    return Triplet(frames[0], frames[-1], frames[k], k / stride, seq.flows)


_QUANTIZERS = (Quantizer.MEDIAN_CUT, Quantizer.OCTREE, Quantizer.KMEANS, Quantizer.WEB)
_QUANTIZER_P = (0.35, 0.3, 0.3, 0.05)
_DITHERS = (Dither.NONE, Dither.FLOYD_STEINBERG, Dither.ORDERED)
_DITHER_P = (0.5, 0.3, 0.2)


def gif_degrade_pair(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two frames as a GIF would show them: 32-256 colours, random quantizer and dither,
    per-frame (local) palettes or, a third of the time, the first frame's palette for both."""
    colors = int(rng.integers(32, 257))
    quantizer = _QUANTIZERS[rng.choice(len(_QUANTIZERS), p=_QUANTIZER_P)]
    dither = _DITHERS[rng.choice(len(_DITHERS), p=_DITHER_P)]
    idx_a, pal_a = quantize(a, colors, quantizer, dither)
    if rng.random() < 1 / 3:
        idx_b, pal_b = quantize(b, colors, quantizer, dither, palette=pal_a)
    else:
        idx_b, pal_b = quantize(b, colors, quantizer, dither)
    return pal_a[idx_a], pal_b[idx_b]
