"""Training-step speed of the dequantizer: fp32 vs bf16 autocast vs channels_last (fixed batch).

`python -m trt_gif2video.train.speed --steps 20` times `--steps` optimizer steps (forward, the training
loss, backward, Adam) on one fixed random batch for each mode, after warm-up steps, with the
thread count given; data generation is timed separately (`PatchPool.refresh`, one frame).
Run it while no other training job runs and note the load average it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..nets.blocks import requantize
from ..nets.dequant import DequantConfig, Dequantizer, requantize_rows
from .common import Precision, autocast_context, restoration_loss


@dataclass(frozen=True)
class SpeedCase:
    precision: Precision
    channels_last: bool
    rows_requant: bool = True  # train's requantize_rows, else the deploy graph's blocks.requantize

    @property
    def name(self) -> str:
        return (f"{self.precision.value}{'+channels_last' if self.channels_last else ''}"
                f"{'' if self.rows_requant else '+deploy_requantize'}")


def time_steps(case: SpeedCase, batch: int = 16, patch: int = 64, steps: int = 20, warmup: int = 3,
               config: DequantConfig = DequantConfig(), seed: int = 0) -> float:
    """Steps per second of the dequantizer's training step on a fixed synthetic batch."""
    torch.manual_seed(seed)
    net = Dequantizer(config)
    for p in net.parameters():  # non-zero heads so the whole graph does real work
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.02)
    fmt = torch.channels_last if case.channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    # Inputs as train.dequant.to_tensors makes them: NHWC uint8 permuted (channels_last strides).
    gif = torch.randint(0, 256, (batch, patch, patch, 3), dtype=torch.uint8).permute(0, 3, 1, 2).float() / 255
    target = torch.randint(0, 256, (batch, patch, patch, 3), dtype=torch.uint8).permute(0, 3, 1, 2).float() / 255
    pal = torch.rand(batch, 256, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step() -> None:
        with autocast_context(case.precision):
            outs = net.forward_all(gif, pal, requantize_rows if case.rows_requant else requantize)
            loss = sum(restoration_loss(o.float(), target) for o in outs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0)


def time_interp_steps(precision: Precision, batch: int = 8, crop: int = 96, steps: int = 8, warmup: int = 2,
                      config=None, seed: int = 0) -> float:
    """Steps per second of the interpolator's training step (its full loss) on a fixed synthetic batch."""
    from ..nets.interp import InterpConfig, Interpolator
    from .interp import interp_loss

    torch.manual_seed(seed)
    net = Interpolator(config or InterpConfig())
    for p in net.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.02)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    g0, g1, i0, i1, gt = (torch.rand(batch, 3, crop, crop) for _ in range(5))
    t, flows, has_flow = torch.full((batch,), 0.5), torch.randn(batch, 4, crop, crop), torch.ones(batch)

    def step() -> None:
        with autocast_context(precision):
            loss = interp_loss(net.forward_all(g0, g1, i0, i1, t), i0, i1, gt, flows, has_flow)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--network", choices=("dequant", "interp"), default="dequant")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.network == "interp":  # batch 8, 96 px crops: the shipped interpolator's recipe
        load0 = os.getloadavg()[0]
        res = {p.value: round(time_interp_steps(p, steps=args.steps), 3) for p in (Precision.FP32, Precision.BF16)}
        report = {"network": "interp", "steps_per_s": res, "batch": 8, "crop": 96, "steps": args.steps,
                  "loadavg_1min_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)]}
        print(json.dumps(report, indent=2))
        return report
    # The first case is the recipe before this benchmark existed (fp32, deploy requantize).
    cases = [SpeedCase(Precision.FP32, False, False)]
    cases += [SpeedCase(p, cl) for p in (Precision.FP32, Precision.BF16) for cl in (False, True)]
    load0 = os.getloadavg()[0]
    res = {c.name: round(time_steps(c, args.batch, args.patch, args.steps), 3) for c in cases}
    report = {"steps_per_s": res, "batch": args.batch, "patch": args.patch, "steps": args.steps,
              "threads": args.threads, "torch": torch.__version__,
              "loadavg_1min_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
