"""Backward warping and SuperSlomo's intermediate-flow approximation (torch, export-friendly).

The sampling grid is built from the input's own shape with torch ops, so an ONNX export
keeps H and W dynamic (a numpy grid would freeze one size into the graph). Flows and grid
coordinates are always FP32: FP16 coordinates lose whole pixels at 1080p.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Border replication: pixels pulled from outside the frame repeat the edge instead of
# fading to black, which the blend would otherwise have to learn to hide. It is done by
# clamping the sampling position to the frame ([0, W-1] x [0, H-1], exactly what
# padding_mode="border" does) and sampling with "zeros" padding: ONNX Runtime's CPU
# GridSample runs 3.6x faster with zeros than with border padding (480x352x3: 3.8 vs 13.6
# ms, benchmarks/gridsample_padding.py), and a clamped position never reads outside.
PADDING_MODE = "zeros"
ALIGN_CORNERS = False


def backward_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """out[y, x] = img[y + flow_y, x + flow_x], bilinear. img [N,C,H,W], flow [N,2,H,W] (x, y) in pixels."""
    n, _, h, w = img.shape
    flow = flow.float()
    xs = torch.arange(w, device=img.device, dtype=torch.float32).view(1, 1, w)
    ys = torch.arange(h, device=img.device, dtype=torch.float32).view(1, h, 1)
    # Clamp to the frame (border replication); the upper bounds W-1 and H-1 are sliced from
    # the index ramps, so an export keeps them dynamic.
    px = torch.minimum((xs + flow[:, 0]).clamp(min=0.0), xs[..., -1:])
    py = torch.minimum((ys + flow[:, 1]).clamp(min=0.0), ys[:, -1:, :])
    # align_corners=False: pixel centre x maps to (2x + 1) / W - 1 in [-1, 1].
    gx = (2.0 * px + 1.0) / w - 1.0
    gy = (2.0 * py + 1.0) / h - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    out = F.grid_sample(img.float(), grid, mode="bilinear", padding_mode=PADDING_MODE,
                        align_corners=ALIGN_CORNERS)
    return out.to(img.dtype)


def intermediate_flows(f01: torch.Tensor, f10: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SuperSlomo's linear-motion approximation of (F_t->0, F_t->1) from F_0->1, F_1->0; t is [N]."""
    t = t.float().view(-1, 1, 1, 1)
    ft0 = -(1.0 - t) * t * f01 + t * t * f10
    ft1 = (1.0 - t) * (1.0 - t) * f01 - t * (1.0 - t) * f10
    return ft0, ft1
