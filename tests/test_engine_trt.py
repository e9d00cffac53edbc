"""End to end on real TensorRT and a GPU: build a plan from a tiny ONNX, cache it,
load it through the tensorrt backend and compare with numpy. Skipped elsewhere."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from test_engine_recipe import tiny_onnx
from trt_gif2video.config import Precision
from trt_gif2video.engine import compat
from trt_gif2video.errors import EngineMismatchError
from trt_gif2video.models import Network
from trt_gif2video.runtime.cuda import bindings_status

HAS_GPU = any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvhost-ctrl", "/dev/nvgpu"))
pytestmark = pytest.mark.skipif(
    not (HAS_GPU and compat.tensorrt_status()[1] is None and any(bindings_status().values())),
    reason="needs TensorRT >= 8.5, an NVIDIA GPU and pycuda or cuda-python",
)

RECIPE = """target = "tiny"
precision = "fp32"
workspace_mib = 256
builder_optimization_level = 0

[networks.dither]
min = [1, 64, 64]
opt = [2, 64, 96]
max = [4, 128, 128]
"""


@pytest.fixture()
def setup(tmp_path):
    from trt_gif2video.runtime.backends.base import SessionOptions

    models = tmp_path / "models"
    models.mkdir()
    tiny_onnx(models / "dither_detector.onnx", Network.DITHER)
    (tmp_path / "tiny.toml").write_text(RECIPE)
    extra = {"tensorrt_recipe": str(tmp_path / "tiny.toml"), "tensorrt_cache_dir": str(tmp_path / "cache")}
    return tmp_path, SessionOptions(models_dir=models, extra=extra)


def test_build_cache_load_and_infer(setup):
    from trt_gif2video.errors import BadArgumentError
    from trt_gif2video.runtime.backends.tensorrt import CONTEXTS_PER_SESSION, open_tensorrt

    tmp_path, options = setup
    frames = np.random.default_rng(1).integers(0, 256, (3, 64, 96, 3), dtype=np.uint8)
    with open_tensorrt(Network.DITHER, None, Precision.FP32, options) as session:
        out = session.infer({"gif": frames})["p_dither"]
        first = session.submit({"gif": frames[:1]})
        with pytest.raises(BadArgumentError, match="already in flight"):  # one context: one batch at a time
            session.submit({"gif": frames[1:]})
        split = [session.collect(first)["p_dither"], session.collect(session.submit({"gif": frames[1:]}))["p_dither"]]
        assert len(session._slots) == CONTEXTS_PER_SESSION == 1
    session.close()  # a second close (the with block closed it) does nothing
    np.testing.assert_allclose(out, frames.reshape(3, -1).astype(np.float32).mean(axis=1), rtol=1e-4)
    np.testing.assert_allclose(np.concatenate(split), out, rtol=1e-5)
    plans = sorted((tmp_path / "cache").glob("*.plan"))
    assert len(plans) == 1 and list((tmp_path / "cache").glob("timing_*.cache"))
    mtime = plans[0].stat().st_mtime_ns
    with open_tensorrt(Network.DITHER, None, Precision.FP32, options) as session:  # cache hit: no rebuild
        assert session.infer({"gif": frames[:1]})["p_dither"].shape == (1,)
    assert plans[0].stat().st_mtime_ns == mtime


def test_shapes_outside_the_profile_are_refused(setup):
    from trt_gif2video.errors import BadArgumentError
    from trt_gif2video.runtime.backends.tensorrt import open_tensorrt

    _, options = setup
    with open_tensorrt(Network.DITHER, None, Precision.FP32, options) as session:
        with pytest.raises(BadArgumentError, match=r"outside the plan's profile"):
            session.infer({"gif": np.zeros((1, 256, 64, 3), np.uint8)})


def test_explicit_plan_from_another_gpu_is_an_engine_mismatch(setup):
    import dataclasses

    from trt_gif2video.runtime.backends.tensorrt import EXTRA_PLAN, open_tensorrt

    tmp_path, options = setup
    open_tensorrt(Network.DITHER, None, Precision.FP32, options).close()
    plan = next((tmp_path / "cache").glob("*.plan"))
    sidecar = plan.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data["key"]["environment"]["gpu_name"] = "Some Other GPU"
    sidecar.write_text(json.dumps(data))
    explicit = dataclasses.replace(options, extra={**options.extra, EXTRA_PLAN: str(plan)})
    with pytest.raises(EngineMismatchError, match="was built for Some Other GPU"):
        open_tensorrt(Network.DITHER, None, Precision.FP32, explicit)


def test_version_compatible_plan_without_its_sidecar_loads(setup):
    """Such plans embed the lean runtime: they deserialize only with engine_host_code_allowed."""
    import dataclasses

    from trt_gif2video.runtime.backends.tensorrt import EXTRA_PLAN, open_tensorrt

    if compat.parse_version(compat.import_tensorrt("test").__version__)[:2] < (8, 6):
        pytest.skip("version-compatible plans need TensorRT >= 8.6")
    tmp_path, options = setup
    recipe = tmp_path / "tiny.toml"
    recipe.write_text("version_compatible = true\n" + RECIPE)
    open_tensorrt(Network.DITHER, None, Precision.FP32, options).close()
    plan = next((tmp_path / "cache").glob("*_vc_*.plan"))
    plan.with_suffix(".json").unlink()
    explicit = dataclasses.replace(options, extra={**options.extra, EXTRA_PLAN: str(plan)})
    frames = np.random.default_rng(2).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    with open_tensorrt(Network.DITHER, None, Precision.FP32, explicit) as session:
        out = session.infer({"gif": frames})["p_dither"]
    np.testing.assert_allclose(out, frames.reshape(1, -1).astype(np.float32).mean(axis=1), rtol=1e-4)
