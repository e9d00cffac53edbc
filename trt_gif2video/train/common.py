"""Shared training machinery: options, seeding, device pick, losses, checkpoints, the loop.

Every trainer (dequant, dither, interp) is `train(opts: TrainOptions) -> TrainResult` built on
`fit()`: it owns budget (steps and/or wall minutes), the cosine learning rate, resumable
checkpoints (atomic, every few minutes and at the end) and a plain-text log in `opts.out`.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..cpuinfo import has_native_bf16
from ..errors import BackendUnavailableError, BadArgumentError, ModelError
from . import DeviceChoice, Precision

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.txt"


@dataclass(frozen=True)
class TrainOptions:
    """What every trainer accepts (the `train` command builds this)."""

    out: Path
    steps: int = 2000
    minutes: float | None = None  # wall-clock budget; whichever of steps/minutes ends first
    resume: bool = False
    seed: int = 0
    device: DeviceChoice = DeviceChoice.AUTO
    variant: str | None = None  # trainer-specific (dequant: "nodither" | "dither")
    batch: int = 16
    lr: float = 1e-3
    threads: int | None = 1  # torch CPU threads; the build machine is shared
    checkpoint_minutes: float = 3.0
    log_every: int = 10
    # bf16 autocast + channels_last: faster on CPUs with AVX-512 BF16 (see train/speed.py);
    # weights, optimizer state and losses stay fp32.
    precision: Precision = Precision.FP32
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise BadArgumentError(f"train: --steps must be >= 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise BadArgumentError(f"train: --minutes must be > 0, got {self.minutes}")
        if self.batch < 1:
            raise BadArgumentError(f"train: batch must be >= 1, got {self.batch}")


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    wall_s: float
    final_loss: float
    metrics: dict = field(default_factory=dict)  # e.g. validation PSNR, detector accuracy


def autocast_context(precision: Precision, device_type: str = "cpu"):
    """The autocast region a training step runs in (a no-op context for fp32)."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision is Precision.BF16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def pick_device(choice: DeviceChoice) -> torch.device:
    if choice is DeviceChoice.CPU:
        return torch.device("cpu")
    if choice is DeviceChoice.CUDA:
        if not torch.cuda.is_available():
            raise BackendUnavailableError("train: --device cuda requested but torch sees no CUDA GPU")
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- losses (REFERENCE.md: 100 * L1 + 200 * gradient L1) ------------------------------------

def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y of an NCHW tensor."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between gradient magnitudes |grad pred| and |grad target| (the paper's form)."""
    pgx, pgy = image_gradients(pred)
    tgx, tgy = image_gradients(target)
    return F.l1_loss(pgx.abs(), tgx.abs()) + F.l1_loss(pgy.abs(), tgy.abs())


def restoration_loss(pred: torch.Tensor, target: torch.Tensor, w_l1: float = 100.0,
                     w_grad: float = 200.0) -> torch.Tensor:
    """Images in [0,1]; weights as in the paper (which used [-1,1]; only the scale differs)."""
    return w_l1 * F.l1_loss(pred, target) + w_grad * gradient_loss(pred, target)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of [0,1] images (after rounding to 8 bits, as a viewer would see them)."""
    p = torch.round(pred.clamp(0, 1) * 255)
    t = torch.round(target.clamp(0, 1) * 255)
    mse = float(((p - t) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


# --- log and checkpoints ------------------------------------------------------------------

def start_run(seed: int, threads: int, device: DeviceChoice, out: Path) -> tuple[torch.device, "RunLog"]:
    """What every trainer does first: seed, cap CPU threads (0 = torch's default), pick the device, open the log."""
    seed_everything(seed)
    if threads:
        torch.set_num_threads(threads)
    return pick_device(device), RunLog(out)


class RunLog:
    """Appends one line per event to out/log.txt and echoes it (so nohup logs show progress)."""

    def __init__(self, out: Path, echo: bool = True):
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / LOG_NAME
        self.echo = echo

    def write(self, msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        with self.path.open("a") as fh:
            fh.write(line + "\n")
        if self.echo:
            print(line, flush=True)

    def metrics(self, step: int, **values: float) -> None:
        self.write(f"step {step} " + " ".join(f"{k}={v:.5g}" for k, v in values.items()))


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    elapsed_s: float, extra: dict | None = None) -> None:
    """Atomic write (temp file + rename): a kill mid-save never corrupts the last checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "elapsed_s": elapsed_s, "extra": extra or {}, "rng": torch.get_rng_state(),
                "np_rng": np.random.get_state(), "py_rng": random.getstate()}, tmp)
    os.replace(tmp, path)


def seed_checkpoint(out: Path, weights: Path, lr: float) -> bool:
    """Start a run folder from trained weights: a step-0 checkpoint (fresh Adam) that `resume=True` picks up.

    Does nothing where the folder already has a checkpoint (a resumed run keeps its progress);
    returns whether it wrote one.
    """
    from ..nets.store import load_network

    path = out / CHECKPOINT_NAME
    if path.exists():
        return False
    out.mkdir(parents=True, exist_ok=True)
    net = load_network(weights).float().train()
    save_checkpoint(path, net, torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999)), 0, 0.0)
    return True


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None
                    ) -> tuple[int, float, dict]:
    """Restore model (+ optimizer and RNG state); returns (step, elapsed_s, extra)."""
    if not path.is_file():
        raise ModelError(f"{path}: no checkpoint to resume from (train without --resume first)")
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    np.random.set_state(state["np_rng"])
    random.setstate(state["py_rng"])
    return int(state["step"]), float(state["elapsed_s"]), dict(state["extra"])


def cosine_lr(base: float, progress: float, floor: float = 0.02) -> float:
    """Cosine decay from base to floor*base as progress goes 0 -> 1."""
    p = min(max(progress, 0.0), 1.0)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


class _StopOnSigterm:
    """SIGTERM ends training after the current step; the run then saves and validates as usual."""

    def __init__(self) -> None:
        self.requested = False
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:  # signal handlers can only be set from the main thread
            self._old = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def restore(self) -> None:
        if self._main:
            signal.signal(signal.SIGTERM, self._old)


# --- the loop -------------------------------------------------------------------------------

StepFn = Callable[[int], torch.Tensor]  # step -> scalar loss (forward only; fit() does backward)


def fit(opts: TrainOptions, model: torch.nn.Module, step_fn: StepFn, log: RunLog,
        on_log: Callable[[int], dict] | None = None) -> tuple[int, float, float]:
    """Train until opts.steps or opts.minutes is spent; resumable. Returns (steps, wall_s, last loss).

    Learning rate follows a cosine over whichever budget is further along (steps or time),
    so a time-limited run still anneals before it stops.
    """
    if opts.threads:
        torch.set_num_threads(opts.threads)
    ckpt = opts.out / CHECKPOINT_NAME
    if opts.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=(0.9, 0.999))
    step, elapsed0 = 0, 0.0
    if opts.resume:
        step, elapsed0, _ = load_checkpoint(ckpt, model, optimizer)
        log.write(f"resumed from {ckpt} at step {step} ({elapsed0 / 60:.1f} min done)")
    else:
        log.write(f"start options={json.dumps(asdict(opts), default=str)}")
    if opts.precision is Precision.BF16 and next(model.parameters()).device.type == "cpu" \
            and not has_native_bf16():
        log.write("warning: bf16 autocast on a CPU without AVX-512 BF16 / AMX is emulated and about 10x "
                  "slower than fp32 here (python -m trt_gif2video.train.speed); use --precision fp32")
    budget_s = opts.minutes * 60 if opts.minutes else None
    t0 = time.monotonic()
    last_ckpt = t0
    running, last_loss = None, float("nan")

    def elapsed() -> float:
        return elapsed0 + time.monotonic() - t0

    def progress() -> float:
        p = step / opts.steps
        return max(p, elapsed() / budget_s) if budget_s else p

    stop = _StopOnSigterm()
    try:
        model.train()
        while step < opts.steps and (budget_s is None or elapsed() < budget_s) and not stop.requested:
            lr = cosine_lr(opts.lr, progress())
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast_context(opts.precision, next(model.parameters()).device.type):
                loss = step_fn(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            last_loss = float(loss.detach())
            running = last_loss if running is None else 0.95 * running + 0.05 * last_loss
            if step % opts.log_every == 0 or step == 1:
                extra = on_log(step) if on_log else {}
                log.metrics(step, loss=last_loss, avg_loss=running, lr=lr, min=elapsed() / 60, **extra)
                model.train()
            if time.monotonic() - last_ckpt > opts.checkpoint_minutes * 60:
                save_checkpoint(ckpt, model, optimizer, step, elapsed())
                last_ckpt = time.monotonic()
    finally:
        stop.restore()
    save_checkpoint(ckpt, model, optimizer, step, elapsed())
    why = " (SIGTERM)" if stop.requested else ""
    log.write(f"stopped at step {step}{why} after {elapsed() / 60:.1f} min, avg_loss={running}")
    return step, elapsed(), running if running is not None else last_loss
