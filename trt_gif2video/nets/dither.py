"""Dither detector: does this GIF frame use dithering? (picks the dequantizer variant).

A few thousand parameters. Dither is pixel-level noise in otherwise smooth areas, so the net
also sees a fixed high-pass (the image minus its 3x3 mean, amplified): without it the signal
at initialisation is tiny and training crawls. Full-resolution first conv, then stride-2 convs
(stride 16); global average + max pooling make it size-independent (any H, W >= 64).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError

HIGH_PASS_GAIN = 8.0  # dither steps are a few /255 apart: bring them to ~unit scale


@dataclass(frozen=True)
class DitherConfig:
    widths: tuple[int, ...] = (8, 12, 16, 16, 24)  # first at full resolution, then stride 2 each

    @property
    def stride(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DitherConfig":
        try:
            return cls(widths=tuple(int(w) for w in json.loads(text)["widths"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"dither config: need JSON with widths ({exc})") from exc


class DitherDetector(nn.Module):
    """forward(gif float NCHW [0,1]) -> logit [N] (positive = dithered)."""

    def __init__(self, config: DitherConfig = DitherConfig()):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        prev = 6
        for i, w in enumerate(config.widths):
            layers += [nn.Conv2d(prev, w, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU(inplace=True)]
            prev = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(2 * prev, 1)

    def forward(self, gif: torch.Tensor) -> torch.Tensor:
        high = (gif - F.avg_pool2d(gif, 3, stride=1, padding=1, count_include_pad=False)) * HIGH_PASS_GAIN
        f = self.features(torch.cat([gif * 2 - 1, high], dim=1))
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.fc(pooled).squeeze(1)
