"""Triton Inference Server: configs derived from the ONNX (static, every platform and recipe) and a
real tritonserver on 127.0.0.1 serving the python flavour, restoring a GIF bit-identically to local
ONNX Runtime (the server comes from the nvidia-pytriton wheel on PyPI, prepared by `triton serve`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from typer.testing import CliRunner

import gifcraft as gc
from trt_gif2video.cli import app
from trt_gif2video.engine.recipe import RECIPE_DIR, load_recipe, read_onnx_info
from trt_gif2video.models import weights_dir
from trt_gif2video.triton.config import ModelSettings, Platform, model_config
from trt_gif2video.triton.repo import RepoRequest, models, write_repository
from trt_gif2video.triton.server import free_port

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] (dev extra) not installed")
runner = CliRunner()

ONNX_TYPES = {2: "TYPE_UINT8", 1: "TYPE_FP32"}  # onnx.TensorProto UINT8, FLOAT
SHIPPED = sorted(p for p in weights_dir().glob("*.onnx") if p.name.count(".") == 1)  # FP32 files


def _parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("platform", [Platform.TENSORRT, Platform.ONNXRUNTIME, Platform.PYTHON])
@pytest.mark.parametrize("onnx_file", SHIPPED, ids=lambda p: p.stem)
def test_config_matches_its_onnx(onnx_file, platform):
    info = read_onnx_info(onnx_file)
    cfg = _parse(model_config(onnx_file.stem, info, platform, ModelSettings(max_batch_size=4)))
    assert cfg.name == onnx_file.stem and cfg.max_batch_size == 4
    assert (cfg.platform or cfg.backend) == {"tensorrt": "tensorrt_plan", "onnxruntime": "onnxruntime_onnx", "python": "python"}[platform.value]
    for declared, tensors in ((cfg.input, info.inputs), (cfg.output, info.outputs)):
        assert [t.name for t in declared] == [t.name for t in tensors]
        for t, onnx_t in zip(declared, tensors):
            assert model_config_pb2.DataType.Name(t.data_type) == ONNX_TYPES[onnx_t.elem_type]
            assert onnx_t.dims[0] == "N"  # the batch dim Triton adds
            rest = [d if isinstance(d, int) else -1 for d in onnx_t.dims[1:]]
            if rest:
                assert list(t.dims) == rest and not t.HasField("reshape")
            else:  # [N] tensors travel as [N, 1] and are reshaped to [N] for the model
                assert list(t.dims) == [1] and t.HasField("reshape") and list(t.reshape.shape) == []
    assert cfg.parameters["stride"].string_value == info.metadata["stride"]
    assert cfg.instance_group[0].kind == (model_config_pb2.ModelInstanceGroup.KIND_GPU if platform is Platform.TENSORRT
                                         else model_config_pb2.ModelInstanceGroup.KIND_CPU)


@pytest.mark.parametrize("recipe_file", sorted(RECIPE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_tensorrt_configs_batch_within_each_recipes_profile(recipe_file):
    """A tensorrt_plan model's max_batch_size must not exceed the plan's profile max N."""
    recipe = load_recipe(recipe_file)
    assert recipe.networks
    for network, _, stem in models(tuple(recipe.networks)):
        max_n = recipe.network(network).shapes.max.n
        cfg = _parse(model_config(stem, read_onnx_info(weights_dir() / f"{stem}.onnx"), Platform.TENSORRT,
                                  ModelSettings(max_batch_size=max_n)))
        assert cfg.max_batch_size == max_n


def test_repo_layout_and_refusals(tmp_path):
    out = tmp_path / "repo"
    written = write_repository(RepoRequest(out=out, platform=Platform.ONNXRUNTIME), notify=lambda m: None)
    assert sorted(p.name for p in written) == ["dequant_dither", "dequant_nodither", "dither_detector", "interp"]
    for stem in ("dequant_nodither", "interp"):
        assert (out / stem / "1" / "model.onnx").read_bytes() == (weights_dir() / f"{stem}.onnx").read_bytes()
        _parse((out / stem / "config.pbtxt").read_text())
    res = runner.invoke(app, ["triton", "repo", str(out)])  # not empty: refused, nothing changed
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and len(res.stderr.splitlines()) == 1
    assert "not an empty folder" in res.stderr
    res = runner.invoke(app, ["triton", "repo", str(tmp_path / "trt"), "--platform", "tensorrt", "--plans", str(tmp_path)])
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1 and "trt-gif2video build" in res.stderr
    assert not (tmp_path / "trt").exists() and not list(tmp_path.glob(".triton-*"))


def test_restore_without_a_server_is_one_line_and_leaves_nothing(tmp_path):
    gif = gc.write(tmp_path / "in.gif", _small_gif())
    out = tmp_path / "out.mp4"
    res = runner.invoke(app, ["restore", str(gif), "-o", str(out), "--triton-url", f"127.0.0.1:{free_port()}"])
    assert res.exit_code == 2 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1 and "cannot reach" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gif"]


def _small_gif() -> bytes:
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (16, 3)).astype(np.uint8)
    base = rng.integers(0, 16, (48, 64)).astype(np.uint8)
    frames = [gc.Frame(np.roll(base, 3 * i, axis=1), delay_cs=10) for i in range(3)]
    return gc.make_gif(64, 48, frames, global_palette=palette, loop=0)


def _frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def test_real_tritonserver_restores_like_local_onnxruntime(tmp_path):
    """`triton repo --platform python` + `triton serve` (a subprocess, like a user), restore through it,
    compare with local ONNX Runtime frame by frame, a request timeout, then SIGTERM stops it cleanly."""
    repo = tmp_path / "repo"
    assert runner.invoke(app, ["triton", "repo", str(repo), "--platform", "python"]).exit_code == 0
    grpc, http = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    serve = subprocess.Popen([sys.executable, "-m", "trt_gif2video", "triton", "serve", str(repo), "--grpc-port", str(grpc),
                              "--http-port", str(http), "--log", str(tmp_path / "server.log")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # the first run downloads and prepares the server (once per machine)
        import urllib.request

        while time.monotonic() < deadline:
            assert serve.poll() is None, serve.stderr.read()
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        gif = gc.write(tmp_path / "in.gif", _small_gif())
        remote, local = tmp_path / "remote/", tmp_path / "local/"
        res = runner.invoke(app, ["restore", str(gif), "-o", str(remote), "--format", "png", "--triton-url", f"127.0.0.1:{grpc}"])
        assert res.exit_code == 0, res.output
        assert "triton (127.0.0.1:" in res.stdout
        res = runner.invoke(app, ["restore", str(gif), "-o", str(local), "--format", "png", "--backend", "onnxruntime"])
        assert res.exit_code == 0, res.output
        a, b = _frames(remote), _frames(local)
        assert len(a) == len(b) == 6
        for x, y in zip(a, b):
            assert np.array_equal(x, y)  # same ONNX, same ONNX Runtime version and batches: bit-identical
        late = tmp_path / "late.mp4"
        res = runner.invoke(app, ["restore", str(gif), "-o", str(late), "--triton-url", f"127.0.0.1:{grpc}", "--triton-timeout", "0.001"])
        assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1 and "triton" in res.stderr, res.stderr
        assert not late.exists() and not list(tmp_path.glob(".late*"))
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            code = serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            raise
    assert code == 0, serve.stderr.read()
    gone = subprocess.run(["pgrep", "-f", f"--grpc-port={grpc}"], capture_output=True, text=True)
    assert gone.stdout.strip() == "", "tritonserver outlived `triton serve`"
