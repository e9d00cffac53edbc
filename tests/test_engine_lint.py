"""The static TensorRT lint (engine/lint.py): every shipped ONNX file passes it at every
recipe's min/opt/max and within the recipe's memory budget; each rule fires on a small
hand-built graph that breaks it; the operator table covers every op our graphs use.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from trt_gif2video.cli import app
from trt_gif2video.config import Precision
from trt_gif2video.engine.lint import MAX_ELEMENTS, MIB, Rule, for_tensorrt, lint_model, load_op_table, tensorrt_onnx_files
from trt_gif2video.engine.recipe import (
    NHW,
    Recipe,
    ShapeRange,
    choose_recipe,
    load_recipe,
    profile_for,
    read_onnx_info,
    shipped_recipes,
)
from trt_gif2video.errors import BadArgumentError, ModelError
from trt_gif2video.models import Network, weights_dir

U8, F32, I64 = TensorProto.UINT8, TensorProto.FLOAT, TensorProto.INT64
SHIPPED_ONNX = tensorrt_onnx_files(weights_dir())  # what build may read: not the ONNX Runtime CPU INT8 files
RECIPES = shipped_recipes()


# --- shipped files x shipped recipes -----------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _model(path: Path) -> onnx.ModelProto:
    return onnx.load(str(path))


@functools.lru_cache(maxsize=None)
def _lint_at(path: Path, nhw: NHW):
    """The lint of `path` at one N/H/W (recipes share points: each is linted once per session)."""
    info = read_onnx_info(path)
    profile = profile_for(info, ShapeRange(nhw, nhw, nhw))
    return lint_model(_model(path), {k: v[0] for k, v in profile.items()}, name=path.name)


def _network(path: Path) -> Network:
    return Network(read_onnx_info(path).metadata["network"])


def test_shipped_onnx_files_are_there():
    stems = {p.name for p in SHIPPED_ONNX}
    assert {"dequant_nodither.onnx", "dequant_dither.onnx", "interp.onnx", "dither_detector.onnx"} <= stems


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.target)
def test_every_shipped_onnx_passes_the_lint_at_every_profile_point_and_fits_the_budget(recipe):
    assert recipe.memory_budget_mib is not None, f"{recipe.source}: declare memory_budget_mib"
    per_network: dict[Network, int] = {}
    for path in SHIPPED_ONNX:
        kind = _network(path)
        shapes = recipe.network(kind).shapes
        for label, nhw in (("min", shapes.min), ("opt", shapes.opt), ("max", shapes.max)):
            report = _lint_at(path, nhw)
            assert report.ok, f"{recipe.target} {label}: {report.findings[0].line()}"
            assert report.largest_elements < MAX_ELEMENTS
        if read_onnx_info(path).metadata.get("precision") == "fp32":  # the largest of the precisions
            per_network[kind] = max(per_network.get(kind, 0), _lint_at(path, shapes.max).memory_bytes)
    assert set(per_network) == set(Network)
    total = sum(per_network.values())
    assert total <= recipe.memory_budget_mib * MIB, (
        f"{recipe.target}: {total / MIB:.0f} MiB of activations > budget {recipe.memory_budget_mib} MiB")


def test_tensorrt_files_are_every_shipped_onnx_but_the_cpu_int8_ones():
    every = sorted(weights_dir().glob("*.onnx"))
    cpu_only = [p for p in every if p.name.endswith(".int8-cpu.onnx")]
    assert cpu_only, "the ONNX Runtime CPU INT8 files ship beside the FP32 ones"
    assert SHIPPED_ONNX == [p for p in every if p not in cpu_only]
    assert {"dither_detector.fp16.onnx", "dither_detector.int8.onnx"} <= {p.name for p in SHIPPED_ONNX}
    assert not any(for_tensorrt(p) for p in cpu_only)


def test_lint_refuses_a_cpu_int8_file_by_name_and_by_metadata(tmp_path):
    cpu = weights_dir() / "dither_detector.int8-cpu.onnx"
    with pytest.raises(ModelError, match="int8-cpu.onnx: an ONNX Runtime CPU INT8 file"):
        lint_model(cpu, {"gif": (1, 64, 64, 3)})
    renamed = tmp_path / "detector.onnx"  # the metadata says what it is whatever the name
    renamed.write_bytes(cpu.read_bytes())
    with pytest.raises(ModelError, match="TensorRT never reads"):
        lint_model(renamed, {"gif": (1, 64, 64, 3)})


def test_orin_nano_budget_is_at_most_1_5_gib():
    nano = next(r for r in RECIPES if r.target == "jetson-orin-nano")
    assert nano.memory_budget_mib <= 1536


def test_no_dequantizer_tensor_exceeds_a_64_channel_feature_map():
    """The palette step used to build [N,256,H*W]; now nothing is larger than 64 x N x H x W."""
    for stem in ("dequant_nodither.onnx", "dequant_dither.onnx"):
        report = _lint_at(weights_dir() / stem, NHW(2, 272, 480))
        assert report.largest_elements <= 64 * 2 * 272 * 480, report.summary()


def test_op_table_covers_every_op_our_graphs_use():
    table = load_op_table()
    assert "onnx-tensorrt" in table.source["document"] and table.source["tables"]
    used = {n.op_type for p in SHIPPED_ONNX for n in _model(p).graph.node}
    assert used and used <= set(table.ops), f"not in the TensorRT table: {sorted(used - set(table.ops))}"


# --- hand-built graphs, one per rule ---------------------------------------------------------


def _graph(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers)),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _rules(model, shapes, **kw) -> set[Rule]:
    return {f.rule for f in lint_model(model, shapes, **kw).findings}


def _vi(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def test_uint8_transpose_before_the_cast_is_refused_and_cast_first_passes():
    bad = _graph([helper.make_node("Transpose", ["gif"], ["t"], perm=[0, 3, 1, 2], name="nchw"),
                  helper.make_node("Cast", ["t"], ["y"], to=F32)],
                 [_vi("gif", U8, ["N", "H", "W", 3])], [_vi("y", F32, ["N", 3, "H", "W"])])
    report = lint_model(bad, {"gif": (1, 8, 8, 3)})
    assert {f.rule for f in report.findings} == {Rule.UINT8}
    with pytest.raises(ModelError, match=r"node 'nchw' \(Transpose\) breaks TensorRT rule uint8-boundary"):
        report.raise_first()
    good = _graph([helper.make_node("Cast", ["gif"], ["f"], to=F32),
                   helper.make_node("Transpose", ["f"], ["t"], perm=[0, 3, 1, 2]),
                   helper.make_node("Cast", ["t"], ["y"], to=U8)],
                  [_vi("gif", U8, ["N", "H", "W", 3])], [_vi("y", U8, ["N", 3, "H", "W"])])
    assert lint_model(good, {"gif": (1, 8, 8, 3)}).ok


def test_uint8_output_not_from_a_cast_is_refused():
    model = _graph([helper.make_node("Identity", ["x"], ["y"])], [_vi("x", U8, [1, 4])], [_vi("y", U8, [1, 4])])
    assert _rules(model, {"x": (1, 4)}) == {Rule.UINT8}


def _qdq(zero_point: int, weight_axis: int = 0) -> onnx.ModelProto:
    w = np.ones((4, 2, 1, 1), np.int8)
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(zero_point, np.int8), "zp"),
             numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(np.full(w.shape[weight_axis], 0.01, np.float32), "ws"),
             numpy_helper.from_array(np.zeros(w.shape[weight_axis], np.int8), "wzp")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wzp"], ["wf"], axis=weight_axis, name="dq_w"),
             helper.make_node("Conv", ["dq", "wf"], ["y"])]
    return _graph(nodes, [_vi("x", F32, [1, 2, 4, 4])], [_vi("y", F32, [1, 4, 4, 4])], inits)


def test_qdq_zero_point_and_weight_axis():
    assert lint_model(_qdq(0), {"x": (1, 2, 4, 4)}).ok
    assert _rules(_qdq(3), {"x": (1, 2, 4, 4)}) == {Rule.QDQ}
    report = lint_model(_qdq(0, weight_axis=1), {"x": (1, 2, 4, 4)})
    assert [f.node for f in report.findings] == ["dq_w"] and report.findings[0].rule is Rule.QDQ


def test_tensor_of_2_pow_31_elements_is_refused():
    w = numpy_helper.from_array(np.ones((64, 1, 1, 1), np.float32), "w")
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="wide")],
                   [_vi("x", F32, ["N", 1, "H", "W"])], [_vi("y", F32, ["N", 64, "H", "W"])], [w])
    assert lint_model(model, {"x": (1, 1, 64, 64)}).ok
    report = lint_model(model, {"x": (8, 1, 2048, 2048)})  # 8 * 64 * 2048 * 2048 = 2^31
    assert [f.rule for f in report.findings] == [Rule.TENSOR_SIZE] and report.findings[0].node == "wide"


def test_resize_scales_computed_at_run_time_are_refused():
    nodes = [helper.make_node("Abs", ["s"], ["scales"]),
             helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", name="up")]
    model = _graph(nodes, [_vi("x", F32, [1, 1, 4, 4]), _vi("s", F32, [4])], [_vi("y", F32, ["A", "B", "C", "D"])])
    assert _rules(model, {"x": (1, 1, 4, 4), "s": (4,)}) >= {Rule.CONSTANT}
    const = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "c")
    fixed = _graph([helper.make_node("Resize", ["x", "", "c"], ["y"], mode="nearest")],
                   [_vi("x", F32, [1, 1, 4, 4])], [_vi("y", F32, [1, 1, 8, 8])], [const])
    assert lint_model(fixed, {"x": (1, 1, 4, 4)}).ok
    cubic = _graph([helper.make_node("Resize", ["x", "", "c"], ["y"], mode="cubic")],
                   [_vi("x", F32, [1, 1, 4, 4])], [_vi("y", F32, [1, 1, 8, 8])], [const])
    assert _rules(cubic, {"x": (1, 1, 4, 4)}) == {Rule.ATTRIBUTE}


def test_reshape_to_a_shape_read_from_tensor_values_is_refused():
    model = _graph([helper.make_node("Reshape", ["x", "shape"], ["y"])],
                   [_vi("x", F32, [2, 6]), _vi("shape", I64, [2])], [_vi("y", F32, ["A", "B"])])
    assert Rule.SHAPE_TENSOR in _rules(model, {"x": (2, 6), "shape": (2,)})


def test_op_not_in_the_table_is_refused():
    model = _graph([helper.make_node("Det", ["x"], ["y"], name="det")], [_vi("x", F32, [2, 3, 3])], [_vi("y", F32, [2])])
    report = lint_model(model, {"x": (2, 3, 3)})
    assert [(f.rule, f.node) for f in report.findings] == [(Rule.OP, "det")]


def test_dtype_the_op_does_not_take_is_refused():
    model = _graph([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   [_vi("a", TensorProto.INT32, [2, 2]), _vi("b", TensorProto.INT32, [2, 2])],
                   [_vi("y", TensorProto.INT32, [2, 2])])
    assert _rules(model, {"a": (2, 2), "b": (2, 2)}) == {Rule.DTYPE}


def test_memory_over_the_budget_is_refused_and_contexts_multiply():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Add", ["x", "b"], ["y"])]
    model = _graph(nodes, [_vi("x", F32, [1, 1000])], [_vi("y", F32, [1, 1000])])
    report = lint_model(model, {"x": (1, 1000)})
    assert report.activation_bytes == 3 * 4000  # x stays alive until the Add: x, a, b at the second Relu
    assert lint_model(model, {"x": (1, 1000)}, contexts=2).memory_bytes == 2 * 3 * 4000
    assert lint_model(model, {"x": (1, 1000)}, budget_bytes=12000).ok
    assert _rules(model, {"x": (1, 1000)}, budget_bytes=11999) == {Rule.MEMORY}
    assert _rules(model, {"x": (1, 1000)}, contexts=2, budget_bytes=12000) == {Rule.MEMORY}


def test_activation_peak_frees_tensors_after_their_last_reader():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Relu", ["b"], ["y"])]
    model = _graph(nodes, [_vi("x", F32, [1, 1000])], [_vi("y", F32, [1, 1000])])
    assert lint_model(model, {"x": (1, 1000)}).activation_bytes == 2 * 4000  # a chain holds two at a time


def test_recipe_over_budget_fails_build_check_in_one_line(tmp_path):
    from test_engine_recipe import tiny_models

    tiny_models(tmp_path / "m", "fp32")
    recipe = tmp_path / "r.toml"
    recipe.write_text('target = "tiny"\nworkspace_mib = 64\nprecision = "fp32"\nmemory_budget_mib = 1\n'
                      '[networks.dither]\nmin = [1, 64, 64]\nopt = [1, 64, 64]\nmax = [8, 1024, 1024]\n')
    result = CliRunner().invoke(app, ["build", "--recipe", str(recipe), "--check", "--network", "dither",
                                      "--onnx-dir", str(tmp_path / "m")])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "memory-budget" in lines[0] and "dither_detector.onnx" in lines[0], lines


def test_build_dry_run_prints_lint_and_trtexec_without_tensorrt():
    result = CliRunner().invoke(app, ["build", "--target", "jetson-orin-nano", "--precision", "fp32", "--dry-run",
                                      "--network", "dither"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dither_detector.onnx [max] at gif 1x480x864x3: ok; largest tensor" in out
    cmd = next(line.strip() for line in out.splitlines() if line.strip().startswith("trtexec "))
    assert "--minShapes=gif:1x64x64x3" in cmd and "--optShapes=gif:1x272x480x3" in cmd
    assert "--maxShapes=gif:1x480x864x3" in cmd and "--stronglyTyped" in cmd
    assert "--memPoolSize=workspace:1024M" in cmd and "--builderOptimizationLevel=3" in cmd
    assert "--timingCacheFile=" in cmd and "--saveEngine=" in cmd and "--versionCompatible" not in cmd
    assert "fits the recipe's budget of 1536 MiB" in out


def test_build_dry_run_exits_non_zero_on_a_finding(tmp_path):
    bad = _graph([helper.make_node("Transpose", ["gif"], ["t"], perm=[0, 3, 1, 2]),
                  helper.make_node("Cast", ["t"], ["f"], to=F32),
                  helper.make_node("ReduceMean", ["f"], ["p_dither"], axes=[1, 2, 3], keepdims=0)],
                 [_vi("gif", U8, ["N", "H", "W", 3])], [_vi("p_dither", F32, ["N"])])
    for key, value in {"stride": "16", "network": "dither", "precision": "fp32"}.items():
        entry = bad.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(bad, str(tmp_path / "dither_detector.onnx"))
    result = CliRunner().invoke(app, ["build", "--target", "ampere", "--precision", "fp32", "--dry-run",
                                      "--network", "dither", "--onnx-dir", str(tmp_path), "--version-compatible"])
    assert result.exit_code == 1
    assert "breaks TensorRT rule uint8-boundary" in result.output and "--versionCompatible" in result.output


# --- choosing a recipe by compute capability and memory -------------------------------------


GIB = 1 << 30


@pytest.mark.parametrize("cc,gib,target", [
    ((8, 7), 7.4, "jetson-orin-nano"),  # Orin Nano 8 GB
    ((8, 7), 3.6, "jetson-orin-nano"),  # Orin Nano 4 GB
    ((8, 7), 15.3, "jetson-agx-orin"),  # Orin NX 16 GB
    ((8, 7), 61.4, "jetson-agx-orin"),
    ((8, 6), 11.7, "ampere"),  # RTX 3060 12 GB
    ((8, 6), 7.8, "desktop-small"),  # RTX 3070 8 GB
    ((8, 6), 9.8, "desktop-small"),  # RTX 3080 10 GB
    ((8, 0), 79.2, "ampere"),  # A100 80 GB
    ((7, 5), 7.8, "desktop-small"),  # RTX 2080
    ((8, 9), 7.6, "desktop-small"),  # RTX 4060 8 GB
    ((8, 9), 15.6, "ada"),  # RTX 4080 16 GB
    ((8, 9), 23.6, "ada"),  # RTX 4090
    ((12, 0), 15.5, "ada"),  # RTX 5080 16 GB: newer than Ada, sized by memory
    ((12, 0), 31.4, "ada"),  # RTX 5090
    ((9, 0), 79.1, "hopper"),  # H100
    ((10, 0), 178.0, "hopper"),  # B200
])
def test_choose_recipe_by_compute_capability_and_memory(cc, gib, target):
    assert choose_recipe(cc, int(gib * GIB), RECIPES) == target


def test_no_desktop_card_under_70_gib_gets_the_80_gb_recipe():
    for cc in ((7, 5), (8, 0), (8, 6), (8, 9), (9, 0), (12, 0)):
        for gib in (6, 8, 12, 16, 24, 48):
            assert choose_recipe(cc, gib * GIB, RECIPES) != "hopper"


def test_choose_recipe_with_nothing_that_fits_says_what_to_do():
    with pytest.raises(BadArgumentError, match="pass --target"):
        choose_recipe((7, 0), 32 * GIB, RECIPES)  # Volta: no recipe (TensorRT 10 needs Turing+)
    with pytest.raises(BadArgumentError, match="pass --target"):
        choose_recipe((8, 6), 4 * GIB, RECIPES)


def test_recipe_device_table_is_checked(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('workspace_mib = 64\nmemory_budget_mib = 0\n[networks.dither]\nmin = [1, 64, 64]\n'
                    'opt = [1, 64, 64]\nmax = [1, 64, 64]\n')
    with pytest.raises(BadArgumentError, match="memory_budget_mib must be > 0"):
        load_recipe(path)
    path.write_text('workspace_mib = 64\n[device]\nmin_memory_gib = 4\n[networks.dither]\nmin = [1, 64, 64]\n'
                    'opt = [1, 64, 64]\nmax = [1, 64, 64]\n')
    with pytest.raises(BadArgumentError, match="compute_capability"):
        load_recipe(path)
    assert isinstance(RECIPES[0], Recipe) and all(r.device is not None for r in RECIPES)
    assert Precision.FP16 in {r.precision for r in RECIPES}


# --- what `export` and `calibrate` produce -------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[Path]:
    """FP32 / FP16 / INT8 graphs of the detector and one dequantizer, made as export/calibrate make them."""
    torch = pytest.importorskip("torch")
    from trt_gif2video.export import model_for_stem
    from trt_gif2video.export.fp16 import make_fp16
    from trt_gif2video.export.int8 import FeedsReader, make_int8
    from trt_gif2video.export.onnx_export import example_feeds, export_module, load_deploy

    out = tmp_path_factory.mktemp("generated")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine
    files = []
    try:
        for stem in ("dither_detector", "dequant_nodither"):
            mf = model_for_stem(stem)
            fp32 = export_module(load_deploy(mf, weights_dir()), mf, out / f"{stem}.onnx", verify=False).path
            feeds = [example_feeds(mf.network, 1, 64, 64, seed=s) for s in range(2)]
            files += [fp32, make_fp16(fp32, out / f"{stem}.fp16.onnx"),
                      make_int8(fp32, out / f"{stem}.int8.onnx", FeedsReader(feeds))]
    finally:
        torch.set_num_threads(threads)
    return files


def test_generated_fp32_fp16_int8_pass_the_lint_at_every_recipe(generated):
    table_ops = set(load_op_table().ops)
    for path in generated:
        used = {n.op_type for n in _model(path).graph.node}
        assert used <= table_ops, f"{path.name}: not in the TensorRT table: {sorted(used - table_ops)}"
        kind = _network(path)
        points = {p for r in RECIPES for p in (r.network(kind).shapes.min, r.network(kind).shapes.opt,
                                                r.network(kind).shapes.max)}
        for nhw in sorted(points, key=lambda p: (p.n, p.h, p.w)):
            report = _lint_at(path, nhw)
            assert report.ok, f"{nhw}: {report.findings[0].line()}"
    assert {p.name.split(".")[1] for p in generated} == {"onnx", "fp16", "int8"}


@pytest.fixture(scope="module")
def first_use(tmp_path_factory) -> list[Path]:
    """What `build` reads when nothing ships: Q/DQ INT8 from the shipped corpus ranges, FP16 (made into a cache)."""
    from trt_gif2video.config import Precision
    from trt_gif2video.derived import model_file
    from trt_gif2video.models import Variant

    cache = tmp_path_factory.mktemp("first-use")
    wanted = [(Network.DEQUANT, Variant.NODITHER, Precision.INT8), (Network.DEQUANT, Variant.DITHER, Precision.INT8),
              (Network.INTERP, None, Precision.INT8), (Network.INTERP, None, Precision.FP16)]
    return [model_file(n, v, p, cpu=False, cache_dir=cache, notify=lambda _: None) for n, v, p in wanted]


def test_files_build_makes_on_first_use_pass_the_lint_at_every_recipe(first_use):
    assert [p.name for p in first_use] == ["dequant_nodither.int8.onnx", "dequant_dither.int8.onnx",
                                           "interp.int8.onnx", "interp.fp16.onnx"]
    for path in first_use:
        assert for_tensorrt(path)
        kind = _network(path)
        points = {p for r in RECIPES for p in (r.network(kind).shapes.min, r.network(kind).shapes.opt,
                                                r.network(kind).shapes.max)}
        for nhw in sorted(points, key=lambda p: (p.n, p.h, p.w)):
            report = _lint_at(path, nhw)
            assert report.ok, f"{path.name} {nhw}: {report.findings[0].line()}"
