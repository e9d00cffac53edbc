"""Small ONNX stand-ins with the deploy I/O of docs/CONTRACTS.md, and tiny GIF writers.

Built with onnx.helper (no torch, milliseconds). Each stand-in uses every input the way the
shipped graphs do, with behaviour simple enough for tests to compute exactly:
- every graph starts like the shipped ones: Cast to float first, /255, then NHWC -> NCHW
  (TensorRT rejects uint8 intermediates), and images end with clip to [0,1], NCHW -> NHWC,
  x255, Round, Cast to uint8;
- dequantizer: snaps every pixel to the nearest entry of ITS palette (ArgMin + GatherElements,
  like the real graph's re-quantization), then a 3x3 box blur (zero padding, so tile borders
  would show) and `offset` grey levels. A frame given another frame's palette changes colour;
- interpolator: (1 - t) img0 + t img1 + (gif1 - gif0) / 4: both restored frames and both GIF
  frames move the output, each in its own distinguishable way;
- dither detector: p = bias + mean |horizontal step| / 32 (on the 0..255 scale), clipped to
  [0, 1]: a flat frame gives `bias`, stripes of amplitude a give bias + a / 32. It responds to
  the image, so decisions near the threshold can be tested.
Each graph also pools by its stride and adds the (zeroed) result back, so a frame whose
size is not a multiple of the stride fails inside ONNX Runtime: the runtime must pad.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trt_gif2video.io.encode import GifBitstream

OPSET = 17
DETECTOR_STEP = 32.0  # mean |horizontal step| (grey levels) that adds 1.0 to the stand-in's p_dither


def _meta(model: onnx.ModelProto, **props: str) -> onnx.ModelProto:
    for k, v in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    return model


def _image_in(name: str):
    return helper.make_tensor_value_info(name, TensorProto.UINT8, ["N", "H", "W", 3])


def _to_nchw_float(src: str, dst: str) -> list:
    """The shipped head: Cast first (no uint8 Transpose: TensorRT refuses it), /255, to NCHW."""
    return [
        helper.make_node("Cast", [src], [f"{dst}_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", [f"{dst}_f", "c255"], [f"{dst}_n"]),
        helper.make_node("Transpose", [f"{dst}_n"], [dst], perm=[0, 3, 1, 2]),
    ]


def _stride_guard(src: str, stride: int, dst: str) -> list:
    """dst = 0 * upsample(avgpool(src)): same shape as src only if H, W are multiples of stride."""
    return [
        helper.make_node("AveragePool", [src], [f"{dst}_p"], kernel_shape=[stride, stride], strides=[stride, stride]),
        helper.make_node("Resize", [f"{dst}_p", "", f"{dst}_scales"], [f"{dst}_u"], mode="nearest"),
        helper.make_node("Mul", [f"{dst}_u", "zero"], [dst]),
    ]


def _to_uint8_nhwc(src: str, dst: str) -> list:
    """The shipped tail: clip to [0,1], NCHW -> NHWC, x255, Round, Cast to uint8."""
    return [
        helper.make_node("Clip", [src, "zero", "one"], [f"{dst}_c"]),
        helper.make_node("Transpose", [f"{dst}_c"], [f"{dst}_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Mul", [f"{dst}_t", "c255"], [f"{dst}_s"]),
        helper.make_node("Round", [f"{dst}_s"], [f"{dst}_r"]),
        helper.make_node("Cast", [f"{dst}_r"], [dst], to=TensorProto.UINT8),
    ]


def _common_inits(stride: int, guard: str) -> list:
    return [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(255.0, np.float32), "c255"),
        numpy_helper.from_array(np.array([1, 1, stride, stride], np.float32), f"{guard}_scales"),
    ]


def _snap_to_palette(x: str, palette: str, dst: str) -> tuple[list, list]:
    """dst (NCHW float) = every pixel of x replaced by its nearest palette colour, like the shipped
    re-quantization: argmin over |p|^2 - 2 x.p (|x|^2 is the same for every entry), MatMul, ArgMin,
    GatherElements; the first of equal entries wins, so the padded palette changes nothing."""
    nodes = [
        helper.make_node("Cast", [palette], ["pal_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["pal_f", "c255"], ["pal"]),  # [N,256,3]
        helper.make_node("Transpose", [x], ["x_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["x_nhwc", "flat_shape"], ["xf"]),  # [N,HW,3]
        helper.make_node("Transpose", ["pal"], ["pal_t"], perm=[0, 2, 1]),  # [N,3,256]
        helper.make_node("MatMul", ["xf", "pal_t"], ["xp"]),  # [N,HW,256]
        helper.make_node("Mul", ["pal", "pal"], ["pal_sq"]),
        helper.make_node("ReduceSum", ["pal_sq", "axis2"], ["pal_n"], keepdims=0),  # [N,256]
        helper.make_node("Unsqueeze", ["pal_n", "axis1"], ["pal_n3"]),  # [N,1,256]
        helper.make_node("Mul", ["xp", "two"], ["xp2"]),
        helper.make_node("Sub", ["pal_n3", "xp2"], ["dist"]),
        helper.make_node("ArgMin", ["dist"], ["idx"], axis=2, keepdims=1, select_last_index=0),  # [N,HW,1]
        helper.make_node("Shape", ["xf"], ["xf_shape"]),
        helper.make_node("Expand", ["idx", "xf_shape"], ["idx3"]),  # [N,HW,3]
        helper.make_node("GatherElements", ["pal", "idx3"], ["snapped"], axis=1),  # [N,HW,3]
        helper.make_node("Shape", ["x_nhwc"], ["nhwc_shape"]),
        helper.make_node("Reshape", ["snapped", "nhwc_shape"], ["snapped4"]),
        helper.make_node("Transpose", ["snapped4"], [dst], perm=[0, 3, 1, 2]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0, -1, 3], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
    ]
    return nodes, inits


def dequant_model(offset: float = 0.0, stride: int = 16, variant: str = "nodither") -> onnx.ModelProto:
    """Nearest-palette snap, 3x3 box blur (zero padding), + `offset` grey levels."""
    blur = np.full((3, 1, 3, 3), 1.0 / 9.0, np.float32)
    snap, snap_inits = _snap_to_palette("x", "palette", "s")
    nodes = _to_nchw_float("gif", "x") + snap + [
        helper.make_node("Conv", ["s", "blur"], ["b"], group=3, pads=[1, 1, 1, 1]),
    ] + _stride_guard("x", stride, "g") + [
        helper.make_node("Add", ["b", "g"], ["bg"]),
        helper.make_node("Add", ["bg", "offset"], ["y"]),
    ] + _to_uint8_nhwc("y", "restored")
    inits = _common_inits(stride, "g") + snap_inits + [
        numpy_helper.from_array(blur, "blur"),
        numpy_helper.from_array(np.array(offset / 255.0, np.float32), "offset"),
    ]
    graph = helper.make_graph(
        nodes,
        "dequant_standin",
        [_image_in("gif"), helper.make_tensor_value_info("palette", TensorProto.UINT8, ["N", 256, 3])],
        [_image_in("restored")],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return _meta(model, stride=stride, network="dequant", variant=variant, precision="fp32")


def interp_model(stride: int = 32) -> onnx.ModelProto:
    """(1 - t) img0 + t img1 + (gif1 - gif0) / 4."""
    nodes = (
        _to_nchw_float("img0", "a")
        + _to_nchw_float("img1", "b")
        + _to_nchw_float("gif0", "ga")
        + _to_nchw_float("gif1", "gb")
        + _stride_guard("ga", stride, "g")
        + [
            helper.make_node("Reshape", ["t", "t_shape"], ["t4"]),
            helper.make_node("Sub", ["one", "t4"], ["t4c"]),
            helper.make_node("Mul", ["a", "t4c"], ["wa"]),
            helper.make_node("Mul", ["b", "t4"], ["wb"]),
            helper.make_node("Add", ["wa", "wb"], ["mix"]),
            helper.make_node("Sub", ["gb", "ga"], ["gd"]),
            helper.make_node("Mul", ["gd", "quarter"], ["gq"]),
            helper.make_node("Add", ["mix", "gq"], ["mq"]),
            helper.make_node("Add", ["mq", "g"], ["y"]),
        ]
        + _to_uint8_nhwc("y", "frame_t")
    )
    inits = _common_inits(stride, "g") + [
        numpy_helper.from_array(np.array(0.25, np.float32), "quarter"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "t_shape"),
    ]
    inputs = [_image_in(n) for n in ("gif0", "gif1", "img0", "img1")]
    inputs.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N"]))
    graph = helper.make_graph(nodes, "interp_standin", inputs, [_image_in("frame_t")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return _meta(model, stride=stride, network="interp", variant="none", precision="fp32")


def dither_model(p: float, stride: int = 16) -> onnx.ModelProto:
    """p_dither = clip(p + mean |horizontal step| x 255 / DETECTOR_STEP, 0, 1) per frame."""
    nodes = _to_nchw_float("gif", "x") + _stride_guard("x", stride, "g") + [
        helper.make_node("Slice", ["x", "s_start", "s_end", "s_axes"], ["xr"]),
        helper.make_node("Slice", ["x", "s0_start", "s0_end", "s_axes"], ["xl"]),
        helper.make_node("Sub", ["xr", "xl"], ["dx"]),
        helper.make_node("Abs", ["dx"], ["adx"]),
        helper.make_node("ReduceMean", ["adx"], ["m"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("ReduceMean", ["g"], ["gm"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("Mul", ["m", "gain"], ["mg"]),
        helper.make_node("Add", ["mg", "gm"], ["mgg"]),
        helper.make_node("Add", ["mgg", "p"], ["praw"]),
        helper.make_node("Clip", ["praw", "zero", "one"], ["p_dither"]),
    ]
    inits = _common_inits(stride, "g") + [
        numpy_helper.from_array(np.array(p, np.float32), "p"),
        numpy_helper.from_array(np.array(255.0 / DETECTOR_STEP, np.float32), "gain"),
        numpy_helper.from_array(np.array([1], np.int64), "s_start"),
        numpy_helper.from_array(np.array([2**62], np.int64), "s_end"),
        numpy_helper.from_array(np.array([0], np.int64), "s0_start"),
        numpy_helper.from_array(np.array([-1], np.int64), "s0_end"),
        numpy_helper.from_array(np.array([3], np.int64), "s_axes"),
    ]
    graph = helper.make_graph(
        nodes, "dither_standin", [_image_in("gif")],
        [helper.make_tensor_value_info("p_dither", TensorProto.FLOAT, ["N"])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return _meta(model, stride=stride, network="dither", variant="none", precision="fp32")


DITHER_OFFSET = 40.0  # the stand-in "dithered" dequantizer brightens by this much: visible in outputs


def write_models(folder: Path, p_dither: float = 0.1) -> Path:
    """The four shipped file names (models.onnx_path naming) in `folder`; `p_dither` is the
    detector's output on a flat frame (stripes raise it, see `dither_model`)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(dequant_model(0.0, variant="nodither"), folder / "dequant_nodither.onnx")
    onnx.save(dequant_model(DITHER_OFFSET, variant="dither"), folder / "dequant_dither.onnx")
    onnx.save(interp_model(), folder / "interp.onnx")
    onnx.save(dither_model(p_dither), folder / "dither_detector.onnx")
    return folder


def write_gif(path: Path, frames: list[np.ndarray], delays_cs: list[int]) -> Path:
    """A GIF with one local palette per frame, from HxWx3 frames of <= 256 colours each (exact)."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as fh:
        gif = GifBitstream(fh, w, h, loop=0)
        for rgb, delay in zip(frames, delays_cs):
            colours, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
            gif.add_frame(inverse.reshape(h, w).astype(np.uint8), delay, colours.astype(np.uint8))
        gif.finish()
    return path


def flat_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    """n solid frames whose grey level encodes the frame index (10, 30, 50, ...)."""
    return [np.full((h, w, 3), 10 + 20 * (i % 12), np.uint8) for i in range(n)]


# --- numpy references of the stand-ins: exact values before the uint8 rounding (float64, 0..255
# scale), so a test can require every output pixel within half a level of them ------------------


def ref_dequant(rgb: np.ndarray, palette: np.ndarray, offset: float = 0.0, stride: int = 16) -> np.ndarray:
    """What the dequantizer stand-in computes for one HxWx3 frame and its Nx3 palette (after the
    runtime's replicate padding to the stride and crop back), before rounding."""
    h, w = rgb.shape[:2]
    pal = np.asarray(palette, np.float64) / 255.0  # the frame's own palette, unpadded: padding must change nothing
    x = rgb.astype(np.float64) / 255.0
    x = np.pad(x, ((0, -h % stride), (0, -w % stride), (0, 0)), mode="edge")
    snapped = pal[np.argmin(((x[:, :, None, :] - pal[None, None]) ** 2).sum(-1), axis=-1)]
    p = np.pad(snapped, ((1, 1), (1, 1), (0, 0)))
    hh, ww = x.shape[:2]
    blur = sum(p[dy:dy + hh, dx:dx + ww] for dy in range(3) for dx in range(3)) / 9.0
    return (np.clip(blur + offset / 255.0, 0, 1) * 255.0)[:h, :w]


def ref_interp(gif0, gif1, img0, img1, t: float) -> np.ndarray:
    g0, g1, i0, i1 = (np.asarray(v, np.float64) for v in (gif0, gif1, img0, img1))
    return np.clip((1 - t) * i0 + t * i1 + (g1 - g0) / 4.0, 0, 255)


def ref_p_dither(frames: list[np.ndarray], bias: float) -> float:
    """The detector stand-in's mean probability over frames (no padding: sizes multiple of 16)."""
    steps = [np.abs(np.diff(f.astype(np.float64), axis=1)).mean() for f in frames]
    return float(np.mean([min(1.0, max(0.0, bias + s / DETECTOR_STEP)) for s in steps]))


def striped(h: int, w: int, base: int, step: int) -> np.ndarray:
    """Vertical stripes alternating base / base + step: mean |horizontal step| is exactly `step`."""
    rgb = np.full((h, w, 3), base, np.uint8)
    rgb[:, 1::2] += np.uint8(step)
    return rgb
