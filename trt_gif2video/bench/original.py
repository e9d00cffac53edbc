"""The paper's original networks in PyTorch (REFERENCE.md section 1), for the speed baseline.

What a user of the official code runs today: CCDNet-2 (two 64-128-256-512-512 U-Nets with
BatchNorm+ReLU, 2x2 average-pool down, 2x2 transposed-conv up, 1x1 head) and the SuperSlomo
adaptation (two 6-level 32..512 U-Nets, 7x7 then 5x5 first convs, LeakyReLU 0.1, bilinear up,
no BN; the flow net runs twice per frame pair with swapped inputs). Written from the paper's
description of the architecture; random weights, since only speed and cost are measured.

torch is imported on first use, not at module import: the runtime bench (and the test that
imports every runtime module with torch blocked) must load this package without torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

CCDNET_WIDTH = 64  # UNet_simple ch: 64-128-256-512-512
SLOMO_WIDTH = 32  # UNet_flow ch: 32-64-128-256-512-512
MAX_FLOW = 30.0  # flows are tanh outputs times maxFlow
CCDNET_STRIDE = 16
SLOMO_STRIDE = 32


@dataclass(frozen=True)
class UNetSpec:
    widths: tuple[int, ...]  # one per level; len(widths) - 1 poolings
    kernels: tuple[int, ...]  # first levels' conv kernels; 3 after them
    batch_norm: bool
    leak: float  # LeakyReLU slope (0 = ReLU)
    bilinear: bool  # bilinear upsampling, else a 2x2 transposed conv
    narrowing: bool  # decoder halves the width per level (UNet_simple), else keeps the skip's


def ccdnet_unet(width: int = CCDNET_WIDTH) -> UNetSpec:
    """UNet_simple: 64-128-256-512-512, BN + ReLU, transposed-conv up."""
    return UNetSpec((width, 2 * width, 4 * width, 8 * width, 8 * width), (3,), True, 0.0, False, True)


def slomo_unet(width: int = SLOMO_WIDTH) -> UNetSpec:
    """UNet_flow: 32..512 over 6 levels, 7x7 then 5x5 first convs, LeakyReLU 0.1, bilinear up."""
    return UNetSpec((width, 2 * width, 4 * width, 8 * width, 16 * width, 16 * width), (7, 5), False, 0.1, True, False)


@functools.cache
def _classes() -> SimpleNamespace:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from ..nets.blocks import requantize
    from ..nets.warp import backward_warp, intermediate_flows

    def double_conv(cin: int, cout: int, k: int, spec: UNetSpec) -> nn.Sequential:
        layers: list[nn.Module] = []
        for c in (cin, cout):
            layers.append(nn.Conv2d(c, cout, k, padding=k // 2))
            if spec.batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(spec.leak, inplace=True))
        return nn.Sequential(*layers)

    class UNet(nn.Module):
        """Level i > 0 starts with a 2x2 average pool; each decoder step upsamples, concatenates
        the skip and applies a double conv."""

        def __init__(self, cin: int, cout: int, spec: UNetSpec):
            super().__init__()
            w, levels = spec.widths, len(spec.widths)
            self.spec = spec
            self.enc = nn.ModuleList()
            prev = cin
            for i, width in enumerate(w):
                self.enc.append(double_conv(prev, width, spec.kernels[i] if i < len(spec.kernels) else 3, spec))
                prev = width
            # UNet_simple narrows on the way up (512+512 -> 256, ...); UNet_flow keeps the skip's width
            outs = [w[i - 1] if spec.narrowing and i > 0 else w[i] for i in range(levels - 1)]
            ins = [w[-1] if i == levels - 2 else outs[i + 1] for i in range(levels - 1)]
            self.up = nn.ModuleList(nn.Identity() if spec.bilinear else nn.ConvTranspose2d(c, c, 2, stride=2)
                                    for c in ins)
            self.dec = nn.ModuleList(double_conv(ins[i] + w[i], outs[i], 3, spec) for i in range(levels - 1))
            self.head = nn.Conv2d(outs[0], cout, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skips = []
            for i, block in enumerate(self.enc):
                x = block(F.avg_pool2d(x, 2) if i else x)
                skips.append(x)
            for i in range(len(self.dec) - 1, -1, -1):
                x = (F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True) if self.spec.bilinear
                     else self.up[i](x))
                x = self.dec[i](torch.cat([skips[i], x], dim=1))
            return self.head(x)

    class CCDNet2(nn.Module):
        """forward(gif [-1,1] NCHW, palette [N,256,3] in [0,1]) -> restored in [-1,1]."""

        def __init__(self, width: int = CCDNET_WIDTH):
            super().__init__()
            self.net1 = UNet(3, 3, ccdnet_unet(width))
            self.net2 = UNet(12, 3, ccdnet_unet(width))

        def forward(self, gif: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
            x = torch.tanh(self.net1(gif))
            q = requantize((x + 1) / 2, palette) * 2 - 1  # the estimate re-quantized to the frame's palette
            return torch.tanh(x + self.net2(torch.cat([x, gif, q, gif - q], dim=1)))

    class SloMo(nn.Module):
        """forward(gif0, gif1, img0, img1 in [-1,1] NCHW, t [N]) -> frame at t."""

        def __init__(self, width: int = SLOMO_WIDTH):
            super().__init__()
            self.net_a = UNet(6, 2, slomo_unet(width))
            self.net_b = UNet(16, 5, slomo_unet(width))

        def forward(self, gif0, gif1, img0, img1, t):
            f01 = torch.tanh(self.net_a(torch.cat([gif0, gif1], dim=1))) * MAX_FLOW
            f10 = torch.tanh(self.net_a(torch.cat([gif1, gif0], dim=1))) * MAX_FLOW
            ft0, ft1 = intermediate_flows(f01, f10, t)
            w0, w1 = backward_warp(img0, ft0), backward_warp(img1, ft1)
            r = torch.tanh(self.net_b(torch.cat([img0, img1, w0, w1, ft0 / MAX_FLOW, ft1 / MAX_FLOW], dim=1)))
            ft0, ft1, vis = r[:, 0:2] * MAX_FLOW, r[:, 2:4] * MAX_FLOW, (r[:, 4:5] + 1) / 2
            tt = t.view(-1, 1, 1, 1)
            a, b = (1 - tt) * vis, tt * (1 - vis)
            return (a * backward_warp(img0, ft0) + b * backward_warp(img1, ft1)) / (a + b + 1e-8)

    return SimpleNamespace(UNet=UNet, CCDNet2=CCDNet2, SloMo=SloMo)


def ccdnet2(seed: int = 0, width: int = CCDNET_WIDTH):
    """The paper's CCDNet-2, random weights, eval mode (BatchNorm uses its running statistics)."""
    import torch

    torch.manual_seed(seed)
    return _classes().CCDNet2(width).eval()


def slomo(seed: int = 0, width: int = SLOMO_WIDTH):
    """The paper's SuperSlomo adaptation, random weights, eval mode."""
    import torch

    torch.manual_seed(seed)
    return _classes().SloMo(width).eval()


def unet(cin: int, cout: int, spec: UNetSpec):
    """One U-Net of either paper network (e.g. `unet(3, 3, ccdnet_unet())` is CCDNet-1's)."""
    return _classes().UNet(cin, cout, spec).eval()
