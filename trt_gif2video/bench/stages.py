"""Per-stage timing of the restore flow: decode, host-to-device, dequantize, interpolate,
device-to-host, encode. Each stage is timed alone (perf_counter_ns per item) on the same
synthetic GIF, so the numbers add up to what a serial pipeline would pay per frame."""

from __future__ import annotations

import enum
import importlib.util
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..clip import GifFrame
from ..io.encode import open_writer
from ..io.gif_decode import open_gif
from ..io.gif_synth import write_indexed_gif
from ..models import Network
from ..palette import pad_palette
from ..runtime.backends.base import Session, default_stride
from ..stages.pad import pad_to_stride
from .stats import time_calls

GIF_DELAY_CS = 10  # 10 fps GIF
COLORS = 32


class Stage(str, enum.Enum):
    DECODE = "decode"
    HOST_TO_DEVICE = "host-to-device"
    DEQUANTIZE = "dequantize"
    INTERPOLATE = "interpolate"
    DEVICE_TO_HOST = "device-to-host"
    ENCODE = "encode"


def synthetic_gif(path: Path, width: int, height: int, frames: int, seed: int = 0) -> Path:
    """A GIF-like clip written straight as palette indices (no quantizer: fast at 720p):
    posterized diagonal bands panning, a moving disc, and a dithered patch (LZW's hard case)."""
    rng = np.random.default_rng(seed)
    ends = rng.integers(0, 256, (2, 3))
    ramp = np.linspace(0.0, 1.0, COLORS - 2)[:, None]  # the bands: a posterized gradient, as GIFs show skies
    palette = np.concatenate([ends[0] + (ends[1] - ends[0]) * ramp,
                              rng.integers(0, 256, (2, 3))]).round().astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    checker = (xx + yy) % 2
    patch = (slice(height // 8, height // 3), slice(width // 2, width * 3 // 4))

    def frame(i: int) -> tuple[np.ndarray, np.ndarray, int]:
        shift = 6 * i
        idx = (((xx + shift) // 24 + yy // 32) % (2 * (COLORS - 2))).astype(np.uint8)
        idx = np.minimum(idx, 2 * (COLORS - 2) - 1 - idx)  # triangle wave: neighbouring bands differ by one step
        cy, cx, r = height // 2, (width // 4 + 8 * i) % width, max(4, min(height, width) // 8)
        idx[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = COLORS - 1
        idx[patch] = np.where(checker[patch], COLORS - 2, idx[patch])
        return idx, palette, GIF_DELAY_CS

    write_indexed_gif(path, (frame(i) for i in range(frames)), loop=0)
    return path


def time_decode(path: Path) -> tuple[list[GifFrame], list[int]]:
    """Every frame of the GIF and the ns its decode took (streaming reader, one frame at a time)."""
    frames, samples = [], []
    with open_gif(path) as reader:
        it = iter(reader)
        while True:
            start = time.perf_counter_ns()
            frame = next(it, None)
            if frame is None:
                return frames, samples
            samples.append(time.perf_counter_ns() - start)
            frames.append(frame)


def time_encode(frames: list[np.ndarray], path: Path, fps: Fraction = Fraction(20)) -> tuple[list[int], int]:
    """ns per `write` into an MP4, and the ns of the final flush (x264 buffers frames: the flush
    is where the buffered ones are encoded, so the stage's mean must include it)."""
    samples = []
    with open_writer(path, fps) as writer:
        for rgb in frames:
            start = time.perf_counter_ns()
            writer.write(rgb)
            samples.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        writer.close()
        flush = time.perf_counter_ns() - start
    return samples, flush


def dequant_feeds(frames: list[GifFrame], batch: int, stride: int) -> Callable[[int], dict[str, np.ndarray]]:
    """feeds(i): the i-th batch of consecutive frames (wrapping), padded to the stride."""

    def feeds(i: int) -> dict[str, np.ndarray]:
        chosen = [frames[(i * batch + j) % len(frames)] for j in range(batch)]
        return {"gif": pad_to_stride(np.stack([f.rgb for f in chosen]), stride),
                "palette": np.stack([pad_palette(f.palette) for f in chosen])}

    return feeds


def interp_feeds(frames: list[GifFrame], batch: int, stride: int) -> Callable[[int], dict[str, np.ndarray]]:
    """feeds(i): `batch` consecutive frame pairs at t = 1/2; the GIF frames stand in for the
    dequantized ones (same shapes, same cost)."""

    def feeds(i: int) -> dict[str, np.ndarray]:
        pairs = [((i * batch + j) % (len(frames) - 1)) for j in range(batch)]
        a = pad_to_stride(np.stack([frames[k].rgb for k in pairs]), stride)
        b = pad_to_stride(np.stack([frames[k + 1].rgb for k in pairs]), stride)
        return {"gif0": a, "gif1": b, "img0": a, "img1": b, "t": np.full(batch, 0.5, np.float32)}

    return feeds


FEEDS = {Network.DEQUANT: dequant_feeds, Network.INTERP: interp_feeds}


def time_network(session: Session, network: Network, frames: list[GifFrame], batch: int, n: int,
                 warmup: int) -> list[int]:
    """ns per `session.infer` call on `batch` frames; inputs are prepared before timing."""
    make = FEEDS[network](frames, batch, default_stride(session, network))
    prepared = [make(i) for i in range(n + warmup)]
    return time_calls(lambda i: session.infer(prepared[i]), n, warmup)


def cuda_transfers_usable() -> bool:
    if importlib.util.find_spec("torch") is None or not Path("/dev/nvidiactl").exists():
        return False
    import torch

    return bool(torch.cuda.is_available())


def time_transfers(in_bytes: int, out_bytes: int, n: int, warmup: int, device: int = 0) -> tuple[list[int], list[int]]:
    """(host-to-device ns, device-to-host ns) per synchronised copy between pinned host memory
    and the GPU: what a GPU backend pays per frame to move its inputs and outputs."""
    import torch

    cuda = f"cuda:{device}"
    host_in, host_out = (torch.empty(n, dtype=torch.uint8, pin_memory=True) for n in (in_bytes, out_bytes))
    dev_in, dev_out = (torch.empty(n, dtype=torch.uint8, device=cuda) for n in (in_bytes, out_bytes))

    def copy(dst, src) -> Callable[[int], None]:
        def run(_: int) -> None:
            dst.copy_(src, non_blocking=True)
            torch.cuda.synchronize(device)

        return run

    return time_calls(copy(dev_in, host_in), n, warmup), time_calls(copy(host_out, dev_out), n, warmup)
