"""Memory budget for `restore`: batch and tile sizes follow from it, so peak RSS stays under it.

Peak host memory of a restore is modelled as

    BASE + frame pixels x (FRAME_BYTES[format] + BATCH_FRAME_BYTES x (batch - 1))
         + sum over the two concurrent networks of (bytes per pixel x batch x pixels per call + fixed)

FRAME_BYTES covers what scales with the whole frame: decoder canvas, the frames in the
bounded queues, the padded/tiled copies and blend buffers, and the encoder's own frames
(x264's lookahead, libvpx's lag). The network rows are ONNX Runtime CPU working memory per
pixel of one batch item. Both tables are measured, not guessed; re-measure with

    python -m trt_gif2video.bench.activation            # network rows (NETWORK_BYTES)
    python -m trt_gif2video.bench.activation --frames   # FRAME_BYTES (needs the repo's tests/)

and paste the printed rows here. TensorRT and CUDA keep activations on the GPU: there the
network rows do not apply to host memory (the engine's profile bounds the call size).

Checked against measurement (2026-12-02, 2 random 16-colour frames, --interp 2, MP4, shipped
models, `/usr/bin/time -v trt-gif2video restore gN.gif -o oN.mp4 -y --threads 1`, load ~2-3):
1024x1024 planned "batch 1, whole frames, about 2.16 GiB", measured peak RSS 1.26 GiB (8 s);
2048x2048 planned whole frames, 7.65 GiB, measured 4.42 GiB (40 s). The default limits accept
8192x8192 frames, but on a 23 GB machine the default budget (~11 GiB) refuses them up front
("need about 12.9 GiB"); the largest square it accepts is about 6144x6144 (tiles <= 768 px plus
each network's receptive-field margin, 10.9 GiB modelled; not run: hours of CPU).
"""

from __future__ import annotations

import os
from typing import Mapping
from dataclasses import dataclass

from .config import Backend, OutputFormat
from .errors import BadArgumentError

GIB = 1 << 30
MIB = 1 << 20

# python -m trt_gif2video.bench.activation --sizes 128,256,384,512 --precision fp32
# (2026-12-02, onnxruntime CPU with the shared kSameAsRequested arena of runtime/backends/onnxruntime.py,
#  1 thread, main's chunked palette step; bytes per pixel of one batch item, fixed bytes;
#  interp 128x128 +12 MiB ... 512x512 +210 MiB; dither +4 ... +44 MiB)
NETWORK_BYTES: dict[str, tuple[int, int]] = {
    "dequant": (637, 0),
    "interp": (842, 0),
    "dither": (174, 945700),
}
# python -m trt_gif2video.bench.activation --frames --frame-sizes 512,1024,1536
# (2026-12-02, same arena; stand-in networks, --interp 2; slope of peak RSS over frame pixels, and the
#  format's fixed part above the lossless formats' intercept of ~260 MiB: x264/libvpx state, and the
#  GIF writer's colour tables; 8 min on 2 shared cores)
FRAME_BYTES: dict[OutputFormat, int] = {
    OutputFormat.MP4: 149,
    OutputFormat.WEBM: 197,
    OutputFormat.APNG: 80,
    OutputFormat.GIF: 115,
    OutputFormat.PNG_DIR: 81,
}
FORMAT_FIXED_BYTES: dict[OutputFormat, int] = {
    OutputFormat.MP4: 42 * MIB,
    OutputFormat.WEBM: 64 * MIB,
    OutputFormat.APNG: 4 * MIB,
    OutputFormat.GIF: 333 * MIB,
    OutputFormat.PNG_DIR: 0,
}
# Same command, mp4 1024x1024 at batch 1 and 4: 457 and 905 MiB (the arena keeps a batch's
# buffers of the stand-ins and the bounded queues hold more frames): 149 B per pixel per extra item.
BATCH_FRAME_BYTES = 149
# Interpreter, numpy, PyAV, ONNX Runtime and the three loaded models (the lossless formats'
# intercept above is ~260 MiB). A 320x320 restore with the shipped networks
# (tests/test_hostile.py::test_real_models_stay_under_the_memory_budget's child, 2026-12-02) peaks at
# 327 MiB whole-frame batch 1 and 344 MiB batch 2; the model below says 526 and 708 MiB.
BASE_BYTES = 256 * MIB
# A transparent GIF's frames carry alpha beside RGB (stages.alpha): 4 bytes per pixel where 3 were,
# in the decoder's canvas, the queues and the writers; scaled, not measured separately.
ALPHA_FACTOR = 4 / 3
# `restore --temporal`: its stage's queue and the blend's float buffers. Peak RSS with and without it
# (2026-12-02, 2-frame GIFs, MP4): +96 MiB at 1024x1024, +95 MiB at 1536x1536; the larger slope is kept.
TEMPORAL_BYTES = 96
MARGIN = 1.15  # allocator slack: plans aim 15 % under the budget

DEFAULT_FRACTION = 0.5  # of MemAvailable
DEFAULT_CAP = 16 * GIB
MIN_BUDGET = 512 * MIB
TILE_SIDES = (1024, 768, 512, 384, 256, 192, 128)  # tried largest first; multiples of the largest stride (32)


def mem_available() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def default_budget() -> int:
    """Half the memory available now, at most DEFAULT_CAP, at least MIN_BUDGET."""
    avail = mem_available()
    if avail is None:
        return 4 * GIB
    return max(MIN_BUDGET, min(DEFAULT_CAP, int(avail * DEFAULT_FRACTION)))


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5GiB', '2000000000' -> bytes."""
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": MIB, "G": GIB, "T": 1 << 40}.get(s[-1:], 1)
    num = s[:-1] if scale != 1 else s
    try:
        value = float(num)
    except ValueError:
        raise BadArgumentError(f'"--memory-budget" must be a size like 4G or 512M, got "{text}"') from None
    if not value > 0:
        raise BadArgumentError(f'"--memory-budget" must be > 0, got "{text}"')
    return int(value * scale)


@dataclass(frozen=True)
class MemoryPlan:
    budget: int
    batch: int
    tile: int | None  # max tile side; None = whole frames
    estimate: int  # modelled peak bytes

    def line(self) -> str:
        tile = "whole frames" if self.tile is None else f"tiles <= {self.tile} px"
        return (f"memory plan: batch {self.batch}, {tile}, about {self.estimate / GIB:.2f} GiB "
                f"of a {self.budget / GIB:.2f} GiB budget")


def _call_bytes(net: str, batch: int, pixels: int) -> int:
    slope, fixed = NETWORK_BYTES[net]
    return slope * batch * pixels + fixed


def _call_pixels(ph: int, pw: int, tile: int | None, margin: int | None) -> int:
    """Pixels one network call sees: the whole padded frame, or a tile plus its receptive-field
    margin on each side (`stages.pad.tile_windows`), never more than the frame."""
    if tile is None or margin is None:  # margin None: the network is not tiled
        return ph * pw
    side = tile + 2 * margin
    return min(ph, side) * min(pw, side)


def estimate(width: int, height: int, fmt: OutputFormat, batch: int, tile: int | None, *,
             compare: bool = False, host_activations: bool = True,
             margins: Mapping[str, int | None] | None = None, alpha: bool = False, temporal: bool = False) -> int:
    """Modelled peak RSS in bytes of restoring width x height frames.

    margins: each network's tile margin (px per side; None = not tileable), 0 when not given.
    alpha: the GIF has transparency, so every held frame carries a fourth (alpha) byte per pixel."""
    pixels = width * height
    per_pixel = FRAME_BYTES[fmt] + BATCH_FRAME_BYTES * (batch - 1)
    if alpha:  # RGB frames become RGB + alpha plane throughout the queues and writers
        per_pixel = per_pixel * ALPHA_FACTOR
    frame = int(per_pixel * pixels) + FORMAT_FIXED_BYTES[fmt] + (TEMPORAL_BYTES * pixels if temporal else 0)
    frame += FRAME_BYTES[OutputFormat.MP4] * 2 * pixels + FORMAT_FIXED_BYTES[OutputFormat.MP4] if compare else 0
    if not host_activations:
        return int(MARGIN * (BASE_BYTES + frame))
    margins = {"dequant": 0, "interp": 0} if margins is None else margins
    pad = lambda n: -(-n // 32) * 32  # noqa: E731 - frames are padded to the stride before a call
    ph, pw = pad(height), pad(width)
    # margins are looked up only for tiles: reading one may parse a graph (pipeline._tile_margins)
    nets = sum(_call_bytes(net, batch, _call_pixels(ph, pw, tile, margins.get(net, 0) if tile is not None else 0))
               for net in ("dequant", "interp"))
    return int(MARGIN * (BASE_BYTES + frame + nets))


def plan(width: int, height: int, fmt: OutputFormat, budget: int, *, batch: int = 4, tile: int | None = None,
         compare: bool = False, backend: Backend = Backend.ONNXRUNTIME, what: str = "GIF",
         margins: Mapping[str, int | None] | None = None, alpha: bool = False, temporal: bool = False) -> MemoryPlan:
    """The largest tile, then the largest batch (up to the requested ones) whose estimate fits `budget`.

    Raises BadArgumentError (one line) when even batch 1 with the smallest tile does not fit:
    the frames alone are too big for the budget.
    """
    host = backend in (Backend.ONNXRUNTIME, Backend.TORCH, Backend.AUTO)
    sides: list[int | None] = [tile] if tile is not None else [None]
    sides += [s for s in TILE_SIDES if tile is None or s < tile]
    for side in sides:
        for b in range(batch, 0, -1):
            need = estimate(width, height, fmt, b, side, compare=compare, host_activations=host,
                            margins=margins, alpha=alpha, temporal=temporal)
            if need <= budget:
                return MemoryPlan(budget, b, side, need)
    need = estimate(width, height, fmt, 1, TILE_SIDES[-1], compare=compare, host_activations=host,
                    margins=margins, alpha=alpha, temporal=temporal)
    raise BadArgumentError(
        f"{what}: {width}x{height} frames need about {need / GIB:.1f} GiB, over the memory budget of "
        f"{budget / GIB:.1f} GiB: raise --memory-budget or lower --max-pixels")
