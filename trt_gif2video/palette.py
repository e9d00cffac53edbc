"""Palette padding shared by the models' deploy form, the runtime and training (numpy only)."""

from __future__ import annotations

import numpy as np

from .errors import BadArgumentError

PALETTE_SIZE = 256


def pad_palette(pal: np.ndarray) -> np.ndarray:
    """Nx3 uint8 palette (1 <= N <= 256) -> 256x3 uint8, padded by repeating entry 0.

    A repeated entry can never win an argmin over an earlier equal entry, so the nearest-colour
    index of every pixel is unchanged and the network needs no mask.
    """
    pal = np.asarray(pal)
    if pal.dtype != np.uint8 or pal.ndim != 2 or pal.shape[1] != 3 or not 1 <= pal.shape[0] <= PALETTE_SIZE:
        raise BadArgumentError(f"palette: need an Nx3 uint8 array with 1 <= N <= 256, got {pal.dtype} {pal.shape}")
    if pal.shape[0] == PALETTE_SIZE:
        return np.ascontiguousarray(pal)
    fill = np.repeat(pal[:1], PALETTE_SIZE - pal.shape[0], axis=0)
    return np.ascontiguousarray(np.concatenate([pal, fill], axis=0))
