"""Interpolator network: warp, intermediate flows, blend, weights round trip, ONNX export parity."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trt_gif2video.nets.interp import InterpConfig, Interpolator, interp_gflops  # noqa: E402
from trt_gif2video.nets.warp import backward_warp, intermediate_flows  # noqa: E402

TINY = InterpConfig(flow_widths=(4, 4, 4, 4, 4, 4), refine_widths=(4, 4, 4, 4, 4, 4), max_flow=8.0)


def _randomize(model: Interpolator, std: float, seed: int = 0) -> Interpolator:
    """Nonzero heads (the shipped init zeroes them) so flows and visibility really vary."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model.eval()


def test_warp_zero_flow_is_identity():
    img = torch.rand(2, 3, 17, 23)
    out = backward_warp(img, torch.zeros(2, 2, 17, 23))
    assert torch.allclose(out, img, atol=1e-5)


def test_warp_undoes_integer_shift():
    img = torch.rand(1, 3, 32, 40)
    dx, dy = 3, -2
    shifted = torch.roll(img, shifts=(dy, dx), dims=(2, 3))  # shifted[y, x] = img[y - dy, x - dx]
    flow = torch.zeros(1, 2, 32, 40)
    flow[:, 0], flow[:, 1] = dx, dy
    back = backward_warp(shifted, flow)  # back[y, x] = shifted[y + dy, x + dx] = img[y, x]
    m = 4
    assert torch.allclose(back[..., m:-m, m:-m], img[..., m:-m, m:-m], atol=1e-5)
    assert not torch.allclose(shifted[..., m:-m, m:-m], img[..., m:-m, m:-m], atol=1e-2)


def test_warp_keeps_input_dtype_and_range():
    img = torch.rand(1, 3, 16, 16)
    out = backward_warp(img, torch.randn(1, 2, 16, 16) * 30)
    assert out.dtype == img.dtype and out.min() >= 0 and out.max() <= 1


def test_warp_from_outside_the_frame_repeats_the_edge():
    """Positions far outside read the nearest edge pixel (border replication), never black."""
    img = torch.ones(1, 3, 12, 20)
    flow = torch.full((1, 2, 12, 20), 100.0)
    flow[:, :, :6] = -100.0
    assert torch.allclose(backward_warp(img, flow), img, atol=1e-5)


def test_warp_equals_torch_border_padding_values_and_gradients():
    """The clamp + zeros-padding warp (ONNX Runtime runs it 3.6x faster) is torch's border mode."""
    torch.manual_seed(0)
    for h, w in [(37, 53), (64, 96)]:
        img = torch.rand(2, 3, h, w)
        flow = torch.randn(2, 2, h, w) * 30  # a third of the positions fall outside the frame
        xs, ys = torch.arange(w).float().view(1, 1, w), torch.arange(h).float().view(1, h, 1)

        def reference(f):
            grid = torch.stack([(2 * (xs + f[:, 0]) + 1) / w - 1, (2 * (ys + f[:, 1]) + 1) / h - 1], -1)
            return torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="border",
                                                   align_corners=False)

        f1, f2 = flow.clone().requires_grad_(), flow.clone().requires_grad_()
        ours, ref = backward_warp(img, f1), reference(f2)
        assert (ours - ref).abs().max() < 1e-5
        (ours * img).sum().backward()
        (ref * img).sum().backward()
        assert (f1.grad - f2.grad).abs().max() < 1e-4


def test_intermediate_flows_endpoints():
    f01, f10 = torch.randn(2, 2, 8, 8), torch.randn(2, 2, 8, 8)
    ft0, ft1 = intermediate_flows(f01, f10, torch.zeros(2))
    assert torch.equal(ft0, torch.zeros_like(ft0)) and torch.allclose(ft1, f01)
    ft0, ft1 = intermediate_flows(f01, f10, torch.ones(2))
    assert torch.allclose(ft0, f10) and torch.equal(ft1, torch.zeros_like(ft1))
    # per-sample t: the second sample at t=1/2 gets the symmetric formula
    ft0, ft1 = intermediate_flows(f01, f10, torch.tensor([0.0, 0.5]))
    assert torch.allclose(ft0[1], 0.25 * (f10[1] - f01[1])) and torch.allclose(ft1[1], 0.25 * (f01[1] - f10[1]))


def test_fresh_model_is_linear_blend():
    model = Interpolator(TINY).eval()
    i0, i1 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    t = torch.tensor([0.25, 0.5])
    out = model(torch.rand_like(i0), torch.rand_like(i1), i0, i1, t)
    tt = t.view(-1, 1, 1, 1)
    assert torch.allclose(out, (1 - tt) * i0 + tt * i1, atol=1e-5)


def test_output_shape_range_and_endpoints():
    model = _randomize(Interpolator(TINY), 0.3)
    g = [torch.rand(3, 3, 64, 96) for _ in range(4)]
    with torch.no_grad():
        out = model.forward_all(*g, torch.tensor([0.1, 0.5, 0.9]))
    assert out.frame.shape == (3, 3, 64, 96)
    assert out.frame.min() >= 0 and out.frame.max() <= 1
    assert out.visibility.shape == (3, 1, 64, 96)
    assert out.f01.abs().max() <= TINY.max_flow and out.f01.dtype == torch.float32
    assert out.f01.abs().max() > 0.5  # the randomized net really predicts motion


def test_config_json_round_trip_and_weights(tmp_path):
    from trt_gif2video.nets.store import load_network, read_metadata, save_network

    assert InterpConfig.from_json(TINY.to_json()) == TINY
    model = _randomize(Interpolator(TINY), 0.1)
    path = save_network(model, tmp_path / "interp.safetensors")
    meta = read_metadata(path)
    assert meta["network"] == "interp" and InterpConfig.from_json(meta["config"]) == TINY
    loaded = load_network(path)
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-3 * max(1.0, float(a.abs().max()))), k  # fp16 storage


def test_edge_budget():
    model = Interpolator()
    assert model.config.stride == 32
    assert interp_gflops(model) <= 30.0
    assert sum(p.numel() for p in model.parameters()) < 4e6


def test_onnx_export_dynamic_hw_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _randomize(Interpolator(TINY), 0.1)
    names = ["gif0", "gif1", "img0", "img1", "t"]
    example = [torch.rand(1, 3, 64, 64) for _ in range(4)] + [torch.tensor([0.3])]
    dyn = {n: {0: "N", 2: "H", 3: "W"} for n in names[:4]}
    dyn["t"] = {0: "N"}
    path = tmp_path / "interp.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        torch.onnx.export(model, tuple(example), str(path), dynamo=False, opset_version=17, input_names=names,
                          output_names=["frame"], dynamic_axes=dyn)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {n: rng.random((2, 3, 96, 64), dtype=np.float32) for n in names[:4]}  # not the export size
    feeds["t"] = np.array([0.25, 0.5], dtype=np.float32)
    got = sess.run(None, feeds)[0]
    with torch.no_grad():
        ref = model(*(torch.from_numpy(feeds[n]) for n in names)).numpy()
    assert got.shape == (2, 3, 96, 64)
    assert np.abs(got - ref).max() < 1e-4
