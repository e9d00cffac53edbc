"""The CUDA adapter: a clean one-line refusal without a GPU, a real round trip with one."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trt_gif2video.errors import BackendUnavailableError
from trt_gif2video.runtime.cuda import Cuda, bindings_status, cuda_python_result, query_device

HAS_GPU = any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvhost-ctrl", "/dev/nvgpu"))
HAS_BINDING = any(bindings_status().values())
try:  # the dev extra installs cuda-bindings: it imports (and answers) without a GPU or driver
    from cuda.bindings import runtime as rt
except ImportError:
    rt = None
needs_cuda_python = pytest.mark.skipif(rt is None, reason="cuda-bindings is not installed (pip install -e '.[dev]')")


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


# --- the cuda-python adapter on the real bindings (no GPU needed) ------------------------------


@needs_cuda_python
def test_result_tuples_from_the_real_runtime_api_are_unpacked():
    # (err, value) from calls that succeed without a GPU or driver
    runtime_version = cuda_python_result(rt, rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion")
    assert isinstance(runtime_version, int) and runtime_version >= 12000
    text = cuda_python_result(rt, rt.cudaGetErrorString(rt.cudaError_t.cudaErrorNoDevice), "cudaGetErrorString")
    assert b"no CUDA-capable device" in text
    assert cuda_python_result(rt, rt.cudaDriverGetVersion(), "cudaDriverGetVersion") >= 0


@needs_cuda_python
@pytest.mark.skipif(HAS_GPU, reason="an NVIDIA device is present; this checks the answers without one")
def test_no_device_errors_from_the_real_runtime_api_become_one_line():
    # (err,) and (err, None) failures, as the real binding returns them on a machine without a GPU
    for call, what in ((rt.cudaGetDeviceCount, "cudaGetDeviceCount"), (rt.cudaGetLastError, "cudaGetLastError"),
                       (lambda: rt.cudaSetDevice(0), "cudaSetDevice(0)")):
        result = call()
        assert result[0] in (rt.cudaError_t.cudaErrorNoDevice, rt.cudaError_t.cudaErrorInsufficientDriver)
        with pytest.raises(BackendUnavailableError) as err:
            cuda_python_result(rt, result, what)
        message = str(err.value)
        assert message.startswith(f"CUDA: no usable NVIDIA GPU: {what} failed: ") and "\n" not in message
        assert message.endswith(f"({result[0].name})")


@needs_cuda_python
def test_a_failure_that_is_not_about_the_device_is_named_plainly():
    result = (rt.cudaError_t.cudaErrorMemoryAllocation,)  # what cudaMalloc answers when memory runs out
    with pytest.raises(BackendUnavailableError, match=r"^CUDA: cudaMalloc\(64\) failed: out of memory \(cudaErrorMemoryAllocation\)$"):
        cuda_python_result(rt, result, "cudaMalloc(64)")
    assert cuda_python_result(rt, (rt.cudaError_t.cudaSuccess,), "cudaSetDevice(0)") is None
    assert cuda_python_result(rt, (rt.cudaError_t.cudaSuccess, 1, 2), "cudaMemGetInfo") == (1, 2)


@needs_cuda_python
@pytest.mark.skipif(HAS_GPU, reason="an NVIDIA device is present; this checks the refusal without one")
def test_the_adapter_on_real_cuda_python_refuses_without_a_gpu():
    with pytest.raises(BackendUnavailableError) as err:
        Cuda(0)
    message = str(err.value)
    # the cuda-python adapter answered (not "no Python CUDA binding imports")
    assert message.startswith("CUDA: no usable NVIDIA GPU: ") and "\n" not in message
    assert "binding imports" not in message


@needs_cuda_python
@pytest.mark.skipif(HAS_GPU, reason="an NVIDIA device is present")
def test_build_device_without_a_gpu_is_one_line():
    from contextlib import ExitStack

    from trt_gif2video.engine.build import open_build_device

    with ExitStack() as stack, pytest.raises(BackendUnavailableError) as err:
        open_build_device("10.13.3.9", 1, stack)
    message = str(err.value)
    assert message.startswith("build: cannot open CUDA device 1 (CUDA: no usable NVIDIA GPU: ") and "\n" not in message


@pytest.mark.skipif(not (HAS_GPU and HAS_BINDING), reason="needs an NVIDIA GPU and pycuda or cuda-python")
def test_close_is_idempotent_and_a_missing_device_is_named():
    cuda = Cuda(0)
    buf = cuda.device_alloc(1 << 20)  # left for close() to free
    assert buf.nbytes == 1 << 20
    cuda.close()
    cuda.close()
    with pytest.raises(BackendUnavailableError, match="device 4096"):
        Cuda(4096)
