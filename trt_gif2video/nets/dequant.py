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
from typing import Callable

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


Requantizer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def requantize_rows(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Training's form of `blocks.requantize`: the same colours, 3-4x faster on CPU at 64 px patches.

    One [N,HW,4] x [N,4,K] matmul gives |p|^2 - 2 p.x directly, and argmin runs over the
    contiguous last axis (first index on ties, as ONNX ArgMin). Integers < 2^24: exact in fp32,
    so autocast is switched off here (bf16 distances would pick wrong colours). Not exported:
    it builds [N,HW,K], too big for full frames; the deploy graph uses `blocks.requantize`.
    """
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        n, c, h, w = x.shape
        xs = torch.round(x.float().clamp(0.0, 1.0) * 255.0).reshape(n, c, h * w).transpose(1, 2)  # [N,HW,3]
        pal = torch.round(palette.float() * 255.0)  # [N,K,3]
        a = torch.cat([xs, torch.ones_like(xs[..., :1])], -1)  # [N,HW,4]
        b = torch.cat([-2.0 * pal, (pal * pal).sum(-1, keepdim=True)], -1).transpose(1, 2)  # [N,4,K]
        idx = torch.bmm(a, b).argmin(-1)  # [N,HW]
        out = torch.gather(pal, 1, idx[..., None].expand(n, h * w, 3))  # [N,HW,3]
        return (out / 255.0).transpose(1, 2).reshape(n, c, h, w)


def regif(x: torch.Tensor, gif: torch.Tensor, palette: torch.Tensor, requant: Requantizer = requantize
          ) -> torch.Tensor:
    """The paper's 12-channel refinement input, centred on 0 for the convs."""
    q = requant(x, palette)
    if q.dtype != x.dtype:  # bf16 training; a no-op Cast would otherwise land in the exported graph
        q = q.to(x.dtype)
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

    def forward_all(self, gif: torch.Tensor, palette: torch.Tensor, requant: Requantizer = requantize
                    ) -> list[torch.Tensor]:
        """Estimates after every step (training supervises all of them; it passes `requantize_rows`)."""
        x = gif + self.net1(gif * 2 - 1)
        outs = [x]
        for _ in range(self.config.steps - 1):
            x = x + self.net2(regif(x, gif, palette, requant))
            outs.append(x)
        return outs

    def forward(self, gif: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
        return self.forward_all(gif, palette)[-1]
