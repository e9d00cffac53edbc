"""CUDA memory, streams and events behind one small adapter: the only module
that handles raw device pointers.

Works on cuda-python (`cuda.bindings.runtime`, or the older `cuda.cudart`) or
pycuda, whichever imports. TensorRT runs on the runtime API's primary context;
pycuda is therefore bound to the primary context too, so both agree.

The device is selected per host thread (cudaSetDevice, or pycuda's context stack):
open, use and close a `Cuda` in the same thread, and do TensorRT work on device N
(a build, a session) in the thread that holds it open. `close()` may be called
more than once.
"""

from __future__ import annotations

import ctypes
import importlib
import shutil
import subprocess
import threading
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..errors import BackendUnavailableError

INSTALL_HINT = "pip install 'trt-gif2video[gpu]' (pycuda) or 'trt-gif2video[gpu-cuda-python]'"


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    compute_capability: tuple[int, int]
    total_memory_bytes: int
    source: str  # cuda-python | pycuda | nvidia-smi


@dataclass(frozen=True)
class DeviceBuffer:
    ptr: int
    nbytes: int


class Cuda:
    """Pinned host arrays, device buffers, streams and events on one device.

    Handles (streams, events) are opaque; `stream_handle` gives the integer that
    TensorRT's `execute_async_v3` wants.
    """

    def __init__(self, device: int = 0):
        self._impl = _load_impl(device)
        self.binding = self._impl.name
        self._closed = False

    def __enter__(self) -> Cuda:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def device_info(self) -> DeviceInfo:
        return self._impl.device_info()

    def pinned_empty(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self._impl.pinned_empty(tuple(shape), np.dtype(dtype))

    def device_alloc(self, nbytes: int) -> DeviceBuffer:
        return self._impl.device_alloc(max(int(nbytes), 1))

    def device_free(self, buf: DeviceBuffer) -> None:
        self._impl.device_free(buf)

    def stream(self):
        return self._impl.stream()

    def stream_handle(self, stream) -> int:
        return self._impl.stream_handle(stream)

    def event(self):
        return self._impl.event()

    def htod_async(self, dst: DeviceBuffer, src: np.ndarray, stream) -> None:
        if src.nbytes > dst.nbytes:
            raise ValueError(f"host array of {src.nbytes} bytes does not fit a {dst.nbytes}-byte device buffer")
        self._impl.htod_async(dst, np.ascontiguousarray(src), stream)

    def dtoh_async(self, dst: np.ndarray, src: DeviceBuffer, stream) -> None:
        if dst.nbytes > src.nbytes:
            raise ValueError(f"host array of {dst.nbytes} bytes is larger than the {src.nbytes}-byte device buffer")
        self._impl.dtoh_async(dst, src, stream)

    def record(self, event, stream) -> None:
        self._impl.record(event, stream)

    def wait(self, stream, event) -> None:
        """Make `stream` wait for `event` without blocking the host."""
        self._impl.wait(stream, event)

    def sync_event(self, event) -> None:
        self._impl.sync_event(event)

    def sync_stream(self, stream) -> None:
        self._impl.sync_stream(stream)

    def destroy(self, handle) -> None:
        """Release a stream or event."""
        self._impl.destroy(handle)

    def close(self) -> None:
        """Free what is still allocated and release the device; a second call does nothing."""
        if self._closed:
            return
        self._impl.close()  # may refuse (pycuda, wrong thread): a later close() in the right thread retries
        self._closed = True


def _load_impl(device: int):
    """The first binding that opens `device`. One that imports but fails (e.g. a cuda-python
    built for a newer driver than Jetson's) lets the next one try; its error is the answer
    when none opens the device."""
    reasons, refusal = [], None
    for loader in (_CudaPython.load, _PyCuda.load):
        try:
            return loader(device)
        except ImportError as exc:
            reasons.append(str(exc))
        except BackendUnavailableError as exc:
            refusal = refusal or exc
    if refusal is not None:
        raise refusal
    raise BackendUnavailableError(f"CUDA: no Python CUDA binding imports ({'; '.join(reasons)}); {INSTALL_HINT}")


def bindings_status() -> dict[str, str | None]:
    """Version of each CUDA binding that imports, None for those that do not."""
    status: dict[str, str | None] = {}
    for label, module in (("cuda-python", "cuda.bindings"), ("pycuda", "pycuda")):
        try:
            status[label] = getattr(importlib.import_module(module), "__version__", "unknown")
        except ImportError:
            status[label] = None
    if status["cuda-python"] is None:
        try:
            importlib.import_module("cuda.cudart")
            status["cuda-python"] = "legacy cuda.cudart"
        except ImportError:
            pass
    return status


def query_device(device: int = 0) -> tuple[DeviceInfo | None, str | None]:
    """(info, None) from a CUDA binding or nvidia-smi, else (None, why not); never raises."""
    try:
        with Cuda(device) as cuda:
            return cuda.device_info(), None
    except BackendUnavailableError as exc:
        binding_reason = str(exc)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None, f"{binding_reason}; nvidia-smi not found"
    try:
        out = subprocess.run(
            [smi, f"--id={device}", "--query-gpu=name,compute_cap,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.strip()
        name, cap, mem_mib = (field.strip() for field in out.splitlines()[0].split(","))
        major, minor = cap.split(".")
        return DeviceInfo(name, (int(major), int(minor)), int(mem_mib) << 20, "nvidia-smi"), None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return None, f"{binding_reason}; nvidia-smi failed ({exc})"


# --- cuda-python ------------------------------------------------------------------------------


# cudaError_t names that mean "no usable GPU here" rather than a bug in the call
NO_DEVICE_ERRORS = frozenset({"cudaErrorNoDevice", "cudaErrorInsufficientDriver", "cudaErrorInvalidDevice"})


def cuda_python_result(rt: ModuleType, result, what: str):
    """The value of a cuda-python runtime call: `(err,)`, `(err, value)` or `(err, v1, v2...)`
    -> None, value, or a tuple. A failure becomes one BackendUnavailableError line naming
    the call and CUDA's own text; with no usable GPU it says so first."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(err)
        message = text.decode() if isinstance(text, bytes) else str(err)
        name = getattr(err, "name", str(err))
        prefix = "no usable NVIDIA GPU: " if name in NO_DEVICE_ERRORS else ""
        raise BackendUnavailableError(f"CUDA: {prefix}{what} failed: {message} ({name})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


class _CudaPython:
    name = "cuda-python"

    def __init__(self, rt: ModuleType, device: int):
        self._rt = rt
        self._device = device
        self._pinned: dict[int, int] = {}  # id(array base) -> host pointer, freed on close
        self._device_ptrs: set[int] = set()  # freed on close if the owner did not
        if self._check(rt.cudaDriverGetVersion(), "cudaDriverGetVersion") == 0:
            raise BackendUnavailableError("CUDA: no usable NVIDIA GPU: no NVIDIA driver is installed (libcuda not found)")
        count = self._check(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
        if not 0 <= device < count:
            raise BackendUnavailableError(f"CUDA: device {device} does not exist (this machine has {count}: 0..{count - 1})")
        self._check(rt.cudaSetDevice(device), f"cudaSetDevice({device})")  # for this host thread

    @classmethod
    def load(cls, device: int) -> _CudaPython:
        try:
            rt = importlib.import_module("cuda.bindings.runtime")
        except ImportError:
            rt = importlib.import_module("cuda.cudart")  # cuda-python < 12.6
        return cls(rt, device)

    def _check(self, result, what: str):
        return cuda_python_result(self._rt, result, what)

    def device_info(self) -> DeviceInfo:
        prop = self._check(self._rt.cudaGetDeviceProperties(self._device), "cudaGetDeviceProperties")
        name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        return DeviceInfo(name, (prop.major, prop.minor), prop.totalGlobalMem, self.name)

    def pinned_empty(self, shape, dtype) -> np.ndarray:
        nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
        ptr = self._check(self._rt.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})")
        raw = (ctypes.c_byte * nbytes).from_address(int(ptr))
        self._pinned[id(raw)] = int(ptr)
        return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape))).reshape(shape)

    def device_alloc(self, nbytes: int) -> DeviceBuffer:
        ptr = int(self._check(self._rt.cudaMalloc(nbytes), f"cudaMalloc({nbytes})"))
        self._device_ptrs.add(ptr)
        return DeviceBuffer(ptr, nbytes)

    def device_free(self, buf: DeviceBuffer) -> None:
        self._device_ptrs.discard(buf.ptr)
        self._check(self._rt.cudaFree(buf.ptr), "cudaFree")

    def stream(self):
        return self._check(self._rt.cudaStreamCreateWithFlags(self._rt.cudaStreamNonBlocking), "cudaStreamCreate")

    def stream_handle(self, stream) -> int:
        return int(stream)

    def event(self):
        return self._check(self._rt.cudaEventCreateWithFlags(self._rt.cudaEventDisableTiming), "cudaEventCreate")

    def htod_async(self, dst: DeviceBuffer, src: np.ndarray, stream) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self._rt.cudaMemcpyAsync(dst.ptr, src.ctypes.data, src.nbytes, kind, stream), "cudaMemcpyAsync H2D")

    def dtoh_async(self, dst: np.ndarray, src: DeviceBuffer, stream) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self._rt.cudaMemcpyAsync(dst.ctypes.data, src.ptr, dst.nbytes, kind, stream), "cudaMemcpyAsync D2H")

    def record(self, event, stream) -> None:
        self._check(self._rt.cudaEventRecord(event, stream), "cudaEventRecord")

    def wait(self, stream, event) -> None:
        self._check(self._rt.cudaStreamWaitEvent(stream, event, 0), "cudaStreamWaitEvent")

    def sync_event(self, event) -> None:
        self._check(self._rt.cudaEventSynchronize(event), "cudaEventSynchronize")

    def sync_stream(self, stream) -> None:
        self._check(self._rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def destroy(self, handle) -> None:
        if isinstance(handle, self._rt.cudaStream_t):
            self._check(self._rt.cudaStreamDestroy(handle), "cudaStreamDestroy")
        else:
            self._check(self._rt.cudaEventDestroy(handle), "cudaEventDestroy")

    def close(self) -> None:
        """Frees pinned memory and leftover device buffers: arrays from `pinned_empty` are invalid afterwards."""
        for ptr in self._device_ptrs:
            self._rt.cudaFree(ptr)
        self._device_ptrs.clear()
        for ptr in self._pinned.values():
            self._rt.cudaFreeHost(ptr)
        self._pinned.clear()


# --- pycuda -----------------------------------------------------------------------------------


class _PyCuda:
    name = "pycuda"

    def __init__(self, driver: ModuleType, device: int):
        self._drv = driver
        self._allocs: dict[int, object] = {}  # pycuda frees on garbage collection: keep them alive
        try:
            driver.init()
            self._device = driver.Device(device)
            self._context = self._device.retain_primary_context()
            # Current in this thread only: TensorRT (runtime API) then works on device N here,
            # as cudaSetDevice does for cuda-python. Popped in close(), in this same thread.
            self._context.push()
        except driver.Error as exc:
            raise BackendUnavailableError(f"CUDA: pycuda cannot open device {device}: {exc}") from None
        self._thread = threading.get_ident()

    @classmethod
    def load(cls, device: int) -> _PyCuda:
        return cls(importlib.import_module("pycuda.driver"), device)

    def device_info(self) -> DeviceInfo:
        dev = self._device
        return DeviceInfo(dev.name(), tuple(dev.compute_capability()), dev.total_memory(), self.name)

    def pinned_empty(self, shape, dtype) -> np.ndarray:
        return self._drv.pagelocked_empty(shape, dtype)

    def device_alloc(self, nbytes: int) -> DeviceBuffer:
        alloc = self._drv.mem_alloc(nbytes)
        self._allocs[int(alloc)] = alloc
        return DeviceBuffer(int(alloc), nbytes)

    def device_free(self, buf: DeviceBuffer) -> None:
        self._allocs.pop(buf.ptr).free()

    def stream(self):
        return self._drv.Stream()

    def stream_handle(self, stream) -> int:
        return stream.handle

    def event(self):
        return self._drv.Event(self._drv.event_flags.DISABLE_TIMING)

    def htod_async(self, dst: DeviceBuffer, src: np.ndarray, stream) -> None:
        self._drv.memcpy_htod_async(dst.ptr, src, stream)

    def dtoh_async(self, dst: np.ndarray, src: DeviceBuffer, stream) -> None:
        self._drv.memcpy_dtoh_async(dst, src.ptr, stream)

    def record(self, event, stream) -> None:
        event.record(stream)

    def wait(self, stream, event) -> None:
        stream.wait_for_event(event)

    def sync_event(self, event) -> None:
        event.synchronize()

    def sync_stream(self, stream) -> None:
        stream.synchronize()

    def destroy(self, handle) -> None:
        """pycuda releases streams and events with their Python objects."""

    def close(self) -> None:
        for alloc in self._allocs.values():
            alloc.free()  # pycuda activates the allocation's own context for this
        self._allocs.clear()
        if threading.get_ident() != self._thread:
            raise RuntimeError("CUDA (pycuda): close() must run in the thread that opened the device (contexts are per thread)")
        self._context.pop()
