"""How far a network looks: the receptive-field radius of an ONNX graph, read from its layers.

Tiles need this margin of real context around the pixels they keep: an output pixel depends
only on input pixels within `radius` of it, so a tile that carries `radius` pixels of its
neighbours' image on every side computes its centre exactly as the whole frame would (given
stride-aligned tile origins, which keep every pooling grid in place). No blending, no seam.

The walk is conservative (an upper bound) and needs no shapes: each image-derived tensor
carries (radius, jump), both in input pixels; jump is the input distance between two
neighbouring elements (1 at full resolution, 2 ** k after k stride-2 poolings).
- Conv / pooling: + the kernel's reach on its wider side x dilation x jump; jump x stride;
- ConvTranspose / Resize (up): + one element at the coarser resolution; jump / factor;
- GridSample: its sampling positions move by at most the flow bound read from the graph
  (every Tanh scaled by a constant: the bounded flows), so + that bound on the sampled image;
- reductions over H or W, Flatten, Gemm: the whole frame (radius infinite: never tile);
- everything else (elementwise, Concat, Cast, Transpose, Reshape of per-pixel math): no growth.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:  # onnx is imported on first use: `restore` on whole frames never needs it
    import onnx

_GLOBAL = {"GlobalAveragePool", "GlobalMaxPool", "Flatten", "Gemm"}
_REDUCE = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSumExp", "ReduceSumSquare"}


def _attrs(node: onnx.NodeProto) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            out[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return out


def _reach(kernel: int, dilation: int, pad_begin: int) -> int:
    """Input elements an output element sees beyond its own position, on the wider side."""
    extent = (kernel - 1) * dilation
    return max(pad_begin, extent - pad_begin)


def _flow_bound(graph: onnx.GraphProto, consts: dict[str, np.ndarray]) -> float:
    """Sum of |c| over every Tanh(...) * c: a bound on any displacement the graph builds from them."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    bound = 0.0
    for node in graph.node:
        if node.op_type != "Tanh":
            continue
        scales = [float(np.max(np.abs(consts[i]))) for m in consumers.get(node.output[0], []) if m.op_type == "Mul"
                  for i in m.input if i in consts]
        if not scales:
            raise ModelError(f"{graph.name}: a Tanh output is not scaled by a constant; cannot bound the flow")
        bound += max(scales)
    return bound


def receptive_radius(model: onnx.ModelProto | Path | str) -> float:
    """Upper bound, in input pixels, on how far any image output pixel looks into any image input
    (math.inf when an output sees the whole frame, e.g. a classifier)."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    graph = model.graph
    consts = _constants(graph)
    state: dict[str, tuple[float, float]] = {}
    for vi in graph.input:
        t = vi.type.tensor_type
        if t.elem_type in (onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16) and len(t.shape.dim) == 4:
            state[vi.name] = (0.0, 1.0)
    flow = None
    for node in graph.node:
        ins = [state[i] for i in node.input if i in state]
        if not ins or node.op_type in ("Shape", "Size"):
            continue
        radius = max(r for r, _ in ins)
        jump = state[node.input[0]][1] if node.input[0] in state else max(j for _, j in ins)
        op, a = node.op_type, _attrs(node)
        if op in ("Conv", "AveragePool", "MaxPool", "LpPool"):
            if op == "Conv":
                kernel = a.get("kernel_shape") or list(_weight_shape(node, graph, consts)[2:])
            else:
                kernel = a["kernel_shape"]
            dil = a.get("dilations", [1] * len(kernel))
            pads = a.get("pads", [0] * 2 * len(kernel))
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                pads = [(k - 1) * d for k, d in zip(kernel, dil)] * 2  # SAME/VALID: bound by the full extent
            reach = max(_reach(k, d, p) for k, d, p in zip(kernel, dil, pads[: len(kernel)]))
            radius = state[node.input[0]][0] + reach * jump
            jump = jump * max(a.get("strides", [1]))
        elif op == "ConvTranspose":
            stride = max(a.get("strides", [1]))
            radius = state[node.input[0]][0] + jump  # each output element reads its parent and a neighbour
            jump = jump / stride
        elif op == "Resize":
            factor = _resize_factor(node, consts)
            radius = state[node.input[0]][0] + max(jump, jump / factor)
            jump = jump / factor
        elif op == "GridSample":
            if flow is None:
                flow = _flow_bound(graph, consts)
            image = state.get(node.input[0], (0.0, 1.0))[0]
            grid = state.get(node.input[1], (0.0, 1.0))[0]
            radius, jump = max(grid, image + flow), 1.0
        elif op in _GLOBAL:
            radius = math.inf
        elif op in _REDUCE:
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1] in consts:
                axes = consts[node.input[1]].tolist()
            if axes is None or any(ax in (2, 3, -1, -2) for ax in axes):
                radius = math.inf  # over H or W (rank-4 NCHW): the whole frame
        for out in node.output:
            state[out] = (radius, jump)
    outputs = [state[o.name][0] for o in graph.output if o.name in state]
    if not outputs:
        raise ModelError(f"{graph.name or 'model'}: no output depends on an image input")
    return max(outputs)


def _weight_shape(node: onnx.NodeProto, graph: onnx.GraphProto, consts: dict[str, np.ndarray]) -> tuple[int, ...]:
    name = node.input[1]
    producers = {o: n for n in graph.node for o in n.output}
    while name not in consts and name in producers:  # Q/DQ or Cast in front of the weight
        name = producers[name].input[0]
    if name not in consts:
        raise ModelError(f"{graph.name}: Conv {node.name!r} has no kernel_shape and no constant weight")
    return tuple(consts[name].shape)


def _resize_factor(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> float:
    scales = node.input[2] if len(node.input) > 2 else ""
    if scales in consts and consts[scales].size:
        return float(np.max(consts[scales]))
    raise ModelError(f"Resize {node.name!r}: scales must be a constant to bound the receptive field")


@lru_cache(maxsize=16)
def _cached(path: str, mtime_ns: int, size: int) -> float:
    return receptive_radius(path)


def file_radius(path: Path | str) -> float:
    """`receptive_radius` of an ONNX file, computed once per file version."""
    st = Path(path).stat()
    return _cached(str(path), st.st_mtime_ns, st.st_size)


def tile_margin(radius: float, stride: int) -> int:
    """The context a tile carries on each side: the radius rounded up to the stride (tile origins
    stay on the stride grid, so poolings line up with the whole frame's)."""
    if math.isinf(radius):
        raise ModelError("tile: this network looks at the whole frame; it cannot be tiled")
    return -(-math.ceil(radius) // stride) * stride


RADIUS_KEY = "receptive_radius"  # Session.metadata: how far an output pixel looks, in input pixels


def with_receptive_radius(session, network, variant=None, models_dir: Path | None = None):
    """`session`, its metadata stating the network's radius. Every backend (ONNX Runtime, TensorRT,
    torch) runs the same architecture, so the radius is read from the FP32 ONNX graph beside the
    weights; the dither detector is never tiled and gets none."""
    from ..models import Network, onnx_path

    if RADIUS_KEY not in session.metadata and Network(network) is not Network.DITHER:
        path = onnx_path(network, variant, root=models_dir)
        if path.is_file():
            session.metadata[RADIUS_KEY] = str(file_radius(path))
    return session


def session_margin(session, stride: int) -> int | None:
    """The tile margin for a session (`tile_margin` of its stated radius); None when it states none."""
    value = session.metadata.get(RADIUS_KEY)
    return tile_margin(float(value), stride) if value else None
