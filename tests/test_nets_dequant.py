"""Dequantizer, dither detector, deploy wrappers, weights files (torch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trt_gif2video.config import Dither, Quantizer  # noqa: E402
from trt_gif2video.errors import BadArgumentError, ModelError  # noqa: E402
from trt_gif2video.models import Network, safetensors_path  # noqa: E402
from trt_gif2video.nets.blocks import requantize  # noqa: E402
from trt_gif2video.nets.deploy import DequantDeploy, DitherDeploy, to_image, wrap  # noqa: E402
from trt_gif2video.nets.dequant import DequantConfig, Dequantizer  # noqa: E402
from trt_gif2video.nets.dither import DitherDetector  # noqa: E402
from trt_gif2video.nets.flops import dequant_gflops, n_params  # noqa: E402
from trt_gif2video.nets.store import load_network, read_metadata, save_network  # noqa: E402
from trt_gif2video.palette import pad_palette  # noqa: E402
from trt_gif2video.quantize import nearest_palette_index, quantize  # noqa: E402

TINY = DequantConfig(widths=(4, 8, 8), steps=3)
DETECTOR = safetensors_path(Network.DITHER)


def _u8(rng, *shape):
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _randomize(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero heads, so outputs differ from the identity of a fresh dequantizer."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net


def test_pad_palette_repeats_entry_zero_and_keeps_nearest_index():
    rng = np.random.default_rng(0)
    pal = _u8(rng, 5, 3)
    padded = pad_palette(pal)
    assert padded.shape == (256, 3) and padded.dtype == np.uint8
    assert (padded[:5] == pal).all() and (padded[5:] == pal[0]).all()
    img = _u8(rng, 20, 30, 3)
    assert (nearest_palette_index(img, padded) == nearest_palette_index(img, pal)).all()
    with pytest.raises(BadArgumentError, match="palette"):
        pad_palette(np.zeros((300, 3), np.uint8))


@pytest.mark.parametrize("n_colors", [1, 2, 7, 256])
def test_requantize_matches_bruteforce_reference(n_colors):
    rng = np.random.default_rng(n_colors)
    img = _u8(rng, 2, 24, 40, 3)
    pals = [pad_palette(_u8(rng, n_colors, 3)) for _ in range(2)]
    # Duplicated entries and exactly equidistant pixels exercise the tie rule (lowest index).
    pals[1][1] = pals[1][0]
    img[1, 0, 0] = (pals[1][0].astype(int) + pals[1][2]) // 2
    x = torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255
    pal_t = torch.from_numpy(np.stack(pals)).float() / 255
    got = torch.round(requantize(x, pal_t) * 255).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    for i in range(2):
        assert (got[i] == pals[i][nearest_palette_index(img[i], pals[i])]).all()


def test_requantize_of_a_gif_is_the_gif():
    y, x = np.mgrid[0:32, 0:48]
    img = np.stack([x * 5, y * 7, (x + y) * 3], -1).astype(np.uint8)
    gif_idx, pal = quantize(img, 16, Quantizer.MEDIAN_CUT, Dither.NONE)
    gif = pal[gif_idx]
    t = torch.from_numpy(gif)[None].permute(0, 3, 1, 2).float() / 255
    q = requantize(t, torch.from_numpy(pad_palette(pal))[None].float() / 255)
    assert torch.equal(torch.round(q * 255), torch.round(t * 255))


def test_dequantizer_shapes_and_steps():
    net = _randomize(Dequantizer(TINY))
    gif = torch.rand(2, 3, 16, 24)
    pal = torch.rand(2, 256, 3)
    outs = net.forward_all(gif, pal)
    assert len(outs) == TINY.steps and all(o.shape == gif.shape for o in outs)
    assert TINY.stride == 4


def test_fresh_dequantizer_is_identity_and_deploy_round_trips_uint8():
    rng = np.random.default_rng(1)
    gif = _u8(rng, 2, 16, 32, 3)
    pal = np.stack([pad_palette(_u8(rng, 9, 3)) for _ in range(2)])
    deploy = wrap(Dequantizer(TINY))
    assert isinstance(deploy, DequantDeploy) and not deploy.training
    out = deploy(torch.from_numpy(gif), torch.from_numpy(pal))
    assert out.dtype == torch.uint8 and out.shape == gif.shape
    assert (out.numpy() == gif).all()


def test_deploy_output_rounds_and_clamps():
    x = torch.tensor([-0.5, 0.4 / 255, 0.6 / 255, 254.5 / 255 + 1e-4, 2.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    out = to_image(x, torch.uint8)[0, 0, :, 0]
    assert out.tolist() == [0, 0, 1, 255, 255]
    assert to_image(x, torch.float16).dtype == torch.float16


def test_dither_detector_any_size_probability():
    deploy = wrap(_randomize(DitherDetector()))
    assert isinstance(deploy, DitherDeploy)
    for h, w in [(64, 64), (96, 160)]:
        p = deploy(torch.zeros(3, h, w, 3, dtype=torch.uint8))
        assert p.shape == (3,) and p.dtype == torch.float32 and ((p > 0) & (p < 1)).all()
    assert n_params(DitherDetector()) < 20_000


def test_default_dequantizer_fits_edge_budget():
    gf = dequant_gflops(Dequantizer())
    assert 5 < gf <= 30, gf


def test_weights_round_trip_with_config_metadata(tmp_path):
    net = _randomize(Dequantizer(TINY))
    path = save_network(net, tmp_path / "d.safetensors", variant="dither")
    meta = read_metadata(path)
    assert meta["network"] == "dequant" and meta["variant"] == "dither"
    assert DequantConfig.from_json(meta["config"]) == TINY
    back = load_network(path)
    assert back.config == TINY and not back.training
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-3 * a.abs().max().item() + 1e-6), k  # fp16 storage


def test_weights_mismatch_and_missing_are_model_errors(tmp_path):
    path = save_network(Dequantizer(TINY), tmp_path / "d.safetensors")
    with pytest.raises(ModelError, match="not found"):
        load_network(tmp_path / "missing.safetensors")
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    bigger = DequantConfig(widths=(4, 8, 16), steps=3)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"config": bigger.to_json(), "network": "dequant"})
    with pytest.raises(ModelError, match="do not match"):
        load_network(tmp_path / "bad.safetensors")


def test_deploy_exports_to_onnx_and_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(2)
    deploy = wrap(_randomize(Dequantizer(DequantConfig(widths=(4, 8), steps=2)), seed=3))
    gif = _u8(rng, 1, 16, 24, 3)
    pal = pad_palette(_u8(rng, 12, 3))[None]
    path = tmp_path / "d.onnx"
    torch.onnx.export(deploy, (torch.from_numpy(gif), torch.from_numpy(pal)), str(path),
                      input_names=["gif", "palette"], output_names=["restored"], dynamo=False,
                      dynamic_axes={"gif": {0: "n", 1: "h", 2: "w"}, "palette": {0: "n"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gif2 = _u8(rng, 1, 32, 40, 3)  # another size: nothing frozen into the graph
    for g in (gif, gif2):
        got = sess.run(None, {"gif": g, "palette": pal})[0]
        want = deploy(torch.from_numpy(g), torch.from_numpy(pal)).numpy()
        assert got.dtype == np.uint8 and np.abs(got.astype(int) - want).max() <= 1


def _synth_frames(n: int, dither: Dither, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        y, x = np.mgrid[0:96, 0:128].astype(np.float32)
        a, b, c = rng.uniform(0.5, 2.0, 3)
        img = np.stack([x * a + 40 * np.sin(y / 9 + i), y * b + 30 * np.cos(x / 13), (x + y) * c / 2], -1)
        img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        idx, pal = quantize(img, int(rng.choice([16, 32, 64])), Quantizer.MEDIAN_CUT, dither)
        frames.append(pal[idx])
    return frames


@pytest.mark.skipif(not DETECTOR.is_file(), reason="dither detector weights not shipped yet")
def test_shipped_detector_separates_synthesized_dither():
    deploy = wrap(load_network(DETECTOR))
    hits = []
    for dither in (Dither.NONE, Dither.FLOYD_STEINBERG, Dither.ORDERED):
        frames = np.stack(_synth_frames(6, dither, seed=len(dither.value)))
        with torch.no_grad():
            p = deploy(torch.from_numpy(frames)).numpy()
        hits += list((p > 0.5) == (dither is not Dither.NONE))
    assert np.mean(hits) >= 0.9, hits


# Minimum gains in dB on this (seeded) smooth frame; measured: +0.6, +8.2, +2.0.
@pytest.mark.parametrize("variant,dither,gain", [("nodither", Dither.NONE, 0.3),
                                                 ("dither", Dither.FLOYD_STEINBERG, 4.0),
                                                 ("dither", Dither.ORDERED, 1.0)])
def test_shipped_dequantizer_beats_the_gif(variant, dither, gain):
    from trt_gif2video.eval.metrics import psnr
    from trt_gif2video.models import Variant

    path = safetensors_path(Network.DEQUANT, Variant(variant))
    if not path.is_file():
        pytest.skip(f"{path.name} not shipped yet")
    deploy = wrap(load_network(path))
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    clean = np.clip(np.stack([x * 1.5 + 30 * np.sin(y / 15), y * 2.0, 200 - x], -1) + rng.normal(0, 1, (96, 128, 3)),
                    0, 255).astype(np.uint8)
    idx, pal = quantize(clean, 32, Quantizer.MEDIAN_CUT, dither)
    gif = pal[idx]
    out = deploy(torch.from_numpy(gif)[None], torch.from_numpy(pad_palette(pal))[None])[0].numpy()
    assert psnr(out, clean) > psnr(gif, clean) + gain
