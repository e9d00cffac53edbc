"""Session interface, ONNX Runtime backend, backend selection and its errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import runtime_standins as standins
from trt_gif2video.config import Backend, Precision
from trt_gif2video.errors import BackendUnavailableError, BadArgumentError, ModelError
from trt_gif2video.models import Network, Variant, onnx_path, safetensors_path
from trt_gif2video.runtime.backends.base import SessionOptions, open_session, resolve_backend
from trt_gif2video.runtime.backends.onnxruntime import OnnxRuntimeSession

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"), p_dither=0.8)


def _opts(models: Path) -> SessionOptions:
    return SessionOptions(threads=1, models_dir=models)


def test_onnx_paths_follow_the_shipped_names(tmp_path):
    assert onnx_path(Network.DEQUANT, Variant.DITHER, root=tmp_path) == tmp_path / "dequant_dither.onnx"
    assert onnx_path(Network.DITHER, root=tmp_path).name == "dither_detector.onnx"
    assert onnx_path(Network.INTERP, precision=Precision.FP16, root=tmp_path).name == "interp.fp16.onnx"
    assert safetensors_path(Network.DEQUANT, Variant.NODITHER, root=tmp_path).name == "dequant_nodither.safetensors"
    with pytest.raises(ModelError, match="variant"):
        onnx_path(Network.DEQUANT)


def test_onnxruntime_session_reports_io_and_runs(models):
    with open_session(Network.DEQUANT, Backend.ONNXRUNTIME, variant=Variant.NODITHER, options=_opts(models)) as s:
        assert isinstance(s, OnnxRuntimeSession)
        assert s.input_names == ("gif", "palette") and s.output_names == ("restored",)
        assert [i.dtype for i in s.inputs] == [np.uint8, np.uint8]
        assert s.inputs[1].shape == ("N", 256, 3)
        assert s.stride == 16 and "CPUExecutionProvider" in s.description
        gif = np.full((2, 32, 32, 3), 90, np.uint8)
        palette = np.zeros((2, 256, 3), np.uint8)
        palette[:, 1] = 90  # the stand-in snaps to the nearest palette colour, then blurs
        palette[1, 1] = (92, 80, 99)  # the second frame's palette has no exact 90 grey
        out = s.infer({"gif": gif, "palette": palette})["restored"]
        assert out.shape == gif.shape and out.dtype == np.uint8
        assert (out[0, 1:-1, 1:-1] == 90).all()  # blur of a flat image, away from the zero padding
        assert (out[1, 1:-1, 1:-1] == (92, 80, 99)).all()  # each frame is snapped to its own palette


@pytest.mark.parametrize(
    "feeds, message",
    [
        ({"gif": np.zeros((1, 32, 32, 3), np.uint8)}, "inputs must be exactly"),
        ({"gif": np.zeros((1, 32, 32, 3), np.float32), "palette": np.zeros((1, 256, 3), np.uint8)}, "dtype float32"),
        ({"gif": np.zeros((32, 32, 3), np.uint8), "palette": np.zeros((1, 256, 3), np.uint8)}, "rank 3"),
        ({"gif": np.zeros((1, 32, 32, 3), np.uint8), "palette": np.zeros((1, 16, 3), np.uint8)}, r"shape \(1, 16, 3\)"),
        ({"gif": np.zeros((2, 32, 32, 3), np.uint8), "palette": np.zeros((1, 256, 3), np.uint8)}, "dim 'N' is 2"),
    ],
)
def test_infer_validates_before_running(models, feeds, message):
    with open_session(Network.DEQUANT, Backend.ONNXRUNTIME, variant=Variant.NODITHER, options=_opts(models)) as s:
        with pytest.raises(BadArgumentError, match=message):
            s.infer(feeds)


def test_missing_and_corrupt_models_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="dequant_dither.onnx: model file not found"):
        open_session(Network.DEQUANT, Backend.ONNXRUNTIME, variant=Variant.DITHER, options=_opts(tmp_path))
    (tmp_path / "interp.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="interp.onnx: ONNX Runtime cannot load"):
        open_session(Network.INTERP, Backend.ONNXRUNTIME, options=_opts(tmp_path))


@pytest.mark.skipif(Path("/dev/nvidiactl").exists(), reason="auto picks a GPU backend on this machine")
def test_auto_picks_onnxruntime_without_a_gpu_and_says_so():
    backend, reason = resolve_backend(Backend.AUTO)
    assert backend is Backend.ONNXRUNTIME and "auto" in reason
    assert resolve_backend(Backend.TORCH) == (Backend.TORCH, "requested")


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_tensorrt_absent_is_one_clear_error(models):
    with pytest.raises(BackendUnavailableError, match="^tensorrt backend: TensorRT") as info:
        open_session(Network.DEQUANT, Backend.TENSORRT, variant=Variant.NODITHER, options=_opts(models))
    assert "\n" not in str(info.value)


def test_torch_backend_with_torch_blocked_is_a_clear_error(models):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from pathlib import Path\n"
        "from trt_gif2video.errors import BackendUnavailableError\n"
        "from trt_gif2video.runtime.backends.base import SessionOptions, open_session\n"
        "try:\n"
        f"    open_session('interp', 'torch', options=SessionOptions(models_dir=Path({str(models)!r})))\n"
        "except BackendUnavailableError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "torch backend: torch is not installed; install the 'train' extra or use --backend onnxruntime"
    )


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_torch_backend_runs_shipped_form_weights_like_onnx_contract(tmp_path):
    import torch

    from trt_gif2video.nets.dequant import DequantConfig, Dequantizer
    from trt_gif2video.nets.store import save_network

    torch.manual_seed(0)
    net = Dequantizer(DequantConfig(widths=(4, 8), steps=1))
    save_network(net, safetensors_path(Network.DEQUANT, Variant.NODITHER, root=tmp_path), variant="nodither")
    with pytest.raises(BackendUnavailableError, match="int8"):
        open_session(Network.DEQUANT, Backend.TORCH, Precision.INT8, variant=Variant.NODITHER, options=_opts(tmp_path))
    with open_session(Network.DEQUANT, Backend.TORCH, variant=Variant.NODITHER, options=_opts(tmp_path)) as s:
        assert s.input_names == ("gif", "palette") and s.description.startswith("torch (cpu")
        gif = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
        out = s.infer({"gif": gif, "palette": np.zeros((2, 256, 3), np.uint8)})["restored"]
        assert out.shape == gif.shape and out.dtype == np.uint8
        with pytest.raises(BadArgumentError, match="dtype"):
            s.infer({"gif": gif.astype(np.float32), "palette": np.zeros((2, 256, 3), np.uint8)})


def test_stage_options_share_the_cpus_between_concurrent_stages(monkeypatch):
    from trt_gif2video.runtime.backends import base

    monkeypatch.setattr(base, "usable_cpus", lambda: 2)
    assert base.stage_options(SessionOptions(), 2).threads == 1  # the 2-core VM: one per stage
    assert base.stage_options(SessionOptions(), 1).threads == 0  # alone: the backend's default (every core)
    assert base.stage_options(SessionOptions(threads=3), 2).threads == 3  # an explicit --threads is kept
    monkeypatch.setattr(base, "usable_cpus", lambda: 1)
    assert base.stage_options(SessionOptions(), 2).threads == 1  # never 0 (0 would mean every core again)
    monkeypatch.setattr(base, "usable_cpus", lambda: 16)
    opts = base.stage_options(SessionOptions(models_dir=Path("m")), 2)
    assert (opts.threads, opts.models_dir) == (8, Path("m"))


def test_usable_cpus_follows_the_affinity_mask():
    import os

    from trt_gif2video.runtime.backends.base import usable_cpus

    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cpus() == expected >= 1
