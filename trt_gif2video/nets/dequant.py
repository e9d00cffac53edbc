"""CCDNet-k colour dequantizer, edge-sized (REFERENCE.md section 1).

Step 1: x = gif + net1(gif). Steps 2..k: x = x + net2(regif(x)) with the 12-channel
palette-aware input [x, gif, Q(x), gif - Q(x)], Q = re-quantization to the frame's palette.
Residuals over the GIF instead of the paper's tanh(...) form: at initialisation (zero heads)
the output is the GIF itself, which makes short CPU training runs start from the baseline.
Values are in [0,1]; the deploy wrapper clamps and rounds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from ..errors import ModelError
from .blocks import UNet, requantize


@dataclass(frozen=True)
class DequantConfig:
    """Architecture; stored as JSON in the safetensors metadata key "config"."""

    widths: tuple[int, ...] = (16, 32, 64, 128, 128)  # 5 levels -> stride 16
    steps: int = 2  # k of CCDNet-k

    def __post_init__(self) -> None:
        if self.steps < 1 or len(self.widths) < 2:
            raise ModelError(f"dequant config: need steps >= 1 and >= 2 widths, got {self}")

    @property
    def stride(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DequantConfig":
        try:
            raw = json.loads(text)
            return cls(widths=tuple(int(w) for w in raw["widths"]), steps=int(raw["steps"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"dequant config: need JSON with widths and steps ({exc})") from exc


def regif(x: torch.Tensor, gif: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """The paper's 12-channel refinement input, centred on 0 for the convs."""
    q = requantize(x, palette)
    return torch.cat([x * 2 - 1, gif * 2 - 1, q * 2 - 1, gif - q], dim=1)


class Dequantizer(nn.Module):
    """forward(gif, palette) -> restored. gif float NCHW [0,1]; palette float [N,256,3] [0,1]."""

    def __init__(self, config: DequantConfig = DequantConfig()):
        super().__init__()
        self.config = config
        self.net1 = UNet(3, 3, config.widths)
        self.net2 = UNet(12, 3, config.widths) if config.steps > 1 else None
        for net in (self.net1, self.net2):
            if net is not None:
                nn.init.zeros_(net.head.weight)
                nn.init.zeros_(net.head.bias)

    def forward_all(self, gif: torch.Tensor, palette: torch.Tensor) -> list[torch.Tensor]:
        """Estimates after every step (training supervises all of them)."""
        x = gif + self.net1(gif * 2 - 1)
        outs = [x]
        for _ in range(self.config.steps - 1):
            x = x + self.net2(regif(x, gif, palette))
            outs.append(x)
        return outs

    def forward(self, gif: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
        return self.forward_all(gif, palette)[-1]
