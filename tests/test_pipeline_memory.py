"""Bounded memory: the pipeline streams, so a 5x longer GIF must not raise the peak.

Measured as the peak resident set size (VmHWM) of a fresh process per run: it counts what
tracemalloc misses (ONNX Runtime's arenas, PyAV's codec buffers, numpy through any allocator).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import runtime_standins as standins

SIDE = 64
REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import sys
from pathlib import Path
from trt_gif2video.config import Backend
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions

gif, out, models = map(Path, sys.argv[1:4])
options = RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, queue_size=4,
                         session=SessionOptions(threads=1, models_dir=models))
result = restore(gif, out, options)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(result.frames_written, int(hwm.split()[1]) * 1024)
"""


def _long_gif(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        f = np.full((SIDE, SIDE, 3), (i * 37) % 250, np.uint8)
        f[i % SIDE] = 255  # every frame different
        f[:, :8] = rng.integers(0, 2, (SIDE, 8, 3), dtype=np.uint8) * 200  # and not all flat: LZW has work
        frames.append(f)
    return standins.write_gif(path, frames, [4] * n)


def _peak_rss(gif: Path, out: Path, models: Path) -> tuple[int, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", _CHILD, str(gif), str(out), str(models)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    frames, peak = map(int, run.stdout.split())
    return peak, frames


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from /proc")
def test_peak_rss_is_flat_in_gif_length(tmp_path):
    models = standins.write_models(tmp_path / "m")
    short_peak, short_n = _peak_rss(_long_gif(tmp_path / "s.gif", 120), tmp_path / "s.mp4", models)
    long_peak, long_n = _peak_rss(_long_gif(tmp_path / "l.gif", 600), tmp_path / "l.mp4", models)
    assert (short_n, long_n) == (240, 1200)
    frame_bytes = SIDE * SIDE * 3
    # Holding the long GIF's extra frames would take 480 x 12 KB decoded + 960 x 12 KB output = 17 MB
    # more than the short run; streaming keeps the peak within allocator noise of the short run's.
    held = (480 + 960) * frame_bytes
    print(f"peak RSS: 120 frames {short_peak / 2**20:.1f} MiB, 600 frames {long_peak / 2**20:.1f} MiB")
    assert long_peak - short_peak < held / 3, (short_peak, long_peak)
