"""INT8 variant of an FP32 deploy ONNX with explicit Q/DQ (no torch).

TensorRT 10/11 take INT8 only from explicit QuantizeLinear/DequantizeLinear pairs with
zero point 0 (REFERENCE.md section 2): onnxruntime's `quantize_static` in QDQ format,
symmetric int8 activations and weights, per-channel weight scales, biases left in FP32.
Only the U-Net body convolutions are quantized; the heads (the convolutions whose output
feeds flows, the visibility blend, the palette re-quantization or the image/probability
output) stay FP32, since INT8 flow heads are where interpolation accuracy collapses
(REFERENCE.md section 3), and so do the convolutions reading the 8-bit inputs (see
`input_convs`). GridSample, ArgMin and friends are never quantized.
"""

from __future__ import annotations

import enum
import inspect
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..config import Precision
from ..errors import BackendUnavailableError, ModelError
from .check import check_model, read_metadata, set_metadata
from .fp16 import _atomic_save, _Graph, fp32_regions

QUANT_OPS = ("Conv", "ConvTranspose")


class Int8Flavour(str, enum.Enum):
    """Two INT8 files from one calibration: the value is the file's precision suffix.

    TENSORRT (`<stem>.int8.onnx`): symmetric int8 activations and weights, zero point 0, Q/DQ on
    the U-Net body convolutions only: what TensorRT's explicit quantization accepts.
    ORT_CPU (`<stem>.int8-cpu.onnx`): uint8 activations (asymmetric), int8 per-channel weights,
    the form ONNX Runtime's x86 CPU provider turns into integer QLinearConv kernels (with int8
    activations it keeps the float Conv plus Q/DQ passes: slower than FP32). The activations
    after convolutions are quantized too (fused into QLinearConv / QLinearLeakyRelu), and so is
    the interpolator's upsampling (Resize: runs on uint8 with its input's scale, and the decoder
    Concat after it becomes a QLinearConcat instead of DQ -> float Resize + Concat -> Q). The
    U-Net body's 2x2 average pools are written as depthwise convolutions with weights 1/k^2 (the
    same arithmetic; on a 32x352x480 tensor ONNX Runtime's QLinearAveragePool took 60 ms, a
    depthwise QLinearConv 1 ms). Concatenations are not quantized by type: a shared uint8 scale across
    the dither detector's concatenation of a high-pass map and an image moved its probabilities
    by 0.06 on average (gate 0.05); those between quantized body tensors still fuse. Heads and
    input convolutions stay FP32 as in the TensorRT file (quantized, the input convolutions
    measured no faster: 3-6 input channels are too few for the integer kernels).
    """

    TENSORRT = "int8"
    ORT_CPU = "int8-cpu"


@dataclass(frozen=True)
class _Recipe:
    op_types: tuple[str, ...]
    activation_uint8: bool
    keep_input_convs: bool  # leave the convolutions reading the 8-bit inputs in FP32
    pools_as_convs: bool = False  # body AveragePools rewritten as depthwise Convs (`_pools_as_depthwise`)


_RECIPES = {
    Int8Flavour.TENSORRT: _Recipe(QUANT_OPS, activation_uint8=False, keep_input_convs=True),
    Int8Flavour.ORT_CPU: _Recipe(QUANT_OPS + ("Relu", "LeakyRelu", "Resize"),
                                 activation_uint8=True, keep_input_convs=True, pools_as_convs=True),
}
# one calibration serves both flavours: ranges of every tensor either may quantize
CALIB_OPS = tuple(dict.fromkeys(op for r in _RECIPES.values() for op in r.op_types))
# metadata: the FP32 file a derived file was made from (its sha256), and which INT8 flavour it is
SOURCE_KEY = "source_sha256"
FLAVOUR_KEY = "int8_flavour"

class FeedsReader:
    """A CalibrationDataReader over a re-iterable collection of input dicts."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]):
        self._feeds = list(feeds)
        if not self._feeds:
            raise ModelError("int8: calibration needs at least one sample")
        self._it = iter(self._feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)


def head_convs(model: onnx.ModelProto) -> list[str]:
    """Convolutions whose output flows straight (no other conv between) into an FP32 region."""
    g = _Graph(model.graph)
    keep = set().union(*fp32_regions(model).values())
    heads = []
    for node in g.nodes:
        if node.op_type in QUANT_OPS and any(g.nodes[c].name in keep or c_out in g.outputs
                                             for c_out in node.output for c in g.consumers.get(c_out, [])):
            heads.append(node.name)
    return heads


def input_convs(model: onnx.ModelProto) -> list[str]:
    """Convolutions reading the network inputs (no other conv between): the first conv of each U-Net.

    Their input is an 8-bit image; symmetric int8 keeps 7 bits of it, which erases the 1-2 level
    dither dots and contour steps these networks look for (the dither detector flipped its
    decision on 3 of 32 validation frames with its first conv in INT8, none without). They cost
    under 2% of the FLOPs.
    """
    g = _Graph(model.graph)
    reach = g.forward(g.inputs)
    return [n.name for n in g.nodes if n.op_type in QUANT_OPS
            and (n.input[0] in g.inputs or g.producer.get(n.input[0]) in reach)]


def _preprocess(src: Path, dst: Path) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # onnx shape inference only: ORT's symbolic inference does not know every op's dynamic shapes,
    # and no graph optimization, so tensor names stay those of the FP32 file (shipped ranges key on them)
    quant_pre_process(str(src), str(dst), skip_symbolic_shape=True, skip_optimization=True)


def _pools_as_depthwise(model: onnx.ModelProto) -> int:
    """Rewrite the U-Net body's unpadded AveragePools as depthwise Convs with weights 1/k^2, in place.

    Same output (count_include_pad is moot without padding) and the same tensor names, so the
    calibrated ranges still apply; the quantizer then makes them QLinearConvs (ONNX Runtime's
    QLinearAveragePool is far slower than its depthwise QLinearConv: see `Int8Flavour`).
    Pools before the first convolution (the detector's high-pass filter) are left alone.
    Returns how many were rewritten."""
    from onnx import helper, numpy_helper

    g = _Graph(model.graph)
    pre_conv = g.forward(g.inputs)
    shapes = {v.name: v.type.tensor_type.shape for v in (*model.graph.value_info, *model.graph.input)}
    done = 0
    for i, node in enumerate(g.nodes):
        if node.op_type != "AveragePool" or i in pre_conv:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        kernel = list(attrs.get("kernel_shape", []))
        shape = shapes.get(node.input[0])
        if (len(kernel) != 2 or any(attrs.get("pads", [0])) or attrs.get("ceil_mode", 0)
                or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID")
                or shape is None or len(shape.dim) != 4 or not shape.dim[1].HasField("dim_value")):
            continue
        channels = shape.dim[1].dim_value
        weight = numpy_helper.from_array(np.full((channels, 1, *kernel), 1.0 / (kernel[0] * kernel[1]), np.float32),
                                         f"{node.name}_depthwise_weight")
        model.graph.initializer.append(weight)
        conv = helper.make_node("Conv", [node.input[0], weight.name], list(node.output), name=node.name,
                                kernel_shape=kernel, strides=list(attrs.get("strides", kernel)), group=channels)
        idx = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(idx, conv)
        done += 1
    return done


def _fp32_for_other_readers(model: onnx.ModelProto) -> None:
    """A tensor quantized for a conv may also feed a Concat/Add (U-Net skips, the palette path):
    the quantizer hands those the DQ output too. Give them the FP32 tensor back, so only convs read Q/DQ."""
    g = _Graph(model.graph)
    for node in g.nodes:
        if node.op_type != "DequantizeLinear" or node.input[0] not in g.producer:
            continue
        q = g.nodes[g.producer[node.input[0]]]
        if q.op_type != "QuantizeLinear":
            continue
        for c in g.consumers.get(node.output[0], []):
            reader = g.nodes[c]
            if reader.op_type not in QUANT_OPS:
                for i, name in enumerate(reader.input):
                    if name == node.output[0]:
                        reader.input[i] = q.input[0]
    # an activation Q/DQ pair left with no reader at all is dead
    while True:
        used = {name for n in model.graph.node for name in n.input} | {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                and n.output[0] not in used]
        if not dead:
            break
        for n in dead:
            model.graph.node.remove(n)
    used = {name for n in model.graph.node for name in n.input}
    for t in [t for t in model.graph.initializer if t.name not in used]:
        model.graph.initializer.remove(t)


Ranges = dict[str, tuple[float, float]]  # tensor name -> (min, max) seen in calibration


def calibrate_ranges(src: Path | str, reader: FeedsReader) -> Ranges:
    """MinMax ranges of every tensor either flavour may quantize, from running FP32 `src` on `reader`."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    with tempfile.TemporaryDirectory(prefix="g2v-calib-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(Path(src), pre)
        calibrator = create_calibrator(pre, list(CALIB_OPS), augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                       calibrate_method=CalibrationMethod.MinMax,
                                       providers=["CPUExecutionProvider"])
        reader.rewind()
        calibrator.collect_data(reader)
        data = calibrator.compute_data()
    return {name: (float(np.asarray(td.range_value[0]).reshape(-1)[0]), float(np.asarray(td.range_value[1]).reshape(-1)[0]))
            for name, td in data.data.items()}


def write_ranges(path: Path | str, ranges: Ranges, source_sha256: str, **provenance: str) -> Path:
    """`<stem>.calib.json`: the ranges, the FP32 file they belong to, and how they were sampled."""
    path = Path(path)
    payload = {SOURCE_KEY: source_sha256, **provenance, "ranges": {k: list(v) for k, v in sorted(ranges.items())}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=0, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def read_ranges(path: Path | str) -> tuple[Ranges, dict[str, str]]:
    """(ranges, provenance incl. source_sha256) of a `<stem>.calib.json`."""
    try:
        raw = json.loads(Path(path).read_text())
        ranges = {k: (float(v[0]), float(v[1])) for k, v in raw.pop("ranges").items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"{path}: not a calibration ranges file ({exc})") from None
    return ranges, {k: str(v) for k, v in raw.items()}


def _ort_cache(ranges: Ranges, path: Path) -> Path:
    """ONNX Runtime's own calibration cache file for `quantize_static(calibration_cache_path=...)`."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import TensorsData, save_tensors_data

    data = TensorsData(CalibrationMethod.MinMax, {k: (np.array([lo], np.float32), np.array([hi], np.float32)) for k, (lo, hi) in ranges.items()})
    save_tensors_data(data, path)
    return path


def quantize_int8(src: Path | str, dst: Path | str, ranges: Ranges, flavour: Int8Flavour = Int8Flavour.TENSORRT,
                  exclude: Iterable[str] = ()) -> Path:
    """Write the INT8 `flavour` of FP32 ONNX `src` to `dst` from calibrated `ranges` (no samples needed)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise BackendUnavailableError("int8: quantizing from stored ranges needs a newer onnxruntime "
                                      "(quantize_static(calibration_cache_path=...)); pip install -U onnxruntime")
    flavour, recipe = Int8Flavour(flavour), _RECIPES[Int8Flavour(flavour)]
    src, dst = Path(src), Path(dst)
    check_model(src, Precision.FP32)
    meta = read_metadata(onnx.load(str(src), load_external_data=False))
    act = QuantType.QUInt8 if recipe.activation_uint8 else QuantType.QInt8
    with tempfile.TemporaryDirectory(prefix="g2v-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(src, pre)
        pre_model = onnx.load(str(pre))
        if recipe.pools_as_convs and _pools_as_depthwise(pre_model):
            onnx.save(pre_model, str(pre))
        keep = set(head_convs(pre_model)) | set(exclude)
        if recipe.keep_input_convs:
            keep |= set(input_convs(pre_model))
        excluded = sorted(keep)
        out = Path(tmp) / "int8.onnx"
        quantize_static(str(pre), str(out), None, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(recipe.op_types), per_channel=True, nodes_to_exclude=excluded,
                        activation_type=act, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        calibration_cache_path=_ort_cache(ranges, Path(tmp) / "ranges.json"),
                        extra_options={"ActivationSymmetric": not recipe.activation_uint8, "WeightSymmetric": True,
                                       # FP32 bias: TensorRT fuses it; an int32 bias DQ would need its own scale
                                       "QuantizeBias": False})
        model = onnx.load(str(out))
    if flavour is Int8Flavour.TENSORRT:
        _fp32_for_other_readers(model)
    from ..hashing import sha256_file

    set_metadata(model, **{**meta, "precision": Precision.INT8.value, "int8_excluded": ",".join(excluded),
                           FLAVOUR_KEY: flavour.value, SOURCE_KEY: sha256_file(src)})
    check_model(model, Precision.INT8)
    if flavour is Int8Flavour.TENSORRT:
        check_qdq(model)
    _atomic_save(model, dst)
    return dst


def make_int8(src: Path | str, dst: Path | str, reader: FeedsReader,
              exclude: Iterable[str] = (), flavour: Int8Flavour = Int8Flavour.TENSORRT) -> Path:
    """Write the INT8 `flavour` of FP32 ONNX `src` to `dst`, calibrated on `reader`'s samples."""
    return quantize_int8(src, dst, calibrate_ranges(src, reader), flavour, exclude)


def check_qdq(model: onnx.ModelProto) -> None:
    """TensorRT's Q/DQ rules, one ModelError per broken rule.

    Every zero point is int8 and 0; weight scales are per output channel (axis 0 for Conv,
    axis 1 for ConvTranspose); every DequantizeLinear feeds only convolutions (so nothing on
    GridSample, flows or the palette path is quantized) and every QuantizeLinear only DQs.
    """
    from onnx import numpy_helper

    name = model.graph.name or "onnx model"
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    g = _Graph(model.graph)
    for node in g.nodes:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        zp = init.get(node.input[2]) if len(node.input) > 2 else None
        if zp is None or zp.dtype != np.int8 or np.any(zp != 0):
            raise ModelError(f"{name}: {node.name} needs an int8 zero point of 0 (TensorRT), got {zp!r}")
        users = [g.nodes[c] for c in g.consumers.get(node.output[0], [])]
        if node.op_type == "QuantizeLinear":
            if any(u.op_type != "DequantizeLinear" for u in users):
                raise ModelError(f"{name}: {node.name} must feed only DequantizeLinear")
            continue
        if any(u.op_type not in QUANT_OPS for u in users):
            raise ModelError(f"{name}: {node.name} feeds {[u.op_type for u in users]}; "
                             f"only {QUANT_OPS} may be quantized")
        if node.input[0] in init:  # a weight
            weight, scale = init[node.input[0]], init[node.input[1]]
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            want_axis = 1 if users[0].op_type == "ConvTranspose" else 0
            if scale.ndim != 1 or axis != want_axis or scale.shape[0] != weight.shape[want_axis]:
                raise ModelError(f"{name}: {node.name} needs per-channel scales on axis {want_axis} "
                                 f"({weight.shape[want_axis]} channels), got shape {scale.shape} axis {axis}")


def calibration_dithers(variant: str, manifest_dithers: tuple) -> tuple:
    """The dithers a model serves: the no-dither dequantizer none, the dither one FS + ordered, others all."""
    from ..config import Dither

    if variant == "nodither":
        return (Dither.NONE,)
    if variant == "dither":
        wanted = tuple(d for d in manifest_dithers if d is not Dither.NONE)
        return wanted or (Dither.FLOYD_STEINBERG, Dither.ORDERED)
    return tuple(manifest_dithers)
