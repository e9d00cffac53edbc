"""FLOPs per frame read from an ONNX graph at a given input size, without torch.

Counts the multiply-accumulates of Conv, ConvTranspose, MatMul and Gemm at 2 FLOPs each,
the convention of torch.utils.flop_counter (nets.flops): biases, activations, pooling,
resampling and warps are not counted (they are memory-bound and small). Shapes come from
ONNX shape inference after fixing the symbolic N, H, W; Q/DQ (INT8) and FP16 graphs count
the same convolutions as their FP32 source. Sizes that are not a multiple of the network's
stride are counted at the padded size the runtime actually runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError

COUNTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


@dataclass(frozen=True)
class GraphFlops:
    total: int  # FLOPs of one call at the counted size
    by_op: dict[str, int]  # op type -> FLOPs
    height: int  # the counted (padded) size
    width: int
    batch: int

    @property
    def per_frame(self) -> float:
        return self.total / self.batch


def padded(size: int, stride: int) -> int:
    return -(-size // stride) * stride


def model_stride(model) -> int | None:
    for prop in model.metadata_props:
        if prop.key == "stride":
            return int(prop.value)
    return None


def _fix_inputs(model, batch: int, height: int, width: int) -> None:
    """Replace the symbolic N, H, W of every graph input by numbers (by name, else by position)."""
    names = {"N": batch, "H": height, "W": width}
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        image = len(dims) == 4 and dims[3].dim_value == 3  # NHWC image
        for axis, d in enumerate(dims):
            if d.dim_value:
                continue
            value = names.get(d.dim_param)
            if value is None:
                value = batch if axis == 0 else (height, width)[axis - 1] if image and axis in (1, 2) else None
            if value is None:
                raise ModelError(f"{vi.name}: cannot fix symbolic dim {d.dim_param!r} (axis {axis}) for counting FLOPs")
            d.Clear()
            d.dim_value = value


def _shapes(model) -> dict[str, tuple[int, ...]]:
    import onnx

    shapes: dict[str, tuple[int, ...]] = {}
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        known = vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")
        if known and all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(d.dim_value for d in dims)
    for node in model.graph.node:  # Constant weights
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = tuple(attr.t.dims)
    return shapes


def _attr(node, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def node_flops(node, shapes: dict[str, tuple[int, ...]]) -> int:
    """FLOPs of one counted node; ModelError when shape inference left a needed shape unknown."""

    def shape(name: str) -> tuple[int, ...]:
        if name not in shapes:
            raise ModelError(f"node {node.name or node.op_type}: shape of {name!r} unknown; cannot count FLOPs")
        return shapes[name]

    op = node.op_type
    if op == "Conv":
        w, out = shape(node.input[1]), shape(node.output[0])
        return 2 * math.prod(out) * math.prod(w[1:])  # every output: Cin/groups * k*k MACs
    if op == "ConvTranspose":
        x, w = shape(node.input[0]), shape(node.input[1])
        return 2 * x[0] * math.prod(x[2:]) * math.prod(w)  # every input pixel: Cin * Cout/groups * k*k MACs
    if op == "MatMul":
        a, b = shape(node.input[0]), shape(node.input[1])
        a2 = (1, *a) if len(a) == 1 else a  # numpy's promotion of 1-D operands
        b2 = (*b, 1) if len(b) == 1 else b
        batch = math.prod(np.broadcast_shapes(a2[:-2], b2[:-2]))
        return 2 * batch * a2[-2] * a2[-1] * b2[-1]
    if op == "Gemm":
        a, b = shape(node.input[0]), shape(node.input[1])
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else a
        n = b[0] if _attr(node, "transB", 0) else b[1]
        return 2 * m * k * n
    return 0


def count_graph(model, batch: int = 1, height: int = 256, width: int = 256, pad: bool = True) -> GraphFlops:
    """FLOPs of one call on `batch` frames of `height` x `width` (padded to the model's stride when `pad`)."""
    import onnx

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model), load_external_data=False)
    else:
        model = onnx.ModelProto.FromString(model.SerializeToString())  # shape inference must not touch the caller's
    stride = model_stride(model) if pad else None
    if stride:
        height, width = padded(height, stride), padded(width, stride)
    _fix_inputs(model, batch, height, width)
    shapes = _shapes(model)
    by_op: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in COUNTED_OPS:
            by_op[node.op_type] = by_op.get(node.op_type, 0) + node_flops(node, shapes)
    return GraphFlops(sum(by_op.values()), by_op, height, width, batch)
