"""Frame types that flow through the pipeline.

Frames are HxWx3 uint8 RGB numpy arrays (C-contiguous). A GIF frame also carries
the palette in effect (Nx3 uint8, N <= 256) because the dequantizer re-quantizes
its estimate to it, and its presentation time because interpolation follows the
GIF's own delays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Browsers clamp GIF delays of 0 and 1 centiseconds to 10 (100 ms); so do we.
MIN_DELAY_CS = 2
CLAMPED_DELAY_CS = 10


def effective_delay_ms(delay_cs: int) -> int:
    """The delay a browser shows: 0 and 1 centisecond become 100 ms."""
    return CLAMPED_DELAY_CS * 10 if delay_cs < MIN_DELAY_CS else delay_cs * 10


@dataclass(frozen=True)
class GifInfo:
    """What the GIF's header says, known before any frame is decoded."""

    path: str
    width: int
    height: int
    loop: int | None  # 0 = forever, N = play N+1 times (NETSCAPE2.0), None = no loop extension
    global_palette: np.ndarray | None  # Nx3 uint8


@dataclass(frozen=True)
class GifFrame:
    """One fully composited frame, as a viewer shows it."""

    index: int
    rgb: np.ndarray  # HxWx3 uint8, composited over what disposal left
    palette: np.ndarray  # Nx3 uint8: the palette in effect for this frame (local, else global)
    timestamp_ms: int  # presentation time of this frame (sum of effective delays before it)
    delay_ms: int  # effective delay (0/1 cs clamped to 100 ms)
    delay_cs: int  # the raw delay written in the file
    # HxW uint8 (0 = transparent, 255 = opaque) as a browser shows it; None = fully opaque.
    # Under alpha 0, `rgb` holds the GIF's background colour (see io.gif_decode).
    alpha: np.ndarray | None = None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])
