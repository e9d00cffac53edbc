"""Train the CCDNet-k dequantizer (one model per variant: nodither, dither = FS + ordered).

Loss on every step's estimate (the last weighted 1, earlier ones 0.5): 100*L1 + 200*gradient L1.
Validation: fixed held-out frames (whole validation photos, never cropped for training) at
32 and 256 colours; PSNR/SSIM of the model vs the raw GIF, after uint8 rounding.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import Dither
from ..errors import BadArgumentError, DataError
from ..eval.metrics import psnr, ssim
from ..nets.dequant import DequantConfig, Dequantizer, requantize_rows
from ..nets.deploy import DequantDeploy
from ..nets.flops import dequant_gflops, n_params
from ..nets.store import save_network
from .common import (CHECKPOINT_NAME, RunLog, TrainOptions, TrainResult, fit, load_checkpoint, restoration_loss,
                     start_run)
from .patches import NO_DITHER, WITH_DITHER, Batch, Degradation, PatchPool, ValFrame, load_sources, validation_frames

VAL_COLORS = (32, 256)
VAL_EVERY = 1000  # steps between (partial) validations during training
FRAMES_PER_STEP = 1  # pool refresh rate: new quantized frames per step


class DequantVariant(str, enum.Enum):
    NODITHER = "nodither"
    DITHER = "dither"

    @property
    def dithers(self) -> tuple[Dither, ...]:
        return NO_DITHER if self is DequantVariant.NODITHER else WITH_DITHER


@dataclass(frozen=True)
class DataPaths:
    """Where pictures come from; `from_corpus()` uses the fetched corpus and its split."""

    train_photos: tuple[Path, ...]
    val_photos: tuple[Path, ...]
    train_videos: tuple[Path, ...] = ()
    val_videos: tuple[Path, ...] = ()

    @classmethod
    def from_corpus(cls) -> "DataPaths":
        from ..data import corpus

        def maybe(fn, split):
            try:
                return tuple(fn(split))
            except DataError:  # a split without videos is fine
                return ()

        return cls(tuple(corpus.photos(corpus.Split.TRAIN)), tuple(corpus.photos(corpus.Split.VAL)),
                   maybe(corpus.videos, corpus.Split.TRAIN), maybe(corpus.videos, corpus.Split.VAL))


@dataclass(frozen=True)
class DequantTrainSpec:
    config: DequantConfig = DequantConfig()
    patch: int = 64
    pool: int = 2048
    frame: int = 192
    val_size: int = 256
    val_sources: int | None = None  # cap on validation pictures (None = all)
    intermediate_weight: float = 0.5
    # Frames from real encoders (train.real_pairs; build its cache first): this fraction of the
    # pool's new frames, `real_per_source` random frames per training picture and encoder.
    real_fraction: float = 0.0
    real_per_source: int = 3


def to_tensors(b: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gif = torch.from_numpy(b.gif).to(device).permute(0, 3, 1, 2).float() / 255
    target = torch.from_numpy(b.target).to(device).permute(0, 3, 1, 2).float() / 255
    pal = torch.from_numpy(b.palette).to(device).float() / 255
    return gif, target, pal


@torch.no_grad()
def evaluate(net: Dequantizer, frames: list[ValFrame], with_ssim: bool = True) -> dict[str, float]:
    """Mean PSNR/SSIM per colour count: `psnr_gif_32`, `psnr_net_32`, ... (uint8 deploy outputs)."""
    device = next(net.parameters()).device
    deploy = DequantDeploy(net).eval()
    rows: dict[str, list[float]] = {}
    for f in frames:
        out = deploy(torch.from_numpy(f.gif)[None].to(device), torch.from_numpy(f.palette)[None].to(device))
        out = out[0].cpu().numpy()
        vals = {"psnr_gif": psnr(f.gif, f.target), "psnr_net": psnr(out, f.target)}
        if with_ssim:
            vals.update(ssim_gif=ssim(f.gif, f.target), ssim_net=ssim(out, f.target))
        for k, v in vals.items():
            rows.setdefault(f"{k}_{f.colors}", []).append(v)
    net.train()
    return {k: float(np.mean(v)) for k, v in rows.items()}


def train(opts: TrainOptions, data: DataPaths | None = None, spec: DequantTrainSpec = DequantTrainSpec()
          ) -> TrainResult:
    try:
        variant = DequantVariant(opts.variant or "nodither")
    except ValueError:
        raise BadArgumentError(f"train dequant: --variant must be nodither or dither, got {opts.variant!r}") from None
    device, log = start_run(opts.seed, opts.threads, opts.device, opts.out)
    data = data or DataPaths.from_corpus()
    sources = load_sources(list(data.train_photos), list(data.train_videos))
    val_src = load_sources(list(data.val_photos), list(data.val_videos))[: spec.val_sources]
    val = validation_frames(val_src, VAL_COLORS, variant.dithers, size=spec.val_size)
    # A resumed run draws new patches (seeded by the resume point is not worth the bookkeeping).
    real = []
    if spec.real_fraction > 0:
        from .real_pairs import real_frames

        real = real_frames(sources, variant is DequantVariant.DITHER, spec.real_per_source, spec.frame,
                           log=log.write)
        log.write(f"real-encoder frames: {len(real)} ({spec.real_fraction:.0%} of new pool frames)")
    pool = PatchPool(sources, Degradation(dithers=variant.dithers), patch=spec.patch, size=spec.pool,
                     frame=spec.frame, seed=opts.seed + (1 if opts.resume else 0), real=real,
                     real_fraction=spec.real_fraction)
    net = Dequantizer(spec.config).to(device)
    log.write(f"dequant {variant.value}: {len(sources)} train pictures, {len(val)} val frames, "
              f"{n_params(net)} params, {dequant_gflops(net):.2f} GFLOPs per 480x270 frame, device {device}")

    def step_fn(step: int) -> torch.Tensor:
        pool.refresh(FRAMES_PER_STEP)
        gif, target, pal = to_tensors(pool.batch(opts.batch), device)
        outs = [o.float() for o in net.forward_all(gif, pal, requantize_rows)]  # losses in fp32 under bf16 autocast
        loss = restoration_loss(outs[-1], target)
        for o in outs[:-1]:
            loss = loss + spec.intermediate_weight * restoration_loss(o, target)
        return loss

    def on_log(step: int) -> dict:
        if step % VAL_EVERY:
            return {}
        m = evaluate(net, val[:16], with_ssim=False)
        return {k: v for k, v in m.items() if k.startswith("psnr")}

    steps, wall, loss = fit(opts, net, step_fn, log, on_log)
    metrics = finish(opts.out, net, variant, val, log)
    metrics.update(steps=steps, wall_min=wall / 60, train_pictures=len(sources))
    (opts.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(opts.out, steps, wall, loss, metrics)


def finish(out: Path, net: Dequantizer, variant: DequantVariant, val: list[ValFrame], log: RunLog) -> dict:
    """Final validation and the weights file `out/dequant_<variant>.safetensors`."""
    metrics = evaluate(net.eval(), val)
    metrics.update(params=n_params(net), gflops_480x270=dequant_gflops(net), val_frames=len(val),
                   variant=variant.value)
    weights = save_network(net, out / f"dequant_{variant.value}.safetensors", variant=variant.value)
    log.write(f"final validation {json.dumps(metrics)}; weights {weights}")
    return metrics


def finish_from_checkpoint(out: Path, variant: DequantVariant, config: DequantConfig = DequantConfig(),
                           data: DataPaths | None = None, val_size: int = DequantTrainSpec.val_size) -> dict:
    """Weights + validation from a run's last checkpoint (a run that was stopped early)."""
    net = Dequantizer(config)
    step, elapsed, _ = load_checkpoint(out / CHECKPOINT_NAME, net)
    data = data or DataPaths.from_corpus()
    val = validation_frames(load_sources(list(data.val_photos), list(data.val_videos)), VAL_COLORS,
                            variant.dithers, size=val_size)
    metrics = finish(out, net, variant, val, RunLog(out))
    metrics.update(steps=step, wall_min=elapsed / 60)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def validate_weights(weights: Path, variant: DequantVariant, data: DataPaths | None = None,
                     val_size: int = DequantTrainSpec.val_size) -> dict:
    """The trainer's final validation (same held-out frames as `finish`) on a weights file, e.g. the shipped one.

    python -c "from pathlib import Path; from trt_gif2video.train.dequant import *; \
print(validate_weights(Path('trt_gif2video/weights/dequant_nodither.safetensors'), DequantVariant.NODITHER))"
    """
    from ..nets.store import load_network

    net = load_network(weights).float()
    data = data or DataPaths.from_corpus()
    val = validation_frames(load_sources(list(data.val_photos), list(data.val_videos)), VAL_COLORS,
                            variant.dithers, size=val_size)
    return evaluate(net.eval(), val)
