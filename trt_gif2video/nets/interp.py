"""SuperSlomo-style frame interpolator, slimmed for edge GPUs (REFERENCE.md section 1).

Flow U-Net A sees the two raw GIF frames once (6 channels in, F01 and F10 out: one pass
costs half of running a 2-flow net twice with swapped inputs). The SuperSlomo linear
approximation gives Ft0/Ft1; the dequantized frames are warped; refinement U-Net B
corrects the flows and predicts a visibility map V; the frame is the visibility-weighted
blend of the two warped frames. Flows are in pixels, tanh-bounded by `max_flow`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError
from .warp import backward_warp, intermediate_flows

BLEND_EPS = 1e-6


@dataclass(frozen=True)
class InterpConfig:
    """Architecture of the interpolator; stored as JSON in the safetensors metadata key "config"."""

    # One width per U-Net level: 6 levels = 5 poolings = input stride 32.
    flow_widths: tuple[int, ...] = (16, 32, 48, 64, 96, 128)
    refine_widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)
    # Largest flow in pixels. Training crops are 96 px with up to ~35 px of motion between
    # the end frames (pan + zoom/rotation at the corners); 40 keeps tanh out of saturation there.
    max_flow: float = 40.0

    @property
    def stride(self) -> int:
        return 2 ** (max(len(self.flow_widths), len(self.refine_widths)) - 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "InterpConfig":
        try:
            raw = json.loads(text)
            return cls(flow_widths=tuple(raw["flow_widths"]), refine_widths=tuple(raw["refine_widths"]),
                       max_flow=float(raw["max_flow"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"interp config: need JSON with flow_widths, refine_widths, max_flow ({exc})") from exc


def _conv(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.LeakyReLU(0.1, inplace=True))


class UNet(nn.Module):
    """No-BN U-Net: avg-pool down, bilinear up, skip concatenation, LeakyReLU 0.1 (SuperSlomo's shape)."""

    def __init__(self, cin: int, cout: int, widths: tuple[int, ...], first_kernel: int = 3):
        super().__init__()
        self.enc = nn.ModuleList()
        prev = cin
        for i, w in enumerate(widths):
            self.enc.append(nn.Sequential(_conv(prev, w, first_kernel if i == 0 else 3), _conv(w, w)))
            prev = w
        self.dec = nn.ModuleList(
            nn.Sequential(_conv(widths[i + 1] + widths[i], widths[i]), _conv(widths[i], widths[i]))
            for i in range(len(widths) - 1)
        )
        self.head = nn.Conv2d(widths[0], cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for i in range(len(self.dec) - 1, -1, -1):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.dec[i](torch.cat([x, skips[i]], dim=1))
        return self.head(x)


@dataclass(frozen=True)
class InterpOutputs:
    """Everything training needs: the frame, its warped inputs and all flows (pixels)."""

    frame: torch.Tensor
    warped0: torch.Tensor
    warped1: torch.Tensor
    f01: torch.Tensor
    f10: torch.Tensor
    ft0: torch.Tensor
    ft1: torch.Tensor
    visibility: torch.Tensor


class Interpolator(nn.Module):
    """forward(gif0, gif1, img0, img1, t) -> frame at time t. Images float NCHW in [0,1], t float [N]."""

    def __init__(self, config: InterpConfig = InterpConfig()):
        super().__init__()
        self.config = config
        self.flow_net = UNet(6, 4, config.flow_widths, first_kernel=7)
        # img0, img1, warped0, warped1 (12) + Ft0, Ft1 (4) -> dFt0, dFt1, visibility logit
        self.refine_net = UNet(16, 5, config.refine_widths)
        # Zero heads: training starts from zero flow and V = 1/2, i.e. the linear blend,
        # instead of random warps.
        for head in (self.flow_net.head, self.refine_net.head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward_all(self, gif0: torch.Tensor, gif1: torch.Tensor, img0: torch.Tensor, img1: torch.Tensor,
                    t: torch.Tensor) -> InterpOutputs:
        m = self.config.max_flow
        flows = torch.tanh(self.flow_net(torch.cat([gif0, gif1], dim=1)).float()) * m
        f01, f10 = flows[:, 0:2], flows[:, 2:4]
        ft0, ft1 = intermediate_flows(f01, f10, t)
        w0 = backward_warp(img0, ft0)
        w1 = backward_warp(img1, ft1)
        r = self.refine_net(torch.cat([img0, img1, w0, w1, ft0 / m, ft1 / m], dim=1))
        # Residual flows keep the approximation as the starting point; bounded like the flows.
        ft0 = ft0 + torch.tanh(r[:, 0:2].float()) * m
        ft1 = ft1 + torch.tanh(r[:, 2:4].float()) * m
        vis = torch.sigmoid(r[:, 4:5])
        w0 = backward_warp(img0, ft0)
        w1 = backward_warp(img1, ft1)
        tt = t.float().view(-1, 1, 1, 1)
        a = (1.0 - tt) * vis
        b = tt * (1.0 - vis)
        frame = ((a * w0 + b * w1) / (a + b + BLEND_EPS)).clamp(0.0, 1.0)
        return InterpOutputs(frame, w0, w1, f01, f10, ft0, ft1, vis)

    def forward(self, gif0: torch.Tensor, gif1: torch.Tensor, img0: torch.Tensor, img1: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor:
        return self.forward_all(gif0, gif1, img0, img1, t).frame


def interp_gflops(model: Interpolator, height: int = 270, width: int = 480) -> float:
    """GFLOPs of one frame at HxW padded to the stride, every pass counted (2 FLOPs per MAC)."""
    from .flops import count_flops, padded

    s = model.config.stride
    x = torch.zeros(1, 3, padded(height, s), padded(width, s))
    return count_flops(model, x, x, x, x, torch.full((1,), 0.5)) / 1e9
