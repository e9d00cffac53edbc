"""ONNX export (FP32 vs torch), the FP16 and INT8 derivatives, their accuracy gates, calibration settings.

Small random-weight networks of the real architectures (nets.deploy) keep this fast; the
shipped-weights checks skip until trained weights exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from trt_gif2video.calib import DEFAULT_MANIFEST, CalibManifest, load_manifest, network_feeds
from trt_gif2video.config import Precision
from trt_gif2video.errors import BadArgumentError, ModelError
from trt_gif2video.export import model_for_stem, variant_path
from trt_gif2video.export.check import check_model, measure_drop, read_metadata, set_metadata
from trt_gif2video.export.fp16 import make_fp16
from trt_gif2video.export.int8 import FeedsReader, check_qdq, head_convs, input_convs, make_int8
from trt_gif2video.palette import pad_palette
from trt_gif2video.quantize import quantize_rgb

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
SIZE = 64  # frames of the accuracy checks (a multiple of every stride used here)


def _jitter(net, scale=0.03):
    # zero-initialised heads would make the dequantizer an identity: give every layer weights
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * scale)
    return net.eval()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # tiny convs on a shared 2-core machine: extra threads only contend
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def nets():
    from trt_gif2video.nets.dequant import DequantConfig, Dequantizer
    from trt_gif2video.nets.dither import DitherConfig, DitherDetector
    from trt_gif2video.nets.interp import InterpConfig, Interpolator

    torch.manual_seed(0)
    return {
        "dequant_nodither": _jitter(Dequantizer(DequantConfig(widths=(8, 12, 16, 16, 16), steps=2))),
        "dither_detector": DitherDetector(DitherConfig(widths=(4, 4, 8, 8, 8))).eval(),
        "interp": _jitter(Interpolator(InterpConfig(flow_widths=(6,) * 6, refine_widths=(6,) * 6, max_flow=8.0))),
    }


@pytest.fixture(scope="module")
def exported(nets, tmp_path_factory):
    """stem -> (deploy module, FP32 ONNX path); export_module verifies against torch (<= 1e-4)."""
    from trt_gif2video.export.onnx_export import export_module
    from trt_gif2video.nets import deploy

    out = tmp_path_factory.mktemp("onnx")
    result = {}
    for stem, net in nets.items():
        module = deploy.wrap(net)
        report = export_module(module, model_for_stem(stem), out / f"{stem}.onnx")
        assert report.max_abs_error <= 1e-4, (stem, report.max_abs_error)
        result[stem] = (module, report.path)
    return result


def _smooth_image(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f, ph = rng.uniform(0.02, 0.1, size=(3, 2)), rng.uniform(0, 6.3, size=3)
    rgb = np.stack([127.5 + 110 * np.sin(f[c, 0] * xx + f[c, 1] * yy + ph[c]) for c in range(3)], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _validation_like(stem: str, count: int = 6, seed: int = 7, size: int = SIZE):
    """(feeds, targets): GIF-quantized smooth frames (32..128 colours) and their clean originals."""
    rng = np.random.default_rng(seed)
    feeds, targets = [], []
    for _ in range(count):
        clean = _smooth_image(rng, size, size + 32)
        shifted = np.roll(clean, 4, axis=1)
        mid = np.roll(clean, 2, axis=1)
        gif, pal = quantize_rgb(clean, int(rng.choice([32, 64, 128])))
        if stem == "interp":
            gif1, _ = quantize_rgb(shifted, 32)
            feeds.append({"gif0": gif[None], "gif1": gif1[None], "img0": clean[None], "img1": shifted[None],
                          "t": np.array([0.5], np.float32)})
            targets.append(mid)
        elif stem == "dither_detector":
            feeds.append({"gif": gif[None]})
        else:
            feeds.append({"gif": gif[None], "palette": pad_palette(pal)[None]})
            targets.append(clean)
    return feeds, (None if stem == "dither_detector" else targets)


# --- FP32 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["dequant_nodither", "dither_detector", "interp"])
def test_fp32_contract_metadata_and_dynamic_shapes(exported, stem):
    import onnxruntime as ort

    module, path = exported[stem]
    model = check_model(path, Precision.FP32)
    meta = read_metadata(model)
    assert meta["network"] == model_for_stem(stem).network.value
    assert meta["precision"] == "fp32" and meta["variant"] == model_for_stem(stem).variant
    assert int(meta["stride"]) == module.net.config.stride
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    # another batch and size than the export's example: N, H, W are dynamic
    stride = int(meta["stride"])
    feeds, _ = _validation_like(stem, 1)
    feeds = {k: np.concatenate([v, v]) for k, v in feeds[0].items()}
    feeds = {k: v[:, : 2 * stride, : 3 * stride] if v.ndim == 4 else v for k, v in feeds.items()}
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    with torch.no_grad():
        ref = module(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    assert got.shape == ref.shape and got.dtype == ref.dtype
    # uint8 images: rounding of values within 1e-6 of a .5 boundary may differ by one step
    assert np.abs(got.astype(np.float32) - ref.astype(np.float32)).max() <= (1 if got.dtype == np.uint8 else 1e-5)


def test_fp16_image_output_variant(nets, tmp_path):
    from trt_gif2video.export.onnx_export import export_module
    from trt_gif2video.nets import deploy

    report = export_module(deploy.wrap(nets["dequant_nodither"], torch.float16), model_for_stem("dequant_nodither"),
                           tmp_path / "dequant_nodither-f16out.onnx")
    model = check_model(report.path, Precision.FP32)
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert read_metadata(model)["output_dtype"] == "fp16"
    assert report.max_abs_error <= 2.0 ** -10


def test_check_model_rejects_broken_contracts(exported, tmp_path):
    _, path = exported["dither_detector"]
    model = onnx.load(str(path))
    model.graph.input[0].name = "image"
    model.graph.node[0].input[0] = "image"
    with pytest.raises(ModelError, match="inputs must be"):
        check_model(model)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    set_metadata(model, network="dither", precision="fp32")
    with pytest.raises(ModelError, match="missing"):
        check_model(model)
    with pytest.raises(ModelError, match="precision must be int8"):
        check_model(path, Precision.INT8)
    with pytest.raises(ModelError, match="not found"):
        check_model(tmp_path / "nope.onnx")


# --- FP16 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fp16_files(exported):
    return {stem: make_fp16(path, variant_path(path, Precision.FP16)) for stem, (_, path) in exported.items()}


def _value_types(model):
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in
             list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    return types


@pytest.mark.parametrize("stem", ["dequant_nodither", "interp"])
def test_fp16_keeps_warp_and_requant_in_fp32(fp16_files, stem):
    model = check_model(fp16_files[stem], Precision.FP16)  # strict type inference: every Cast is explicit
    types = _value_types(model)
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and sum(types[n.input[1]] == f16 for n in convs) >= len(convs) - 2  # bodies FP16, heads may not be
    fragile = [n for n in model.graph.node if n.op_type in ("GridSample", "ArgMin", "GatherElements", "Tanh", "Div")]
    assert fragile
    for node in fragile:
        assert all(types[i] != f16 for i in node.input if i), f"{node.name} ({node.op_type}) runs in FP16"
    assert types[model.graph.input[0].name] == onnx.TensorProto.UINT8
    assert types[model.graph.output[0].name] == onnx.TensorProto.UINT8
    # no FP32 -> FP16 -> FP32 round trip left between two FP32 ops
    producer = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        first = producer.get(node.input[0]) if node.op_type == "Cast" else None
        if first is not None and first.op_type == "Cast":
            assert not (first.attribute[0].i == f16 and node.attribute[0].i == f32 and types[first.input[0]] == f32)


@pytest.mark.parametrize("stem", ["dequant_nodither", "dither_detector", "interp"])
def test_fp16_accuracy_gate(exported, fp16_files, stem):
    # ORT CPU runs every op of these graphs (Conv FP16 falls back through ORT's inserted casts)
    feeds, targets = _validation_like(stem)
    drop = measure_drop(exported[stem][1], fp16_files[stem], feeds, targets)
    assert drop.precision is Precision.FP16
    if targets is None:
        assert drop.mean_prob_diff <= 0.05 and drop.flips == 0
    else:
        assert drop.drop <= 0.1, drop.line()  # dB: the FP16 gate
    assert drop.passes()


@pytest.mark.parametrize("stem", ["dequant_nodither", "interp"])
def test_fp16_accuracy_gate_in_true_fp16_arithmetic(exported, fp16_files, stem):
    # ORT CPU has no FP16 Conv/ConvTranspose/LeakyRelu/AveragePool/Resize kernels (it computes them in
    # FP32 behind inserted Casts); onnx's reference evaluator computes in FP16: small crops, same gate
    feeds, targets = _validation_like(stem, 1, size=32)
    drop = measure_drop(exported[stem][1], fp16_files[stem], feeds, targets, reference=True)
    assert drop.drop <= 0.1, drop.line()  # dB: the FP16 gate


# --- INT8 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def int8_files(exported):
    out = {}
    for stem, (_, path) in exported.items():
        calib, _ = _validation_like(stem, 6, seed=123)  # calibration frames differ from the checked ones
        out[stem] = make_int8(path, variant_path(path, Precision.INT8), FeedsReader(calib))
    return out


@pytest.mark.parametrize("stem", ["dequant_nodither", "dither_detector", "interp"])
def test_int8_qdq_follows_tensorrt_rules(exported, int8_files, stem):
    model = check_model(int8_files[stem], Precision.INT8)
    check_qdq(model)
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    weights = 0
    for n in qdq:
        zp = init[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), n.name
        if n.op_type == "DequantizeLinear":
            users = consumers[n.output[0]]
            assert {u.op_type for u in users} <= {"Conv", "ConvTranspose"}, n.name
            if n.input[0] in init:
                weights += 1
                axis = {a.name: a.i for a in n.attribute}.get("axis", 1)
                out_axis = 1 if users[0].op_type == "ConvTranspose" else 0  # output channels
                assert axis == out_axis and init[n.input[1]].shape == (init[n.input[0]].shape[out_axis],), n.name
    assert weights > 0
    # nothing around warping or re-quantization is quantized, and the heads stay FP32
    for n in model.graph.node:
        if n.op_type in ("GridSample", "ArgMin", "GatherElements"):
            ins = {i for i in n.input}
            assert not any(q.output[0] in ins for q in qdq), n.name
    fp32_model = onnx.load(str(exported[stem][1]))
    kept = set(head_convs(fp32_model)) | set(input_convs(fp32_model))  # heads, and convs reading 8-bit inputs
    assert head_convs(fp32_model) and input_convs(fp32_model)
    assert set(read_metadata(model)["int8_excluded"].split(",")) >= kept
    quantized_convs = {u.name for n in qdq if n.op_type == "DequantizeLinear" for u in consumers[n.output[0]]}
    assert not quantized_convs & kept
    assert quantized_convs or stem == "dither_detector"  # the tiny detector may have no body conv left


@pytest.mark.parametrize("stem", ["dequant_nodither", "dither_detector", "interp"])
def test_int8_accuracy_gate(exported, int8_files, stem):
    feeds, targets = _validation_like(stem)
    drop = measure_drop(exported[stem][1], int8_files[stem], feeds, targets)
    assert drop.passes(), drop.line()
    if targets is not None:
        assert drop.drop <= 0.5, drop.line()  # dB: the INT8 gate


def test_int8_needs_samples():
    with pytest.raises(ModelError, match="at least one"):
        FeedsReader([])


# --- calibration settings ------------------------------------------------------------------


def test_manifest_file_matches_shipped_defaults():
    assert load_manifest(REPO / "calib" / "manifest.toml") == DEFAULT_MANIFEST
    assert load_manifest() == DEFAULT_MANIFEST
    assert DEFAULT_MANIFEST.split == "train"
    assert min(DEFAULT_MANIFEST.colors) == 16 and max(DEFAULT_MANIFEST.colors) == 256


def test_manifest_rejects_bad_values(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text("[calibration]\nframez = 3\n")
    with pytest.raises(BadArgumentError, match="unknown calibration keys"):
        load_manifest(bad)
    with pytest.raises(BadArgumentError, match="multiple of 32"):
        CalibManifest(crop=100)
    with pytest.raises(BadArgumentError):
        CalibManifest(quantizers=("nope",))


def test_network_feeds_follow_the_contract():
    from trt_gif2video.calib import CalibSample

    rng = np.random.default_rng(0)
    img = _smooth_image(rng, 32, 32)
    gif, pal = quantize_rgb(img, 16)
    s = CalibSample(gif, pal, img, gif, pal, img, img)
    d = network_feeds("dequant", [s])[0]
    assert d["gif"].shape == (1, 32, 32, 3) and d["palette"].shape == (1, 256, 3) and d["palette"].dtype == np.uint8
    i = network_feeds("interp", [s], t=0.5)[0]
    assert list(i) == ["gif0", "gif1", "img0", "img1", "t"] and i["t"].dtype == np.float32 and i["t"][0] == 0.5
    with pytest.raises(BadArgumentError, match="frame pairs"):
        network_feeds("interp", [CalibSample(gif, pal, img)])


def _tiny_corpus(root: Path) -> Path:
    """A corpus dir laid out like `data fetch` writes it: two train photos, one train video, one val photo."""
    import av
    from PIL import Image

    from trt_gif2video.data import corpus

    rng = np.random.default_rng(5)
    cdir = root / "corpus"
    (cdir / "photos").mkdir(parents=True)
    (cdir / "videos").mkdir()
    entries = {}

    def add(ident, rel, kind, split, w, h, **extra):
        entries[ident] = corpus.Entry(id=ident, path=rel, kind=kind, split=split, sha256="0" * 64, size=1, source="t",
                                      package="t", version="0", licence="CC0", member=rel, width=w, height=h, **extra)

    for i in range(2):
        Image.fromarray(_smooth_image(rng, 120, 160)).save(cdir / f"photos/p{i}.png")
        add(f"p{i}", f"photos/p{i}.png", corpus.Kind.PHOTO, corpus.Split.TRAIN, 160, 120)
    Image.new("RGB", (160, 120), (255, 0, 0)).save(cdir / "photos/val.png")
    add("val", "photos/val.png", corpus.Kind.PHOTO, corpus.Split.VAL, 160, 120)
    with av.open(str(cdir / "videos/v.mp4"), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuv420p"
        base = _smooth_image(rng, 128, 200)
        for k in range(12):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, 2 * k:2 * k + 160]), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    add("v", "videos/v.mp4", corpus.Kind.VIDEO, corpus.Split.TRAIN, 160, 128, fps=10.0, frames=12)
    corpus.write_manifest(corpus.Manifest(root=cdir, entries=entries))
    return root


def test_sampler_draws_gif_frames_from_the_training_split(tmp_path):
    from trt_gif2video.calib import iter_samples

    cache = _tiny_corpus(tmp_path)
    spec = CalibManifest(frames=6, crop=64, max_side=160, colors=(16, 32), max_pan=8)
    first = list(iter_samples(spec, pairs=True, cache_dir=cache))
    again = list(iter_samples(spec, pairs=True, cache_dir=cache))
    assert len(first) == 6
    for s, t in zip(first, again):  # same manifest, same samples
        assert np.array_equal(s.gif, t.gif) and np.array_equal(s.clean_mid, t.clean_mid)
    for s in first:
        for img in (s.gif, s.clean, s.gif1, s.clean1, s.clean_mid):
            assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert len(s.palette) <= 32 and len(s.palette1) <= 32
        colours = {tuple(c) for c in s.palette}
        assert {tuple(p) for p in s.gif.reshape(-1, 3)} <= colours  # a GIF frame shows palette colours only
        assert not np.all(s.clean == [255, 0, 0])  # never the validation photo
    nodither = list(iter_samples(spec, dithers=("none",), cache_dir=cache))
    assert all(s.gif1 is None for s in nodither)


# --- CLI, torch-free import -------------------------------------------------

def test_export_cli_fails_cleanly_without_weights(tmp_path):
    from trt_gif2video.cli import app

    result = CliRunner().invoke(app, ["export", "--network", "dither", "--weights", str(tmp_path), "--out",
                                      str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "dither_detector.safetensors: weights not found" in result.output


def test_calibrate_cli_writes_a_gated_int8_model(exported, tmp_path):
    import shutil

    from trt_gif2video.cli import app

    cache = _tiny_corpus(tmp_path / "cache")
    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    shutil.copy(exported["dither_detector"][1], onnx_dir / "dither_detector.onnx")
    manifest = tmp_path / "m.toml"
    manifest.write_text("[calibration]\ncrop = 64\nmax_side = 160\nframes = 3\n")
    result = CliRunner().invoke(app, ["calibrate", "--network", "dither", "--onnx-dir", str(onnx_dir), "--manifest",
                                      str(manifest), "--check-frames", "2", "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    assert "dither_detector.int8.onnx: INT8 from 3 train frames" in result.output and "decisions flipped" in result.output
    # by default into the user cache slot of this FP32 file (never next to it, i.e. never into the package) ...
    from trt_gif2video.derived import model_file
    from trt_gif2video.hashing import sha256_file
    from trt_gif2video.models import Network

    slot = cache / "models" / sha256_file(onnx_dir / "dither_detector.onnx")[:16]
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["dither_detector.onnx"]
    for name in ("dither_detector.int8.onnx", "dither_detector.int8-cpu.onnx"):
        model = check_model(slot / name, Precision.INT8)
        assert read_metadata(model)["calib_source"].endswith("3 frames")
    # ... where restore and build find it
    said = []
    assert model_file(Network.DITHER, None, Precision.INT8, cpu=False, models_dir=onnx_dir, cache_dir=cache,
                      notify=said.append) == slot / "dither_detector.int8.onnx" and not said


def test_fp16_int8_and_calib_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import trt_gif2video.export, trt_gif2video.export.fp16, trt_gif2video.export.int8, "
            "trt_gif2video.export.check, trt_gif2video.calib\n"
            "print('ok')")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
