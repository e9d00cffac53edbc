"""Deploy form of every network (docs/CONTRACTS.md): uint8 NHWC in, normalization inside.

These wrappers are what gets exported to ONNX, so the runtime feeds decoded frames as they
are. Images come out as uint8 (rounded, not truncated) or, for 10-bit encoders, float16 in
[0,1] (`image_dtype=torch.float16`).
"""

from __future__ import annotations

import contextlib
import contextvars

import torch
import torch.nn as nn

from .dequant import Dequantizer
from .dither import DitherDetector


# Set by `unrounded_images()`: the export's check compares torch and ONNX Runtime before the
# final uint8 rounding, without disturbing rounding inside the networks (the palette step).
_UNROUNDED = contextvars.ContextVar("unrounded_images", default=False)


@contextlib.contextmanager
def unrounded_images():
    """Within: uint8 image outputs come out as float32 on the 0..255 scale, not rounded or cast."""
    token = _UNROUNDED.set(True)
    try:
        yield
    finally:
        _UNROUNDED.reset(token)


def to_nchw(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float [N,3,H,W] in [0,1].

    Cast first: TensorRT takes UINT8 only as a network input that feeds a Cast directly
    (onnx-tensorrt docs/operators.md), so a Transpose of the uint8 tensor cannot be parsed.
    """
    return (x.float() / 255.0).permute(0, 3, 1, 2)


def to_image(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float [N,3,H,W] -> [N,H,W,3] clamped to [0,1]: uint8 rounded to nearest, or float16.

    The uint8 Cast is the graph's last op (TensorRT: a UINT8 output must come from a Cast).
    """
    x = x.clamp(0.0, 1.0).permute(0, 2, 3, 1)
    if dtype == torch.uint8:
        if _UNROUNDED.get():
            return x * 255.0
        return torch.round(x * 255.0).to(torch.uint8)
    return x.to(dtype)


class DequantDeploy(nn.Module):
    """(gif uint8 [N,H,W,3], palette uint8 [N,256,3]) -> restored [N,H,W,3]."""

    def __init__(self, net: Dequantizer, image_dtype: torch.dtype = torch.uint8):
        super().__init__()
        self.net = net
        self.image_dtype = image_dtype

    def forward(self, gif: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
        return to_image(self.net(to_nchw(gif), palette.float() / 255.0), self.image_dtype)


class DitherDeploy(nn.Module):
    """gif uint8 [N,H,W,3] -> p_dither float32 [N]."""

    def __init__(self, net: DitherDetector):
        super().__init__()
        self.net = net

    def forward(self, gif: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(to_nchw(gif)))


class InterpDeploy(nn.Module):
    """(gif0, gif1, img0, img1 uint8 [N,H,W,3], t float32 [N]) -> frame_t [N,H,W,3]."""

    def __init__(self, net: nn.Module, image_dtype: torch.dtype = torch.uint8):
        super().__init__()
        self.net = net
        self.image_dtype = image_dtype

    def forward(self, gif0: torch.Tensor, gif1: torch.Tensor, img0: torch.Tensor, img1: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor:
        frame = self.net(to_nchw(gif0), to_nchw(gif1), to_nchw(img0), to_nchw(img1), t.float())
        return to_image(frame, self.image_dtype)


def wrap(net: nn.Module, image_dtype: torch.dtype = torch.uint8) -> nn.Module:
    """The deploy wrapper for any of the three training modules: eval mode, parameters frozen."""
    if isinstance(net, Dequantizer):
        out = DequantDeploy(net, image_dtype)
    elif isinstance(net, DitherDetector):
        out = DitherDeploy(net)
    else:
        from .interp import Interpolator  # the other engineer's module; imported only when needed

        if not isinstance(net, Interpolator):
            raise TypeError(f"deploy.wrap: no deploy form for {type(net).__name__}")
        out = InterpDeploy(net, image_dtype)
    return out.eval().requires_grad_(False)
