"""Train the frame interpolator on GIF-degraded triplets (synthetic motion + real clips).

gif0/gif1 (flow input) are the end frames quantized like a GIF; img0/img1 are the clean end
frames (the dequantizer is trained separately: the standard decoupling); the target is the
clean frame at t (t = 1/2 at stride 2, k/stride at strides 4 and 8). Triplets live in an
in-memory pool of uint8 crops; a slice of it is regenerated every `refresh_every` steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import Split, photos, videos
from ..errors import BadArgumentError, DataError
from ..eval.metrics import psnr, ssim
from ..nets.interp import InterpConfig, Interpolator, InterpOutputs, interp_gflops
from ..nets.store import save_network
from ..nets.warp import backward_warp
from ..quantize import quantize_rgb
from . import Precision
from .common import DeviceChoice, TrainOptions, TrainResult, fit, restoration_loss, start_run
from .motion import (STRIDES, MotionConfig, Sequence, Triplet, gif_degrade_pair, load_photo, load_video,
                     pick_triplet, synth_sequence, video_sequence)

WEIGHTS_NAME = "interp.safetensors"
# Loss weights relative to restoration_loss (100 L1 + 200 gradient L1 on [0,1] images):
# SuperSlomo's warping/reconstruction ratio 0.4/0.8, smoothness on pixel flows kept small.
# Synthetic motion has exact flows: an L1 on them (pixels) teaches large motions far faster
# than photometric losses, whose gradient only sees one pixel around the current estimate.
W_WARP = 50.0
W_SMOOTH = 0.5
W_FLOW = 1.0


@dataclass(frozen=True)
class InterpTrainConfig:
    out: Path = Path("runs/interp")
    steps: int = 200_000
    minutes: Optional[float] = None  # wall-clock budget; whichever of steps/minutes ends first
    resume: bool = False
    seed: int = 0
    device: DeviceChoice = DeviceChoice.AUTO
    batch: int = 8
    lr: float = 3e-4
    pool_size: int = 256
    refresh_every: int = 40  # steps between pool refreshes
    refresh_count: int = 32  # triplets regenerated per refresh
    video_fraction: float = 0.35  # share of triplets from real clips (the rest: synthetic motion)
    motion: MotionConfig = MotionConfig()
    model: InterpConfig = InterpConfig()
    cache_dir: Optional[Path] = None  # corpus cache (None: the default cache)
    checkpoint_minutes: float = 4.0
    log_every: int = 20
    val_every: int = 200
    threads: int = 1
    precision: Precision = Precision.FP32  # bf16 autocast (warps stay fp32: nets.warp casts); train.speed

    def __post_init__(self) -> None:
        if not 0.0 <= self.video_fraction <= 1.0:
            raise BadArgumentError(f"train interp: video_fraction must be in [0, 1], got {self.video_fraction}")
        if self.pool_size < self.batch or self.refresh_count > self.pool_size:
            raise BadArgumentError("train interp: need batch <= pool_size and refresh_count <= pool_size")
        if self.motion.crop % self.model.stride:
            raise BadArgumentError(f"train interp: crop {self.motion.crop} must be a multiple of {self.model.stride}")


@dataclass
class Sources:
    """Decoded training material: photos and clips as uint8 arrays."""

    photos: list[np.ndarray]
    clips: list[np.ndarray]
    video_p: float  # chance that a sequence comes from a clip

    @classmethod
    def load(cls, split: Split, cfg: InterpTrainConfig, clips_optional: bool = False) -> "Sources":
        pics = [load_photo(p) for p in photos(split, cfg.cache_dir)]
        pics = [p for p in pics if min(p.shape[:2]) >= 2 * cfg.motion.crop]
        if not pics:
            raise DataError(f"corpus {split.value} photos: need some with a short side >= {2 * cfg.motion.crop} px")
        clips = []
        if cfg.video_fraction > 0:
            try:
                clips = [load_video(p, cfg.motion.video_short_side) for p in videos(split, cfg.cache_dir)]
            except DataError:
                if not clips_optional:
                    raise
        return cls(pics, clips, cfg.video_fraction if clips else 0.0)

    def sequence(self, rng: np.random.Generator, stride: int, motion: MotionConfig) -> Sequence:
        if rng.random() < self.video_p:
            return video_sequence(self.clips[rng.integers(len(self.clips))], stride, rng, motion)
        return synth_sequence(self.photos[rng.integers(len(self.photos))], stride, rng, motion)


def make_sample(sources: Sources, rng: np.random.Generator, motion: MotionConfig) -> tuple[Triplet, np.ndarray, np.ndarray]:
    """(clean triplet, gif0, gif1): stride 2/4/8 with equal odds."""
    stride = STRIDES[rng.integers(len(STRIDES))]
    trip = pick_triplet(sources.sequence(rng, stride, motion), rng)
    gif0, gif1 = gif_degrade_pair(trip.frame0, trip.frame1, rng)
    return trip, gif0, gif1


class Pool:
    """uint8 NCHW tensors gif0, gif1, img0, img1, gt [P,3,C,C], t [P]; ground-truth flows
    F01, F10 [P,4,C,C] (fp16, pixels) with has_flow [P] (False for real clips)."""

    def __init__(self, sources: Sources, size: int, rng: np.random.Generator, motion: MotionConfig):
        self.sources, self.rng, self.motion = sources, rng, motion
        c = motion.crop
        self.images = torch.zeros(5, size, 3, c, c, dtype=torch.uint8)
        self.t = torch.zeros(size)
        self.flows = torch.zeros(size, 4, c, c, dtype=torch.float16)
        self.has_flow = torch.zeros(size, dtype=torch.bool)
        self.refresh(size)

    def refresh(self, count: int) -> None:
        for i in self.rng.choice(self.t.shape[0], size=count, replace=False):
            trip, gif0, gif1 = make_sample(self.sources, self.rng, self.motion)
            for j, img in enumerate((gif0, gif1, trip.frame0, trip.frame1, trip.middle)):
                self.images[j, i] = torch.from_numpy(np.array(img)).permute(2, 0, 1)
            self.t[i] = trip.t
            self.has_flow[i] = trip.flows is not None
            self.flows[i] = 0 if trip.flows is None else torch.from_numpy(trip.flows)

    def batch(self, n: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(gif0, gif1, img0, img1, gt, t, flows, has_flow), augmented: time reversal, flips, channel order."""
        idx = torch.from_numpy(self.rng.choice(self.t.shape[0], size=n, replace=False))
        g0, g1, i0, i1, gt = (x.to(device).float() / 255.0 for x in self.images[:, idx])
        t = self.t[idx].to(device)
        flows = self.flows[idx].to(device).float()
        rev = torch.from_numpy(self.rng.random(n) < 0.5).to(device)
        r4 = rev.view(-1, 1, 1, 1)
        g0, g1 = torch.where(r4, g1, g0), torch.where(r4, g0, g1)
        i0, i1 = torch.where(r4, i1, i0), torch.where(r4, i0, i1)
        flows = torch.where(r4, flows[:, [2, 3, 0, 1]], flows)  # reversed time: F01 and F10 swap
        t = torch.where(rev, 1.0 - t, t)
        perm = torch.from_numpy(self.rng.permutation(3))
        out = [x[:, perm] for x in (g0, g1, i0, i1, gt)]
        # A flip along y (dim 2) or x (dim 3) mirrors the flow maps and negates that component.
        for dim, comps in ((2, [1, 3]), (3, [0, 2])):
            if self.rng.random() < 0.5:
                out = [x.flip(dim) for x in out]
                flows = flows.flip(dim)
                flows[:, comps] = -flows[:, comps]
        return (*out, t, flows, self.has_flow[idx].to(device))


def smoothness(flow: torch.Tensor) -> torch.Tensor:
    return (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean() + (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean()


def interp_loss(out: InterpOutputs, img0: torch.Tensor, img1: torch.Tensor, gt: torch.Tensor,
                flows: Optional[torch.Tensor] = None, has_flow: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Frame L1 + gradient loss, warping loss (end-frame flows and refined intermediate flows),
    smoothness, and L1 to the true F01/F10 on the samples that have them."""
    warp = (F.l1_loss(out.warped0, gt) + F.l1_loss(out.warped1, gt)
            + F.l1_loss(backward_warp(img1, out.f01), img0) + F.l1_loss(backward_warp(img0, out.f10), img1))
    loss = restoration_loss(out.frame, gt) + W_WARP * warp + W_SMOOTH * (smoothness(out.f01) + smoothness(out.f10))
    if flows is not None and has_flow is not None:
        err = (torch.cat([out.f01, out.f10], dim=1) - flows).abs().mean(dim=(1, 2, 3))
        loss = loss + W_FLOW * (err * has_flow).sum() / has_flow.sum().clamp_min(1)
    return loss


def _options(cfg: InterpTrainConfig) -> TrainOptions:
    return TrainOptions(out=cfg.out, steps=cfg.steps, minutes=cfg.minutes, resume=cfg.resume, seed=cfg.seed,
                        device=cfg.device, batch=cfg.batch, lr=cfg.lr, threads=cfg.threads,
                        checkpoint_minutes=cfg.checkpoint_minutes, log_every=cfg.log_every, precision=cfg.precision)


def train_interp(cfg: InterpTrainConfig) -> Path:
    """Train (or resume), then write `cfg.out/interp.safetensors` (fp16 storage); returns its path."""
    return _train(cfg).out / WEIGHTS_NAME


def train(opts: TrainOptions) -> TrainResult:
    """The common trainer entry point (`train` command): `TrainOptions` mapped onto `InterpTrainConfig`."""
    cfg = InterpTrainConfig(out=opts.out, steps=opts.steps, minutes=opts.minutes, resume=opts.resume,
                            seed=opts.seed, device=opts.device, batch=opts.batch, lr=opts.lr,
                            threads=opts.threads or 1, checkpoint_minutes=opts.checkpoint_minutes,
                            log_every=opts.log_every, precision=opts.precision)
    return _train(cfg)


def _train(cfg: InterpTrainConfig) -> TrainResult:
    device, log = start_run(cfg.seed, cfg.threads, cfg.device, cfg.out)
    model = Interpolator(cfg.model).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log.write(f"interp: {n_params / 1e6:.3f} M params, {interp_gflops(model):.2f} GFLOPs per 480x270 frame, "
              f"config={cfg.model.to_json()} device={device}")
    t0 = time.monotonic()
    sources = Sources.load(Split.TRAIN, cfg)
    # On resume, a fresh pool seed: replaying the first pool would repeat data.
    rng = np.random.default_rng(cfg.seed + (int(time.time()) if cfg.resume else 0))
    pool = Pool(sources, cfg.pool_size, rng, cfg.motion)
    log.write(f"data: {len(sources.photos)} photos, {len(sources.clips)} clips, pool of {cfg.pool_size} "
              f"built in {time.monotonic() - t0:.0f} s")
    val = _val_batch(cfg, device)

    def step_fn(step: int) -> torch.Tensor:
        if step and step % cfg.refresh_every == 0:
            pool.refresh(cfg.refresh_count)
        g0, g1, i0, i1, gt, t, flows, has_flow = pool.batch(cfg.batch, device)
        return interp_loss(model.forward_all(g0, g1, i0, i1, t), i0, i1, gt, flows, has_flow)

    def on_log(step: int) -> dict:
        if val is None or step % cfg.val_every:
            return {}
        return _val_psnr(model, val)

    steps, wall_s, loss = fit(_options(cfg), model, step_fn, log, on_log)
    path = save_network(model.cpu(), cfg.out / WEIGHTS_NAME)
    metrics = _val_psnr(model, val) if val is not None else {}
    log.write(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB) after {steps} steps, {wall_s / 60:.1f} min; {metrics}")
    return TrainResult(out=cfg.out, steps=steps, wall_s=wall_s, final_loss=loss, metrics=metrics)


def _val_batch(cfg: InterpTrainConfig, device: torch.device, n: int = 16) -> Optional[tuple[torch.Tensor, ...]]:
    """A fixed batch of validation triplets (held-out photos and clips) for the training log."""
    try:
        sources = Sources.load(Split.VAL, replace(cfg, video_fraction=0.5), clips_optional=True)
    except DataError:
        return None
    rng = np.random.default_rng(1234)
    samples = [make_sample(sources, rng, cfg.motion) for _ in range(n)]
    stack = lambda imgs: torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255.0).to(device)
    return (stack([s[1] for s in samples]), stack([s[2] for s in samples]),
            stack([s[0].frame0 for s in samples]), stack([s[0].frame1 for s in samples]),
            stack([s[0].middle for s in samples]), torch.tensor([s[0].t for s in samples], device=device))


def _mean_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the batch of per-image PSNR (dB) after 8-bit rounding."""
    mse = ((torch.round(pred * 255) - torch.round(target * 255)) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-3)
    return float((10 * torch.log10(255.0**2 / mse)).mean())


@torch.no_grad()
def _val_psnr(model: Interpolator, val: tuple[torch.Tensor, ...]) -> dict:
    """Model vs linear blend on the fixed validation batch."""
    model.eval()
    g0, g1, i0, i1, gt, t = (x.to(next(model.parameters()).device) for x in val)
    tt = t.view(-1, 1, 1, 1)
    return {"val_psnr": _mean_psnr(model(g0, g1, i0, i1, t), gt),
            "val_blend_psnr": _mean_psnr((1 - tt) * i0 + tt * i1, gt)}


# --- held-out evaluation (model card numbers) ----------------------------------------------

EVAL_COLORS = 32  # the paper's GIF setting: 32 colours, median cut, no dither (flow input only)
EVAL_PHOTO_CROP = 256


@dataclass(frozen=True)
class EvalScores:
    psnr: float
    ssim: float


def _windows(sources: Sources, factor: int, rng: np.random.Generator, per_clip: int, per_photo: int,
             crop: int) -> list[tuple[str, list[np.ndarray]]]:
    """(group, factor + 1 frames): evenly spaced windows of every clip (cropped to the stride),
    synthetic motion on every photo."""
    out = []
    for clip in sources.clips:
        h, w = (d // 32 * 32 for d in clip.shape[1:3])
        for start in np.linspace(0, clip.shape[0] - factor - 1, per_clip).astype(int):
            out.append(("clips", [np.ascontiguousarray(f[:h, :w]) for f in clip[start:start + factor + 1]]))
    motion = replace(MotionConfig(), crop=crop)
    for photo in sources.photos:
        out.extend(("photos", synth_sequence(photo, factor, rng, motion).frames) for _ in range(per_photo))
    return out


@torch.no_grad()
def evaluate_interp(model: Interpolator, cache_dir: Optional[Path] = None, per_clip: int = 8, per_photo: int = 2,
                    factors: tuple[int, ...] = (2, 4), crop: int = EVAL_PHOTO_CROP
                    ) -> dict[str, dict[str, EvalScores]]:
    """PSNR/SSIM of the frames between GIF frames on the validation split, x2 and x4, against
    nearest-frame repeat and linear blend; keys "x2/clips", "x2/photos", "x2/all", ...
    img0/img1 are the clean frames (as in training); gif0/gif1 are 32-colour median-cut quantizations."""
    model = model.eval().cpu()
    cfg = InterpTrainConfig(cache_dir=cache_dir, motion=replace(MotionConfig(), crop=crop))
    sources = Sources.load(Split.VAL, cfg, clips_optional=True)
    to_t = lambda a: torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 255.0
    report = {}
    for factor in factors:
        scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for group, seq in _windows(sources, factor, np.random.default_rng(factor), per_clip, per_photo, crop):
            gif0, gif1 = (quantize_rgb(seq[i], EVAL_COLORS)[0] for i in (0, -1))
            g0, g1, i0, i1 = map(to_t, (gif0, gif1, seq[0], seq[-1]))
            for k in range(1, factor):
                t = k / factor
                pred = model(g0, g1, i0, i1, torch.tensor([t]))[0]
                pred = np.round(pred.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
                blend = np.round((1 - t) * seq[0].astype(np.float32) + t * seq[-1].astype(np.float32)).astype(np.uint8)
                repeat = seq[0] if t <= 0.5 else seq[-1]
                for name, img in (("model", pred), ("repeat", repeat), ("blend", blend)):
                    value = (min(psnr(img, seq[k]), 99.0), ssim(img, seq[k]))
                    for g in (group, "all"):
                        scores.setdefault((g, name), []).append(value)
        for (g, name), v in scores.items():
            report.setdefault(f"x{factor}/{g}", {})[name] = EvalScores(*map(float, np.mean(v, axis=0)))
    return report
