"""Fit frames to a network: pad to its stride, crop back, and tile frames that are too big.

A tile keeps only its core; the network sees the core plus the network's receptive-field
margin of real image on every side (`receptive.py`), and tiles start on the stride grid, so a
tiled frame equals the whole-frame result (float rounding aside): there is no seam to hide.
Every tile of a frame has the same size, a multiple of the stride, so fixed-profile engines
fit them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..errors import BadArgumentError
from ..models import STRIDE
from ..runtime.backends.base import ShapeLimits


MIN_TILE = max(STRIDE.values())  # a tile holds at least one stride step of every network


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
    """How big frames are split. `max_tile` is the largest side, in pixels, of the part of a frame
    one call keeps; each call also carries the network's receptive-field margin of real context
    on every side (clipped at the frame), so the kept part is exact: tiled == whole frame."""

    max_tile: int | None = None  # None = never tile

    def __post_init__(self) -> None:
        if self.max_tile is not None and self.max_tile < MIN_TILE:
            raise BadArgumentError(f"tile: --tile must be >= {MIN_TILE} (the largest network stride), got {self.max_tile}")


@dataclass(frozen=True)
class Window:
    """One tile along one axis: the network sees [start, stop), the output keeps [keep_start, keep_stop)."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def tile_windows(length: int, max_core: int, margin: int, stride: int, min_window: int = 1) -> list[Window]:
    """Split `length` (a multiple of stride) into kept cores of at most `max_core` (rounded down to
    the stride), each seen with `margin` px of context on both sides; all windows have one size
    and start on the stride grid (so a fixed-profile engine fits them and poolings line up)."""
    margin = padded_size(margin, stride) if margin else 0
    core = max(stride, max_core // stride * stride)
    count = -(-length // core)
    core = padded_size(-(-length // count), stride)  # balanced: 608 px at max 512 -> 2 x 304, not 512 + 96
    size = min(length, max(core + 2 * margin, padded_size(min_window, stride)))
    windows = []
    for k in range(count):
        keep_start, keep_stop = k * core, min(length, (k + 1) * core)
        if keep_start >= length:
            break
        start = min(max(0, keep_start - margin), length - size)
        windows.append(Window(start, start + size, keep_start, keep_stop))
    return windows


def run_tiled(
    fn: Callable[[dict[str, np.ndarray]], np.ndarray],
    images: Mapping[str, np.ndarray],
    others: Mapping[str, np.ndarray],
    stride: int,
    tiles: TileSpec = TileSpec(),
    limits: ShapeLimits = ShapeLimits(),
    pad_mode: PadMode = PadMode.REPLICATE,
    margin: int | None | Callable[[], int | None] = 0,
) -> np.ndarray:
    """Run `fn` on [N,H,W,3] `images` (all the same size) plus per-sample `others` ([N,...],
    not tiled); return [N,H,W,3] uint8.

    Splits N above `limits.max_batch`, pads to the stride (and `limits.min_hw`), and splits frames
    whose side exceeds `tiles.max_tile` or `limits.max_hw` into tiles that each carry `margin` px
    of context (the network's receptive field, see `receptive.tile_margin`; None = unknown, then a
    frame that must be tiled is refused), keeping only every tile's core; crops back to H x W.
    `margin` may be a function, called only when a frame must be tiled (reading a graph's radius
    costs an ONNX parse that whole-frame calls never need).
    """
    n = next(iter(images.values())).shape[0]
    step = limits.max_batch or n
    if n > step:
        parts = [
            run_tiled(fn, {k: v[i : i + step] for k, v in images.items()},
                      {k: v[i : i + step] for k, v in others.items()}, stride, tiles, limits, pad_mode, margin)
            for i in range(0, n, step)
        ]
        return np.concatenate(parts)
    return _run_tiles(fn, images, others, stride, tiles, limits, pad_mode, margin)


def _axis_core(length: int, max_tile: int | None, max_side: int | None, margin: int, stride: int) -> int:
    """Largest kept core along one axis: the whole axis when it fits the tile and the engine,
    else the tile, shrunk so core plus both margins fit the engine's largest input."""
    if length <= min(max_tile or length, max_side or length):
        return length
    core = min(max_tile or length, length)
    if max_side is not None:
        core = min(core, max_side - 2 * margin)
        if core < stride:
            raise BadArgumentError(f"tile: the engine's largest input side {max_side} px cannot hold a tile plus the "
                                   f"network's {margin}-px receptive-field margin on each side; build the engine "
                                   "with a larger maximum shape")
    return core


def _run_tiles(fn, images, others, stride, tiles: TileSpec, limits: ShapeLimits, pad_mode: PadMode,
               margin: int | None | Callable[[], int | None]) -> np.ndarray:
    first = next(iter(images.values()))
    n, h, w = first.shape[:3]
    padded = {k: pad_to_stride(v, stride, pad_mode, limits.min_hw) for k, v in images.items()}
    ph, pw = padded[next(iter(padded))].shape[1:3]
    max_h, max_w = limits.max_hw or (None, None)
    if ph <= min(tiles.max_tile or ph, max_h or ph) and pw <= min(tiles.max_tile or pw, max_w or pw):
        return crop(fn({**padded, **others}), h, w)
    if callable(margin):
        margin = margin()
    if margin is None:
        raise BadArgumentError("tile: this model does not state its receptive field, so it cannot be tiled exactly")
    margin = padded_size(margin, stride)  # tile origins stay on the stride grid
    rows = tile_windows(ph, _axis_core(ph, tiles.max_tile, max_h, margin, stride), margin, stride, limits.min_hw[0])
    cols = tile_windows(pw, _axis_core(pw, tiles.max_tile, max_w, margin, stride), margin, stride, limits.min_hw[1])
    out = np.empty((n, ph, pw, 3), np.uint8)
    for r in rows:
        for c in cols:
            feeds = {k: np.ascontiguousarray(v[:, r.start : r.stop, c.start : c.stop]) for k, v in padded.items()}
            tile = fn({**feeds, **others})
            out[:, r.keep_start : r.keep_stop, c.keep_start : c.keep_stop] = tile[
                :, r.keep_start - r.start : r.keep_stop - r.start, c.keep_start - c.start : c.keep_stop - c.start]
    return crop(out, h, w)
