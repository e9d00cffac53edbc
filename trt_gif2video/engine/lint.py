"""Static TensorRT lint of an ONNX file at given shapes (onnx + numpy only: no TensorRT, no torch).

`trt-gif2video build` runs it before TensorRT is touched, and CI runs it over every shipped
and generated ONNX file at every recipe's min/opt/max profile, because no machine here has
TensorRT: a graph TensorRT's parser would reject must fail here, naming model, node and rule.

Rules (see `Rule`): UINT8 only at the network boundary next to a Cast; every op, with its
dtypes and attributes, in TensorRT's ONNX support (`trt_onnx_ops.toml`, data with its
source); inputs TensorRT needs constant are constant, shape inputs never depend on tensor
values; Q/DQ as TensorRT wants it; no tensor of 2^31 elements or more; the activation
memory at the max profile within the recipe's budget.

Not linted: ONNX Runtime's CPU INT8 files (`<stem>.int8-cpu.onnx`, uint8 activations): TensorRT
never reads them (`build` and the TensorRT backend take `<stem>.int8.onnx`), so `for_tensorrt`
leaves them out of a folder and `lint_model` refuses them by name.

Shapes come from ONNX shape inference with the graph inputs' dynamic N/H/W bound to the
profile's values (data propagation resolves the Shape -> Reshape chains).
"""

from __future__ import annotations

import enum
import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

OPS_TABLE = Path(__file__).with_name("trt_onnx_ops.toml")
MAX_ELEMENTS = 2**31  # TensorRT's limit on the element count of one tensor (int32 volume)
MIB = 1 << 20

CPU_ONLY_SUFFIX = ".int8-cpu.onnx"  # trt_gif2video.derived.Flavour.INT8_CPU: ONNX Runtime's CPU kernels only
CPU_ONLY_FLAVOUR = "int8-cpu"  # its metadata `int8_flavour` (export.int8.FLAVOUR_KEY)

_T = onnx.TensorProto
# ONNX element type -> the names onnx-tensorrt's table uses
DTYPE_NAMES = {_T.FLOAT: "FP32", _T.FLOAT16: "FP16", _T.BFLOAT16: "BF16", _T.INT32: "INT32", _T.INT64: "INT64",
               _T.INT8: "INT8", _T.UINT8: "UINT8", _T.BOOL: "BOOL", _T.DOUBLE: "DOUBLE", _T.INT16: "INT16",
               _T.UINT16: "UINT16", _T.UINT32: "UINT32", _T.UINT64: "UINT64", _T.STRING: "STRING"}


class Rule(str, enum.Enum):
    """What a finding breaks; the value is what the one-line error shows."""

    UINT8 = "uint8-boundary"  # UINT8 only as a network input feeding Cast or an output made by Cast
    OPSET = "opset"
    OP = "op-support"  # op type not in TensorRT's ONNX support table
    DTYPE = "dtype"  # an input/output dtype the op does not take in TensorRT
    ATTRIBUTE = "attribute"
    CONSTANT = "constant-input"  # an input TensorRT needs at build time is computed at run time
    SHAPE_TENSOR = "shape-input"  # a shape input depends on tensor values
    QDQ = "qdq"
    TENSOR_SIZE = "tensor-size"  # >= 2^31 elements
    SHAPES = "shape-inference"  # shapes could not be inferred at the profile
    MEMORY = "memory-budget"


@dataclass(frozen=True)
class OpSupport:
    """One row of `trt_onnx_ops.toml`."""

    op: str
    types: frozenset[str]
    inputs: Mapping[int, frozenset[str]] = field(default_factory=dict)
    outputs: Mapping[int, frozenset[str]] = field(default_factory=dict)
    constant_inputs: tuple[int, ...] = ()
    shape_inputs: tuple[int, ...] = ()
    attributes: Mapping[str, tuple] = field(default_factory=dict)
    dilations_all_ones: bool = False
    rank: int | None = None  # required rank of input 0
    max_outputs: int | None = None

    def input_types(self, i: int) -> frozenset[str]:
        return self.inputs.get(i, self.types)

    def output_types(self, i: int) -> frozenset[str]:
        return self.outputs.get(i, self.types)


@dataclass(frozen=True)
class OpTable:
    source: Mapping[str, object]
    max_opset: int
    ops: Mapping[str, OpSupport]


def _positions(table: Mapping, where: str) -> dict[int, frozenset[str]]:
    try:
        return {int(k): frozenset(v) for k, v in table.items()}
    except (TypeError, ValueError):
        raise ModelError(f"{where}: positions must be integers with dtype lists") from None


@functools.lru_cache(maxsize=4)
def load_op_table(path: Path = OPS_TABLE) -> OpTable:
    """The TensorRT ONNX operator table (cached)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the TensorRT operator table ({exc})") from None
    ops = {}
    for name, row in data.get("ops", {}).items():
        where = f"{path}: ops.{name}"
        if "types" not in row:
            raise ModelError(f"{where}: needs `types`")
        ops[name] = OpSupport(
            op=name,
            types=frozenset(row["types"]),
            inputs=_positions(row.get("inputs", {}), where),
            outputs=_positions(row.get("outputs", {}), where),
            constant_inputs=tuple(row.get("constant_inputs", ())),
            shape_inputs=tuple(row.get("shape_inputs", ())),
            attributes={k: tuple(v) for k, v in row.get("attributes", {}).items()},
            dilations_all_ones=bool(row.get("dilations_all_ones", False)),
            rank=row.get("rank"),
            max_outputs=row.get("max_outputs"),
        )
    source = data.get("source", {})
    return OpTable(source=source, max_opset=int(source.get("max_opset", 20)), ops=ops)


@dataclass(frozen=True)
class Finding:
    model: str
    node: str  # node name (or tensor name for boundary rules)
    op: str
    rule: Rule
    message: str

    def line(self) -> str:
        return f"{self.model}: node {self.node!r} ({self.op}) breaks TensorRT rule {self.rule.value}: {self.message}"


@dataclass(frozen=True)
class LintReport:
    """The lint of one model at one set of input shapes."""

    model: str
    shapes: Mapping[str, tuple[int, ...]]
    findings: tuple[Finding, ...]
    largest_tensor: str = ""
    largest_elements: int = 0
    activation_bytes: int = 0  # peak of the tensors alive at once, one execution context
    contexts: int = 1
    budget_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def memory_bytes(self) -> int:
        return self.activation_bytes * self.contexts

    def summary(self) -> str:
        budget = "" if self.budget_bytes is None else f" of {self.budget_bytes / MIB:.0f} MiB budget"
        shapes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in self.shapes.items())
        state = "ok" if self.ok else f"{len(self.findings)} finding(s)"
        return (f"{self.model} at {shapes}: {state}; largest tensor {self.largest_tensor!r} "
                f"{self.largest_elements / 1e6:.1f}M elements; activations {self.memory_bytes / MIB:.0f} MiB"
                f" ({self.contexts} context{'s' if self.contexts != 1 else ''}){budget}")

    def raise_first(self) -> None:
        """ModelError with the first finding as a one-line message (and how many more)."""
        if self.findings:
            more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            raise ModelError(self.findings[0].line() + more)


# --- the graph, typed and shaped at the profile ------------------------------------------------


def _load(model: onnx.ModelProto | Path | str) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "onnx model"
    path = Path(model)
    try:
        return onnx.load(str(path)), path.name
    except FileNotFoundError:
        raise ModelError(f"{path}: ONNX file not found") from None
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None


_STRIP_BYTES = 1 << 16


def _bind_inputs(model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]], name: str) -> onnx.ModelProto:
    """A copy whose graph inputs have the given static shapes (intermediate value_info dropped)."""
    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    del bound.graph.value_info[:]
    for t in bound.graph.initializer:  # inference needs dims only; the rules read values from `model`
        if t.ByteSize() > _STRIP_BYTES:
            for f in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
                t.ClearField(f)
    initializers = {t.name for t in bound.graph.initializer}
    for vi in bound.graph.input:
        if vi.name in initializers:
            continue
        if vi.name not in shapes:
            raise ModelError(f"{name}: no shape given for input {vi.name!r}")
        dims = vi.type.tensor_type.shape.dim
        want = shapes[vi.name]
        if len(dims) != len(want):
            raise ModelError(f"{name}: input {vi.name!r} has rank {len(dims)}, the shape given is {want}")
        for d, v in zip(dims, want):
            if d.HasField("dim_value") and d.dim_value != v:
                raise ModelError(f"{name}: input {vi.name!r} is fixed to {d.dim_value} where {v} is asked")
            d.Clear()
            d.dim_value = int(v)
    # outputs: let inference fill them in (their declared N/H/W would otherwise stay symbolic)
    for vi in bound.graph.output:
        vi.type.tensor_type.ClearField("shape")
    return bound


@dataclass
class _Typed:
    """Element type and (static where known) shape of every tensor."""

    elem: dict[str, int]
    shape: dict[str, tuple[int, ...] | None]


# Small integer/float computations on shapes that ONNX data propagation does not follow (Range).
_FOLDABLE = frozenset({"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Add", "Sub", "Mul",
                       "Div", "Floor", "Ceil", "Range", "Reshape", "Identity", "Equal", "Where", "ConstantOfShape",
                       "Expand", "Neg", "Max", "Min", "Constant"})
_FOLD_LIMIT = 1 << 16  # elements: shape-sized vectors (a Range over a frame width), never images
_FOLD_INITIALIZER = 4096  # initializers worth folding are shape constants, never weights (those are stripped)


def _fold_values(model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...] | None]) -> dict[str, np.ndarray]:
    """Values of the small tensors computable from constants and known shapes, with numpy."""
    from onnx.reference import ReferenceEvaluator

    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer
              if int(np.prod(t.dims, dtype=np.int64)) <= _FOLD_INITIALIZER}
    for node in model.graph.node:
        if node.op_type not in _FOLDABLE or node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type == "Shape":
            shape = shapes.get(node.input[0])
            if shape is None:
                continue
            start = next((a.i for a in node.attribute if a.name == "start"), 0)
            end = next((a.i for a in node.attribute if a.name == "end"), len(shape))
            values[node.output[0]] = np.array(shape[start:end], dtype=np.int64)
            continue
        if not all(t in values for t in node.input if t):
            continue
        feeds = {t: values[t] for t in node.input if t}
        mini = onnx.helper.make_graph(
            [node], "fold", [onnx.helper.make_tensor_value_info(t, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                             for t, v in feeds.items()],
            [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o])
        try:
            outs = ReferenceEvaluator(onnx.helper.make_model(mini, opset_imports=model.opset_import)).run(None, feeds)
        except Exception:  # noqa: BLE001 - anything the reference cannot evaluate stays unknown
            continue
        for o, v in zip([o for o in node.output if o], outs):
            v = np.asarray(v)
            if v.size <= _FOLD_LIMIT:
                values[o] = v
    return values


def _shape_hints(model: onnx.ModelProto, typed: "_Typed", values: Mapping[str, np.ndarray],
                 missing: list[str]) -> dict[str, tuple]:
    """Output shapes of Expand / Reshape nodes whose shape input was folded (their data is not)."""
    hints = {}
    wanted = set(missing)
    for node in model.graph.node:
        out = node.output[0] if node.output else ""
        if out not in wanted or len(node.input) < 2 or node.input[1] not in values:
            continue
        src = typed.shape.get(node.input[0])
        target = [int(v) for v in np.asarray(values[node.input[1]]).ravel()]
        if src is None:
            continue
        if node.op_type == "Expand":
            shape = np.broadcast_shapes(tuple(src), tuple(target))
        elif node.op_type == "Reshape":
            shape = [src[i] if v == 0 else v for i, v in enumerate(target)]
            if -1 in shape:
                known = int(np.prod([v for v in shape if v != -1], dtype=np.int64))
                shape[shape.index(-1)] = int(np.prod(src, dtype=np.int64)) // max(known, 1)
        else:
            continue
        hints[out] = (np.float32, tuple(shape))
    return hints


def _infer(model: onnx.ModelProto, name: str) -> _Typed:
    """Types and static shapes; where data propagation stops (a Range of a width), fold and retry."""
    typed = _infer_once(model, name)
    for _ in range(3):
        missing = [o for n in model.graph.node for o in n.output if o and typed.shape.get(o) is None]
        if not missing:
            break
        values = _fold_values(model, typed.shape)
        hints = {t: (values[t].dtype, values[t].shape) for t in missing if t in values}
        hints.update(_shape_hints(model, typed, values, missing))
        if not hints:
            break
        model = onnx.ModelProto.FromString(model.SerializeToString())
        for t, (dtype, shape) in hints.items():
            model.graph.value_info.append(onnx.helper.make_tensor_value_info(
                t, typed.elem.get(t) or onnx.helper.np_dtype_to_tensor_dtype(dtype), shape))
        typed = _infer_once(model, name)
    return typed


def _infer_once(model: onnx.ModelProto, name: str) -> _Typed:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ModelError(f"{name}: ONNX shape inference failed at these shapes: {str(exc).splitlines()[0]}") from None
    elem, shape = {}, {}
    g = inferred.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        elem[vi.name] = t.elem_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shape[vi.name] = tuple(d.dim_value for d in t.shape.dim)
        else:
            shape.setdefault(vi.name, None)
    for t in g.initializer:
        elem[t.name], shape[t.name] = t.data_type, tuple(t.dims)
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    elem[node.output[0]], shape[node.output[0]] = a.t.data_type, tuple(a.t.dims)
    return _Typed(elem, shape)


def _dtype(typed: _Typed, tensor: str) -> str | None:
    e = typed.elem.get(tensor)
    return None if not e else DTYPE_NAMES.get(e, onnx.TensorProto.DataType.Name(e))


# --- the rules -----------------------------------------------------------------------------------


class _Linter:
    def __init__(self, model: onnx.ModelProto, name: str, typed: _Typed, table: OpTable,
                 values: onnx.ModelProto | None = None):
        self.model, self.name, self.typed, self.table = model, name, typed, table
        g = model.graph
        self.nodes = list(g.node)
        # initializer values from `values` (the unstripped model) where given
        self.initializers = {t.name: t for t in (values or model).graph.initializer}
        self.inputs = [v.name for v in g.input if v.name not in self.initializers]
        self.outputs = [v.name for v in g.output]
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for t in n.input:
                if t:
                    self.consumers.setdefault(t, []).append(n)
        self.findings: list[Finding] = []

    def add(self, node: onnx.NodeProto | str, rule: Rule, message: str) -> None:
        if isinstance(node, str):
            self.findings.append(Finding(self.name, node, "tensor", rule, message))
        else:
            self.findings.append(Finding(self.name, node.name or f"<{node.op_type}>", node.op_type, rule, message))

    # constants: initializers and Constant outputs (what TensorRT's parser turns into weights)
    def constant(self, tensor: str) -> np.ndarray | None:
        if tensor in self.initializers:
            return numpy_helper.to_array(self.initializers[tensor])
        node = self.producer.get(tensor)
        if node is not None and node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
        return None

    def is_constant(self, tensor: str) -> bool:
        return tensor in self.initializers or (tensor in self.producer and self.producer[tensor].op_type == "Constant")

    @functools.cached_property
    def value_dependent(self) -> set[str]:
        """Tensors whose values depend on the network inputs' values (Shape/Size read only metadata)."""
        tainted = set(self.inputs)
        for n in self.nodes:  # ONNX graphs are topologically sorted
            if n.op_type in ("Shape", "Size"):
                continue
            if any(t in tainted for t in n.input if t):
                tainted.update(n.output)
        return tainted

    def run(self) -> None:
        self.check_opset()
        self.check_uint8()
        for node in self.nodes:
            self.check_node(node)

    def check_opset(self) -> None:
        opset = max((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        if not 9 <= opset <= self.table.max_opset:
            self.add("<model>", Rule.OPSET, f"opset {opset} is outside 9..{self.table.max_opset}, "
                                           f"the range TensorRT 10.0 (JetPack 6 ships 10.3) parses")

    def check_uint8(self) -> None:
        for tensor, e in self.typed.elem.items():
            if e != _T.UINT8:
                continue
            if tensor in self.inputs:
                bad = [n for n in self.consumers.get(tensor, []) if n.op_type != "Cast"]
                for n in bad:
                    self.add(n, Rule.UINT8, f"reads UINT8 network input {tensor!r}; a UINT8 input may feed "
                                            f"only Cast (cast first, then {n.op_type})")
            elif tensor in self.outputs:
                n = self.producer.get(tensor)
                if n is not None and n.op_type != "Cast":
                    self.add(n, Rule.UINT8, f"produces UINT8 network output {tensor!r}; it must come from a Cast")
            else:
                n = self.producer.get(tensor)
                self.add(n if n is not None else tensor, Rule.UINT8,
                         f"tensor {tensor!r} is UINT8 inside the network; TensorRT allows UINT8 only as "
                         f"network input or output")

    def check_node(self, node: onnx.NodeProto) -> None:
        if node.domain not in ("", "ai.onnx"):
            self.add(node, Rule.OP, f"domain {node.domain!r} is not parsed by TensorRT without a plugin")
            return
        spec = self.table.ops.get(node.op_type)
        if spec is None:
            self.add(node, Rule.OP, f"{node.op_type} is not in TensorRT's ONNX support table "
                                    f"({OPS_TABLE.name}); check onnx-tensorrt docs/operators.md and add it")
            return
        self.check_dtypes(node, spec)
        self.check_attributes(node, spec)
        for i in spec.constant_inputs:
            if i < len(node.input) and node.input[i] and not self.is_constant(node.input[i]):
                self.add(node, Rule.CONSTANT, f"input {i} ({node.input[i]!r}) must be a build-time constant "
                                              f"(initializer or Constant) for TensorRT")
        for i in spec.shape_inputs:
            if i < len(node.input) and node.input[i] in self.value_dependent:
                self.add(node, Rule.SHAPE_TENSOR, f"input {i} ({node.input[i]!r}) is a shape computed from "
                                                  f"tensor values; TensorRT needs it from constants and Shape only")
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            self.check_qdq(node)

    def check_dtypes(self, node: onnx.NodeProto, spec: OpSupport) -> None:
        for kind, names, allowed in (("input", node.input, spec.input_types), ("output", node.output, spec.output_types)):
            for i, t in enumerate(names):
                dt = _dtype(self.typed, t) if t else None
                if dt is None or dt == "UINT8":  # unknown, or governed by the UINT8 rule
                    continue
                ok = allowed(i)
                if dt not in ok:
                    self.add(node, Rule.DTYPE, f"{kind} {i} ({t!r}) is {dt}; TensorRT's {node.op_type} takes "
                                               f"{', '.join(sorted(ok))}")

    def check_attributes(self, node: onnx.NodeProto, spec: OpSupport) -> None:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        for key, allowed in spec.attributes.items():
            if key in attrs:
                value = attrs[key].decode() if isinstance(attrs[key], bytes) else attrs[key]
                if value not in allowed:
                    self.add(node, Rule.ATTRIBUTE, f"{key}={value!r}; TensorRT supports {list(allowed)}")
        if spec.dilations_all_ones and any(d != 1 for d in attrs.get("dilations", [])):
            self.add(node, Rule.ATTRIBUTE, f"dilations {attrs['dilations']}; TensorRT needs them empty or all ones")
        if spec.max_outputs is not None and len([o for o in node.output if o]) > spec.max_outputs:
            self.add(node, Rule.ATTRIBUTE, f"has {len(node.output)} outputs; TensorRT supports {spec.max_outputs}")
        if spec.rank is not None and node.input:
            shape = self.typed.shape.get(node.input[0])
            if shape is not None and len(shape) != spec.rank:
                self.add(node, Rule.ATTRIBUTE, f"input 0 has rank {len(shape)}; TensorRT needs rank {spec.rank}")

    def check_qdq(self, node: onnx.NodeProto) -> None:
        """int8, zero point 0, constant scales; weights per channel on the output-channel axis."""
        if len(node.input) < 3 or not node.input[2]:
            self.add(node, Rule.QDQ, "needs an explicit int8 zero point (the default is uint8)")
        else:
            zp = self.constant(node.input[2])
            if zp is None:
                self.add(node, Rule.QDQ, "zero point must be a constant")
            elif zp.dtype != np.int8 or np.any(zp != 0):
                self.add(node, Rule.QDQ, f"zero point must be int8 and 0, got {zp.dtype} {zp.ravel()[:4]}")
        scale = self.constant(node.input[1])
        if scale is None:
            self.add(node, Rule.QDQ, f"scale {node.input[1]!r} must be a constant")
            return
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        weight = self.constant(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if weight is None:  # activations: one scale per tensor
            if scale.size != 1:
                self.add(node, Rule.QDQ, f"activation scale must be per-tensor (1 value), got shape {scale.shape}")
            return
        users = [n.op_type for n in self.consumers.get(node.output[0], [])]
        want = 1 if users and all(u == "ConvTranspose" for u in users) else 0  # the output-channel axis
        if scale.ndim != 1 or axis % weight.ndim != want or scale.shape[0] != weight.shape[want]:
            self.add(node, Rule.QDQ, f"weight scales must be per channel on axis {want} ({weight.shape[want]} "
                                     f"values), got shape {scale.shape} on axis {axis}")


def _sizes(typed: _Typed, tensors: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(elements, bytes) of every tensor with a known static shape."""
    out = {}
    for t in tensors:
        shape, e = typed.shape.get(t), typed.elem.get(t)
        if shape is None or not e:
            continue
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        out[t] = (n, n * onnx.helper.tensor_dtype_to_np_dtype(e).itemsize)
    return out


def activation_peak(model: onnx.ModelProto, typed: _Typed) -> int:
    """Bytes of the largest set of activations alive at once, walking the nodes in graph order.

    A tensor lives from its producer (the start, for network inputs) to its last reader (the
    end, for outputs). Weights and constants are not activations and are left out. TensorRT
    fuses layers and reuses buffers, so this is an upper estimate of its activation memory.
    """
    g = model.graph
    consts = {t.name for t in g.initializer} | {n.output[0] for n in g.node if n.op_type == "Constant"}
    last = len(g.node)
    start, end = {}, {}
    for v in g.input:
        if v.name not in consts:
            start[v.name], end[v.name] = -1, -1
    for i, n in enumerate(g.node):
        for t in n.input:
            if t in start:
                end[t] = max(end[t], i)
        for t in n.output:
            if t and t not in consts:
                start[t], end[t] = i, i
    for v in g.output:
        if v.name in end:
            end[v.name] = last
    sizes = _sizes(typed, start)
    delta = np.zeros(last + 3, dtype=np.int64)
    for t, (_, nbytes) in sizes.items():
        delta[start[t] + 1] += nbytes
        delta[end[t] + 2] -= nbytes
    return int(np.cumsum(delta).max(initial=0))


def for_tensorrt(path: Path | str) -> bool:
    """Whether TensorRT would ever read ONNX file `path` (False for ONNX Runtime's CPU INT8 files)."""
    return not Path(path).name.endswith(CPU_ONLY_SUFFIX)


def tensorrt_onnx_files(folder: Path | str) -> list[Path]:
    """The ONNX files in `folder` that `build` may read: every `*.onnx` except `*.int8-cpu.onnx`."""
    return sorted(p for p in Path(folder).glob("*.onnx") if for_tensorrt(p))


def _refuse_cpu_only(proto: onnx.ModelProto, name: str) -> None:
    flavour = next((p.value for p in proto.metadata_props if p.key == "int8_flavour"), None)
    if name.endswith(CPU_ONLY_SUFFIX) or flavour == CPU_ONLY_FLAVOUR:
        raise ModelError(f"{name}: an ONNX Runtime CPU INT8 file (uint8 activations), which TensorRT never reads; "
                         "lint the TensorRT Q/DQ file <stem>.int8.onnx instead")


def lint_model(
    model: onnx.ModelProto | Path | str,
    shapes: Mapping[str, tuple[int, ...]],
    *,
    table: OpTable | None = None,
    contexts: int = 1,
    budget_bytes: int | None = None,
    name: str | None = None,
) -> LintReport:
    """Every rule at one set of input shapes (`shapes`: graph input name -> static shape).

    `contexts`: execution contexts the runtime creates per plan (each holds its own activations);
    `budget_bytes`: the recipe's memory budget for this network (None: no memory rule).
    """
    if contexts < 1:
        raise ModelError(f"lint: contexts must be >= 1, got {contexts}")
    proto, default_name = _load(model)
    name = name or default_name
    _refuse_cpu_only(proto, name)
    table = table or load_op_table()
    bound = _bind_inputs(proto, shapes, name)
    typed = _infer(bound, name)
    linter = _Linter(bound, name, typed, table, values=proto)
    linter.run()
    every = [t for n in bound.graph.node for t in n.output if t] + linter.inputs
    sizes = _sizes(typed, every)
    unknown = [t for t in every if t not in sizes]
    for t in unknown[:1]:
        node = linter.producer.get(t)
        linter.add(node if node is not None else t, Rule.SHAPES,
                   f"shape of {t!r} is unknown at these input shapes; size and memory cannot be checked")
    largest, (elements, _) = max(sizes.items(), key=lambda kv: kv[1][0], default=("", (0, 0)))
    for t, (n, _) in sizes.items():
        if n >= MAX_ELEMENTS:
            node = linter.producer.get(t)
            linter.add(node if node is not None else t, Rule.TENSOR_SIZE,
                       f"tensor {t!r} {'x'.join(map(str, typed.shape[t]))} has {n:,} elements; TensorRT's limit "
                       f"is < 2^31")
    peak = activation_peak(bound, typed)
    if budget_bytes is not None and peak * contexts > budget_bytes:
        linter.add("<activations>", Rule.MEMORY,
                   f"activation estimate {peak * contexts / MIB:.0f} MiB ({contexts} context(s) x {peak / MIB:.0f} "
                   f"MiB) exceeds the recipe's budget of {budget_bytes / MIB:.0f} MiB")
    return LintReport(name, dict(shapes), tuple(linter.findings), largest, elements, peak, contexts, budget_bytes)
