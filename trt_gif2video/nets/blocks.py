"""Building blocks of the dequantizer: a no-BN U-Net and the palette re-quantization.

No BatchNorm: training batches are small and CPU-bound, and a plain conv+ReLU graph exports
and fuses identically in ONNX Runtime and TensorRT.
"""

from __future__ import annotations

import warnings

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


# Palette entries compared per step of the re-quantization. 32 keeps every intermediate below a
# 32-channel feature map and lets an entry's chunk-local index ride in the low 5 bits of its
# distance key exactly (see `nearest_index`).
PALETTE_CHUNK = 32
_MAX_D = 3 * 255 * 255  # |p|^2 - 2 p.x lies in [-_MAX_D, _MAX_D] for p, x in 0..255


def _static_size(t: torch.Tensor, dim: int) -> int:
    """A dimension the deploy contract fixes (the palette's 256 entries) as a Python int.

    Under the ONNX export's tracer this is meant to be a constant of the graph, so its
    "trace might not generalize" warning is expected here and silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return int(t.shape[dim])


def _tf32_exact_parts(v: torch.Tensor) -> list[torch.Tensor]:
    """Split integers 0 <= v < 2^24 into three addends with <= 11 significant bits each.

    TF32 (what TensorRT may run FP32 matmuls in) keeps 11 significant bits of each operand;
    these parts survive it exactly, and a float32 accumulator adds them back exactly.
    """
    hi = torch.floor(v / 2.0**22)
    rest = v - hi * 2.0**22
    mid = torch.floor(rest / 2.0**11)
    return [hi * 2.0**22, mid * 2.0**11, rest - mid * 2.0**11]


def nearest_index(x: torch.Tensor, palette: torch.Tensor, chunk: int = PALETTE_CHUNK) -> torch.Tensor:
    """Index of the nearest palette colour (squared RGB distance) of every pixel, [N,1,H*W] int64.

    x: float NCHW in [0,1]; palette: float [N,K,3] in [0,1] (padded, see palette.pad_palette).
    Works on the 8-bit-rounded estimate in 0..255 units, so every value below is an integer
    under 2^24, exact in float32, and the index matches `quantize.nearest_palette_index` bit for
    bit, ties to the lowest index.

    The palette is scanned `chunk` entries at a time with a running minimum, so no tensor
    exceeds [N, H*W, chunk] (the old single-shot form built [N,256,H*W]: 4e9 elements at
    8x1088x1920). Inside a chunk the key 32 * (|p|^2 - 2 p.x + _MAX_D) + local_index is unique
    per entry (<= 12.5e6 < 2^24), so its minimum finds the nearest entry and the lowest index
    among equals without relying on any backend's ArgMin tie rule; across chunks a strict Less
    keeps the earlier chunk on ties.

    One matmul per chunk makes the keys: [x, 1, 1, 1] against [-64 p, bias in three parts], every
    operand with <= 11 significant bits so a TF32 matmul is exact too; the keys come out
    pixel-major so the minimum runs over the contiguous last axis (ONNX Runtime's ReduceMin over
    a middle axis, and a separate bias Add, each cost more than the matmul). The select between
    chunks is arithmetic (Where is slow in ONNX Runtime). Ops: Round, Concat, Transpose, MatMul,
    ReduceMin, Div, Floor, Mul, Sub, Add, Less, Cast, Min: all in TensorRT's ONNX support
    (engine/trt_onnx_ops.toml).
    """
    if not 1 <= chunk <= PALETTE_CHUNK:
        raise ValueError(f"nearest_index: chunk must be in 1..{PALETTE_CHUNK} (exactness bound), got {chunk}")
    n, c, h, w = x.shape
    xs = torch.round(x.clamp(0.0, 1.0) * 255.0).reshape(n, c, h * w)  # [N,3,HW]
    xt = torch.cat([xs, torch.ones_like(xs)], dim=1).transpose(1, 2)  # [N,HW,6]: r, g, b, 1, 1, 1
    pal = torch.round(palette * 255.0)  # [N,K,3]
    entries = _static_size(palette, 1)
    if entries % chunk:  # whole chunks: pad by repeating entry 0, which never wins (an earlier equal entry does)
        pal = torch.cat([pal, pal[:, :1].expand(n, chunk - entries % chunk, 3)], dim=1)
        entries += chunk - entries % chunk
    # local index of every entry in its chunk: a constant of the graph (Python ints, folded)
    local = torch.arange(entries, dtype=x.dtype, device=x.device).remainder(chunk).reshape(1, entries, 1)
    bias = ((pal * pal).sum(-1, keepdim=True) + _MAX_D) * chunk + local  # [N,K,1], < 2^24
    weights = torch.cat([pal * (-2.0 * chunk), *_tf32_exact_parts(bias)], dim=2).transpose(1, 2)  # [N,6,K]
    best_d = best_i = None
    for start in range(0, entries, chunk):
        key = torch.bmm(xt, weights[:, :, start : start + chunk])  # [N,HW,chunk]
        low = key.amin(dim=2)  # [N,HW] (a trailing 1 would put ORT's elementwise ops on a slow broadcast path)
        d = torch.floor(low / chunk)  # |p|^2 - 2 p.x + _MAX_D of the chunk's winner
        i = low - d * chunk + start  # its palette index
        if best_d is None:
            best_d, best_i = d, i
        else:
            better = (d < best_d).to(x.dtype)  # strict: an earlier chunk wins ties
            best_i = best_i + (i - best_i) * better
            best_d = torch.minimum(d, best_d)
    return best_i.reshape(n, 1, h * w).long()


def requantize(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Nearest palette colour of every pixel (see `nearest_index`), as an image in [0,1].

    No gradient: the index has none, and the result is a constant input for the next
    refinement step (the estimate channel carries the gradient).
    """
    with torch.no_grad():
        n, c, h, w = x.shape
        idx = nearest_index(x, palette)  # [N,1,HW]
        pal = torch.round(palette * 255.0)
        out = torch.gather(pal.transpose(1, 2), 2, idx.expand(n, c, h * w))  # [N,3,HW]
        return (out / 255.0).reshape(n, c, h, w)
