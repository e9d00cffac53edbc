"""`restore --interpolator rife`: pretrained RIFE from the user cache in place of our interpolator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import runtime_standins as standins
from trt_gif2video.cli import app
from trt_gif2video.config import Backend, InterpolatorChoice, OutputFormat
from trt_gif2video.data.corpus import CACHE_ENV
from trt_gif2video.errors import ModelError
from trt_gif2video.models import WEIGHTS_ENV
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.pretrained import FETCH_COMMAND, RifeVariant, rife_onnx_path
from trt_gif2video.runtime.backends.base import SessionOptions

H, W = 40, 50  # not multiples of RIFE's stride 32: the runtime pads and crops


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"), p_dither=0.1)


@pytest.fixture()
def gif(tmp_path) -> Path:
    return standins.write_gif(tmp_path / "in.gif", standins.flat_frames(3, H, W), [10, 10, 10])


def _opts(models: Path, choice: InterpolatorChoice = InterpolatorChoice.RIFE) -> RestoreOptions:
    return RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, fmt=OutputFormat.PNG_DIR,
                          interpolator=choice, session=SessionOptions(threads=1, models_dir=models))


def test_missing_rife_fails_before_any_output(models, gif, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError, match=FETCH_COMMAND):
        restore(gif, tmp_path / "out", _opts(models))
    assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(app, ["restore", str(gif), "-o", str(tmp_path / "out.mp4"), "--interpolator", "rife"],
                             env={CACHE_ENV: str(tmp_path / "empty-cache"), WEIGHTS_ENV: str(models)})
    assert res.exit_code == 2 and res.stdout == "" and not (tmp_path / "out.mp4").exists()
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and FETCH_COMMAND in lines[0], res.stderr


@pytest.mark.parametrize("choice", [InterpolatorChoice.RIFE, InterpolatorChoice.RIFE_FAST])
def test_restore_with_rife_interpolates_between_the_restored_frames(models, gif, tmp_path, choice):
    path = rife_onnx_path(variant=RifeVariant(refine=choice is InterpolatorChoice.RIFE))
    if not path.is_file():
        pytest.skip(f"{path} not made (run `{FETCH_COMMAND}`)")
    result = restore(gif, tmp_path / "out", _opts(models, choice))
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "out").glob("frame_*.png"))]
    assert result.frames_written == len(frames) == 6 and result.interpolator_calls == 2
    levels = [int(f[H // 2, W // 2, 0]) for f in frames]
    # flat GIF levels 10, 30, 50 (the stand-in dequantizer passes them through); RIFE lands between
    assert levels[0::2] == [10, 30, 50] and 10 < levels[1] < 30 and 30 < levels[3] < 50 and levels[5] == 50
