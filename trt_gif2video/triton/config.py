"""config.pbtxt for one network, derived from its ONNX file (names, dtypes and dims are never typed by hand).

Triton's batched models declare dims without the batch dimension. Our graphs take N first
on every tensor; the 1-D tensors (`t`, `p_dither`) are [N], which Triton expresses as
`dims: [ 1 ]` with `reshape: { shape: [ ] }` (the client sends [N, 1]; the model sees [N]).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..engine.recipe import OnnxInfo, OnnxTensor
from ..errors import ModelError


class Platform(str, enum.Enum):
    """What serves the model: TensorRT plans, ONNX Runtime, or our python-backend model (runs ONNX Runtime)."""

    TENSORRT = "tensorrt"
    ONNXRUNTIME = "onnxruntime"
    PYTHON = "python"

    @property
    def model_file(self) -> str:
        return {Platform.TENSORRT: "model.plan", Platform.ONNXRUNTIME: "model.onnx", Platform.PYTHON: "model.py"}[self]

    @property
    def config_line(self) -> str:
        """The platform/backend line of config.pbtxt."""
        return {
            Platform.TENSORRT: 'platform: "tensorrt_plan"',
            Platform.ONNXRUNTIME: 'platform: "onnxruntime_onnx"',
            Platform.PYTHON: 'backend: "python"',
        }[self]

    @property
    def instance_kind(self) -> str:
        # TensorRT plans run on the GPU they were built for; ORT and the python flavour on CPU
        # (a GPU node running onnxruntime_onnx may switch to KIND_GPU).
        return "KIND_GPU" if self is Platform.TENSORRT else "KIND_CPU"


# ONNX element type -> Triton data type (only what our graphs use).
# Keyed by onnx.TensorProto element type (UINT8 = 2, FLOAT = 1, FLOAT16 = 10; tests check them against onnx):
# onnx is not imported here, so the CLI, which imports this module for its choices, starts without it.
TRITON_DTYPES = {2: "TYPE_UINT8", 1: "TYPE_FP32", 10: "TYPE_FP16"}
# Triton's wire names of the same types (model metadata, tritonclient InferInput).
WIRE_DTYPES = {"TYPE_UINT8": "UINT8", "TYPE_FP32": "FP32", "TYPE_FP16": "FP16"}


@dataclass(frozen=True)
class ModelSettings:
    """What a deployment chooses besides the ONNX: batch size, batching delay, instances."""

    max_batch_size: int = 8
    queue_delay_us: int = 500  # dynamic batching waits at most this long to fill a batch
    instances: int = 1

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.instances < 1 or self.queue_delay_us < 0:
            raise ModelError(f"triton: need max_batch_size >= 1, instances >= 1, queue delay >= 0; got {self}")


def _dims(info: OnnxInfo, tensor: OnnxTensor) -> tuple[list[int], bool]:
    """(dims without the batch dim, -1 for dynamic; whether a reshape to [] is needed)."""
    if not tensor.dims or tensor.dims[0] != "N":
        raise ModelError(f"{info.path.name}: tensor '{tensor.name}' must have the batch dim N first, got {tensor.dims}")
    rest = [d if isinstance(d, int) else -1 for d in tensor.dims[1:]]
    return (rest, False) if rest else ([1], True)


def _tensor_block(info: OnnxInfo, tensor: OnnxTensor) -> str:
    if tensor.elem_type not in TRITON_DTYPES:
        raise ModelError(f"{info.path.name}: tensor '{tensor.name}' has an element type Triton config has no mapping for here")
    dims, reshape = _dims(info, tensor)
    text = f'  {{ name: "{tensor.name}" data_type: {TRITON_DTYPES[tensor.elem_type]} dims: [ {", ".join(map(str, dims))} ]'
    if reshape:
        text += " reshape: { shape: [ ] }"
    return text + " }"


def model_config(name: str, info: OnnxInfo, platform: Platform, settings: ModelSettings = ModelSettings()) -> str:
    """The config.pbtxt text of one model (parses with Triton's ModelConfig protobuf)."""
    inputs = ",\n".join(_tensor_block(info, t) for t in info.inputs)
    outputs = ",\n".join(_tensor_block(info, t) for t in info.outputs)
    # The ONNX metadata (stride, network, precision) travels with the model so clients can read it.
    params = "\n".join(
        f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}' for k, v in sorted(info.metadata.items())
        if k in ("stride", "network", "variant", "precision", "output_dtype")
    )
    return (
        f'name: "{name}"\n{platform.config_line}\nmax_batch_size: {settings.max_batch_size}\n'
        f"input [\n{inputs}\n]\noutput [\n{outputs}\n]\n"
        f"dynamic_batching {{ max_queue_delay_microseconds: {settings.queue_delay_us} }}\n"
        f"instance_group [ {{ count: {settings.instances} kind: {platform.instance_kind} }} ]\n"
        f"{params}\n"
    )
