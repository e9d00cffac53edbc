"""Building blocks of the dequantizer: a no-BN U-Net and the palette re-quantization.

No BatchNorm: training batches are small and CPU-bound, and a plain conv+ReLU graph exports
and fuses identically in ONNX Runtime and TensorRT.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """U-Net with one width per level: 2x2 avg-pool down, 2x2 transposed conv up, skip concat.

    len(widths) levels -> input stride 2 ** (len(widths) - 1). Two 3x3 convs per level, as in
    the paper's UNet_simple, with the channel counts cut for the edge.
    """

    def __init__(self, cin: int, cout: int, widths: tuple[int, ...]):
        super().__init__()
        self.enc = nn.ModuleList()
        prev = cin
        for w in widths:
            self.enc.append(nn.Sequential(conv_relu(prev, w), conv_relu(w, w)))
            prev = w
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                for i in range(len(widths) - 1))
        self.dec = nn.ModuleList(nn.Sequential(conv_relu(2 * widths[i], widths[i]), conv_relu(widths[i], widths[i]))
                                 for i in range(len(widths) - 1))
        self.head = nn.Conv2d(widths[0], cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for i in range(len(self.dec) - 1, -1, -1):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], dim=1))
        return self.head(x)


def requantize(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Nearest palette colour of every pixel (squared RGB distance), as an image.

    x: float NCHW in [0,1]; palette: float [N,256,3] in [0,1] (padded, see palette.pad_palette).
    Works on the 8-bit-rounded estimate in 0..255 units: distances between integers are then
    exact in float32 (< 2^24), so the argmin matches `quantize.nearest_palette_index` bit for
    bit, ties to the lowest index as ONNX ArgMin does. Only Round, MatMul, ArgMin and
    GatherElements: ONNX/TensorRT friendly. No gradient: argmin has none, and the result is a
    constant input for the next refinement step (the estimate channel carries the gradient).
    """
    with torch.no_grad():
        n, c, h, w = x.shape
        xs = torch.round(x.clamp(0.0, 1.0) * 255.0).reshape(n, c, h * w)  # [N,3,HW]
        pal = torch.round(palette * 255.0)  # [N,K,3]
        # |x|^2 is constant per pixel, so argmin over |p|^2 - 2 p.x is the nearest colour.
        dist = (pal * pal).sum(-1, keepdim=True) - 2.0 * torch.bmm(pal, xs)  # [N,K,HW]
        idx = dist.argmin(dim=1, keepdim=True)  # [N,1,HW]
        out = torch.gather(pal.transpose(1, 2), 2, idx.expand(n, c, h * w))  # [N,3,HW]
        return (out / 255.0).reshape(n, c, h, w)
