"""`trt-gif2video eval`: restoration quality on the validation split, beside baselines.

Every number in the model card comes from `run_eval` on data it names:
- dequantization: validation photos (whole photos the training never saw), downscaled to
  GIF-like size, fixed 256x256 crops; GIFs made per crop with median cut at 32 and 256
  colours, without dither and with Floyd-Steinberg. Methods: the raw GIF, ffmpeg deband,
  ffmpeg gradfun, ours (weights picked by the true dither flag, and by the detector).
- real: the same crops made into 32-colour GIFs by ffmpeg, ImageMagick and gifski
  (`eval.real`, `eval.encoders`; encoded frames cached in the user cache).
- interpolation: validation clips, frames downscaled/cropped to 320x224; every `factor`-th
  frame becomes a 32-colour GIF frame (no dither); all frames of each interval are
  scored (the key frame and the factor-1 in between). Methods: nearest GIF frame, linear
  blend, ffmpeg minterpolate, ours (dequantize the key frames, then interpolate).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np
from PIL import Image

from ..config import Dither, Quantizer
from ..palette import pad_palette
from ..quantize import quantize_rgb
from . import baselines
from .metrics import psnr, ssim

VIDEO_SIZE = (320, 224)  # W, H: multiples of 32, GIF-like


class Runners(Protocol):
    """The networks, batch-first uint8 NHWC in and out (docs/CONTRACTS.md)."""

    def dequant(self, gif: np.ndarray, palette: np.ndarray, dithered: bool) -> np.ndarray: ...
    def p_dither(self, gif: np.ndarray) -> np.ndarray: ...
    def interp(self, gif0: np.ndarray, gif1: np.ndarray, img0: np.ndarray, img1: np.ndarray, t: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class EvalConfig:
    colors: tuple[int, ...] = (32, 256)
    dithers: tuple[Dither, ...] = (Dither.NONE, Dither.FLOYD_STEINBERG)
    factors: tuple[int, ...] = (2, 4)
    quantizer: Quantizer = Quantizer.MEDIAN_CUT
    crop: int = 256
    crops_per_photo: int = 4
    max_intervals_per_clip: int = 24
    with_ffmpeg: bool = True
    visual_dir: Path | None = None
    visual_count: int = 4
    real_colors: int = 32  # the `real` section: GIFs made by ffmpeg / ImageMagick / gifski
    real_encoders: tuple[str, ...] = ()  # names from eval.encoders (empty: all)


@dataclass
class Scores:
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        self.psnr.append(min(psnr(pred, truth), 100.0))  # cap identical crops so means stay finite
        self.ssim.append(ssim(pred, truth))

    def summary(self) -> dict:
        return {"psnr": round(float(np.mean(self.psnr)), 3), "ssim": round(float(np.mean(self.ssim)), 4), "n": len(self.psnr)}


# --- validation data ------------------------------------------------------------------------

def photo_crops(paths: Iterable[Path], crop: int, per_photo: int) -> list[np.ndarray]:
    """Fixed crops: each photo downscaled so its short side is 2*crop, crops on a diagonal."""
    out = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        scale = 2 * crop / min(img.size)
        img = img.resize((max(crop, round(img.width * scale)), max(crop, round(img.height * scale))), Image.Resampling.LANCZOS)
        a = np.asarray(img)
        h, w = a.shape[:2]
        for k in range(per_photo):
            f = (k + 0.5) / per_photo
            y = int((h - crop) * f)
            x = int((w - crop) * (f if k % 2 == 0 else 1 - f))
            out.append(np.ascontiguousarray(a[y : y + crop, x : x + crop]))
    return out


def fit_video_frame(rgb: np.ndarray, size: tuple[int, int] = VIDEO_SIZE) -> np.ndarray:
    """Downscale (area) so the frame covers `size`, then centre-crop to it."""
    w, h = size
    img = Image.fromarray(rgb)
    scale = max(w / img.width, h / img.height)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BOX)
    x, y = (img.width - w) // 2, (img.height - h) // 2
    return np.asarray(img.crop((x, y, x + w, y + h)))


# --- dequantization -----------------------------------------------------------------------------

def _batched(fn: Callable[..., np.ndarray], *arrays: np.ndarray, batch: int = 4) -> np.ndarray:
    return np.concatenate([fn(*(a[i : i + batch] for a in arrays)) for i in range(0, len(arrays[0]), batch)])


def eval_dequant(crops: list[np.ndarray], runners: Runners | None, cfg: EvalConfig, progress=None) -> dict:
    results: dict[str, dict] = {}
    truth = np.stack(crops)
    for colors in cfg.colors:
        for dither in cfg.dithers:
            key = f"{colors}c-{dither.value}"
            gifs, pals = zip(*(quantize_rgb(c, colors, cfg.quantizer, dither) for c in crops))
            gif = np.stack(gifs)
            methods: dict[str, np.ndarray] = {"gif": gif}
            if cfg.with_ffmpeg:
                methods["ffmpeg-deband"] = np.stack(baselines.ffmpeg_filter(list(gif), baselines.FFMPEG_DEBAND))
                methods["ffmpeg-gradfun"] = np.stack(baselines.ffmpeg_filter(list(gif), baselines.FFMPEG_GRADFUN))
            if runners is not None:
                pal = np.stack([pad_palette(p) for p in pals])
                dithered = dither is not Dither.NONE
                methods["ours"] = _batched(lambda g, p: runners.dequant(g, p, dithered), gif, pal)
                picked = _batched(runners.p_dither, gif) > 0.5
                auto = methods["ours"].copy()
                if (picked != dithered).any():
                    idx = np.flatnonzero(picked != dithered)
                    auto[idx] = runners.dequant(gif[idx], pal[idx], not dithered)
                methods["ours-auto"] = auto
            results[key] = {}
            for name, pred in methods.items():
                s = Scores()
                for p, t in zip(pred, truth):
                    s.add(p, t)
                results[key][name] = s.summary()
            if cfg.visual_dir is not None and "ours" in methods:
                _save_visual(cfg.visual_dir / f"dequant_{key}.png", gif, methods["ours"], truth, cfg.visual_count)
            if progress:
                progress(key)
    return results


def eval_detector(crops: list[np.ndarray], runners: Runners, quantizer: Quantizer = Quantizer.MEDIAN_CUT) -> dict:
    """Accuracy of the dither detector on validation crops, all dithers, 32 and 256 colours."""
    correct, total, per = 0, 0, {}
    for colors in (32, 256):
        for dither in Dither:
            gif = np.stack([quantize_rgb(c, colors, quantizer, dither)[0] for c in crops])
            pred = _batched(runners.p_dither, gif) > 0.5
            ok = int((pred == (dither is not Dither.NONE)).sum())
            per[f"{colors}c-{dither.value}"] = round(ok / len(crops), 4)
            correct += ok
            total += len(crops)
    return {"accuracy": round(correct / total, 4), "n": total, "per_case": per}


# --- interpolation ------------------------------------------------------------------------------

def eval_interp(clips: list[list[np.ndarray]], runners: Runners | None, cfg: EvalConfig, progress=None) -> dict:
    results: dict[str, dict] = {}
    for factor in cfg.factors:
        scores: dict[str, Scores] = defaultdict(Scores)
        vis = []
        for frames in clips:
            n_int = min((len(frames) - 1) // factor, cfg.max_intervals_per_clip)
            if n_int < 1:
                continue
            keys = [frames[k * factor] for k in range(n_int + 1)]
            gifs, pals = zip(*(quantize_rgb(k, 32, cfg.quantizer, Dither.NONE) for k in keys))
            mint = baselines.minterpolate(list(gifs), factor) if cfg.with_ffmpeg else None
            restored = None
            if runners is not None:
                pal = np.stack([pad_palette(p) for p in pals])
                restored = _batched(lambda g, p: runners.dequant(g, p, False), np.stack(gifs), pal)
            for k in range(n_int):
                g0, g1 = gifs[k], gifs[k + 1]
                for j in range(factor):
                    t = j / factor
                    truth = frames[k * factor + j]
                    scores["nearest"].add(baselines.nearest(g0, g1, t), truth)
                    scores["linear-blend"].add(baselines.linear_blend(g0, g1, t), truth)
                    if mint is not None:
                        scores["ffmpeg-minterpolate"].add(mint[k * factor + j], truth)
                    if restored is not None:
                        if j == 0:
                            pred = restored[k]
                        else:
                            pred = runners.interp(g0[None], g1[None], restored[k][None], restored[k + 1][None],
                                                  np.array([t], np.float32))[0]
                        scores["ours"].add(pred, truth)
                        if j == factor // 2 and len(vis) < cfg.visual_count:
                            vis.append((baselines.nearest(g0, g1, t), pred, truth))
        results[f"x{factor}"] = {name: s.summary() for name, s in scores.items()}
        if cfg.visual_dir is not None and vis:
            g, p, t = (np.stack(v) for v in zip(*vis))
            _save_visual(cfg.visual_dir / f"interp_x{factor}.png", g, p, t, cfg.visual_count)
        if progress:
            progress(f"x{factor}")
    return results


# --- output ---------------------------------------------------------------------------------------

def _save_visual(path: Path, gif: np.ndarray, ours: np.ndarray, truth: np.ndarray, count: int) -> None:
    """Rows of GIF | restored | truth, 2-pixel white gutters."""
    rows = []
    for g, o, t in list(zip(gif, ours, truth))[:count]:
        gut = np.full((g.shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([g, gut, o, gut, t], axis=1))
        rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows[:-1], axis=0)).save(path)


def to_markdown(report: dict) -> str:
    lines = []
    for section in ("dequant", "interp"):
        if section not in report:
            continue
        cases = report[section]
        methods = sorted({m for c in cases.values() for m in c}, key=lambda m: (m.startswith("ours"), m))
        lines += [f"### {section} (PSNR dB / SSIM, validation split)", "",
                  "| case | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for case, res in cases.items():
            cells = [f"{res[m]['psnr']:.2f} / {res[m]['ssim']:.4f}" if m in res else "-" for m in methods]
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
        lines.append("")
    if "real" in report:
        from .real import to_markdown as real_markdown

        lines += real_markdown(report["real"])
    if "detector" in report:
        d = report["detector"]
        lines += [f"Dither detector accuracy: {d['accuracy']:.4f} on {d['n']} validation crops ({d['per_case']})", ""]
    return "\n".join(lines)


def write_report(report: dict, out_json: Path) -> Path:
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2, default=str))
    md = out_json.with_suffix(".md")
    md.write_text(to_markdown(report))
    return md


def config_dict(cfg: EvalConfig) -> dict:
    d = asdict(cfg)
    d["dithers"] = [x.value for x in cfg.dithers]
    d["quantizer"] = cfg.quantizer.value
    d["visual_dir"] = str(cfg.visual_dir) if cfg.visual_dir else None
    return d


def load_validation(cfg: EvalConfig, cache_dir: Path | None = None) -> tuple[list[np.ndarray], list[list[np.ndarray]], dict]:
    """Validation crops and clips from the fetched corpus (never seen in training)."""
    from itertools import islice

    from ..data import corpus
    from ..io.video_read import iter_video_frames

    photo_paths = corpus.photos(corpus.Split.VAL, cache_dir)
    video_paths = corpus.videos(corpus.Split.VAL, cache_dir)
    crops = photo_crops(photo_paths, cfg.crop, cfg.crops_per_photo)
    need = cfg.max_intervals_per_clip * max(cfg.factors) + 1
    clips = [[fit_video_frame(f) for f in islice(iter_video_frames(v).frames, need)] for v in video_paths]
    names = {"photos": [p.name for p in photo_paths], "videos": [v.name for v in video_paths],
             "crops": len(crops), "clip_frames": [len(c) for c in clips]}
    return crops, clips, names


def run_eval(runners: Runners | None, cfg: EvalConfig, cache_dir: Path | None = None,
             sections: tuple[str, ...] = ("dequant", "interp"), progress=None) -> dict:
    crops, clips, names = load_validation(cfg, cache_dir)
    report: dict = {"config": config_dict(cfg), "data": names}
    if "dequant" in sections:
        report["dequant"] = eval_dequant(crops, runners, cfg, progress)
        if runners is not None:
            report["detector"] = eval_detector(crops, runners, cfg.quantizer)
    if "real" in sections:
        from .real import eval_real

        report["real"] = eval_real(crops, runners, cfg.real_colors, cfg.real_encoders, cfg.with_ffmpeg, cache_dir,
                                   progress)
    if "interp" in sections:
        report["interp"] = eval_interp(clips, runners, cfg, progress)
    return report
