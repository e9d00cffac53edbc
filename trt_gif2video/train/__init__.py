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
