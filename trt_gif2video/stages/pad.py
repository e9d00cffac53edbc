"""Fit frames to a network: pad to its stride, crop back, and tile frames that are too big.

Tiles overlap and are blended with weights that ramp linearly across each overlap, so a
tile's border (where its convolutions saw padding) never shows as a seam. Every tile of a
frame has the same size, a multiple of the stride, so fixed-profile engines fit them.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..errors import BadArgumentError
from ..runtime.backends.base import ShapeLimits


class PadMode(str, enum.Enum):
    REPLICATE = "edge"
    REFLECT = "reflect"


def padded_size(size: int, stride: int) -> int:
    return -(-size // stride) * stride


def pad_to_stride(
    x: np.ndarray, stride: int, mode: PadMode = PadMode.REPLICATE, min_hw: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Pad [N,H,W,C] at the bottom/right so H and W are multiples of `stride` and at least `min_hw`."""
    h, w = x.shape[1:3]
    ph, pw = padded_size(max(h, min_hw[0]), stride) - h, padded_size(max(w, min_hw[1]), stride) - w
    if not ph and not pw:
        return x
    if mode is PadMode.REFLECT and (ph >= h or pw >= w):
        mode = PadMode.REPLICATE  # reflect needs more pixels than it adds; tiny frames replicate
    return np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=PadMode(mode).value)


def crop(x: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.ascontiguousarray(x[:, :height, :width])


@dataclass(frozen=True)
class TileSpec:
    max_tile: int | None = None  # largest tile side in pixels; None = never tile
    overlap: int = 32  # pixels shared by neighbouring tiles (>= the network's useful receptive field)

    def __post_init__(self) -> None:
        if self.max_tile is not None and self.max_tile <= 2 * self.overlap:
            raise BadArgumentError(f"tile: --tile must be > 2 x overlap ({2 * self.overlap}), got {self.max_tile}")


def tile_starts(length: int, max_tile: int, overlap: int, stride: int) -> tuple[int, list[int]]:
    """(tile size, start offsets) covering `length` (a multiple of stride) with the fewest tiles.

    The tile size is the smallest multiple of stride that covers `length` with that many tiles
    and at least `overlap` shared pixels, so tiling a 608-px side at max 512 costs 2 x 320 px,
    not 2 x 512.
    """
    max_tile = max(stride, max_tile // stride * stride)
    if length <= max_tile:
        return length, [0]
    count = math.ceil((length - overlap) / (max_tile - overlap))
    size = min(max_tile, padded_size(math.ceil((length + (count - 1) * overlap) / count), stride))
    count = math.ceil((length - size) / (size - overlap)) + 1 if size < length else 1
    step = (length - size) / (count - 1)
    return size, [round(i * step) for i in range(count)]


def _ramp(size: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blend weight on sides that have a neighbour: 0 on the outer quarter of the overlap
    (pixels whose receptive field reached the tile's padding), then a linear rise to 1.
    Two neighbours' weights sum to exactly 1 across an overlap of `overlap` px."""
    w = np.ones(size, np.float32)
    margin = overlap // 4
    ramp = np.clip((np.arange(overlap, dtype=np.float32) + 0.5 - margin) / (overlap - 2 * margin), 0.0, 1.0)
    if not at_start:
        w[:overlap] = ramp
    if not at_end:
        w[size - overlap :] = np.minimum(w[size - overlap :], ramp[::-1])
    return w


def run_tiled(
    fn: Callable[[dict[str, np.ndarray]], np.ndarray],
    images: Mapping[str, np.ndarray],
    others: Mapping[str, np.ndarray],
    stride: int,
    tiles: TileSpec = TileSpec(),
    limits: ShapeLimits = ShapeLimits(),
    pad_mode: PadMode = PadMode.REPLICATE,
) -> np.ndarray:
    """Run `fn` on [N,H,W,3] `images` (all the same size) plus per-sample `others` ([N,...],
    not tiled); return [N,H,W,3] uint8.

    Splits N above `limits.max_batch`, pads to the stride (and `limits.min_hw`), splits into
    overlapping tiles when a side exceeds `tiles.max_tile` or `limits.max_hw`, blends the
    tile outputs and crops back to H x W.
    """
    n = next(iter(images.values())).shape[0]
    step = limits.max_batch or n
    if n > step:
        parts = [
            run_tiled(fn, {k: v[i : i + step] for k, v in images.items()},
                      {k: v[i : i + step] for k, v in others.items()}, stride, tiles, limits, pad_mode)
            for i in range(0, n, step)
        ]
        return np.concatenate(parts)
    return _run_tiles(fn, images, others, stride, tiles, limits, pad_mode)


def _run_tiles(fn, images, others, stride, tiles: TileSpec, limits: ShapeLimits, pad_mode: PadMode) -> np.ndarray:
    first = next(iter(images.values()))
    n, h, w = first.shape[:3]
    padded = {k: pad_to_stride(v, stride, pad_mode, limits.min_hw) for k, v in images.items()}
    ph, pw = padded[next(iter(padded))].shape[1:3]
    max_h, max_w = (tiles.max_tile or ph, tiles.max_tile or pw)
    if limits.max_hw is not None:
        max_h, max_w = min(max_h, limits.max_hw[0]), min(max_w, limits.max_hw[1])
    if ph <= max_h and pw <= max_w:
        return crop(fn({**padded, **others}), h, w)
    overlap = min(tiles.overlap, max_h // 4, max_w // 4)  # a small profile maximum still tiles
    th, ys = tile_starts(ph, max_h, overlap, stride)
    tw, xs = tile_starts(pw, max_w, overlap, stride)
    acc = np.zeros((n, ph, pw, 3), np.float32)
    weight = np.zeros((ph, pw), np.float32)
    for yi, y in enumerate(ys):
        wy = _ramp(th, min(overlap, th // 2), yi == 0, yi == len(ys) - 1)
        for xi, x in enumerate(xs):
            wx = _ramp(tw, min(overlap, tw // 2), xi == 0, xi == len(xs) - 1)
            feeds = {k: np.ascontiguousarray(v[:, y : y + th, x : x + tw]) for k, v in padded.items()}
            out = fn({**feeds, **others})
            wt = wy[:, None] * wx[None, :]
            acc[:, y : y + th, x : x + tw] += out.astype(np.float32) * wt[None, :, :, None]
            weight[y : y + th, x : x + tw] += wt
    acc /= weight[None, :, :, None]  # in place: a 4K batch's float copies are what bounds memory (budget.py)
    np.rint(acc, out=acc)
    np.clip(acc, 0, 255, out=acc)
    return crop(acc.astype(np.uint8), h, w)
