"""Small ONNX stand-ins with the deploy I/O of docs/CONTRACTS.md, and tiny GIF writers.

Built with onnx.helper (no torch, milliseconds), with behaviour tests can check exactly:
- dequantizer: 3x3 box blur (zero padding, so tile borders would show) + `offset`;
- interpolator: (1 - t) * img0 + t * img1 (a cross-fade, so timing is visible in pixels);
- dither detector: a constant probability.
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


def _meta(model: onnx.ModelProto, **props: str) -> onnx.ModelProto:
    for k, v in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    return model


def _image_in(name: str):
    return helper.make_tensor_value_info(name, TensorProto.UINT8, ["N", "H", "W", 3])


def _to_nchw_float(src: str, dst: str) -> list:
    return [
        helper.make_node("Cast", [src], [f"{dst}_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", [f"{dst}_f"], [dst], perm=[0, 3, 1, 2]),
    ]


def _stride_guard(src: str, stride: int, dst: str) -> list:
    """dst = 0 * upsample(avgpool(src)): same shape as src only if H, W are multiples of stride."""
    return [
        helper.make_node("AveragePool", [src], [f"{dst}_p"], kernel_shape=[stride, stride], strides=[stride, stride]),
        helper.make_node("Resize", [f"{dst}_p", "", f"{dst}_scales"], [f"{dst}_u"], mode="nearest"),
        helper.make_node("Mul", [f"{dst}_u", "zero"], [dst]),
    ]


def _to_uint8_nhwc(src: str, dst: str) -> list:
    return [
        helper.make_node("Round", [src], [f"{dst}_r"]),
        helper.make_node("Clip", [f"{dst}_r", "lo", "hi"], [f"{dst}_c"]),
        helper.make_node("Transpose", [f"{dst}_c"], [f"{dst}_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Cast", [f"{dst}_t"], [dst], to=TensorProto.UINT8),
    ]


def _common_inits(stride: int, guard: str) -> list:
    return [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(255.0, np.float32), "hi"),
        numpy_helper.from_array(np.array([1, 1, stride, stride], np.float32), f"{guard}_scales"),
    ]


def dequant_model(offset: float = 0.0, stride: int = 16, variant: str = "nodither") -> onnx.ModelProto:
    blur = np.full((3, 1, 3, 3), 1.0 / 9.0, np.float32)
    nodes = _to_nchw_float("gif", "x") + [
        helper.make_node("Conv", ["x", "blur"], ["b"], group=3, pads=[1, 1, 1, 1]),
        # the palette is an input: touch it so a wrong palette shape fails loudly
        helper.make_node("Cast", ["palette"], ["pal_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pal_f"], ["pal_m"], keepdims=0, axes=[1, 2]),
        helper.make_node("Mul", ["pal_m", "zero"], ["pal_z"]),
        helper.make_node("Unsqueeze", ["pal_z", "axes123"], ["pal_z4"]),
    ] + _stride_guard("x", stride, "g") + [
        helper.make_node("Add", ["b", "g"], ["bg"]),
        helper.make_node("Add", ["bg", "pal_z4"], ["bgp"]),
        helper.make_node("Add", ["bgp", "offset"], ["y"]),
    ] + _to_uint8_nhwc("y", "restored")
    inits = _common_inits(stride, "g") + [
        numpy_helper.from_array(blur, "blur"),
        numpy_helper.from_array(np.array(offset, np.float32), "offset"),
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes123"),
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
    nodes = (
        _to_nchw_float("img0", "a")
        + _to_nchw_float("img1", "b")
        + _to_nchw_float("gif0", "ga")
        + _stride_guard("ga", stride, "g")
        + [
            helper.make_node("Reshape", ["t", "t_shape"], ["t4"]),
            helper.make_node("Sub", ["one", "t4"], ["t4c"]),
            helper.make_node("Mul", ["a", "t4c"], ["wa"]),
            helper.make_node("Mul", ["b", "t4"], ["wb"]),
            helper.make_node("Add", ["wa", "wb"], ["mix"]),
            # gif1 is an input too; fold it in as zero so the graph keeps it
            helper.make_node("Cast", ["gif1"], ["g1f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMax", ["g1f"], ["g1m"], keepdims=0),
            helper.make_node("Mul", ["g1m", "zero"], ["g1z"]),
            helper.make_node("Add", ["mix", "g"], ["mg"]),
            helper.make_node("Add", ["mg", "g1z"], ["y"]),
        ]
        + _to_uint8_nhwc("y", "frame_t")
    )
    inits = _common_inits(stride, "g") + [
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "t_shape"),
    ]
    inputs = [_image_in(n) for n in ("gif0", "gif1", "img0", "img1")]
    inputs.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N"]))
    graph = helper.make_graph(nodes, "interp_standin", inputs, [_image_in("frame_t")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return _meta(model, stride=stride, network="interp", variant="none", precision="fp32")


def dither_model(p: float, stride: int = 16) -> onnx.ModelProto:
    nodes = _to_nchw_float("gif", "x") + _stride_guard("x", stride, "g") + [
        helper.make_node("ReduceMean", ["g"], ["m"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("Add", ["m", "p"], ["p_dither"]),
    ]
    inits = _common_inits(stride, "g") + [
        numpy_helper.from_array(np.array(p, np.float32), "p"),
    ]
    graph = helper.make_graph(
        nodes, "dither_standin", [_image_in("gif")],
        [helper.make_tensor_value_info("p_dither", TensorProto.FLOAT, ["N"])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return _meta(model, stride=stride, network="dither", variant="none", precision="fp32")


DITHER_OFFSET = 40.0  # the stand-in "dithered" dequantizer brightens by this much: visible in outputs


def write_models(folder: Path, p_dither: float = 0.1) -> Path:
    """The four shipped file names (models.onnx_path naming) in `folder`."""
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
