"""FP16 variant of an FP32 deploy ONNX (no torch): the U-Net bodies in FP16, the fragile parts in FP32.

TensorRT 10/11 strongly typed networks take their precision from the ONNX, so the graph
itself must say which ops run in FP16 (REFERENCE.md section 2). Kept in FP32, found by
graph structure (exporter name scopes change with module names; data flow does not):
- grid sampling and everything computing its grid or consuming its output up to the next
  convolution: flow scaling, SuperSlomo's intermediate flows, the visibility blend
  (FP16 coordinates lose whole pixels at 1080p; REFERENCE.md section 3);
- the palette re-quantization: its index search (ArgMin, or everything behind the
  GatherElements that reads the palette) back to the previous convolutions, that gather and
  what follows it to the next convolution, and the palette's own path;
- the input normalization (uint8 -> float, layout) up to the first convolution and the
  output head from the last convolution to the uint8 cast.
That leaves the convolutions, activations, pooling, resizing and concatenations of the
U-Net bodies in FP16. onnxconverter-common inserts an explicit Cast at every boundary.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import onnx
from onnx import helper

from ..config import Precision
from ..errors import ModelError
from .check import check_model, set_metadata

# Convolutions bound the FP32 regions: they are where FP16 pays off.
_BODY_OPS = frozenset({"Conv", "ConvTranspose"})
_GRID_OPS = frozenset({"GridSample"})
# the palette step: found by its index search (ArgMin) or by the GatherElements that reads the
# palette with the found indices (nets.blocks.nearest_index searches with Min over exact keys)
_REQUANT_OPS = frozenset({"ArgMin", "ArgMax", "GatherElements"})


class _Graph:
    """Producer/consumer index of a flat ONNX graph."""

    def __init__(self, graph: onnx.GraphProto):
        self.nodes = list(graph.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for i, node in enumerate(self.nodes):
            for out in node.output:
                self.producer[out] = i
            for inp in node.input:
                if inp:
                    self.consumers[inp].append(i)
        self.inputs = [v.name for v in graph.input]
        self.outputs = [v.name for v in graph.output]

    def backward(self, tensors: list[str]) -> set[int]:
        """Producers of `tensors` and their ancestors, not crossing convolutions."""
        seen: set[int] = set()
        stack = [self.producer[t] for t in tensors if t in self.producer]
        while stack:
            i = stack.pop()
            if i in seen or self.nodes[i].op_type in _BODY_OPS:
                continue
            seen.add(i)
            stack.extend(self.producer[t] for t in self.nodes[i].input if t in self.producer)
        return seen

    def forward(self, tensors: list[str]) -> set[int]:
        """Consumers of `tensors` and their descendants, not crossing convolutions."""
        seen: set[int] = set()
        stack = [c for t in tensors for c in self.consumers.get(t, [])]
        while stack:
            i = stack.pop()
            if i in seen or self.nodes[i].op_type in _BODY_OPS:
                continue
            seen.add(i)
            stack.extend(c for t in self.nodes[i].output for c in self.consumers.get(t, []))
        return seen


def fp32_regions(model: onnx.ModelProto) -> dict[str, set[str]]:
    """Node names to keep in FP32, by reason (grid, requant, io). Every node must be named."""
    g = _Graph(model.graph)
    grid, requant = set(), set()
    for i, node in enumerate(g.nodes):
        if node.op_type in _GRID_OPS:
            grid |= {i} | g.backward(list(node.input)) | g.forward(list(node.output))
        elif node.op_type in _REQUANT_OPS:
            requant |= {i} | g.backward(list(node.input))
            # the gather that turns indices into palette colours, and what follows it to the next conv
            requant |= g.forward(list(node.output))
    palette_inputs = [n for n in g.inputs if "palette" in n]
    requant |= g.forward(palette_inputs)
    io = g.forward([n for n in g.inputs if n not in palette_inputs]) | g.backward(g.outputs)
    unnamed = [n.op_type for n in g.nodes if not n.name]
    if unnamed:
        raise ModelError(f"fp16: every node needs a name to be kept in FP32; unnamed: {unnamed[:5]}")
    regions = {}
    for reason, idx in (("grid", grid), ("requant", requant), ("io", io)):
        # constants feeding an FP32 op stay FP32 too (an eps of 1e-6 is a subnormal in FP16)
        consts = {g.producer[t] for i in idx for t in g.nodes[i].input
                  if t in g.producer and g.nodes[g.producer[t]].op_type == "Constant"}
        regions[reason] = {g.nodes[i].name for i in idx | consts}
    return regions


def _name_nodes(model: onnx.ModelProto) -> None:
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The FP16 graph (inputs/outputs keep their types), FP32 regions per `fp32_regions`."""
    from onnxconverter_common import float16

    model = onnx.ModelProto.FromString(model.SerializeToString())
    _name_nodes(model)
    keep = set().union(*fp32_regions(model).values())
    io_types = {v.name: v.type.tensor_type.elem_type for v in model.graph.output}
    # check_fp16_ready=False: a float16 image output is legitimate, not a sign of double conversion
    converted = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=sorted(keep),
                                                 check_fp16_ready=False, disable_shape_infer=False)
    _restore_output_types(converted, io_types)
    _drop_round_trips(converted)
    _fold_constant_casts(converted)
    set_metadata(converted, precision=Precision.FP16.value)
    return converted


def _drop_round_trips(model: onnx.ModelProto) -> None:
    """Remove FP32 -> FP16 -> FP32 Cast pairs the converter puts between two blocked nodes.

    Such a pair would round an FP32 region's tensor to FP16 and back: the very loss the
    block list exists to avoid. Consumers read the FP32 tensor directly; dead Casts go.
    """
    types = {v.name: v.type.tensor_type.elem_type for v in
             onnx.shape_inference.infer_shapes(model).graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in model.graph.input})
    types.update({t.name: t.data_type for t in model.graph.initializer})
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    outputs = {v.name for v in model.graph.output}

    def cast_to(node: onnx.NodeProto) -> int | None:
        return helper.get_attribute_value(node.attribute[0]) if node.op_type == "Cast" else None

    rename = {}
    for node in nodes:
        first = producer.get(node.input[0]) if node.op_type == "Cast" else None
        if (first is not None and cast_to(first) == onnx.TensorProto.FLOAT16 and cast_to(node) == onnx.TensorProto.FLOAT
                and types.get(first.input[0]) == onnx.TensorProto.FLOAT and node.output[0] not in outputs):
            rename[node.output[0]] = first.input[0]
    for node in nodes:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
    used = {name for n in nodes for name in n.input} | outputs
    while True:  # drop Casts nobody reads (a removed pair can orphan its first Cast)
        dead = [n for n in model.graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not dead:
            break
        for n in dead:
            model.graph.node.remove(n)
        used = {name for n in model.graph.node for name in n.input} | outputs


def _fold_constant_casts(model: onnx.ModelProto) -> None:
    """Replace each Cast of a constant by the cast constant.

    The converter casts constants at region boundaries (a Resize's scales among them); TensorRT
    needs those scales as build-time constants, and a folded constant costs nothing at run time.
    """
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    graph_outputs = {v.name for v in model.graph.output}
    for node in list(model.graph.node):
        if node.op_type != "Cast" or node.input[0] not in consts or node.output[0] in graph_outputs:
            continue
        to = helper.get_attribute_value(node.attribute[0])
        value = consts[node.input[0]].astype(helper.tensor_dtype_to_np_dtype(to))
        model.graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        model.graph.node.remove(node)
    used = {name for n in model.graph.node for name in n.input} | graph_outputs
    for node in [n for n in model.graph.node if n.op_type == "Constant" and n.output[0] not in used]:
        model.graph.node.remove(node)
    for t in [t for t in model.graph.initializer if t.name not in used]:
        model.graph.initializer.remove(t)


def _restore_output_types(model: onnx.ModelProto, types: dict[str, int]) -> None:
    """keep_io_types misses outputs produced by a blocked node: it ends them with a Cast to FP16.

    Retarget that Cast to the original type (explicit, and a no-op TensorRT folds away).
    """
    producer = {o: n for n in model.graph.node for o in n.output}
    for out in model.graph.output:
        want = types[out.name]
        if out.type.tensor_type.elem_type == want:
            continue
        node = producer.get(out.name)
        if node is None or node.op_type != "Cast":
            raise ModelError(f"fp16: output {out.name!r} lost its type {onnx.TensorProto.DataType.Name(want)}")
        node.attribute[0].CopyFrom(helper.make_attribute("to", want))
        out.type.tensor_type.elem_type = want


def make_fp16(src: Path | str, dst: Path | str) -> Path:
    """Write the FP16 variant of FP32 ONNX `src` to `dst` (checked against the contract)."""
    src, dst = Path(src), Path(dst)
    from ..hashing import sha256_file

    check_model(src, Precision.FP32)
    fp16 = to_fp16(onnx.load(str(src)))
    set_metadata(fp16, source_sha256=sha256_file(src))  # which FP32 file it belongs to (trt_gif2video.derived)
    check_model(fp16, Precision.FP16)
    _atomic_save(fp16, dst)
    return dst


def _atomic_save(model: onnx.ModelProto, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)


# --- a float32 tap on the uint8 image output, for verification ---------------------------------

_ROUNDING = frozenset({"Round", "Floor"})
_PASS = frozenset({"Transpose", "Clip", "Min", "Max", "Relu", "Identity", "Cast"}) | _ROUNDING


def _uint8_output_chain(model: onnx.ModelProto, output: str) -> tuple[onnx.NodeProto, list[onnx.NodeProto]]:
    """The Cast-to-uint8 feeding `output` and the rounding nodes behind it (layout/clamp ops pass)."""
    g = _Graph(model.graph)
    cast, rounding, tensor = None, [], output
    while tensor in g.producer:
        node = g.nodes[g.producer[tensor]]
        if node.op_type not in _PASS:
            break
        if node.op_type == "Cast" and helper.get_attribute_value(node.attribute[0]) == onnx.TensorProto.UINT8:
            cast = node
        if node.op_type in _ROUNDING:
            rounding.append(node)
        tensor = node.input[0]
    if cast is None:
        raise ModelError(f"output {output!r}: no Cast to uint8 found behind it; cannot give it a float type")
    return cast, rounding


def float_image_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose uint8 image outputs are float32 and unrounded (still on the 0..255 scale).

    This exposes the exact pre-rounding values, which is what the export compares with torch
    (a 1e-4 bound needs floats, not uint8 steps of 4e-3).
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    _name_nodes(model)
    for out in model.graph.output:
        if out.type.tensor_type.elem_type != onnx.TensorProto.UINT8:
            continue
        cast, rounding = _uint8_output_chain(model, out.name)
        for node in rounding:
            node.op_type = "Identity"
            del node.attribute[:]
        cast.attribute[0].CopyFrom(helper.make_attribute("to", onnx.TensorProto.FLOAT))
        out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    del model.graph.value_info[:]
    return model
