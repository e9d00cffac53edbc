"""Colour dequantization stage: GIF frames in, restored full-colour frames out, in order.

Frames go through in batches (one `infer` per batch); each frame's own palette is padded to
the 256 entries the model expects. With `DitherChoice.AUTO` the dither detector looks at the
first few frames and picks the dithered or the plain dequantizer for the whole GIF.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from ..clip import GifFrame
from ..config import DitherChoice
from ..errors import BadArgumentError
from ..models import Network, Variant
from ..palette import pad_palette
from ..runtime.backends.base import Session, default_stride
from .pad import TileSpec, pad_to_stride, run_tiled
from .receptive import session_margin

# open_model(network, variant) -> Session: how the stage gets its models (the pipeline decides backend/precision).
ModelOpener = Callable[[Network, "Variant | None"], Session]


@dataclass(frozen=True)
class DequantizeConfig:
    batch: int = 4
    dither: DitherChoice = DitherChoice.AUTO
    tiles: TileSpec = TileSpec()
    detect_frames: int = 4  # frames the detector looks at
    detect_crop: int = 256  # centre crop side it looks at (the detector is size-agnostic)
    threshold: float = 0.5  # mean p_dither above this -> dithered weights

    def __post_init__(self) -> None:
        if self.batch < 1 or self.detect_frames < 1:
            raise BadArgumentError(f"dequantize: batch and detect_frames must be >= 1, got {self.batch}, {self.detect_frames}")


def _centre_crop(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return rgb[y : y + side, x : x + side]


def detect_dither(detector: Session, frames: list[GifFrame], config: DequantizeConfig) -> tuple[Variant, float]:
    """Which dequantizer fits these frames, and the detector's mean dither probability."""
    limits = detector.limits
    side = min((config.detect_crop, *(limits.max_hw or ())))
    batch = np.stack([_centre_crop(f.rgb, side) for f in frames[: limits.max_batch or len(frames)]])
    batch = pad_to_stride(batch, default_stride(detector, Network.DITHER), min_hw=limits.min_hw)
    p = float(np.mean(detector.infer({"gif": batch})["p_dither"]))
    return (Variant.DITHER if p > config.threshold else Variant.NODITHER), p


def _same_frame(a: GifFrame, b: GifFrame | None) -> bool:
    return b is not None and np.array_equal(a.rgb, b.rgb) and np.array_equal(a.palette, b.palette)


class Dequantizer:
    """Iterator transform GifFrame -> (GifFrame, restored HxWx3 uint8); opens its models lazily."""

    def __init__(self, open_model: ModelOpener, config: DequantizeConfig = DequantizeConfig()) -> None:
        self._open = open_model
        self.config = config
        self.variant: Variant | None = None  # known once the first frames are in
        self.p_dither: float | None = None  # detector output when --dither auto
        self.description: str | None = None  # backend line of the dequantizer session
        self.reused = 0  # held frames that reused the previous restoration (no network call)

    def _choose(self, head: list[GifFrame]) -> Variant:
        choice = self.config.dither
        if choice is DitherChoice.YES:
            return Variant.DITHER
        if choice is DitherChoice.NO or not head:
            return Variant.NODITHER
        with self._open(Network.DITHER, None) as detector:
            variant, self.p_dither = detect_dither(detector, head, self.config)
        return variant

    def __call__(self, frames: Iterable[GifFrame]) -> Iterator[tuple[GifFrame, np.ndarray]]:
        frames = iter(frames)
        head = list(itertools.islice(frames, self.config.detect_frames))
        self.variant = self._choose(head)
        with ExitStack() as stack:
            session = stack.enter_context(self._open(Network.DEQUANT, self.variant))
            self.description = session.description
            stride = default_stride(session, Network.DEQUANT)
            rest = itertools.chain(head, frames)
            del head  # the chain holds them now; do not pin them for the whole GIF
            last: tuple[GifFrame, np.ndarray] | None = None
            while batch := list(itertools.islice(rest, self.config.batch)):
                # A held frame (same pixels and palette as the one before) reuses its restoration.
                fresh = [f for i, f in enumerate(batch)
                         if not _same_frame(f, batch[i - 1] if i else (last[0] if last else None))]
                restored = iter(self._infer(session, stride, fresh)) if fresh else iter(())
                for i, f in enumerate(batch):
                    prev = batch[i - 1] if i else (last[0] if last else None)
                    out = last[1] if _same_frame(f, prev) else next(restored)
                    last = (f, out)
                    yield f, out
                self.reused += len(batch) - len(fresh)

    def _infer(self, session: Session, stride: int, batch: list[GifFrame]) -> np.ndarray:
        gif = np.stack([f.rgb for f in batch])
        palette = np.stack([pad_palette(f.palette) for f in batch])
        return run_tiled(
            lambda feeds: session.infer(feeds)["restored"],
            {"gif": gif},
            {"palette": palette},
            stride,
            self.config.tiles,
            session.limits,
            margin=lambda: session_margin(session, stride),  # read only if a frame is tiled
        )
