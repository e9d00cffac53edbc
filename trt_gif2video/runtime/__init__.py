"""Inference without torch: sessions per backend (`backends`) and the CUDA adapter (`cuda`).

`environment_info()` answers `trt-gif2video info`: what is installed and which
backends can run here. It imports each optional stack inside a guard and never raises.
"""

from __future__ import annotations

import importlib
import platform


def _version(module: str) -> tuple[object | None, str | None]:
    """(module, None) or (None, why it does not import)."""
    try:
        return importlib.import_module(module), None
    except (ImportError, OSError) as exc:
        return None, f"not importable: {exc}"


def environment_info() -> dict:
    """Versions, the CUDA device and the usable backends, as JSON-ready data."""
    from ..engine import compat
    from .cuda import bindings_status, query_device

    info: dict = {"python": platform.python_version()}
    numpy, _ = _version("numpy")
    info["numpy"] = numpy.__version__ if numpy else None
    ort, ort_why = _version("onnxruntime")
    info["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()} if ort else {"error": ort_why}
    av, av_why = _version("av")
    info["pyav"] = av.__version__ if av else av_why
    torch, torch_why = _version("torch")
    info["torch"] = {"version": torch.__version__, "cuda": bool(torch.cuda.is_available())} if torch else {"error": torch_why}
    trt_version, trt_why = compat.tensorrt_status()
    info["tensorrt"] = {"version": trt_version, "error": trt_why}
    bindings = bindings_status()
    info["cuda_bindings"] = bindings
    device, device_why = query_device()
    info["cuda_device"] = (
        {"name": device.name, "compute_capability": ".".join(map(str, device.compute_capability)),
         "memory_gib": round(device.total_memory_bytes / 2**30, 1), "source": device.source}
        if device else {"error": device_why}
    )
    info["backends"] = {
        "onnxruntime": ort is not None,
        "tensorrt": trt_why is None and device is not None and any(bindings.values()),
        "torch": torch is not None,
        "torch-cuda": torch is not None and info["torch"]["cuda"],
    }
    return info
