"""Transparency around the networks: the networks restore opaque pixels only.

- Before the networks, `fill_transparent` gives every transparent pixel the colour of a
  nearby opaque pixel, so the dequantizer and interpolator see the opaque content simply
  continuing (as the replicate padding they already get at frame edges) and no hard edge
  to an arbitrary background colour: transparent pixels feed no artefacts into opaque ones.
- After the networks, the frame's alpha is put back: transparent pixels receive no
  restoration (alpha 0 in APNG, WebM, PNG frames and GIF; exactly `--background` in MP4).
- Interpolated frames take the alpha of the nearer GIF frame in time (t < 0.5: the earlier
  one, else the later one), so a shape and its outline change together halfway between.
- MP4 and the --compare video cannot carry alpha: frames are composited onto a background
  colour, white by default, as `ffmpeg -i in.gif out.mp4` shows transparent GIF pixels
  (its GIF decoder's trans_color is 0x00ffffff) and as a browser's default page shows them.

GIF alpha is binary (0 or 255), so compositing is a select, not a blend.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import ImageColor

from ..clip import GifFrame
from ..errors import BadArgumentError

DEFAULT_BACKGROUND = (255, 255, 255)


def parse_color(text: str) -> tuple[int, int, int]:
    """An RGB colour from a name or hex code as CSS writes it (white, black, #1e90ff, #fff)."""
    try:
        rgb = ImageColor.getrgb(text.strip())
    except (ValueError, AttributeError):
        raise BadArgumentError(f'--background: unknown colour "{text}": use a name (white, black) or #rrggbb') from None
    return tuple(int(c) for c in rgb[:3])  # type: ignore[return-value]


def fill_transparent(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`rgb` with each transparent pixel (alpha 0) set to the colour of its nearest opaque pixel.

    Nearest in Euclidean distance (scipy's exact distance transform, linear time), so pixels
    next to an edge continue that edge's own colour. Colours are copied, never blended, so
    filled pixels stay palette colours (what the dequantizer expects). A frame with no opaque
    pixel, or no transparent one, is returned as it is.
    """
    from scipy.ndimage import distance_transform_edt  # only transparent GIFs need it

    opaque = alpha > 0
    if opaque.all() or not opaque.any():
        return rgb
    iy, ix = distance_transform_edt(~opaque, return_distances=False, return_indices=True)
    return rgb[iy, ix]


def prepare(frame: GifFrame) -> GifFrame:
    """The frame the networks see: transparent pixels filled; an opaque frame is returned as is."""
    if frame.alpha is None:
        return frame
    return dataclasses.replace(frame, rgb=fill_transparent(frame.rgb, frame.alpha))


def nearer_alpha(a: GifFrame, b: GifFrame, t: float) -> np.ndarray | None:
    """Alpha of a frame interpolated at t in (0, 1) between GIF frames a and b."""
    return a.alpha if t < 0.5 else b.alpha


def composite(rgb: np.ndarray, alpha: np.ndarray | None, background: tuple[int, int, int]) -> np.ndarray:
    """RGB for formats without alpha: transparent pixels become `background`."""
    if alpha is None:
        return rgb
    return np.where(alpha[..., None] > 0, rgb, np.asarray(background, np.uint8))


def with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """HxWx4 RGBA (alpha None = opaque)."""
    a = np.full(rgb.shape[:2], 255, np.uint8) if alpha is None else alpha
    return np.concatenate([rgb, a[..., None]], axis=2)
