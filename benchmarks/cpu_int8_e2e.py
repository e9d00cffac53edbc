"""End-to-end CPU INT8 vs FP32 on real GIFs: `restore` (--interp 2, plain dequantizer) with the shipped files.

    .venv/bin/python benchmarks/cpu_int8_e2e.py OUT_DIR [--reps 3] [--also-int8 MODELS_DIR] [GIF ...]

Default GIFs: the bundled sample (real footage, 256x192, 24 frames) and a 480-wide GIF made by
`make-gif` from the corpus video opencv-Megamind.avi (real footage; needs `data fetch`). Each rep
runs FP32 then INT8 in this process with fresh sessions (model loading included, as a user pays
it). Reported per run: wall seconds and CPU seconds of the process (all threads): on a shared
machine the CPU seconds are the steadier measure of work; the load average is recorded beside.
`--also-int8 DIR` also times the INT8 files of another models folder (e.g. the previous release's,
FP32 files beside them) in the same reps, so two INT8 recipes are compared under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trt_gif2video.config import Backend, DitherChoice, Precision
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions

SAMPLE = Path(__file__).resolve().parents[1] / "trt_gif2video" / "samples" / "sample.gif"
MEGAMIND = Path.home() / ".cache" / "trt-gif2video" / "corpus" / "videos" / "opencv-Megamind.avi"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_megamind_gif(dst: Path) -> Path:
    """The 480-wide real-footage GIF these benchmarks time: 1.6 s of opencv-Megamind.avi, 10 fps, 64 colours."""
    subprocess.run([sys.executable, "-c", "from trt_gif2video.cli import main; main()", "make-gif", str(MEGAMIND), "-o", str(dst),
                    "--max-size", "480", "--fps", "10", "--start", "2", "--duration", "1.6",
                    "--colors", "64"], check=True, capture_output=True)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("gifs", nargs="*", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--also-int8", type=Path, default=None, help="another models folder whose INT8 files to time too")
    args = ap.parse_args()
    variants = [("fp32", Precision.FP32, None), ("int8", Precision.INT8, None)]
    if args.also_int8:
        variants.append(("int8-also", Precision.INT8, args.also_int8))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        gifs = list(args.gifs)
        if not gifs:
            gifs = [SAMPLE]
            if MEGAMIND.is_file():
                gifs.append(make_megamind_gif(Path(tmp) / "megamind-480.gif"))
        runs = []
        load_before = os.getloadavg()
        for gif in gifs:
            for rep in range(args.reps):
                for label, precision, models_dir in variants:
                    options = RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, precision=precision,
                                             dither=DitherChoice.NO, session=SessionOptions(models_dir=models_dir))
                    cpu, wall = cpu_seconds(), time.perf_counter()
                    result = restore(gif, Path(tmp) / f"out-{precision.value}.mp4", options)
                    runs.append({"gif": gif.name, "rep": rep, "precision": label,
                                 "wall_s": time.perf_counter() - wall, "cpu_s": cpu_seconds() - cpu,
                                 "gif_frames": result.gif_frames, "frames_out": result.frames_written,
                                 "size": _size(gif), "load_1min": os.getloadavg()[0]})
                    print(json.dumps(runs[-1]), flush=True)
    load_after = os.getloadavg()
    lines = ["# CPU INT8 vs FP32, end to end on real GIFs", "",
             f"Command: `.venv/bin/python benchmarks/cpu_int8_e2e.py {args.out} --reps {args.reps}"
             + (f" --also-int8 {args.also_int8}" if args.also_int8 else "") + "`", "",
             f"- load average before {[round(x, 2) for x in load_before]}, after {[round(x, 2) for x in load_after]} "
             f"(1-minute load {min(r['load_1min'] for r in runs):.2f}-{max(r['load_1min'] for r in runs):.2f} during the runs)",
             "- `restore --interp 2 --dither no --backend onnxruntime`, default threads (each stage's session on its "
             "share of the CPUs since 2026-12-02), model loading included;",
             "  INT8 = the shipped `<stem>.int8-cpu.onnx` (uint8 activations, QLinearConv), FP32 = `<stem>.onnx`", "",
             "| GIF | size | frames in/out | FP32 wall s (median) | INT8 wall s | wall speed-up | FP32 CPU s | INT8 CPU s | "
             "CPU speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for gif in dict.fromkeys(r["gif"] for r in runs):
        med = {(p, k): statistics.median(r[k] for r in runs if r["gif"] == gif and r["precision"] == p)
               for p in ("fp32", "int8") for k in ("wall_s", "cpu_s")}
        r0 = next(r for r in runs if r["gif"] == gif)
        lines.append(f"| {gif} | {r0['size']} | {r0['gif_frames']}/{r0['frames_out']} | {med['fp32', 'wall_s']:.2f} | "
                     f"{med['int8', 'wall_s']:.2f} | {med['fp32', 'wall_s'] / med['int8', 'wall_s']:.2f}x | "
                     f"{med['fp32', 'cpu_s']:.2f} | {med['int8', 'cpu_s']:.2f} | "
                     f"{med['fp32', 'cpu_s'] / med['int8', 'cpu_s']:.2f}x |")
    if args.also_int8:
        lines += ["", f"INT8 files of `{args.also_int8}`, timed in the same reps:", "",
                  "| GIF | INT8 wall s | wall speed-up vs FP32 | INT8 CPU s | CPU speed-up |", "|---|---|---|---|---|"]
        for gif in dict.fromkeys(r["gif"] for r in runs):
            med = {(p, k): statistics.median(r[k] for r in runs if r["gif"] == gif and r["precision"] == p)
                   for p in ("fp32", "int8-also") for k in ("wall_s", "cpu_s")}
            lines.append(f"| {gif} | {med['int8-also', 'wall_s']:.2f} | {med['fp32', 'wall_s'] / med['int8-also', 'wall_s']:.2f}x | "
                         f"{med['int8-also', 'cpu_s']:.2f} | {med['fp32', 'cpu_s'] / med['int8-also', 'cpu_s']:.2f}x |")
    (args.out / "int8_e2e.md").write_text("\n".join(lines) + "\n")
    (args.out / "int8_e2e.json").write_text(json.dumps({"load_before": load_before, "load_after": load_after,
                                                        "runs": runs}, indent=2) + "\n")
    print("\n".join(lines))


def _size(gif: Path) -> str:
    from trt_gif2video.io.gif_decode import open_gif

    with open_gif(gif) as reader:
        return f"{reader.info.width}x{reader.info.height}"


if __name__ == "__main__":
    main()
