"""The CUDA adapter: a clean one-line refusal without a GPU, a real round trip with one."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trt_gif2video.errors import BackendUnavailableError
from trt_gif2video.runtime.cuda import Cuda, bindings_status, query_device

HAS_GPU = any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvhost-ctrl", "/dev/nvgpu"))
HAS_BINDING = any(bindings_status().values())


@pytest.mark.skipif(HAS_GPU, reason="an NVIDIA device is present; this checks the refusal without one")
def test_without_a_gpu_the_adapter_refuses_in_one_line():
    with pytest.raises(BackendUnavailableError) as err:
        Cuda(0)
    message = str(err.value)
    assert message.startswith("CUDA: ") and "\n" not in message
    info, why = query_device(0)
    assert info is None and why.startswith("CUDA: ")


@pytest.mark.skipif(not (HAS_GPU and HAS_BINDING), reason="needs an NVIDIA GPU and pycuda or cuda-python")
def test_round_trip_through_device_memory_on_two_streams():
    with Cuda(0) as cuda:
        info = cuda.device_info()
        assert info.name and info.compute_capability[0] >= 5 and info.total_memory_bytes > 0
        host_in = cuda.pinned_empty((4, 64, 64, 3), np.uint8)
        host_in[...] = np.random.default_rng(0).integers(0, 256, host_in.shape, dtype=np.uint8)
        host_out = cuda.pinned_empty(host_in.shape, np.uint8)
        buf = cuda.device_alloc(host_in.nbytes)
        upload, download = cuda.stream(), cuda.stream()
        uploaded = cuda.event()
        cuda.htod_async(buf, host_in, upload)
        cuda.record(uploaded, upload)
        cuda.wait(download, uploaded)  # ordering across streams without blocking the host
        cuda.dtoh_async(host_out, buf, download)
        cuda.sync_stream(download)
        assert np.array_equal(host_in, host_out)
        with pytest.raises(ValueError, match="does not fit"):
            cuda.htod_async(buf, np.zeros(host_in.nbytes + 1, np.uint8), upload)
        cuda.device_free(buf)
        for handle in (uploaded, upload, download):
            cuda.destroy(handle)


def test_every_cuda_python_name_the_adapter_uses_exists():
    """Real introspection of the installed binding (no GPU needed to import it)."""
    import ast
    import importlib.util
    from pathlib import Path

    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        pytest.skip("cuda-python (cuda.bindings) is not installed")
    from cuda.bindings import runtime as rt

    source = Path(__file__).resolve().parents[1] / "trt_gif2video" / "runtime" / "cuda.py"
    used = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Attribute):
            base = node.value
            if (isinstance(base, ast.Name) and base.id == "rt") or (isinstance(base, ast.Attribute) and base.attr == "_rt"):
                used.add(node.attr)
    assert {"cudaMallocHost", "cudaMemcpyAsync", "cudaStreamWaitEvent", "cudaEventRecord"} <= used
    assert sorted(n for n in used if not hasattr(rt, n)) == []
    assert hasattr(rt.cudaMemcpyKind, "cudaMemcpyHostToDevice") and hasattr(rt.cudaError_t, "cudaSuccess")
