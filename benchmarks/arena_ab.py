"""ONNX Runtime's shared CPU arena on or off: `restore` wall time, CPU time and peak RSS, interleaved.

    .venv/bin/python benchmarks/arena_ab.py OUT_DIR [--reps 3]

The GIF is the conformance issue's size, 640x272: 2 s of the corpus video opencv-Megamind.avi
(real footage; `data fetch`), cropped to 2.35:1 and scaled (ffmpeg), made a 10 fps GIF by
`make-gif`. Each rep runs `restore GIF -o out.mp4 -y` (default threads) once with the arena
(`runtime/backends/onnxruntime.py` `_shared_cpu_arena`, the default) and once without it, each
in a fresh process under `/usr/bin/time`; the load average is recorded beside.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MEGAMIND = Path.home() / ".cache" / "trt-gif2video" / "corpus" / "videos" / "opencv-Megamind.avi"
# The child: the CLI, with the arena switched off when asked (the product has no switch for it).
_CHILD = r"""
import sys
import trt_gif2video.runtime.backends.onnxruntime as o
if sys.argv[1] == "off":
    o._shared_cpu_arena = lambda: False
from trt_gif2video.cli import main
sys.argv = ["trt-gif2video"] + sys.argv[2:]
main()
"""


def _run(mode: str, gif: Path, out: Path) -> dict:
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", sys.executable, "-c", _CHILD, mode, "restore", str(gif),
           "-o", str(out), "-y", "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall, user, sys_, rss_kib = res.stderr.strip().splitlines()[-1].split()
    return {"arena": mode, "wall_s": float(wall), "cpu_s": float(user) + float(sys_), "peak_rss_mib": int(rss_kib) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip, gif = Path(tmp) / "m640.mp4", Path(tmp) / "m640.gif"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEGAMIND), "-t", "2", "-vf",
                        "crop=720:306,scale=640:272", "-an", str(clip)], check=True)
        subprocess.run([sys.executable, "-m", "trt_gif2video", "make-gif", str(clip), "-o", str(gif), "--fps", "10",
                        "-y", "-q"], check=True)
        load = os.getloadavg()
        runs = [_run(mode, gif, Path(tmp) / "out.mp4") for _ in range(args.reps) for mode in ("on", "off")]
        load_after = os.getloadavg()
    med = {m: {k: statistics.median(r[k] for r in runs if r["arena"] == m) for k in ("wall_s", "cpu_s", "peak_rss_mib")}
           for m in ("on", "off")}
    report = {"command": f"python benchmarks/arena_ab.py {args.out} --reps {args.reps}", "gif": "640x272, 21 frames",
              "load_before": load, "load_after": load_after, "runs": runs, "median": med}
    (args.out / "arena_ab.json").write_text(json.dumps(report, indent=2))
    lines = ["# ONNX Runtime shared CPU arena on / off: `restore` of a 640x272 GIF", "",
             f"Command: `{report['command']}`; load {load[0]:.1f} -> {load_after[0]:.1f}; medians of {args.reps} "
             "interleaved reps, fresh process each", "",
             "| arena | wall s | CPU s | peak RSS MiB |", "|---|---|---|---|"]
    lines += [f"| {m} | {v['wall_s']:.2f} | {v['cpu_s']:.2f} | {v['peak_rss_mib']:.0f} |" for m, v in med.items()]
    (args.out / "arena_ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
