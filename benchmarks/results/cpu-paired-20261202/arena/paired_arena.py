"""The paired share of peak with ONNX Runtime's CPU arena on (a diagnostic, not the shipped setting).

The onnxruntime backend turns the arena off (memory follows budget.py's plan) and pins glibc's
mmap threshold, so every call faults its activations in afresh (~18k minor faults per 480x270
call, ab_mem.txt). This runs bench/paired.py unchanged except for those two settings, with the
options of the main run (12 rounds, 480x270, threads 0, peak 2048^2 best of 2, 0.2 s pause).
Usage, from the repository root: PYTHONPATH=. python benchmarks/results/cpu-paired-20261202/arena/paired_arena.py
"""

import sys
from pathlib import Path

import onnxruntime as ort

import trt_gif2video.runtime.backends.onnxruntime as backend
from trt_gif2video.bench import paired
from trt_gif2video.bench.run import Size


class ArenaOptions(ort.SessionOptions):
    def __setattr__(self, key, value):
        super().__setattr__(key, True if key == "enable_cpu_mem_arena" else value)


ort.SessionOptions = ArenaOptions
backend._fix_mmap_threshold = lambda: None  # glibc's default, dynamic threshold

weights = Path("trt_gif2video/weights")
config = paired.PairedConfig((weights / "dequant_nodither.onnx", weights / "interp.onnx"), Size(480, 270), rounds=12)
meta, results = paired.run(config, notify=lambda m: print(m, file=sys.stderr, flush=True))
meta["command"] = f"PYTHONPATH=. python {sys.argv[0]}"
meta["note"] = "ONNX Runtime CPU arena ON, glibc mmap threshold not pinned (not the shipped backend)"
print(paired.write(meta, results, Path(__file__).parent).read_text(), end="")
