"""`trt-gif2video build` and `info` from the command line."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from test_engine_recipe import tiny_models
from trt_gif2video.cli import app
from trt_gif2video.engine import compat

runner = CliRunner()
HAS_TRT = compat.tensorrt_status()[1] is None


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here; this checks the message without it")
def test_build_without_tensorrt_fails_with_one_line():
    result = runner.invoke(app, ["build", "--target", "ampere"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: build: TensorRT is not installed (pip install 'trt-gif2video[gpu]'; "
        "on Jetson use the system python with --system-site-packages)"
    ]


def test_build_check_validates_every_network_without_tensorrt(tmp_path):
    tiny_models(tmp_path, "fp16")
    result = runner.invoke(app, ["build", "--target", "jetson-orin-nano", "--check", "--onnx-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4 and all("recipe jetson-orin-nano (fp16) fits" in line for line in lines)
    assert any(line.startswith("interp.fp16.onnx:") and "gif0 (1, 64, 64, 3)..(1, 480, 864, 3)" in line for line in lines)


def test_build_check_names_the_missing_precision_file(tmp_path):
    tiny_models(tmp_path, "fp16")
    result = runner.invoke(app, ["build", "--target", "ampere", "--check", "--precision", "int8",
                                 "--network", "interp", "--onnx-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "interp.int8.onnx: ONNX file not found" in result.output and len(result.output.strip().splitlines()) == 1


def test_build_rejects_target_and_recipe_together(tmp_path):
    result = runner.invoke(app, ["build", "--check", "--target", "ampere", "--recipe", str(tmp_path / "r.toml")])
    assert result.exit_code == 2 and "pass --target or --recipe, not both" in result.output


def test_info_json_reports_versions_and_backends():
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["python"].count(".") == 2
    assert data["backends"]["onnxruntime"] is True
    assert "CPUExecutionProvider" in data["onnxruntime"]["providers"]
    if data["backends"]["tensorrt"]:
        assert data["tensorrt"]["error"] is None and "name" in data["cuda_device"]
    if not HAS_TRT:
        assert data["backends"]["tensorrt"] is False
        assert data["tensorrt"]["version"] is None and data["tensorrt"]["error"].startswith("not importable")
    assert ("name" in data["cuda_device"]) != ("error" in data["cuda_device"])
    assert data["torch"].get("version") is not None or importlib.util.find_spec("torch") is None


def test_info_table_lists_components():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for name in ("python", "onnxruntime", "tensorrt", "cuda_device", "backends"):
        assert name in result.output
