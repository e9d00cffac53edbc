"""The device's FP32 matrix-product peak, measured: the physical limit the networks are compared with.

On the CPU two engines are timed and the faster counts: ONNX Runtime's MatMul (MLAS, the
GEMM kernels its convolutions use) and numpy's BLAS. On a GPU, torch's CUDA matmul with TF32
off (FP32 arithmetic, like the FP32 networks). Best of several runs: a peak is a best case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import BackendUnavailableError


@dataclass(frozen=True)
class Peak:
    device: str  # "cpu" | "cuda:0"
    gflops: float  # the best engine's GFLOP/s
    by_engine: dict[str, float]  # engine -> GFLOP/s
    size: int  # square matrix side
    threads: int  # CPU threads used (0 = engine default)


def _best_seconds(fn, reps: int) -> float:
    fn()  # warm-up: thread pools, page faults, packing buffers
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _matmul_model(size: int):
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", [a, b], [c])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def onnxruntime_matmul_gflops(size: int, threads: int = 0, reps: int = 5) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(_matmul_model(size).SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((size, size), dtype=np.float32) for n in ("a", "b")}
    return 2 * size**3 / _best_seconds(lambda: sess.run(None, feeds), reps) / 1e9


def numpy_matmul_gflops(size: int, reps: int = 5) -> float:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    return 2 * size**3 / _best_seconds(lambda: np.matmul(a, b, out=out), reps) / 1e9


def cuda_matmul_gflops(size: int, device: int = 0, reps: int = 10) -> float:
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError("bench: the GPU peak is measured with torch; install torch with CUDA") from None
    if not torch.cuda.is_available():
        raise BackendUnavailableError("bench: torch sees no CUDA device; the GPU peak needs one")
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # FP32 arithmetic, as the FP32 networks
    try:
        a, b = (torch.randn(size, size, device=f"cuda:{device}") for _ in range(2))

        def run() -> None:
            torch.matmul(a, b)
            torch.cuda.synchronize(device)

        return 2 * size**3 / _best_seconds(run, reps) / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_tf32


def measure_cpu_peak(size: int = 2048, threads: int = 0, reps: int = 5) -> Peak:
    engines = {"onnxruntime MatMul": onnxruntime_matmul_gflops(size, threads, reps),
               "numpy matmul": numpy_matmul_gflops(size, reps)}
    return Peak("cpu", max(engines.values()), engines, size, threads)


def measure_cuda_peak(size: int = 8192, device: int = 0) -> Peak:
    gflops = cuda_matmul_gflops(size, device)
    return Peak(f"cuda:{device}", gflops, {"torch matmul (TF32 off)": gflops}, size, 0)
