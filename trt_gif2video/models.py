"""Where the shipped models live and what they are called (no torch, no onnx import).

FP32 ONNX exports sit beside the safetensors as `<stem>.onnx`; the FP16 and INT8 (Q/DQ)
graphs derived from them as `<stem>.fp16.onnx` / `<stem>.int8.onnx`.
`TRT_GIF2VIDEO_WEIGHTS` points the whole package at another folder (tests, user models).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from .config import Precision
from .errors import ModelError

WEIGHTS_ENV = "TRT_GIF2VIDEO_WEIGHTS"


class Network(str, enum.Enum):
    DEQUANT = "dequant"
    INTERP = "interp"
    DITHER = "dither"  # the dither detector


class Variant(str, enum.Enum):
    """Dequantizer weights: trained on plain or on dithered GIFs."""

    NODITHER = "nodither"
    DITHER = "dither"


# Spatial stride of each network's deploy graph (docs/CONTRACTS.md); the ONNX metadata wins.
STRIDE = {Network.DEQUANT: 16, Network.INTERP: 32, Network.DITHER: 16}


def weights_dir() -> Path:
    """The folder holding the shipped models (`TRT_GIF2VIDEO_WEIGHTS` overrides)."""
    override = os.environ.get(WEIGHTS_ENV)
    return Path(override) if override else Path(__file__).resolve().parent / "weights"


def model_stem(network: Network, variant: Variant | None = None) -> str:
    """`dequant_nodither`, `dequant_dither`, `dither_detector`, `interp`."""
    network = Network(network)
    if network is Network.DEQUANT:
        if variant is None:
            raise ModelError("models: the dequantizer needs a variant (nodither|dither)")
        return f"dequant_{Variant(variant).value}"
    return {Network.INTERP: "interp", Network.DITHER: "dither_detector"}[network]


def onnx_path(
    network: Network, variant: Variant | None = None, precision: Precision = Precision.FP32, root: Path | None = None
) -> Path:
    """Path of the ONNX file for a network/variant/precision (it may not exist yet)."""
    stem = model_stem(network, variant)
    suffix = ".onnx" if Precision(precision) is Precision.FP32 else f".{Precision(precision).value}.onnx"
    return (root or weights_dir()) / f"{stem}{suffix}"


def safetensors_path(network: Network, variant: Variant | None = None, root: Path | None = None) -> Path:
    return (root or weights_dir()) / f"{model_stem(network, variant)}.safetensors"


def require(path: Path) -> Path:
    """`path` if it is a file, else a ModelError that says how to make it."""
    if not path.is_file():
        raise ModelError(
            f"{path}: model file not found; export the models first or set {WEIGHTS_ENV} to a folder holding it"
        )
    return path
