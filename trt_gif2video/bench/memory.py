"""Peak memory: host RSS from /proc (no psutil), device memory through torch when it has CUDA."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(key: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None  # not Linux
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def peak_rss_bytes() -> int | None:
    """The process's resident-set high-water mark (VmHWM), None where /proc is missing."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, `5` > clear_refs), so each measured
    configuration gets its own peak; False where the kernel refuses (the peak is then cumulative)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class DeviceMemory:
    """Peak CUDA memory allocated through torch's allocator (torch backend), when torch has CUDA.

    TensorRT and ONNX Runtime allocate outside torch: for them the device peak is not reported.
    """

    def __init__(self, device: int = 0) -> None:
        self.device = device
        self._torch = None
        if importlib.util.find_spec("torch") is not None and Path("/dev/nvidiactl").exists():
            import torch

            if torch.cuda.is_available():
                self._torch = torch

    @property
    def available(self) -> bool:
        return self._torch is not None

    def reset(self) -> None:
        if self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats(self.device)

    def peak_bytes(self) -> int | None:
        if self._torch is None:
            return None
        return int(self._torch.cuda.max_memory_allocated(self.device))
