"""FLOP counts (torch.utils.flop_counter: 2 FLOPs per multiply-accumulate) for the edge budget."""

from __future__ import annotations

import torch

from ..palette import PALETTE_SIZE

# The budget frame: 480x270 (the runtime pads to the stride, so count the padded size).
BUDGET_HW = (270, 480)


def padded(size: int, stride: int) -> int:
    return -(-size // stride) * stride


def count_flops(model: torch.nn.Module, *inputs: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def dequant_gflops(model: torch.nn.Module, height: int = BUDGET_HW[0], width: int = BUDGET_HW[1]) -> float:
    """GFLOPs of one frame through all k steps (palette distances included: they are a matmul)."""
    s = model.config.stride
    gif = torch.zeros(1, 3, padded(height, s), padded(width, s))
    return count_flops(model, gif, torch.zeros(1, PALETTE_SIZE, 3)) / 1e9


def dither_gflops(model: torch.nn.Module, height: int = BUDGET_HW[0], width: int = BUDGET_HW[1]) -> float:
    s = model.config.stride
    return count_flops(model, torch.zeros(1, 3, padded(height, s), padded(width, s))) / 1e9


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
