"""TensorRT session logic that runs without TensorRT or a GPU: the context count the lint
reads, the one-line error when no execution context can be made, the cleanup of what was
already allocated, and close() on a session that never opened. The session itself, on a
real plan and GPU, is exercised in test_engine_trt.py (skipped without them)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from contextlib import ExitStack

import pytest

from trt_gif2video.errors import BackendUnavailableError
from trt_gif2video.runtime.backends import tensorrt as trt_backend


def test_one_context_per_session_and_the_constant_imports_without_tensorrt_or_torch():
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        sys.modules["tensorrt"] = None
        sys.modules["tensorrt_lean"] = None
        from trt_gif2video.runtime.backends.tensorrt import CONTEXTS_PER_SESSION
        print(CONTEXTS_PER_SESSION, sorted(m for m in ("torch", "tensorrt", "onnxruntime") if sys.modules.get(m)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "[]"]


def test_no_execution_context_is_one_line_naming_the_plan_and_memory():
    with pytest.raises(BackendUnavailableError) as err:
        trt_backend.require_context(None, "dequant_nodither_fp16_sm87.plan", 1536 << 20)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("dequant_nodither_fp16_sm87.plan: TensorRT could not create an execution context: "
                              "out of device memory for the profile's max shapes (1536 MiB of activation memory)")
    unknown = trt_backend.context_failure("x.plan", None)  # TensorRT < 10.1 does not report the size
    assert "out of device memory for the profile's max shapes;" in unknown
    marker = object()
    assert trt_backend.require_context(marker, "x.plan", None) is marker


def test_a_failing_allocation_frees_the_ones_already_made():
    """The bookkeeping around cudaMalloc, with plain callables for alloc/free: when the
    third allocation fails, closing the session's stack frees the first two, newest first."""
    made, freed = [], []

    def alloc(nbytes: int) -> int:
        if len(made) == 2:
            raise BackendUnavailableError("CUDA: cudaMalloc(300) failed: out of memory (cudaErrorMemoryAllocation)")
        made.append(nbytes)
        return len(made)  # a handle

    resources = ExitStack()
    with pytest.raises(BackendUnavailableError, match="cudaMalloc"):
        trt_backend.allocate_all({"gif": 100, "palette": 200, "out": 300}, alloc, freed.append, resources)
    assert freed == []  # nothing freed behind the caller's back
    resources.close()
    assert freed == [2, 1]
    resources.close()  # a second close frees nothing twice
    assert freed == [2, 1]


def test_all_buffers_are_returned_and_freed_once_on_close():
    freed = []
    with ExitStack() as resources:
        buffers = trt_backend.allocate_all({"a": 1, "b": 2}, lambda n: ("buf", n), freed.append, resources)
        assert buffers == {"a": ("buf", 1), "b": ("buf", 2)}
    assert freed == [("buf", 2), ("buf", 1)]


def test_close_of_a_session_that_never_opened_is_a_no_op_and_repeatable():
    # a session whose __init__ never ran (or raised before its first allocation)
    session = trt_backend.TensorRTSession.__new__(trt_backend.TensorRTSession)
    session.close()
    session.close()


def test_a_session_that_fails_to_open_releases_its_device_once():
    """TensorRTSession owns the Cuda it is given: when opening fails (here at once, with no
    engine to check), it is closed before the error propagates, and exactly once."""
    closes = []

    class Device:  # only close() is reached before the failure
        def close(self):
            closes.append(1)

    with pytest.raises(AttributeError):
        trt_backend.TensorRTSession(None, None, Device(), "dither_detector (fp32, tensorrt)", (), (), {}, "x.plan")
    assert closes == [1]
