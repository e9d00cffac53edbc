"""Training (needs torch, the `train` extra): one `train(opts) -> TrainResult` per network.

`common` holds the shared loop, losses and checkpoints; `patches` makes GIF-degraded crops.
"""

from __future__ import annotations

import enum


class DeviceChoice(str, enum.Enum):
    """Where to train (here, not in common.py, so the CLI can offer it without importing torch)."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Precision(str, enum.Enum):
    """Training arithmetic: fp32, or bf16 autocast (convs and matmuls in bf16, weights, losses fp32)."""

    FP32 = "fp32"
    BF16 = "bf16"
