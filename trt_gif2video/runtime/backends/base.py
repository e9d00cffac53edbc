"""One session interface over ONNX Runtime, TensorRT and torch, and the factory that picks one.

`Session.infer()` checks the feeds against the model's declared inputs (names, dtypes,
ranks, fixed and shared symbolic dims) and only then calls the backend's `_infer_impl`,
so every backend gets the same clear errors. Backends are imported lazily: importing this
module never pulls in torch, tensorrt or onnxruntime.
"""

from __future__ import annotations

import importlib.util
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Union

import numpy as np

from ...config import Backend, Precision
from ...errors import BackendUnavailableError, BadArgumentError, Gif2VideoError, InferenceError, ModelError
from ...models import STRIDE, Network, Variant

Dim = Union[int, str, None]  # fixed size, named symbolic dim, or unknown


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[Dim, ...]

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} {np.dtype(self.dtype).name}[{dims}]"


@dataclass(frozen=True)
class SessionOptions:
    """Backend-independent knobs; each backend uses those that apply to it."""

    threads: int = 0  # CPU intra-op threads; 0 = backend default
    device: int = 0  # CUDA device index
    cuda_graphs: bool = False  # torch backend: capture and replay per input shape
    models_dir: Path | None = None  # None = models.weights_dir()
    extra: Mapping[str, str] = field(default_factory=dict)  # backend-specific, e.g. TensorRT cache dir


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def stage_options(options: SessionOptions, stages: int) -> SessionOptions:
    """`options` for one of `stages` networks that run at the same time (the pipeline's dequantize and
    interpolate threads): with threads left to the backend, each gets its share of the CPUs instead
    of ONNX Runtime's default of every core per session, which oversubscribes the cores 2x. On the
    2-core VM (benchmarks/results/cpu-vnni-20261202/threads.md) one thread per stage made
    `restore --interp 2` take 7-12 % fewer CPU seconds (wall time: INT8 5-6 % lower in one 3-rep run, within
    noise in a rerun; FP32 within 2 %).
    Explicit threads are kept. `bench --stream` keeps every CPU per session: a GIF played in real time
    leaves the cores idle between frames, and there two threads per call cut the latency (256x256 INT8:
    p50 152 ms, 1 late frame, against 183 ms and 33 late with one thread per stage)."""
    if options.threads or stages <= 1:
        return options
    return replace(options, threads=max(1, usable_cpus() // stages))


@dataclass(frozen=True)
class ShapeLimits:
    """What one call accepts for the [N,H,W,3] image inputs (a TensorRT profile); default: anything.

    The stages honour it: they split batches above `max_batch`, pad frames up to `min_hw`
    and tile frames larger than `max_hw`."""

    max_batch: int | None = None
    min_hw: tuple[int, int] = (1, 1)
    max_hw: tuple[int, int] | None = None


def _shapes(feeds: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in feeds.items())


class Session(ABC):
    """A loaded network. Use as a context manager; `infer` is safe to call from one thread."""

    backend: Backend

    def __init__(
        self,
        label: str,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.label = label
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.metadata = dict(metadata or {})

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.outputs)

    @property
    def stride(self) -> int | None:
        value = self.metadata.get("stride")
        return int(value) if value else None

    @property
    def description(self) -> str:
        """One line naming the backend and where it runs, for logs and `restore` output."""
        return self.backend.value

    @property
    def limits(self) -> ShapeLimits:
        """Shapes one `infer` accepts; backends with fixed profiles (TensorRT) override this."""
        return ShapeLimits()

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        checked = self._validate(feeds)
        try:
            out = self._infer_impl(checked)
        except Gif2VideoError:
            raise
        except MemoryError:
            raise InferenceError(f"{self.label}: out of memory on input {_shapes(checked)}: "
                                 "lower --memory-budget or use --tile") from None
        except Exception as exc:  # backends raise their own untyped errors (ORT's Fail, RuntimeException...)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InferenceError(f"{self.label}: inference failed on input {_shapes(checked)}: {first[:300]}") from None
        missing = [n for n in self.output_names if n not in out]
        if missing:
            raise ModelError(f"{self.label}: backend returned no output {missing}")
        return out

    def _validate(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        expected = set(self.input_names)
        if set(feeds) != expected:
            raise BadArgumentError(
                f"{self.label}: inputs must be exactly {sorted(expected)}, got {sorted(feeds)}"
            )
        symbols: dict[str, tuple[int, str]] = {}
        checked = {}
        for spec in self.inputs:
            arr = np.asarray(feeds[spec.name])
            if arr.dtype != spec.dtype:
                raise BadArgumentError(f"{self.label}: input {spec.describe()} got dtype {arr.dtype.name}")
            if arr.ndim != len(spec.shape):
                raise BadArgumentError(f"{self.label}: input {spec.describe()} got rank {arr.ndim} {arr.shape}")
            for axis, (dim, size) in enumerate(zip(spec.shape, arr.shape)):
                if isinstance(dim, int) and dim != size:
                    raise BadArgumentError(f"{self.label}: input {spec.describe()} got shape {arr.shape}")
                if isinstance(dim, str):
                    seen = symbols.setdefault(dim, (size, spec.name))
                    if seen[0] != size:
                        raise BadArgumentError(
                            f"{self.label}: dim '{dim}' is {seen[0]} in {seen[1]} but {size} in {spec.name} (axis {axis})"
                        )
            checked[spec.name] = np.ascontiguousarray(arr)
        return checked

    @abstractmethod
    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network on validated, C-contiguous feeds."""

    def cancel(self) -> None:
        """Ask a running `infer` (in another thread) to stop soon, where the backend can; default: no-op."""

    def close(self) -> None:
        """Release backend resources (default: nothing to release)."""

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _has_nvidia_device() -> bool:
    """Cheap check before importing heavy GPU stacks: a desktop/server driver or Jetson's."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvhost-ctrl", "/dev/nvgpu"))


def _tensorrt_usable(device: int) -> bool:
    """TensorRT imports and is a supported version, and a CUDA binding opens the GPU."""
    if not _has_nvidia_device():
        return False
    from ...engine.compat import tensorrt_status
    from ..cuda import Cuda

    if tensorrt_status()[1] is not None:
        return False
    try:
        with Cuda(device):
            return True
    except BackendUnavailableError:
        return False


def _torch_cuda_usable() -> bool:
    if not _has_nvidia_device() or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(backend: Backend, device: int = 0) -> tuple[Backend, str]:
    """The concrete backend for `backend` and why it was chosen (AUTO picks the fastest usable)."""
    backend = Backend(backend)
    if backend is not Backend.AUTO:
        return backend, "requested"
    if _tensorrt_usable(device):
        return Backend.TENSORRT, "auto: TensorRT and an NVIDIA GPU found"
    if _torch_cuda_usable():
        return Backend.TORCH, "auto: no TensorRT; torch with CUDA found"
    return Backend.ONNXRUNTIME, "auto: no NVIDIA GPU stack found; ONNX Runtime"


def open_session(
    network: Network,
    backend: Backend = Backend.AUTO,
    precision: Precision = Precision.FP32,
    *,
    variant: Variant | None = None,
    options: SessionOptions = SessionOptions(),
) -> Session:
    """Load `network` (/`variant`) on `backend` at `precision`. Raises BackendUnavailableError
    with one line when the backend cannot run here, ModelError when the model file is missing."""
    network, precision = Network(network), Precision(precision)
    chosen, _ = resolve_backend(backend, options.device)
    if chosen is Backend.ONNXRUNTIME:
        from .onnxruntime import open_onnxruntime

        return open_onnxruntime(network, variant, precision, options)
    if chosen is Backend.TORCH:
        from .torch_backend import open_torch

        return open_torch(network, variant, precision, options)
    if chosen is Backend.TRITON:
        from .triton import open_triton

        return open_triton(network, variant, precision, options)
    return _open_tensorrt(network, variant, precision, options)


def _open_tensorrt(network: Network, variant: Variant | None, precision: Precision, options: SessionOptions) -> Session:
    # The TensorRT module may import `tensorrt` at module level or on first use: map both.
    try:
        from . import tensorrt as trt_backend

        return trt_backend.open_tensorrt(network, variant, precision, options)
    except (ImportError, OSError) as exc:
        raise BackendUnavailableError(
            f"tensorrt backend: TensorRT cannot be loaded ({exc}); install the 'gpu' extra on a CUDA machine or use --backend onnxruntime"
        ) from None


def default_stride(session: Session, network: Network) -> int:
    """The stride the model declares in its metadata, else the contract's value for the network."""
    return session.stride or STRIDE[Network(network)]
