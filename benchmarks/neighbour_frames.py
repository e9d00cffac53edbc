"""Neighbouring frames for dithered GIFs (issue 10 item 4): does a temporal filter over the
restored neighbours help, on the validation clips?

    .venv/bin/python benchmarks/neighbour_frames.py OUT_DIR [--frames 24] [--stride 3] [--colors 32]

A dither pattern changes from frame to frame while the scene mostly does not, so where a
neighbour's restoration agrees with this frame's, averaging them cancels dither residue. Each
validation clip (cup, tree: real footage, never trained on; 320x224 like `eval`) is sampled every
`--stride` video frames (a 10 fps GIF of 30 fps footage), each frame made a GIF frame with its own
median-cut palette and Floyd-Steinberg / ordered dither (and no dither as a control), restored
by the shipped dequantizer matching the dither setting (ONNX Runtime FP32), then filtered over
frames t-1, t, t+1 by `stages.temporal.temporal_filter` (what `restore --temporal SIGMA` runs): per-pixel
weights exp(-d^2 / 2 sigma^2), d = the 3x3-box-blurred RMS difference between the neighbour's and
this frame's restoration (the frame itself has weight 1). PSNR against the clean frames, mean
over frames. Sigma was chosen on these same clips, so the best column is optimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from trt_gif2video.config import Backend, Dither, Quantizer
from trt_gif2video.eval.harness import EvalConfig, load_validation
from trt_gif2video.eval.metrics import psnr
from trt_gif2video.eval.runners import SessionRunners
from trt_gif2video.palette import pad_palette
from trt_gif2video.quantize import quantize_rgb
from trt_gif2video.runtime.backends.base import SessionOptions
from trt_gif2video.stages.temporal import temporal_filter

SIGMAS = (4.0, 8.0, 16.0, 32.0)


def temporal(frames: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    """The restore stage itself (`stages.temporal.temporal_filter`) over a clip's restored frames."""
    return [out for _, out in temporal_filter(enumerate(frames), sigma)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=24, help="GIF frames per clip")
    ap.add_argument("--stride", type=int, default=3, help="video frames between GIF frames")
    ap.add_argument("--colors", type=int, default=32)
    ap.add_argument("--models", type=Path, default=None, help="folder of <stem>.onnx (default: shipped)")
    args = ap.parse_args()
    t0 = time.monotonic()
    load = os.getloadavg()
    cfg = EvalConfig(crops_per_photo=1, max_intervals_per_clip=(args.frames * args.stride) // 4 + 1, factors=(4,))
    _, clips, names = load_validation(cfg)
    rows: dict[str, dict[str, float]] = {}
    opts = {} if args.models is None else {"models_dir": args.models}
    with SessionRunners(Backend.ONNXRUNTIME, options=SessionOptions(threads=1, **opts)) as runners:
        for dither in (Dither.NONE, Dither.FLOYD_STEINBERG, Dither.ORDERED):
            scores: dict[str, list[float]] = {}
            for clip in clips:
                truth = clip[:: args.stride][: args.frames]
                gifs, pals = zip(*(quantize_rgb(f, args.colors, Quantizer.MEDIAN_CUT, dither) for f in truth))
                gif = np.stack(gifs)
                pal = np.stack([pad_palette(p) for p in pals])
                ours = [runners.dequant(gif[i : i + 1], pal[i : i + 1], dither is not Dither.NONE)[0]
                        for i in range(len(gif))]
                methods = {"gif": list(gif), "ours": ours}
                methods.update({f"ours+temporal(sigma={s:g})": temporal(ours, s) for s in SIGMAS})
                methods["gif+temporal(sigma=16)"] = temporal(list(gif), 16.0)
                for name, pred in methods.items():
                    scores.setdefault(name, []).extend(psnr(p, t) for p, t in zip(pred, truth))
            rows[dither.value] = {k: float(np.mean(v)) for k, v in scores.items()}
            print(dither.value, json.dumps({k: round(v, 3) for k, v in rows[dither.value].items()}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": "python benchmarks/neighbour_frames.py " + " ".join(
                  f"{a}" for a in [str(args.out), "--frames", args.frames, "--stride", args.stride, "--colors", args.colors]),
              "videos": names["videos"], "frames_per_clip": args.frames, "stride": args.stride, "colors": args.colors,
              "load_before": load, "load_after": os.getloadavg(), "seconds": time.monotonic() - t0, "psnr": rows}
    (args.out / "neighbour_frames.json").write_text(json.dumps(report, indent=2))
    methods = list(next(iter(rows.values())))
    lines = ["# Neighbouring frames for dithered GIFs (`restore --temporal SIGMA`)", "", f"Command: `{report['command']}`", "",
             f"Validation clips {', '.join(names['videos'])}, {args.frames} GIF frames each (one per {args.stride} "
             f"video frames, 320x224), {args.colors} colours, median cut; PSNR dB, mean over frames. "
             f"Load {load[0]:.1f} -> {report['load_after'][0]:.1f}.", "",
             "| dither | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for d, r in rows.items():
        lines.append(f"| {d} | " + " | ".join(f"{r[m]:.2f}" for m in methods) + " |")
    (args.out / "neighbour_frames.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
