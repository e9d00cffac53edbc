"""ONNX Runtime sessions: the default backend (CPU), with CUDA/TensorRT execution providers
when onnxruntime-gpu is installed and an NVIDIA GPU is present."""

from __future__ import annotations

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
def _shared_cpu_arena() -> bool:
    """One CPU memory arena for every session of the process, grown by exactly what is asked.

    ONNX Runtime's default per-session arena grows in powers of two, so a session could hold up to
    twice its peak for good; with no arena at all every call faults in fresh pages (a 480x270
    dequantizer call: 47-75 k minor faults against 12 k, 15-27 % slower) and glibc's moving mmap
    threshold made identical restores peak 141 or 190 MiB at random. A shared arena with
    kSameAsRequested keeps the speed, holds the largest set of buffers the two concurrent networks
    used at once (what budget.py's network rows measure), and stays flat over a GIF's length.
    Returns False where the allocator cannot be registered (then sessions run without an arena)."""
    import onnxruntime as ort

    try:
        cfg = ort.OrtArenaCfg(0, 1, -1, -1)  # max_mem default, extend strategy 1 = kSameAsRequested
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, cfg)
        return True
    except Exception:  # an older ONNX Runtime without these bindings: no arena, correct but slower
        return False


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
        # The process-wide arena, not a per-session one (see _shared_cpu_arena).
        if _shared_cpu_arena():
            so.add_session_config_entry("session.use_env_allocators", "1")
        else:
            so.enable_cpu_mem_arena = False
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
        threads = f", {self._threads} thread{'s' if self._threads > 1 else ''}" if self._threads else ""
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
