"""Palette-cell constraint for plain (undithered) GIFs, as a post-process (numpy).

Without dither, an encoder maps every pixel to its nearest palette colour, so the true colour
lies in the Voronoi cell of the GIF pixel's palette entry (BRNet, arXiv 2204.12039, uses the
same idea for bit-depth). `project_to_cell` moves a restored pixel that left its cell back
onto the cell's boundary by cyclic projection onto the violated bisector half-spaces (a few
passes; the cell is convex). `cell_agreement` measures how often the premise holds for an
encoder: the share of pixels whose true colour's nearest palette entry is the GIF's colour.
"""

from __future__ import annotations

import numpy as np

from ..quantize import nearest_palette_index


def _nearest_float(y: np.ndarray, pal: np.ndarray) -> np.ndarray:
    d = (pal * pal).sum(1)[None, :] - 2.0 * y @ pal.T
    return d.argmin(1)


def project_to_cell(restored: np.ndarray, gif: np.ndarray, palette: np.ndarray, passes: int = 6,
                    inside: float = 0.75) -> np.ndarray:
    """HxWx3 uint8 restored frame constrained to the palette cells of the GIF's pixels.

    `inside`: how far (RGB units) inside a violated bisector plane a pixel is put, so that
    rounding to 8 bits keeps it in the cell.
    """
    pal = np.unique(palette.astype(np.float32), axis=0)  # duplicates (padding) change no cell
    y = restored.reshape(-1, 3).astype(np.float32)
    own = pal[_nearest_float(gif.reshape(-1, 3).astype(np.float32), pal)]  # the GIF pixel's own colour
    for _ in range(passes):
        near = pal[_nearest_float(y, pal)]
        bad = np.flatnonzero((near != own).any(1))
        if not len(bad):
            break
        n = near[bad] - own[bad]  # normal of the bisector plane, pointing out of the cell
        c = ((near[bad] ** 2).sum(1) - (own[bad] ** 2).sum(1)) / 2 - inside * np.linalg.norm(n, axis=1)
        excess = (y[bad] * n).sum(1) - c
        y[bad] -= (np.maximum(excess, 0) / (n * n).sum(1))[:, None] * n
    return np.clip(np.rint(y), 0, 255).astype(np.uint8).reshape(restored.shape)


def cell_agreement(truth: np.ndarray, gif: np.ndarray, palette: np.ndarray) -> float:
    """Share of pixels whose true colour is nearest (RGB) to the GIF pixel's colour."""
    pal = np.unique(palette, axis=0)
    return float((pal[nearest_palette_index(truth, pal)] == gif).all(-1).mean())
