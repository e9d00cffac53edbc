"""Neighbouring frames (opt-in, `restore --temporal SIGMA`): average each restored GIF frame with
its two neighbours where they agree with it.

A dither pattern changes from frame to frame while the scene mostly does not, so where the
neighbours' restorations match this frame's, averaging them cancels the dither residue the
dequantizer left; where the scene moved, the weights vanish and the frame is kept. Weights are
exp(-d^2 / 2 sigma^2) per pixel, d = the 3x3-box-blurred RMS difference (grey levels) between
the neighbour's and this frame's restoration; the frame itself has weight 1. Measured on the
validation clips (`benchmarks/neighbour_frames.py`, 32 colours, shipped weights of 2026-12-02):
sigma 8 gains +0.08 dB (Floyd-Steinberg), +0.06 (ordered), +0.11 (no dither); with the previous
dither weights FS gained +0.25, i.e. the better the dequantizer, the less is left to average;
sigma 32 loses 0.4-0.5 dB (it blurs motion).
Needs one frame of lookahead, so the stage holds one restored frame.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from ..clip import GifFrame
from ..errors import BadArgumentError

DEFAULT_SIGMA = 8.0  # grey levels; the best on the validation clips with no dither and ordered


def _box3(x: np.ndarray) -> np.ndarray:
    """3x3 mean over an HxW array, edges replicated."""
    p = np.pad(x, 1, mode="edge")
    h, w = x.shape
    out = np.zeros((h, w), np.float32)
    for i in range(3):
        for j in range(3):
            out += p[i : i + h, j : j + w]
    return out / 9.0


def blend(prev: np.ndarray | None, cur: np.ndarray, nxt: np.ndarray | None, sigma: float) -> np.ndarray:
    """`cur` (HxWx3 uint8) averaged with its neighbours where they agree with it."""
    c = cur.astype(np.float32)
    acc, wsum = c.copy(), np.ones(cur.shape[:2], np.float32)
    for other in (prev, nxt):
        if other is None or other.shape != cur.shape:
            continue
        o = other.astype(np.float32)
        d2 = _box3(((o - c) ** 2).mean(axis=2))
        w = np.exp(-d2 / (2.0 * sigma * sigma))
        acc += o * w[..., None]
        wsum += w
    return np.clip(np.rint(acc / wsum[..., None]), 0, 255).astype(np.uint8)


def temporal_filter(pairs: Iterable[tuple[GifFrame, np.ndarray]], sigma: float
                    ) -> Iterator[tuple[GifFrame, np.ndarray]]:
    """The dequantizer's (GIF frame, restored) stream, each restored frame blended with its neighbours."""
    if not sigma > 0:
        raise BadArgumentError(f'restore: "--temporal" must be > 0 grey levels, got {sigma}')
    window: list[tuple[GifFrame, np.ndarray]] = []
    prev: np.ndarray | None = None
    for item in pairs:
        window.append(item)
        if len(window) == 2:
            (frame, cur), (_, nxt) = window
            yield frame, blend(prev, cur, nxt, sigma)
            prev = cur
            window.pop(0)
    if window:
        frame, cur = window[0]
        yield frame, blend(prev, cur, None, sigma)
