"""The receptive-field walk over ONNX graphs (stages/receptive.py), on graphs with known answers."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from trt_gif2video.errors import ModelError
from trt_gif2video.stages.receptive import receptive_radius, tile_margin


def _graph(nodes, inits, inputs=("x",), output="y"):
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", "W"]) for n in inputs]
    out = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(nodes, "g", ins, [out], inits),
                             opset_imports=[helper.make_opsetid("", 17)])


def _w(name, k):
    return numpy_helper.from_array(np.zeros((3, 3, k, k), np.float32), name)


def test_conv_chain_adds_each_kernels_reach_at_its_resolution():
    nodes = [
        helper.make_node("Conv", ["x", "w3"], ["a"], pads=[1, 1, 1, 1]),  # +1
        helper.make_node("AveragePool", ["a"], ["b"], kernel_shape=[2, 2], strides=[2, 2]),  # +1, jump 2
        helper.make_node("Conv", ["b", "w3"], ["c"], pads=[1, 1, 1, 1]),  # +1 x 2
        helper.make_node("Conv", ["c", "w5"], ["d"], pads=[4, 4, 4, 4], dilations=[2, 2]),  # 2 taps x dilation 2, x 2
        helper.make_node("Resize", ["d", "", "scales"], ["e"], mode="linear"),  # +2 (one coarse element), jump 1
        helper.make_node("Add", ["e", "x"], ["y"]),
    ]
    inits = [_w("w3", 3), _w("w5", 5), numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    assert receptive_radius(_graph(nodes, inits)) == 1 + 1 + 2 + 8 + 2


def test_conv_transpose_and_a_7x7_head():
    nodes = [
        helper.make_node("Conv", ["x", "w7"], ["a"], pads=[3, 3, 3, 3], strides=[2, 2]),  # +3, jump 2
        helper.make_node("ConvTranspose", ["a", "wt"], ["y"], strides=[2, 2]),  # +2, jump 1
    ]
    inits = [_w("w7", 7), numpy_helper.from_array(np.zeros((3, 3, 2, 2), np.float32), "wt")]
    assert receptive_radius(_graph(nodes, inits)) == 3 + 2


def test_grid_sample_adds_the_flow_bound_read_from_the_graph():
    nodes = [
        helper.make_node("Conv", ["x", "w3"], ["f"], pads=[1, 1, 1, 1]),  # flow features: radius 1
        helper.make_node("Tanh", ["f"], ["ft"]),
        helper.make_node("Mul", ["ft", "m"], ["flow"]),  # |flow| <= 40 px
        helper.make_node("Transpose", ["flow"], ["grid4"], perm=[0, 2, 3, 1]),
        helper.make_node("Slice", ["grid4", "s0", "s2", "s3"], ["grid"]),
        helper.make_node("GridSample", ["img", "grid"], ["y"], padding_mode="border"),
    ]
    inits = [_w("w3", 3), numpy_helper.from_array(np.array(40.0, np.float32), "m"),
             numpy_helper.from_array(np.array([0], np.int64), "s0"), numpy_helper.from_array(np.array([2], np.int64), "s2"),
             numpy_helper.from_array(np.array([3], np.int64), "s3")]
    model = _graph(nodes, inits, inputs=("x", "img"))
    assert receptive_radius(model) == 40  # the sampled image moves by up to 40 px; the grid itself sees 1
    unbounded = _graph(nodes[:2] + [helper.make_node("Add", ["ft", "ft"], ["flow"])] + nodes[3:], inits,
                       inputs=("x", "img"))
    with pytest.raises(ModelError, match="cannot bound the flow"):
        receptive_radius(unbounded)


def test_global_pooling_sees_the_whole_frame_and_cannot_be_tiled():
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)]
    assert receptive_radius(_graph(nodes, [])) == math.inf
    with pytest.raises(ModelError, match="cannot be tiled"):
        tile_margin(math.inf, 16)


@pytest.mark.parametrize("radius, stride, margin", [(0, 16, 0), (1, 16, 16), (16, 16, 16), (274, 16, 288), (566, 32, 576)])
def test_tile_margin_covers_the_radius_on_the_stride_grid(radius, stride, margin):
    assert tile_margin(radius, stride) == margin


def test_onnx_files_are_read_without_external_data(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w3"], ["y"], pads=[1, 1, 1, 1])]
    onnx.save(_graph(nodes, [_w("w3", 3)]), tmp_path / "m.onnx")
    assert receptive_radius(tmp_path / "m.onnx") == 1


# --- the chunked palette step: per pixel, though it reduces and gathers -------------------------

def _ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _palette_step(argmin_axis=2, gather_from="pal_t", matmul=("at", "pal_t"), back=("n", "c", "h", "w"), pick="ArgMin"):
    """conv 3x3 (radius 1), then the shipped re-quantization's shape: [N,C,H,W] -> [N,H*W,C] by
    shapes read from the tensor, keys = MatMul with the palette, ArgMin (or ReduceMin: the shipped
    graph's keys carry the index) over the entries,
    GatherElements from the palette, Reshape back to [N,C,H,W]. Arguments break one step."""
    nodes = [helper.make_node("Conv", ["x", "w3"], ["a"], pads=[1, 1, 1, 1]), helper.make_node("Shape", ["a"], ["s"])]
    nodes += [helper.make_node("Gather", ["s", f"i{k}"], [d], axis=0) for k, d in enumerate("nchw")]
    nodes += [
        helper.make_node("Mul", ["h", "w"], ["hw"]),
        *[helper.make_node("Unsqueeze", [d, "zero"], [f"{d}1"]) for d in ("n", "c", "h", "w", "hw")],
        helper.make_node("Concat", ["n1", "c1", "hw1"], ["flat"], axis=0),
        helper.make_node("Reshape", ["a", "flat"], ["af"]),  # [N,C,HW]
        helper.make_node("Transpose", ["af"], ["at"], perm=[0, 2, 1]),  # [N,HW,C]
        helper.make_node("Transpose", ["palette"], ["pal_t"], perm=[0, 2, 1]),  # [N,C,K]
        helper.make_node("MatMul", list(matmul), ["key"]),  # [N,HW,K]
        helper.make_node("ArgMin", ["key"], ["idx"], axis=argmin_axis, keepdims=1) if pick == "ArgMin" else  # [N,HW,1]
        helper.make_node("ReduceMin", ["key"], ["low"], axes=[argmin_axis], keepdims=1),
        helper.make_node("Cast", ["idx" if pick == "ArgMin" else "low"], ["idx_i"], to=TensorProto.INT64),
        helper.make_node("Transpose", ["idx_i"], ["idx_t"], perm=[0, 2, 1]),  # [N,1,HW]
        helper.make_node("Expand", ["idx_t", "flat"], ["idx3"]),  # [N,C,HW]
        helper.make_node("GatherElements", [gather_from, "idx3"], ["snapped"], axis=2),
        helper.make_node("Concat", [f"{d}1" for d in back], ["full"], axis=0),
        helper.make_node("Reshape", ["snapped", "full"], ["y"]),
    ]
    inits = [_w("w3", 3), _ints("zero", [0])] + [_ints(f"i{k}", k) for k in range(4)]
    model = _graph(nodes, inits)
    model.graph.input.append(helper.make_tensor_value_info("palette", TensorProto.FLOAT, ["N", 256, 3]))
    return model


@pytest.mark.parametrize("pick", ["ArgMin", "ReduceMin"])
def test_the_palette_step_is_per_pixel(pick):
    assert receptive_radius(_palette_step(pick=pick)) == 1  # the conv in front; the palette step adds nothing


@pytest.mark.parametrize("broken", [
    {"argmin_axis": 1},  # the minimum over pixels instead of palette entries
    {"argmin_axis": 1, "pick": "ReduceMin"},
    {"gather_from": "af"},  # image values gathered along H*W by the indices
    {"matmul": ("af", "at")},  # a sum over H*W
    {"back": ("n", "c", "w", "h")},  # reshaped back to [N,C,W,H]: rows and columns scrambled
])
def test_a_palette_step_that_mixes_pixels_sees_the_whole_frame(broken):
    assert receptive_radius(_palette_step(**broken)) == math.inf


def _nhwc(nodes, inits=()):
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", "H", "W", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], list(inits)),
                             opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("axes, radius", [([3], 0), ([-1], 0), ([1, 2], math.inf), ([2], math.inf)])
def test_reductions_are_read_in_the_inputs_layout(axes, radius):
    # NHWC input: axis 3 is the colour, 1 and 2 are H and W
    nodes = [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMax", ["xf"], ["y"], axes=axes, keepdims=1)]
    assert receptive_radius(_nhwc(nodes)) == radius


def _slice(start, end, axis):
    return [_ints("st", [start]), _ints("en", [end]), _ints("ax", [axis])]


@pytest.mark.parametrize("node, inits, radius", [
    (helper.make_node("Slice", ["x", "st", "en", "ax"], ["y"]), _slice(0, 2, 3), 0),  # two colour channels
    (helper.make_node("Slice", ["x", "st", "en", "ax"], ["y"]), _slice(1, 9, 2), math.inf),  # a crop of W
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=3), [], 0),
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=1), [], math.inf),
    (helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=1), [], math.inf),  # not known to keep pixels apart
])
def test_slices_concats_and_unknown_ops(node, inits, radius):
    assert receptive_radius(_nhwc([node], inits)) == radius


@pytest.mark.parametrize("shape, radius", [((1, 3, 1, 1), 0), ((1, 1, 4, 4), math.inf)])
def test_constants_broadcast_per_channel_not_per_position(shape, radius):
    # a per-channel bias is per pixel; a fixed [H,W] map would put the frame's corner of it in every tile
    nodes = [helper.make_node("Add", ["x", "k"], ["y"])]
    assert receptive_radius(_graph(nodes, [numpy_helper.from_array(np.ones(shape, np.float32), "k")])) == radius


def test_a_frame_statistic_broadcast_back_over_the_frame_sees_the_whole_frame():
    # squeeze-and-excitation: every output pixel is scaled by the frame's mean (H and W come back from x)
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
             helper.make_node("Mul", ["x", "m"], ["y"])]
    assert receptive_radius(_graph(nodes, [])) == math.inf


def test_a_gram_matrix_over_the_pixels_sees_the_whole_frame():
    # [N,C,H*W] x [N,H*W,C] sums over every pixel; multiplied back onto the pixels it keeps H and W
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             *[helper.make_node("Gather", ["s", f"i{k}"], [d], axis=0) for k, d in enumerate("nchw")],
             helper.make_node("Mul", ["h", "w"], ["hw"]),
             *[helper.make_node("Unsqueeze", [d, "zero"], [f"{d}1"]) for d in ("n", "c", "hw")],
             helper.make_node("Concat", ["n1", "c1", "hw1"], ["flat"], axis=0),
             helper.make_node("Reshape", ["x", "flat"], ["xf"]),
             helper.make_node("Transpose", ["xf"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["xf", "xt"], ["gram"]),  # [N,C,C]
             helper.make_node("MatMul", ["gram", "xf"], ["mixed"]),  # [N,C,H*W]
             helper.make_node("Reshape", ["mixed", "s"], ["y"])]
    inits = [_ints("zero", [0])] + [_ints(f"i{k}", k) for k in range(4)]
    assert receptive_radius(_graph(nodes, inits)) == math.inf
