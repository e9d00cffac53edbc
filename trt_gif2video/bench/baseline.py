"""The paper's originals (bench.original) timed in PyTorch FP32 eager on the CPU: the baseline.

FLOPs are counted once with torch's flop counter on a small stride-aligned input and scaled by
the pixel count: every counted op of these fully convolutional networks scales exactly with
H*W, and counting at 1280x720 would cost as much as another forward pass.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ..clip import GifFrame
from ..palette import pad_palette
from ..stages.pad import padded_size
from .stats import Latency, time_calls

COUNT_SIDE = 64  # stride-aligned side the FLOPs are counted at (a multiple of 16 and 32)


def _tensor(torch, frames: list[np.ndarray], stride: int):
    """uint8 NHWC -> float NCHW in [-1, 1], padded (replicate) to the stride as the runtime does."""
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    h, w = x.shape[2:]
    ph, pw = padded_size(h, stride) - h, padded_size(w, stride) - w
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def flops_per_frame(model, make_inputs: Callable[[int, int], tuple], height: int, width: int) -> float:
    from ..nets.flops import count_flops

    return count_flops(model, *make_inputs(COUNT_SIDE, COUNT_SIDE)) * (height * width) / COUNT_SIDE**2


def baseline_device() -> str:
    """Where the originals run: the GPU when torch has CUDA (what the official code does), else the CPU."""
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def time_originals(frames: list[GifFrame], n: int, warmup: int,
                   threads: int = 0) -> dict[str, tuple[Latency, float, str]]:
    """{"dequant": (latency per frame, FLOPs per frame, name), "interp": (...)} at the frames' size."""
    import torch

    from . import original

    if threads:
        torch.set_num_threads(threads)
    device = torch.device(baseline_device())

    def synced(fn: Callable[[int], object]) -> Callable[[int], object]:
        if device.type != "cuda":
            return fn

        def run(i: int) -> object:
            out = fn(i)
            torch.cuda.synchronize(device)
            return out

        return run

    out = {}
    h, w = frames[0].rgb.shape[:2]
    with torch.inference_mode():
        net = original.ccdnet2().to(device)
        s = original.CCDNET_STRIDE
        gifs = [_tensor(torch, [f.rgb], s).to(device) for f in frames]
        pals = [(torch.from_numpy(pad_palette(f.palette)[None]).float() / 255.0).to(device) for f in frames]
        samples = time_calls(synced(lambda i: net(gifs[i % len(gifs)], pals[i % len(pals)])), n, warmup)
        zeros = functools.partial(torch.zeros, device=device)
        flops = flops_per_frame(net, lambda a, b: (zeros(1, 3, a, b), zeros(1, 256, 3)), padded_size(h, s),
                                padded_size(w, s))
        out["dequant"] = (Latency.from_ns(samples), flops, "CCDNet-2 (paper, 64-ch U-Nets)")

        net = original.slomo().to(device)
        s = original.SLOMO_STRIDE
        ims = [_tensor(torch, [f.rgb], s).to(device) for f in frames]
        t = torch.full((1,), 0.5, device=device)

        def run(i: int):
            a, b = ims[i % (len(ims) - 1)], ims[i % (len(ims) - 1) + 1]
            return net(a, b, a, b, t)

        samples = time_calls(synced(run), n, warmup)
        flops = flops_per_frame(net, lambda a, b: (*(zeros(1, 3, a, b) for _ in range(4)), t),
                                padded_size(h, s), padded_size(w, s))
        out["interp"] = (Latency.from_ns(samples), flops, "SuperSlomo (paper, 32-ch U-Nets)")
    return out
