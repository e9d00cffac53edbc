"""Colour quantization and dithering: the lossy heart of GIF creation.

Used by GIF synthesis (training data, tests, `make-gif`) and by evaluation. Pure
numpy + Pillow, no torch. Several quantizers on purpose: a model trained on one
quantizer's artefacts generalizes badly to another's (REFERENCE.md section 1).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .config import Dither, Quantizer
from .errors import BadArgumentError

MAX_COLORS = 256

# 8x8 Bayer matrix, values 0..63.
_BAYER8 = np.array(
    [
        [0, 32, 8, 40, 2, 34, 10, 42],
        [48, 16, 56, 24, 50, 18, 58, 26],
        [12, 44, 4, 36, 14, 46, 6, 38],
        [60, 28, 52, 20, 62, 30, 54, 22],
        [3, 35, 11, 43, 1, 33, 9, 41],
        [51, 19, 59, 27, 49, 17, 57, 25],
        [15, 47, 7, 39, 13, 45, 5, 37],
        [63, 31, 55, 23, 61, 29, 53, 21],
    ],
    dtype=np.float32,
)


def web_palette() -> np.ndarray:
    """The 216-colour web-safe palette (6 levels per channel)."""
    levels = np.arange(0, 256, 51, dtype=np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)


def _check(rgb: np.ndarray, colors: int) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise BadArgumentError(f"quantize: need an HxWx3 uint8 image, got {rgb.dtype} {rgb.shape}")
    if not 2 <= colors <= MAX_COLORS:
        raise BadArgumentError(f"quantize: colors must be in 2..256, got {colors}")


def nearest_palette_index(rgb: np.ndarray, palette: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest palette colour (squared RGB distance) for every pixel.

    This is the brute-force reference the exported ONNX re-quantization is tested against.
    Ties go to the lowest index (argmin's rule, the same in ONNX ArgMin).
    """
    flat = rgb.reshape(-1, 3).astype(np.int32)
    pal = palette.astype(np.int32)
    out = np.empty(flat.shape[0], dtype=np.int64)
    pal_sq = (pal * pal).sum(1)
    for start in range(0, flat.shape[0], chunk):
        px = flat[start : start + chunk]
        d = pal_sq[None, :] - 2 * px @ pal.T  # |p|^2 is constant per row: argmin unaffected
        out[start : start + chunk] = d.argmin(1)
    return out.reshape(rgb.shape[:2])


def _pillow_palette(rgb: np.ndarray, colors: int, method: Image.Quantize) -> np.ndarray:
    img = Image.fromarray(rgb, "RGB").quantize(colors=colors, method=method, dither=Image.Dither.NONE)
    used = np.unique(np.asarray(img))
    pal = np.asarray(img.getpalette()[: 3 * MAX_COLORS], dtype=np.uint8).reshape(-1, 3)
    return pal[used]


def _kmeans_palette(rgb: np.ndarray, colors: int, iters: int = 8, sample: int = 40000, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means in RGB (minimum variance), seeded by median cut, on a pixel sample."""
    flat = rgb.reshape(-1, 3)
    rng = np.random.default_rng(seed)
    px = flat[rng.integers(0, flat.shape[0], size=min(sample, flat.shape[0]))].astype(np.float32)
    centers = _pillow_palette(rgb, colors, Image.Quantize.MEDIANCUT).astype(np.float32)
    for _ in range(iters):
        d = (px * px).sum(1)[:, None] - 2 * px @ centers.T + (centers * centers).sum(1)[None, :]
        lab = d.argmin(1)
        sums = np.zeros_like(centers)
        np.add.at(sums, lab, px)
        counts = np.bincount(lab, minlength=len(centers)).astype(np.float32)
        keep = counts > 0
        centers[keep] = sums[keep] / counts[keep, None]
    return np.unique(np.clip(np.rint(centers), 0, 255).astype(np.uint8), axis=0)


def make_palette(rgb: np.ndarray, colors: int, quantizer: Quantizer) -> np.ndarray:
    """A palette of at most `colors` entries (Nx3 uint8) for this image."""
    _check(rgb, colors)
    if quantizer is Quantizer.MEDIAN_CUT:
        return _pillow_palette(rgb, colors, Image.Quantize.MEDIANCUT)
    if quantizer is Quantizer.OCTREE:
        return _pillow_palette(rgb, colors, Image.Quantize.FASTOCTREE)
    if quantizer is Quantizer.KMEANS:
        return _kmeans_palette(rgb, colors)
    if quantizer is Quantizer.WEB:
        return web_palette()
    raise BadArgumentError(f"quantize: unknown quantizer {quantizer!r}")


def _pillow_fs(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    # Pillow's C Floyd-Steinberg; pad the palette with its first colour so the
    # unused slots (black by default) can never be picked.
    padded = np.concatenate([palette, np.repeat(palette[:1], MAX_COLORS - len(palette), 0)])
    pal_img = Image.new("P", (1, 1))
    pal_img.putpalette(padded.astype(np.uint8).ravel().tolist())
    idx = np.asarray(Image.fromarray(rgb, "RGB").quantize(palette=pal_img, dither=Image.Dither.FLOYDSTEINBERG))
    return np.where(idx >= len(palette), 0, idx).astype(np.uint8)


def _ordered(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    thresh = (_BAYER8 + 0.5) / 64.0 - 0.5
    tile = np.tile(thresh, (h // 8 + 1, w // 8 + 1))[:h, :w, None]
    # Spread = the palette's typical spacing: median distance to the nearest other entry.
    pal = palette.astype(np.float32)
    d = np.sqrt(((pal[:, None] - pal[None]) ** 2).sum(-1)) + np.eye(len(pal), dtype=np.float32) * 1e9
    spread = float(np.median(d.min(1))) if len(pal) > 1 else 0.0
    dithered = np.clip(rgb.astype(np.float32) + tile * spread, 0, 255).astype(np.uint8)
    return nearest_palette_index(dithered, palette).astype(np.uint8)


def apply_palette(rgb: np.ndarray, palette: np.ndarray, dither: Dither) -> np.ndarray:
    """Map every pixel to a palette index (HxW uint8), with the chosen dithering."""
    if dither is Dither.NONE:
        return nearest_palette_index(rgb, palette).astype(np.uint8)
    if dither is Dither.FLOYD_STEINBERG:
        return _pillow_fs(rgb, palette)
    if dither is Dither.ORDERED:
        return _ordered(rgb, palette)
    raise BadArgumentError(f"quantize: unknown dither {dither!r}")


def quantize(rgb: np.ndarray, colors: int, quantizer: Quantizer = Quantizer.MEDIAN_CUT,
             dither: Dither = Dither.NONE, palette: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quantize an image: (HxW uint8 indices, Nx3 uint8 palette). Pass `palette` to reuse one (global palette)."""
    _check(rgb, colors)
    pal = make_palette(rgb, colors, quantizer) if palette is None else palette
    return apply_palette(rgb, pal, dither), pal


def quantize_rgb(rgb: np.ndarray, colors: int, quantizer: Quantizer = Quantizer.MEDIAN_CUT,
                 dither: Dither = Dither.NONE) -> tuple[np.ndarray, np.ndarray]:
    """Quantize and return (the GIF-looking RGB image, palette): what a decoder would show."""
    idx, pal = quantize(rgb, colors, quantizer, dither)
    return pal[idx], pal
