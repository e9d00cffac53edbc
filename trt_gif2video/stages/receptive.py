"""How far a network looks: the receptive-field radius of an ONNX graph, read from its layers.

Tiles need this margin of real context around the pixels they keep: an output pixel depends
only on input pixels within `radius` of it, so a tile that carries `radius` pixels of its
neighbours' image on every side computes its centre exactly as the whole frame would (given
stride-aligned tile origins, which keep every pooling grid in place). No blending, no seam.

The walk is conservative (an upper bound). Each image-derived tensor carries (radius, jump,
axes), radius and jump in input pixels: jump is the input distance between two neighbouring
elements (1 at full resolution, 2 ** k after k stride-2 poolings); `axes` says what each axis
indexes, as a size (a static factor times named dims: N, H, W, in order), so the walk knows
which axes are spatial through Transpose, Reshape (also to the flattened [N,C,H*W] of the
palette step), MatMul and friends. The shape tensors a graph builds (Shape, Gather, Concat,
Mul, ...) are followed symbolically for this.
- Conv / pooling over the H, W axes: + the kernel's reach on its wider side x dilation x jump;
  jump x stride;
- ConvTranspose / Resize (up): + one element at the coarser resolution; jump / factor;
- GridSample: its sampling positions move by at most the flow bound read from the graph
  (every Tanh scaled by a constant: the bounded flows), so + that bound on the sampled image;
- reductions, ArgMin/ArgMax, Softmax, MatMul / Gemm contractions, Gather, GatherElements,
  Concat, Slice, Pad: no growth when their axes (read from the attributes / constant inputs)
  are not spatial, as in the palette step (a minimum over palette entries per pixel); the whole
  frame (radius infinite: never tile) when they are, e.g. global pooling;
- elementwise ops, Cast, Transpose, Reshape / Expand / (Un)Squeeze that keep H and W: no growth;
- any other op on image data, or an output whose H and W axes cannot be told: the whole frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:  # onnx is imported on first use: `restore` on whole frames never needs it
    import onnx

# The size of one axis: a static factor (None: not known) times named dims in memory order.
# Spatial names are "H"/"W" at full resolution and "H/2"... at a coarser one.
Dim = tuple  # (int | None, tuple[str, ...])
_ONE: Dim = (1, ())
_UNKNOWN: Dim = (None, ())

_ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Min", "Max", "Mean", "Sum", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "BitShift", "PRelu",
}
_UNARY = {  # output shape = input 0's; other inputs are parameters (per-channel scales, clip bounds)
    "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus",
    "Softsign", "Mish", "ThresholdedRelu", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Round",
    "Sign", "Erf", "Sin", "Cos", "Not", "IsNaN", "IsInf", "Clip", "Cast", "CastLike", "Identity", "Dropout",
    "QuantizeLinear", "DequantizeLinear", "BatchNormalization",
}
_REDUCE = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum"}
_SPATIAL_KERNEL = {"Conv", "AveragePool", "MaxPool", "LpPool"}
_GLOBAL_POOL = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}


@dataclass(frozen=True)
class _Flow:
    radius: float
    jump: float
    axes: tuple | None  # one Dim per axis; None where the walk cannot tell (then nothing may depend on it)


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


# --- sizes -------------------------------------------------------------------------------------

def _spatial(d: Dim) -> tuple[str, ...]:
    return tuple(n for n in d[1] if n[0] in "HW")


def _is_one(d: Dim) -> bool:
    return d == _ONE


def _mul(a: Dim, b: Dim) -> Dim:
    return (None if a[0] is None or b[0] is None else a[0] * b[0], a[1] + b[1])


def _prod(dims) -> Dim:
    out = _ONE
    for d in dims:
        out = _mul(out, d)
    return out


def _same(a: Dim, b: Dim) -> bool:
    return a[0] is not None and a[0] == b[0] and sorted(a[1]) == sorted(b[1])


def _divides(a: Dim, b: Dim) -> bool:
    """a is a proper-or-equal factor of b."""
    if a[0] is None or b[0] is None or a[0] == 0 or b[0] % a[0]:
        return False
    rest = list(b[1])
    for n in a[1]:
        if n not in rest:
            return False
        rest.remove(n)
    return True


def _quotient(b: Dim, a: Dim) -> Dim | None:
    if not _divides(a, b):
        return None
    rest = list(b[1])
    for n in a[1]:
        rest.remove(n)
    return (b[0] // a[0], tuple(rest))


def _rescaled(axes: tuple, jump: float) -> tuple:
    """Spatial names at a new resolution (a pooled H axis is not H long)."""
    def name(n: str) -> str:
        base = n[0]
        return base if jump == 1 else f"{base}/{jump:g}"
    return tuple((c, tuple(name(n) if n[0] in "HW" else n for n in names)) for c, names in axes)


def _reshape(src: tuple, target: list[Dim], allowzero: int) -> tuple | None:
    """Axes after a Reshape of `src` to `target`, or None where H and W might be scrambled.

    The axes are matched group by group (the smallest runs of input and output axes with equal
    sizes); a group holding a spatial dim must be a pure merge/split of named dims, in order.
    """
    out = [src[i] if (t == (0, ()) and not allowzero and i < len(src)) else t for i, t in enumerate(target)]
    holes = [i for i, d in enumerate(out) if d == (-1, ())]
    if len(holes) > 1:
        return None
    if holes:
        rest = _quotient(_prod(src), _prod(d for i, d in enumerate(out) if i != holes[0]))
        if rest is None:
            return None
        out[holes[0]] = rest
    ins = [d for d in src if not _is_one(d)]
    outs = [(i, d) for i, d in enumerate(out) if not _is_one(d)]
    result = [_ONE] * len(out)
    i = j = 0
    while i < len(ins) or j < len(outs):
        gi, gj = [ins[i]] if i < len(ins) else [], [outs[j]] if j < len(outs) else []
        if not gi or not gj:
            return None
        i, j = i + 1, j + 1
        while not _same(_prod(gi), _prod(d for _, d in gj)):
            a, b = _prod(gi), _prod(d for _, d in gj)
            if _divides(a, b) and i < len(ins):
                gi.append(ins[i])
                i += 1
            elif _divides(b, a) and j < len(outs):
                gj.append(outs[j])
                j += 1
            else:
                return None
        names = [n for d in gi for n in d[1]]
        if any(n[0] in "HW" for n in names):
            if any(d[0] != 1 for d in gi) or any(d[0] != 1 for _, d in gj):
                return None  # a static factor beside H or W: its place inside the axis is not known
            for k, d in gj:
                take, names = names[: len(d[1])], names[len(d[1]):]
                if sorted(take) != sorted(d[1]):
                    return None
                result[k] = (1, tuple(take))
        else:
            for k, d in gj:
                result[k] = d
    return tuple(result)


# --- the walk ----------------------------------------------------------------------------------

class _Walk:
    def __init__(self, model: onnx.ModelProto):
        import onnx

        self.graph = model.graph
        self.consts = _constants(self.graph)
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
        except Exception:  # noqa: BLE001 - ranks of side inputs are a refinement; without them the walk stays sound
            inferred = self.graph
        self.shapes: dict[str, list] = {}
        for vi in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
            t = vi.type.tensor_type
            if t.HasField("shape"):
                self.shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        self.sym: dict[str, list[Dim]] = {}  # shape tensors, followed symbolically
        self.side: dict[str, tuple] = {}  # axes of tensors built from a shape (ConstantOfShape)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
        self.state: dict[str, _Flow] = {}
        self.flow: float | None = None

    # side inputs (not image data)
    def _rank(self, name: str) -> int | None:
        if name in self.consts:
            return self.consts[name].ndim
        return len(self.shapes[name]) if name in self.shapes else None

    def _side_dims(self, name: str) -> tuple | None:
        if name in self.side:
            return self.side[name]
        if name in self.consts:
            return tuple((s, ()) for s in self.consts[name].shape)
        if name in self.shapes:
            return tuple((s, ()) for s in self.shapes[name])
        return None

    def _ints(self, name: str) -> list[int] | None:
        if name in self.consts and self.consts[name].dtype.kind in "iu" and self.consts[name].ndim <= 1:
            return [int(v) for v in np.atleast_1d(self.consts[name])]
        if name in self.sym and all(d[1] == () and d[0] is not None for d in self.sym[name]):
            return [d[0] for d in self.sym[name]]
        return None

    def _symbolic(self, name: str) -> list[Dim] | None:
        if name in self.sym:
            return self.sym[name]
        ints = self._ints(name)
        return None if ints is None else [(v, ()) for v in ints]

    def run(self) -> float:
        import onnx

        for vi in self.graph.input:
            t = vi.type.tensor_type
            if vi.name in self.consts:
                continue
            images = (onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
            if t.elem_type in images and len(t.shape.dim) == 4:
                static = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
                nhwc = static[3] is not None and static[3] <= 4 and static[1] is None
                roles = ("N", "H", "W", "C") if nhwc else ("N", "C", "H", "W")
                # H, W (and a dynamic N) are named: a tile changes them; C is its static size
                axes = tuple((s, ()) if r == "C" or (r == "N" and s is not None) else (1, (r,))
                             for r, s in zip(roles, static))
                self.state[vi.name] = _Flow(0.0, 1.0, axes)
        for node in self.graph.node:
            if any(i in self.state for i in node.input if i):
                self._image(node)
            else:
                self._shape(node)
        outputs = []
        for o in self.graph.output:
            if o.name not in self.state:
                continue
            f = self.state[o.name]
            names = [] if f.axes is None else [d[1] for d in f.axes]
            outputs.append(f.radius if (("H",) in names and ("W",) in names
                                        and names.index(("H",)) < names.index(("W",))) else math.inf)
        if not outputs:
            raise ModelError(f"{self.graph.name or 'model'}: no output depends on an image input")
        return max(outputs)

    # shape tensors
    def _shape(self, node: onnx.NodeProto) -> None:
        op, a, ins = node.op_type, _attrs(node), list(node.input)
        s = [self._symbolic(i) if i else None for i in ins]
        out = None
        if op == "Shape" and s[0] is not None:
            out = [(len(s[0]), ())]
        elif op == "Shape" and self._side_dims(ins[0]) is not None:
            out = list(self._side_dims(ins[0]))
        elif op in ("Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten") and s[0] is not None:
            out = s[0]
        elif op == "Gather" and s[0] is not None and a.get("axis", 0) == 0:
            idx = self._ints(ins[1])
            if idx is not None:
                out = [s[0][k] for k in idx]
        elif op == "Concat" and all(v is not None for v in s):
            out = [d for v in s for d in v]
        elif op == "Slice" and s[0] is not None:
            starts, ends = self._ints(ins[1]), self._ints(ins[2])
            steps = self._ints(ins[4]) if len(ins) > 4 and ins[4] else [1]
            if starts is not None and ends is not None and steps is not None:
                out = s[0][starts[0]: ends[0]: steps[0]]
        elif op == "ConstantOfShape" and s[0] is not None:
            self.side[node.output[0]] = tuple(s[0])
            from onnx import numpy_helper

            v = numpy_helper.to_array(a["value"]).ravel()[0] if "value" in a else 0
            if len(s[0]) == 1 and s[0][0][0] is not None and float(v).is_integer():
                out = [(int(v), ())] * s[0][0][0]
        elif op in ("Mul", "Add", "Sub", "Div", "Equal", "Where") and all(v is not None for v in s):
            n = max(len(v) for v in s)
            if all(len(v) in (1, n) for v in s):
                cols = [[v[k if len(v) > 1 else 0] for v in s] for k in range(n)]
                out = [self._entry(op, c) for c in cols]
        if out is not None:
            self.sym[node.output[0]] = list(out)

    @staticmethod
    def _entry(op: str, c: list[Dim]) -> Dim:
        lit = [d[0] if d[1] == () else None for d in c]
        if op == "Mul":
            return _mul(c[0], c[1])
        if op == "Equal":
            if None not in lit:
                return (int(lit[0] == lit[1]), ())
            # a named size is at least 1 and a factor never 0: it equals no literal below 1
            sized = [d for d in c if d[1] and d[0] is not None and d[0] >= 1]
            other = [x for x in lit if x is not None]
            return (0, ()) if sized and other and other[0] < 1 else _UNKNOWN
        if op == "Where":
            return _UNKNOWN if lit[0] is None else (c[1] if lit[0] else c[2])
        if None in lit:
            return _UNKNOWN
        x, y = lit
        return ((x + y) if op == "Add" else (x - y) if op == "Sub" else (x // y if y and x % y == 0 else None), ())

    # image data
    def _set(self, node: onnx.NodeProto, radius: float, jump: float, axes, outputs=None) -> None:
        if axes is not None:
            seen = [n for d in axes for n in _spatial(d)]
            if len(seen) != len(set(seen)):
                radius = math.inf  # one image position spread over two axes: positions are mixed
        for name in outputs or node.output:
            if name:
                self.state[name] = _Flow(radius, jump, axes)

    def _image(self, node: onnx.NodeProto) -> None:
        op, a, ins = node.op_type, _attrs(node), list(node.input)
        flows = [self.state.get(i) for i in ins]
        img = [f for f in flows if f is not None]
        radius = max(f.radius for f in img)
        first = flows[0] if flows[0] is not None else img[0]
        jump = first.jump
        axes = first.axes
        if op in ("Shape", "Size"):
            if op == "Shape" and axes is not None:
                start, end = a.get("start", 0), a.get("end", len(axes))
                self.sym[node.output[0]] = list(axes[start:end])
            return
        if math.isinf(radius):
            return self._set(node, radius, jump, axes)
        if op in _UNARY:
            if flows[0] is None:
                return self._set(node, math.inf, jump, None)  # e.g. a clip bound computed from the image
            return self._set(node, radius, jump, axes)
        if op in _ELEMENTWISE:
            return self._broadcast(node, ins, flows, radius, jump)
        if op == "Concat":
            return self._concat(node, a, ins, flows, radius, jump)
        if op == "MatMul":
            return self._matmul(node, ins, flows, radius, jump)
        if op == "GatherElements":
            return self._gather_elements(node, a, ins, flows, radius, jump)
        if axes is None or flows[0] is None:
            return self._set(node, math.inf, jump, None)  # every op below needs to know the data's axes
        rank = len(axes)
        if op == "Transpose":
            perm = a.get("perm", list(range(rank))[::-1])
            return self._set(node, radius, jump, tuple(axes[p] for p in perm))
        if op == "Reshape":
            target = self._symbolic(ins[1])
            new = None if target is None else _reshape(axes, target, a.get("allowzero", 0))
            return self._set(node, radius, jump, new)
        if op == "Flatten":
            k = a.get("axis", 1) + (rank if a.get("axis", 1) < 0 else 0)
            return self._set(node, radius, jump, _reshape(axes, [_prod(axes[:k]), _prod(axes[k:])], 0))
        if op == "Expand":
            target = self._symbolic(ins[1])
            if target is None or len(target) < rank:
                return self._set(node, radius, jump, None)
            padded = (_ONE,) * (len(target) - rank) + axes
            return self._set(node, radius, jump, tuple(t if _is_one(d) else d for d, t in zip(padded, target)))
        if op == "Unsqueeze":
            where = a.get("axes") or (self._ints(ins[1]) if len(ins) > 1 and ins[1] else None)
            if where is None:
                return self._set(node, radius, jump, None)
            new = list(axes)
            for k in sorted(w % (rank + len(where)) for w in where):
                new.insert(k, _ONE)
            return self._set(node, radius, jump, tuple(new))
        if op == "Squeeze":
            where = a.get("axes") or (self._ints(ins[1]) if len(ins) > 1 and ins[1] else None)
            if where is None:
                if any(d[0] is None for d in axes):
                    return self._set(node, radius, jump, None)
                where = [k for k, d in enumerate(axes) if _is_one(d)]
            where = {w % rank for w in where}
            return self._set(node, radius, jump, tuple(d for k, d in enumerate(axes) if k not in where))
        if op == "Slice":
            return self._slice(node, ins, axes, radius, jump)
        if op in _REDUCE or op in ("ArgMin", "ArgMax"):
            if op in _REDUCE:
                where = a.get("axes")
                if where is None and len(ins) > 1 and ins[1]:
                    where = self._ints(ins[1])
                    if where is None:
                        return self._set(node, math.inf, jump, None)
                if not where:
                    where = [] if a.get("noop_with_empty_axes", 0) else list(range(rank))
            else:
                where = [a.get("axis", 0)]
            return self._reduce(node, axes, where, a.get("keepdims", 1), radius, jump)
        if op in ("Softmax", "LogSoftmax", "Hardmax", "LpNormalization", "LayerNormalization", "TopK", "CumSum"):
            old = False
            if op == "CumSum":
                k = self._ints(ins[1])
                if k is None:
                    return self._set(node, math.inf, jump, None)
                k = k[0]
            else:
                old = op in ("Softmax", "LogSoftmax", "Hardmax") and self.opset < 13  # then over axis.. (2-D view)
                k = a.get("axis", 1 if old else -1)
            k %= rank
            span = range(k, rank) if op == "LayerNormalization" or old else [k]
            if any(_spatial(axes[s]) for s in span):
                return self._set(node, math.inf, jump, axes)
            new = tuple(_UNKNOWN if (op == "TopK" and s == k) else d for s, d in enumerate(axes))
            return self._set(node, radius, jump, new)
        if op in ("InstanceNormalization", "GroupNormalization", "MeanVarianceNormalization") or op in _GLOBAL_POOL:
            first = 1 if op == "GroupNormalization" else 2
            where = a.get("axes", [0, 2, 3]) if op == "MeanVarianceNormalization" else list(range(first, rank))
            if any(_spatial(axes[w % rank]) for w in where):
                return self._set(node, math.inf, jump, axes)
            return self._set(node, radius, jump, axes)
        if op == "Gemm":
            k = 0 if a.get("transA", 0) else 1
            if len(axes) != 2 or _spatial(axes[k]) or any(f is not None for f in flows[1:]):
                return self._set(node, math.inf, jump, None)
            return self._set(node, radius, jump, (axes[1 - k], _UNKNOWN))
        if op == "Gather":
            return self._gather(node, a, ins, flows, axes, radius, jump)
        if op in _SPATIAL_KERNEL or op in ("ConvTranspose", "Resize"):
            return self._spatial_op(node, op, a, ins, axes, radius, jump)
        if op == "GridSample":
            return self._grid_sample(node, ins, flows, radius)
        if op == "Pad":
            pads = self._ints(ins[1]) if len(ins) > 1 else a.get("pads")
            where = self._ints(ins[3]) if len(ins) > 3 and ins[3] else list(range(rank))
            if pads is None or where is None:
                return self._set(node, math.inf, jump, None)
            n = len(where)
            if any(_spatial(axes[w % rank]) and (pads[i] or pads[i + n]) for i, w in enumerate(where)):
                return self._set(node, math.inf, jump, None)  # shifts positions
            return self._set(node, radius, jump, tuple(_UNKNOWN if not _spatial(d) and k in where else d
                                                       for k, d in enumerate(axes)))
        if op == "Split":
            k = a.get("axis", 0) % rank
            if _spatial(axes[k]):
                return self._set(node, math.inf, jump, None)
            return self._set(node, radius, jump, tuple(_UNKNOWN if s == k else d for s, d in enumerate(axes)))
        # anything else on image data: not known to keep pixels apart
        return self._set(node, math.inf, jump, None)

    def _merge(self, node, operands: list[tuple[tuple | None, bool]], radius, jump) -> None:
        """Right-aligned broadcast of the operands' (axes, is image data); every image operand must
        put the same spatial dims on the same axis (else two positions meet: the whole frame).
        Side operands (constants, palettes, coordinate grids) only add axes."""
        if any(p is None for p, _ in operands):
            return self._set(node, radius, jump, None)
        rank = max(len(p) for p, _ in operands)
        out = []
        for k in range(rank):
            cands = [(p[k - rank + len(p)], image) for p, image in operands if k - rank + len(p) >= 0]
            sized = [d for d, image in cands if image and not _is_one(d)]
            if len({_spatial(d) for d in sized}) > 1:
                return self._set(node, math.inf, jump, None)
            side = [d for d, image in cands if not image and not _is_one(d)]
            if any(_spatial(d) for d in sized) and any(d[0] is not None and not d[1] for d in side):
                return self._set(node, math.inf, jump, None)  # a fixed map over the pixels: a tile sees its corner
            out.append(sized[0] if sized else side[0] if side else _ONE)
        return self._set(node, radius, jump, tuple(out))

    def _operands(self, ins, flows) -> list[tuple[tuple | None, bool]]:
        return [(f.axes, True) if f is not None else (self._side_dims(i), False) for i, f in zip(ins, flows) if i]

    def _broadcast(self, node, ins, flows, radius, jump):
        return self._merge(node, self._operands(ins, flows), radius, jump)

    def _concat(self, node, a, ins, flows, radius, jump):
        parts = self._operands(ins, flows)
        if any(p is None for p, _ in parts) or len({len(p) for p, _ in parts}) != 1:
            return self._set(node, radius, jump, None)
        rank = len(parts[0][0])
        k = a["axis"] % rank
        if any(_spatial(p[k]) for p, image in parts if image):
            return self._set(node, math.inf, jump, None)  # side by side along H or W
        size = _UNKNOWN if any(p[k][0] is None or p[k][1] for p, _ in parts) else (sum(p[k][0] for p, _ in parts), ())
        rest = [(tuple(_ONE if s == k else d for s, d in enumerate(p)), image) for p, image in parts]
        self._merge(node, rest, radius, jump)
        f = self.state[node.output[0]]
        if f.axes is not None and not math.isinf(f.radius):
            self._set(node, f.radius, jump, tuple(size if s == k else d for s, d in enumerate(f.axes)))

    def _slice(self, node, ins, axes, radius, jump):
        rank = len(axes)
        starts, ends = self._ints(ins[1]), self._ints(ins[2])
        where = self._ints(ins[3]) if len(ins) > 3 and ins[3] else (list(range(len(starts))) if starts else None)
        steps = self._ints(ins[4]) if len(ins) > 4 and ins[4] else [1] * len(starts or [])
        if starts is None or ends is None or where is None or steps is None:
            return self._set(node, math.inf, jump, None)
        new = list(axes)
        for s, e, w, st in zip(starts, ends, where, steps):
            w %= rank
            if _spatial(axes[w]):
                if not (s == 0 and e >= 2**31 - 1 and st == 1):
                    return self._set(node, math.inf, jump, None)  # a crop or shift of the image
                continue
            c = axes[w][0]
            new[w] = (len(range(c)[s:e:st]), ()) if c is not None and not axes[w][1] else _UNKNOWN
        return self._set(node, radius, jump, tuple(new))

    def _reduce(self, node, axes, where, keepdims, radius, jump):
        rank = len(axes)
        where = {w % rank for w in where}
        if any(_spatial(axes[w]) for w in where):
            return self._set(node, math.inf, jump, axes)  # over H or W: the whole frame
        new = tuple(_ONE if k in where else d for k, d in enumerate(axes) if keepdims or k not in where)
        return self._set(node, radius, jump, new)

    def _matmul(self, node, ins, flows, radius, jump):
        a, b = (f.axes if f is not None else self._side_dims(i) for i, f in zip(ins, flows))
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            return self._set(node, math.inf if flows[0] is None or flows[1] is not None else radius, jump, None)
        if _spatial(a[-1]) or _spatial(b[-2]):
            return self._set(node, math.inf, jump, None)  # a sum over image positions
        self._merge(node, [(a[:-2], flows[0] is not None), (b[:-2], flows[1] is not None)], radius, jump)
        f = self.state[node.output[0]]
        if f.axes is not None and not math.isinf(f.radius):
            self._set(node, f.radius, jump, f.axes + (a[-2], b[-1]))

    def _gather(self, node, a, ins, flows, axes, radius, jump):
        rank = len(axes)
        k = a.get("axis", 0) % rank
        if flows[1] is not None or _spatial(axes[k]):
            return self._set(node, math.inf, jump, None)  # picks image positions (or by image data)
        idx = self._rank(ins[1])
        if idx is None:
            return self._set(node, radius, jump, None)
        return self._set(node, radius, jump, axes[:k] + (_UNKNOWN,) * idx + axes[k + 1:])

    def _gather_elements(self, node, a, ins, flows, radius, jump):
        data, index = self._operands(ins, flows)
        if data[0] is None or index[0] is None or len(data[0]) != len(index[0]):
            return self._set(node, math.inf if flows[0] is not None else radius, jump, None)
        k = a.get("axis", 0) % len(data[0])
        if flows[0] is not None and _spatial(data[0][k]):
            return self._set(node, math.inf, jump, None)  # reads image positions chosen by the indices
        # out[p] = data[p with axis k replaced by index[p]]: the other axes stay aligned, shaped as the index
        if flows[1] is None:
            return self._set(node, radius, jump, None)
        image_data = [] if flows[0] is None else [(tuple(_ONE if s == k else d for s, d in enumerate(data[0])), True)]
        self._merge(node, image_data + [index], radius, jump)

    def _spatial_op(self, node, op, a, ins, axes, radius, jump):
        own = self.state[ins[0]].radius
        if len(axes) != 4 or [len(_spatial(d)) for d in axes] != [0, 0, 1, 1] or _spatial(axes[2])[0][0] != "H":
            return self._set(node, math.inf, jump, None)  # a kernel over axes that are not H, W
        channels = _UNKNOWN
        if op in _SPATIAL_KERNEL:
            kernel = a.get("kernel_shape") or list(self._weight_shape(node)[2:])
            dil = a.get("dilations", [1] * len(kernel))
            pads = a.get("pads", [0] * 2 * len(kernel))
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                pads = [(k - 1) * d for k, d in zip(kernel, dil)] * 2  # SAME/VALID: bound by the full extent
            reach = max(_reach(k, d, p) for k, d, p in zip(kernel, dil, pads[: len(kernel)]))
            radius = own + reach * jump
            jump = jump * max(a.get("strides", [1]))
            channels = (self._weight_shape(node)[0], ()) if op == "Conv" else axes[1]
        elif op == "ConvTranspose":
            radius = own + jump  # each output element reads its parent and a neighbour
            jump = jump / max(a.get("strides", [1]))
        else:  # Resize
            factor = _resize_factor(node, self.consts)
            radius = own + max(jump, jump / factor)
            jump = jump / factor
            channels = axes[1]
        if any(f is not None for f in [self.state.get(i) for i in ins[1:] if i]):
            return self._set(node, math.inf, jump, None)  # weights computed from the image
        return self._set(node, radius, jump, _rescaled((axes[0], channels, axes[2], axes[3]), jump))

    def _grid_sample(self, node, ins, flows, radius):
        if self.flow is None:
            self.flow = _flow_bound(self.graph, self.consts)
        image, grid = flows[0], flows[1]
        if image is None or grid is None or image.axes is None or grid.axes is None or len(grid.axes) != 4:
            return self._set(node, math.inf, 1.0, None)  # positions not read from the image's own flow
        radius = max(grid.radius, image.radius + self.flow)
        return self._set(node, radius, 1.0, (image.axes[0], image.axes[1], grid.axes[1], grid.axes[2]))

    def _weight_shape(self, node: onnx.NodeProto) -> tuple[int, ...]:
        return _weight_shape(node, self.graph, self.consts)


def receptive_radius(model: onnx.ModelProto | Path | str) -> float:
    """Upper bound, in input pixels, on how far any image output pixel looks into any image input
    (math.inf when an output sees the whole frame, e.g. a classifier)."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    return _Walk(model).run()


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
RADIUS_SOURCE_KEY = "receptive_radius_onnx"  # Session.metadata: the graph to read it from, on first need


def with_receptive_radius(session, network, variant=None, models_dir: Path | None = None):
    """`session`, its metadata naming the FP32 ONNX graph its radius is read from (every backend
    runs the same architecture); `session_margin` reads the radius when a frame is first tiled,
    so whole-frame calls never parse a graph. The dither detector is never tiled and gets none."""
    from ..models import Network, onnx_path

    if RADIUS_KEY not in session.metadata and Network(network) is not Network.DITHER:
        path = onnx_path(network, variant, root=models_dir)
        if path.is_file():
            session.metadata[RADIUS_SOURCE_KEY] = str(path)
    return session


def session_margin(session, stride: int) -> int | None:
    """The tile margin for a session (`tile_margin` of its stated radius); None when it states none."""
    value = session.metadata.get(RADIUS_KEY)
    if value is None and RADIUS_SOURCE_KEY in session.metadata:
        value = session.metadata[RADIUS_KEY] = str(file_radius(session.metadata[RADIUS_SOURCE_KEY]))
    return tile_margin(float(value), stride) if value else None
