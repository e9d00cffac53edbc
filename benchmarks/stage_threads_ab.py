"""Threads per stage, A/B: `restore --interp 2` with each session on every CPU (ONNX Runtime's default,
the pipeline's dequantize and interpolate sessions then oversubscribe the cores 2x) against each on its
share (`runtime.backends.base.stage_options`, the default since 2026-12-02), FP32 and CPU INT8, interleaved.

    .venv/bin/python benchmarks/stage_threads_ab.py OUT_DIR [--reps 3]

GIFs as in cpu_int8_e2e.py: the bundled sample and a 480-wide GIF made from the corpus video
opencv-Megamind.avi (needs `data fetch`). Model loading included; wall and process CPU seconds, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from trt_gif2video.config import Backend, DitherChoice, Precision
from trt_gif2video.cpuinfo import isa_summary
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions, usable_cpus

from cpu_int8_e2e import SAMPLE, cpu_seconds, make_megamind_gif


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cpus = usable_cpus()
    modes = {"every CPU per session": cpus, "shared (default)": 0}
    runs = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        made = make_megamind_gif(Path(tmp) / "megamind-480.gif")
        for rep in range(args.reps):
            for gif in (SAMPLE, made):
                for precision in (Precision.FP32, Precision.INT8):
                    for mode, threads in modes.items():
                        options = RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, precision=precision,
                                                 dither=DitherChoice.NO, session=SessionOptions(threads=threads))
                        cpu, wall = cpu_seconds(), time.perf_counter()
                        restore(gif, Path(tmp) / "out.mp4", options)
                        runs.append({"gif": gif.name, "precision": precision.value, "mode": mode, "rep": rep,
                                     "wall_s": time.perf_counter() - wall, "cpu_s": cpu_seconds() - cpu})
                        print(json.dumps(runs[-1]), flush=True)
    load_after = os.getloadavg()
    lines = ["# Threads per stage: every CPU per session vs the CPUs shared between the two stages", "",
             f"Command: `.venv/bin/python benchmarks/stage_threads_ab.py {args.out} --reps {args.reps}`", "",
             f"- {isa_summary()}, {cpus} usable CPUs; load average before {[round(x, 2) for x in load_before]}, "
             f"after {[round(x, 2) for x in load_after]}",
             "- `restore --interp 2 --dither no --backend onnxruntime`, model loading included; medians of the reps", "",
             "| GIF | precision | every CPU per session: wall s / CPU s | shared: wall s / CPU s | wall speed-up |",
             "|---|---|---|---|---|"]
    for gif in dict.fromkeys(r["gif"] for r in runs):
        for precision in ("fp32", "int8"):
            med = {(m, k): statistics.median(r[k] for r in runs if (r["gif"], r["precision"], r["mode"]) == (gif, precision, m))
                   for m in modes for k in ("wall_s", "cpu_s")}
            a, b = list(modes)
            lines.append(f"| {gif} | {precision} | {med[a, 'wall_s']:.2f} / {med[a, 'cpu_s']:.2f} | "
                         f"{med[b, 'wall_s']:.2f} / {med[b, 'cpu_s']:.2f} | {med[a, 'wall_s'] / med[b, 'wall_s']:.2f}x |")
    (args.out / "threads.md").write_text("\n".join(lines) + "\n")
    (args.out / "threads.json").write_text(json.dumps({"load_before": load_before, "load_after": load_after, "runs": runs},
                                                      indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
