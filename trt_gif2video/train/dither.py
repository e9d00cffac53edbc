"""Train the dither detector: GIF patches with no dither (label 0) vs FS or ordered (label 1).

Half the pool is dithered, half not; colours 16..256 and the same quantizers as the
dequantizer. Validated on whole held-out frames (any size works: global pooling).
"""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Dither
from ..nets.deploy import DitherDeploy
from ..nets.dither import DitherConfig, DitherDetector
from ..nets.flops import dither_gflops, n_params
from ..nets.store import save_network
from .common import TrainOptions, TrainResult, fit, start_run
from .dequant import DataPaths
from .patches import ALL_DITHERS, Degradation, PatchPool, ValFrame, load_sources, validation_frames

VAL_COLORS = (16, 32, 64, 128, 256)
VAL_SIZE = 128
VAL_EVERY = 200


def pool_degradation() -> Degradation:
    # NONE listed twice: half the patches plain, a quarter FS, a quarter ordered.
    return Degradation(dithers=(Dither.NONE, Dither.NONE) + ALL_DITHERS[1:])


@torch.no_grad()
def evaluate(net: DitherDetector, frames: list[ValFrame]) -> dict[str, float]:
    """Accuracy at p > 0.5 overall and per dither kind."""
    device = next(net.parameters()).device
    deploy = DitherDeploy(net).eval()
    hits: dict[str, list[bool]] = {}
    for f in frames:
        p = float(deploy(torch.from_numpy(f.gif)[None].to(device))[0])
        ok = (p > 0.5) == (f.dither is not Dither.NONE)
        hits.setdefault("acc", []).append(ok)
        hits.setdefault(f"acc_{f.dither.value}", []).append(ok)
    net.train()
    return {k: float(np.mean(v)) for k, v in hits.items()}


def train(opts: TrainOptions, data: DataPaths | None = None, config: DitherConfig = DitherConfig(),
          patch: int = 64, pool_size: int = 1024) -> TrainResult:
    device, log = start_run(opts.seed, opts.threads, opts.device, opts.out)
    data = data or DataPaths.from_corpus()
    sources = load_sources(list(data.train_photos), list(data.train_videos))
    val = validation_frames(load_sources(list(data.val_photos), list(data.val_videos)), VAL_COLORS, ALL_DITHERS,
                            size=VAL_SIZE)
    pool = PatchPool(sources, pool_degradation(), patch=patch, size=pool_size, frame=128,
                     seed=opts.seed + (1 if opts.resume else 0))
    net = DitherDetector(config).to(device)
    log.write(f"dither detector: {len(sources)} train pictures, {len(val)} val frames, {n_params(net)} params")

    def step_fn(step: int) -> torch.Tensor:
        pool.refresh(2)
        b = pool.batch(opts.batch)
        gif = torch.from_numpy(b.gif).to(device).permute(0, 3, 1, 2).float() / 255
        label = torch.from_numpy(b.dithered).to(device).float()
        return F.binary_cross_entropy_with_logits(net(gif), label)

    def on_log(step: int) -> dict:
        return {} if step % VAL_EVERY else evaluate(net, val)

    steps, wall, loss = fit(opts, net, step_fn, log, on_log)
    metrics = evaluate(net.eval(), val)
    metrics.update(steps=steps, wall_min=wall / 60, params=n_params(net), gflops_480x270=dither_gflops(net),
                   val_frames=len(val), train_pictures=len(sources))
    weights = save_network(net, opts.out / "dither_detector.safetensors")
    (opts.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.write(f"final validation {json.dumps(metrics)}; weights {weights}")
    return TrainResult(opts.out, steps, wall, loss, metrics)
