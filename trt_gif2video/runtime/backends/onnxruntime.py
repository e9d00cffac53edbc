"""ONNX Runtime sessions: the default backend (CPU), with CUDA/TensorRT execution providers
when onnxruntime-gpu is installed and an NVIDIA GPU is present."""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np

from ...config import Backend, Precision
from ...errors import ModelError
from ...models import Network, Variant
from .base import Session, SessionOptions, TensorSpec, _has_nvidia_device

# ONNX Runtime reports element types as strings.
_ORT_DTYPES = {
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


@functools.lru_cache(maxsize=1)
def _fix_mmap_threshold() -> None:
    """Pin glibc's mmap threshold at 1 MiB (M_MMAP_THRESHOLD), once per process.

    Without its arena, ONNX Runtime allocates each call's activations afresh. glibc raises its
    threshold after every large free (up to 32 MiB), so later buffers come from the heap, whose
    high-water mark stays: identical restores then peaked 141 or 190 MiB at random
    (tests/test_pipeline_memory.py). A fixed threshold maps every big buffer and unmaps it on free:
    three runs then peaked 140.2-140.9 / 141.0-141.4 MiB (120 / 600 frames). Cost: fresh pages are
    faulted in per call (+55 % minor faults, 0-6 % more CPU per 480x270 dequantizer call in two
    interleaved pairs, within this shared machine's noise)."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # -3 = M_MMAP_THRESHOLD (malloc.h)
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to pin
        pass


def _spec(arg) -> TensorSpec:
    if arg.type not in _ORT_DTYPES:
        raise ModelError(f"onnxruntime: tensor '{arg.name}' has unsupported type {arg.type}")
    shape = tuple(d if isinstance(d, (int, str)) else None for d in arg.shape)
    return TensorSpec(arg.name, np.dtype(_ORT_DTYPES[arg.type]), shape)


def _providers(options: SessionOptions) -> list:
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen: list = []
    if _has_nvidia_device():
        if "TensorrtExecutionProvider" in available and options.extra.get("ort_tensorrt_cache"):
            chosen.append(
                (
                    "TensorrtExecutionProvider",
                    {
                        "device_id": options.device,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": options.extra["ort_tensorrt_cache"],
                    },
                )
            )
        if "CUDAExecutionProvider" in available:
            chosen.append(("CUDAExecutionProvider", {"device_id": options.device}))
    chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRuntimeSession(Session):
    backend = Backend.ONNXRUNTIME

    def __init__(self, path: Path, options: SessionOptions = SessionOptions()) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.intra_op_num_threads = max(0, options.threads)
        so.inter_op_num_threads = 1
        # The pipeline runs two sessions at once (dequantize, interpolate): spinning idle
        # workers would steal the cores the other stage is computing on.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        # No CPU arena: it keeps each session's peak (rounded up to a power of two) for good, so
        # memory would follow the largest call ever made, not the memory budget's plan (budget.py).
        so.enable_cpu_mem_arena = False
        _fix_mmap_threshold()
        try:
            self._sess = ort.InferenceSession(str(path), sess_options=so, providers=_providers(options))
        except Exception as exc:  # ORT raises its own untyped errors (Fail, InvalidGraph, NoSuchFile...)
            raise ModelError(f"{path}: ONNX Runtime cannot load this model ({str(exc).splitlines()[0]})") from None
        meta = self._sess.get_modelmeta().custom_metadata_map
        super().__init__(
            label=path.name,
            inputs=tuple(_spec(a) for a in self._sess.get_inputs()),
            outputs=tuple(_spec(a) for a in self._sess.get_outputs()),
            metadata=meta,
        )
        self._threads = so.intra_op_num_threads
        self._run_options = ort.RunOptions()  # terminate=True from another thread stops a running call
        self.path = Path(path)  # the file that runs (bench profiles and counts this one)

    @property
    def providers(self) -> list[str]:
        return list(self._sess.get_providers())

    @property
    def description(self) -> str:
        threads = f", {self._threads} threads" if self._threads else ""
        return f"onnxruntime ({self.providers[0]}{threads})"

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self._sess.run(list(self.output_names), feeds, run_options=self._run_options)
        return dict(zip(self.output_names, values))

    def cancel(self) -> None:
        self._run_options.terminate = True


def open_onnxruntime(
    network: Network, variant: Variant | None, precision: Precision, options: SessionOptions
) -> OnnxRuntimeSession:
    from ...derived import model_file

    # INT8: the CPU provider runs the uint8-activation file its integer kernels take; GPU providers the Q/DQ one
    gpu = any((p[0] if isinstance(p, tuple) else p) != "CPUExecutionProvider" for p in _providers(options))
    path = model_file(network, variant, precision, cpu=not gpu, models_dir=options.models_dir)
    return OnnxRuntimeSession(path, options)
