"""ONNX export and its FP16 / INT8 derivatives (offline path: nets -> ONNX -> TensorRT).

`onnx_export` is the only torch module here (torch -> FP32 ONNX). `fp16` and `int8` derive
their graphs from the FP32 ONNX with onnx / onnxruntime alone, so quantizing needs no torch.
This file only names the shipped models and their derived files: it imports nothing heavy.

    from trt_gif2video.export.onnx_export import export_all   # torch
    from trt_gif2video.export.fp16 import make_fp16            # no torch
    from trt_gif2video.export.int8 import make_int8            # no torch
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from ..config import Precision
from ..errors import BadArgumentError
from ..models import Network  # the `network` metadata value of an ONNX file

__all__ = ["MODELS", "ModelFile", "Network", "NetworkChoice", "OutputDtype", "model_for_stem", "models_for",
           "variant_name", "variant_path"]


class NetworkChoice(str, enum.Enum):
    """CLI choice: one network or all of them."""

    DEQUANT = "dequant"
    INTERP = "interp"
    DITHER = "dither"
    ALL = "all"


class OutputDtype(str, enum.Enum):
    """Image output of the deploy graph: uint8 [0,255] (the contract) or float16 [0,1] (10-bit encoders)."""

    UINT8 = "uint8"
    FP16 = "fp16"


@dataclass(frozen=True)
class ModelFile:
    """One shipped model: weights `<stem>.safetensors`, FP32 graph `<stem>.onnx`."""

    stem: str
    network: Network
    variant: str  # nodither | dither for the dequantizer; "none" where it does not apply

    def onnx_name(self, precision: Precision = Precision.FP32, output: OutputDtype = OutputDtype.UINT8) -> str:
        return variant_name(self.stem, precision, output)


MODELS = (
    ModelFile("dequant_nodither", Network.DEQUANT, "nodither"),
    ModelFile("dequant_dither", Network.DEQUANT, "dither"),
    ModelFile("dither_detector", Network.DITHER, "none"),
    ModelFile("interp", Network.INTERP, "none"),
)


def models_for(choice: NetworkChoice) -> tuple[ModelFile, ...]:
    return MODELS if choice is NetworkChoice.ALL else tuple(m for m in MODELS if m.network.value == choice.value)


def model_for_stem(stem: str) -> ModelFile:
    for m in MODELS:
        if m.stem == stem:
            return m
    raise BadArgumentError(f"export: unknown model {stem!r}; known: {', '.join(m.stem for m in MODELS)}")


def variant_name(stem: str, precision: Precision, output: OutputDtype = OutputDtype.UINT8) -> str:
    """`<stem>.onnx` (FP32), `<stem>.fp16.onnx`, `<stem>.int8.onnx`; `-f16out` marks float16 image output."""
    base = stem if output is OutputDtype.UINT8 else f"{stem}-f16out"
    return f"{base}.onnx" if precision is Precision.FP32 else f"{base}.{precision.value}.onnx"


def variant_path(fp32_path: Path, precision: Precision) -> Path:
    """Where the FP16/INT8 derivative of an FP32 ONNX file lives (same folder)."""
    fp32_path = Path(fp32_path)
    stem = fp32_path.name[: -len(".onnx")] if fp32_path.name.endswith(".onnx") else fp32_path.stem
    return fp32_path.with_name(f"{stem}.onnx" if precision is Precision.FP32 else f"{stem}.{precision.value}.onnx")
