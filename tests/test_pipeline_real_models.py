"""The real networks (random weights, default architectures) through the whole pipeline:
exported to ONNX by the export module and run by ONNX Runtime, and the same safetensors run
by the torch backend; the two backends must agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runtime_standins as standins
from trt_gif2video.config import Backend, DitherChoice, OutputFormat
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="exporting needs torch")


@pytest.fixture(scope="module")
def real_models(tmp_path_factory) -> Path:
    import onnx
    import torch

    from trt_gif2video.export import MODELS
    from trt_gif2video.export.onnx_export import export_module, load_deploy
    from trt_gif2video.nets.dequant import Dequantizer
    from trt_gif2video.nets.dither import DitherDetector
    from trt_gif2video.nets.interp import Interpolator
    from trt_gif2video.nets.store import save_network

    folder = tmp_path_factory.mktemp("real")
    torch.manual_seed(0)
    dequant = Dequantizer()
    nets = {"dequant_nodither": dequant, "dequant_dither": dequant,
            "dither_detector": DitherDetector(), "interp": Interpolator()}
    for mf in MODELS:
        save_network(nets[mf.stem], folder / f"{mf.stem}.safetensors", variant=mf.variant, dtype=torch.float32)
        if mf.stem != "dequant_dither":
            export_module(load_deploy(mf, folder), mf, folder / mf.onnx_name(), verify=False)
    # Exporting is slow on a shared CPU: both variants share one net, so copy its graph and retag it.
    model = onnx.load(folder / "dequant_nodither.onnx")
    for prop in model.metadata_props:
        if prop.key == "variant":
            prop.value = "dither"
    onnx.save(model, folder / "dequant_dither.onnx")
    return folder


def _frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("frame_*.png"))]


def test_real_networks_on_onnxruntime_and_torch_agree(real_models, tmp_path):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:36, 0:44]
    frames = [np.stack([(xx * 5 + 20 * i) % 256, yy * 6, (xx + yy) * 3], -1).astype(np.uint8) // 32 * 32
              for i in range(3)]
    frames[1] = np.maximum(frames[1], rng.integers(0, 2, frames[1].shape, dtype=np.uint8))
    gif = standins.write_gif(tmp_path / "in.gif", frames, [8, 8, 16])
    results = {}
    for backend in (Backend.ONNXRUNTIME, Backend.TORCH):
        opts = RestoreOptions(interp=2, backend=backend, dither=DitherChoice.AUTO, fmt=OutputFormat.PNG_DIR,
                              session=SessionOptions(threads=1, models_dir=real_models))
        results[backend] = restore(gif, tmp_path / backend.value, opts)
    ort, pt = results[Backend.ONNXRUNTIME], results[Backend.TORCH]
    # 320 ms at the median delay (80 ms) x 2 = 25 fps -> 8 frames
    assert ort.frames_written == pt.frames_written == 8 and ort.fps == 25
    assert ort.variant is pt.variant and ort.p_dither == pytest.approx(pt.p_dither, abs=1e-4)
    assert "onnxruntime" in ort.backend and "torch" in pt.backend and ort.interpolator_calls == 2
    for a, b in zip(_frames(tmp_path / "onnxruntime"), _frames(tmp_path / "torch")):
        assert a.shape == (36, 44, 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # float order of ops, uint8 rounding
