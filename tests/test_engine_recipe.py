"""Recipes: the shipped TOML files load, and shapes are checked against tiny ONNX
files (made here with onnx.helper, following docs/CONTRACTS.md) before any build."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from trt_gif2video.config import Precision
from trt_gif2video.engine.build import plan_specs, spec_for
from trt_gif2video.engine.recipe import (
    NHW,
    ShapeRange,
    available_targets,
    load_recipe,
    profile_for,
    read_onnx_info,
    recipe_path,
    target_for_device,
)
from trt_gif2video.errors import BadArgumentError, ModelError
from trt_gif2video.models import Network, Variant

U8, F32 = TensorProto.UINT8, TensorProto.FLOAT


def _image(name: str):
    return helper.make_tensor_value_info(name, U8, ["N", "H", "W", 3])


def _cast_through(src: str, dst: str) -> list:
    """uint8 -> float -> uint8: TensorRT takes UINT8 only into and out of a Cast (engine/lint.py)."""
    return [helper.make_node("Cast", [src], [f"{src}_f"], to=F32), helper.make_node("Cast", [f"{src}_f"], [dst], to=U8)]


def tiny_onnx(path: Path, network: Network, *, precision: str = "fp32", stride: int | None = None,
              palette_entries: int = 256) -> Path:
    """A graph with the contract's I/O for `network` (identity-like body)."""
    if network is Network.DEQUANT:
        inputs = [_image("gif"), helper.make_tensor_value_info("palette", U8, ["N", palette_entries, 3])]
        outputs, nodes = [_image("restored")], _cast_through("gif", "restored")
    elif network is Network.INTERP:
        inputs = [_image(n) for n in ("gif0", "gif1", "img0", "img1")] + [helper.make_tensor_value_info("t", F32, ["N"])]
        outputs, nodes = [_image("frame_t")], _cast_through("img0", "frame_t")
    else:
        inputs = [_image("gif")]
        outputs = [helper.make_tensor_value_info("p_dither", F32, ["N"])]
        nodes = [helper.make_node("Cast", ["gif"], ["f"], to=F32),
                 helper.make_node("ReduceMean", ["f"], ["p_dither"], axes=[1, 2, 3], keepdims=0)]
    model = helper.make_model(helper.make_graph(nodes, network.value, inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 13)])
    default_stride = {Network.DEQUANT: 16, Network.INTERP: 32, Network.DITHER: 16}[network]
    for key, value in {"stride": str(stride or default_stride), "network": network.value, "precision": precision}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_models(folder: Path, precision: str = "fp16") -> Path:
    """All four shipped stems at `precision`, named as the export step names them."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".onnx" if precision == "fp32" else f".{precision}.onnx"
    for stem, net in (("dequant_nodither", Network.DEQUANT), ("dequant_dither", Network.DEQUANT),
                      ("interp", Network.INTERP), ("dither_detector", Network.DITHER)):
        tiny_onnx(folder / f"{stem}{suffix}", net, precision=precision)
    return folder


def _ranges(lo, opt, hi) -> ShapeRange:
    return ShapeRange(NHW(*lo), NHW(*opt), NHW(*hi))


def test_every_shipped_recipe_loads_and_covers_all_networks():
    targets = available_targets()
    assert {"jetson-orin-nano", "jetson-agx-orin", "ampere", "ada", "hopper"} <= set(targets)
    for target in targets:
        recipe = load_recipe(recipe_path(target))
        assert recipe.target == target
        assert set(recipe.networks) == set(Network)
        assert recipe.workspace_mib > 0 and 0 <= recipe.builder_optimization_level <= 5


def test_shipped_recipes_fit_the_contract_models(tmp_path):
    tiny_models(tmp_path, "fp16")
    for target in available_targets():
        recipe = load_recipe(recipe_path(target))
        specs = plan_specs(recipe, tuple(Network), tmp_path)
        assert sorted(s.name for s in specs) == ["dequant_dither", "dequant_nodither", "dither_detector", "interp"]


def test_profile_maps_nhw_onto_each_input(tmp_path):
    info = read_onnx_info(tiny_onnx(tmp_path / "d.onnx", Network.DEQUANT))
    profile = profile_for(info, _ranges((1, 64, 64), (1, 272, 480), (4, 720, 1280)))
    assert profile["gif"] == ((1, 64, 64, 3), (1, 272, 480, 3), (4, 720, 1280, 3))
    assert profile["palette"] == ((1, 256, 3), (1, 256, 3), (4, 256, 3))
    interp = read_onnx_info(tiny_onnx(tmp_path / "i.onnx", Network.INTERP))
    assert profile_for(interp, _ranges((1, 64, 64), (2, 288, 480), (2, 736, 1280)))["t"] == ((1,), (2,), (2,))


def test_shapes_off_the_stride_are_refused_before_building(tmp_path):
    info = read_onnx_info(tiny_onnx(tmp_path / "i.onnx", Network.INTERP))  # stride 32
    with pytest.raises(BadArgumentError, match=r"i.onnx: opt shape 272x480 .* multiple of the network stride 32"):
        profile_for(info, _ranges((1, 64, 64), (1, 272, 480), (1, 736, 1280)))


def test_fixed_onnx_dims_must_match(tmp_path):
    info = read_onnx_info(tiny_onnx(tmp_path / "d.onnx", Network.DEQUANT, palette_entries=16))
    profile = profile_for(info, _ranges((1, 64, 64), (1, 64, 64), (1, 64, 64)))
    assert profile["palette"][0] == (1, 16, 3)  # static dims are taken from the model
    fixed_batch = tiny_onnx(tmp_path / "b.onnx", Network.DITHER)
    model = onnx.load(str(fixed_batch))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(fixed_batch))
    with pytest.raises(BadArgumentError, match="axis 0 is fixed to 1 in the ONNX but the recipe asks for 4"):
        profile_for(read_onnx_info(fixed_batch), _ranges((1, 64, 64), (4, 64, 64), (4, 64, 64)))


def test_missing_stride_metadata_names_the_file(tmp_path):
    path = tiny_onnx(tmp_path / "d.onnx", Network.DEQUANT)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="d.onnx: metadata_props needs an integer 'stride'"):
        profile_for(read_onnx_info(path), _ranges((1, 64, 64), (1, 64, 64), (1, 64, 64)))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


BASE = 'target = "t"\nprecision = "fp16"\nworkspace_mib = 512\n'


@pytest.mark.parametrize("body, message", [
    ('[networks.dequant]\nmin = [1, 64, 64]\nopt = [1, 32, 64]\nmax = [1, 64, 64]\n', r"H needs min <= opt <= max \(got 64, 32, 64\)"),
    ('[networks.dequant]\nmin = [0, 64, 64]\nopt = [1, 64, 64]\nmax = [1, 64, 64]\n', "min N must be >= 1"),
    ('[networks.dequant]\nmin = [1, 64]\nopt = [1, 64, 64]\nmax = [1, 64, 64]\n', r"networks.dequant.min must be \[N, H, W\] integers"),
    ('[networks.warp]\nmin = [1, 64, 64]\nopt = [1, 64, 64]\nmax = [1, 64, 64]\n', "unknown network 'warp'"),
    ('dla_core = 0\n[networks.dequant]\nmin = [1, 64, 64]\nopt = [1, 64, 64]\nmax = [1, 128, 128]\n', "on DLA needs min == opt == max"),
    ('', r"needs at least one \[networks"),
    # a top-level key written below [device] lands in that table (how a merge once hid the peak_* keys)
    ('[device]\nmin_compute_capability = "8.7"\npeak_int8_tops = 20.0\n[networks.dequant]\nmin = [1, 64, 64]\n'
     'opt = [1, 64, 64]\nmax = [1, 64, 64]\n', r"\[device\] has unknown key\(s\) peak_int8_tops .*top-level keys go above"),
])
def test_bad_recipes_say_what_is_wrong(tmp_path, body, message):
    with pytest.raises(BadArgumentError, match=message):
        load_recipe(_write(tmp_path, BASE + body))


def test_dla_needs_reduced_precision_and_static_shapes(tmp_path):
    static = '[networks.dither]\ndla_core = 1\nmin = [1, 256, 256]\nopt = [1, 256, 256]\nmax = [1, 256, 256]\n'
    recipe = load_recipe(_write(tmp_path, BASE + static))
    assert recipe.network(Network.DITHER).dla_core == 1
    assert recipe.builder_options(Network.DITHER).dla_core == 1
    with pytest.raises(BadArgumentError, match="on DLA needs precision fp16 or int8"):
        recipe.with_overrides(precision=Precision.FP32)


def test_overrides_replace_recipe_values_and_are_checked():
    recipe = load_recipe(recipe_path("ampere"))
    changed = recipe.with_overrides(precision=Precision.INT8, workspace_mib=256, builder_optimization_level=5,
                                    version_compatible=True)
    assert (changed.precision, changed.workspace_mib, changed.builder_optimization_level, changed.version_compatible) == (
        Precision.INT8, 256, 5, True)
    assert recipe.with_overrides() == recipe
    with pytest.raises(BadArgumentError, match="builder_optimization_level must be in 0..5"):
        recipe.with_overrides(builder_optimization_level=7)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(BadArgumentError, match="build target 'volta' is unknown: use one of ada, ampere"):
        recipe_path("volta")


def test_target_for_device():
    assert target_for_device((8, 7), 8 << 30) == "jetson-orin-nano"
    assert target_for_device((8, 7), 64 << 30) == "jetson-agx-orin"
    assert target_for_device((8, 6), 24 << 30) == "ampere"
    assert target_for_device((8, 9), 24 << 30) == "ada"
    assert target_for_device((9, 0), 80 << 30) == "hopper"


def test_spec_checks_file_names_and_metadata(tmp_path):
    recipe = load_recipe(recipe_path("ampere"))  # fp16
    with pytest.raises(ModelError, match=r"dequant_dither.fp16.onnx: ONNX file not found; derive it from dequant_dither.onnx"):
        spec_for(recipe, Network.DEQUANT, Variant.DITHER, tmp_path)
    tiny_onnx(tmp_path / "interp.fp16.onnx", Network.DEQUANT, precision="fp16")
    with pytest.raises(ModelError, match="metadata says network 'dequant', expected 'interp'"):
        spec_for(recipe, Network.INTERP, None, tmp_path)
    tiny_onnx(tmp_path / "dither_detector.fp16.onnx", Network.DITHER, precision="fp32")
    with pytest.raises(ModelError, match="metadata says precision 'fp32', expected 'fp16'"):
        spec_for(recipe, Network.DITHER, None, tmp_path)
    spec = spec_for(recipe.with_overrides(precision=Precision.FP32), Network.DITHER, None,
                    tiny_models(tmp_path / "fp32", "fp32").resolve())
    assert spec.onnx.name == "dither_detector.onnx" and spec.precision is Precision.FP32
    assert spec.profile["gif"][2] == (8, 720, 1280, 3)
