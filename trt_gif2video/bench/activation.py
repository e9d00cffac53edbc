"""Measure each network's peak host memory per pixel under ONNX Runtime (CPU), for `budget.py`.

    python -m trt_gif2video.bench.activation            # prints the table to paste into budget.py
    python -m trt_gif2video.bench.activation --sizes 96,160,224 --precision fp32

Every (network, size) runs in a fresh subprocess: load the session, note VmHWM, run one
batch-1 call on a size x size frame, note VmHWM again. The growth is the call's working
memory (activations, ORT's arena, the inputs and outputs); a least-squares line through
the sizes gives bytes per pixel (slope) and a fixed part (intercept). Sessions use one
intra-op thread, as the measurement is about memory, not speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, sys
import numpy as np
from trt_gif2video.bench.memory import peak_rss_bytes
from trt_gif2video.config import Backend, Precision
from trt_gif2video.models import Network, Variant
from trt_gif2video.palette import pad_palette
from trt_gif2video.runtime.backends.base import SessionOptions, open_session

network, side, precision = Network(sys.argv[1]), int(sys.argv[2]), Precision(sys.argv[3])
variant = Variant.NODITHER if network is Network.DEQUANT else None
rng = np.random.default_rng(0)
img = lambda: rng.integers(0, 256, (1, side, side, 3), dtype=np.uint8)
with open_session(network, Backend.ONNXRUNTIME, precision, variant=variant, options=SessionOptions(threads=1)) as s:
    if network is Network.DEQUANT:
        feeds = {"gif": img(), "palette": pad_palette(rng.integers(0, 256, (32, 3), dtype=np.uint8))[None]}
    elif network is Network.INTERP:
        feeds = {"gif0": img(), "gif1": img(), "img0": img(), "img1": img(), "t": np.full(1, 0.5, np.float32)}
    else:
        feeds = {"gif": img()}
    loaded = peak_rss_bytes()
    s.infer(feeds)
    print(json.dumps({"loaded": loaded, "peak": peak_rss_bytes()}))
"""


_FRAMES_CHILD = r"""
import json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[4])
import runtime_standins as standins
from trt_gif2video.bench.memory import peak_rss_bytes
from trt_gif2video.config import Backend, OutputFormat
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions

side, fmt, tmp = int(sys.argv[1]), OutputFormat(sys.argv[2]), Path(sys.argv[3])
models = standins.write_models(tmp / "models")
rng = np.random.default_rng(0)
pal = rng.integers(0, 256, (32, 3), dtype=np.uint8)
frames = [pal[rng.integers(0, 32, (side, side))] for _ in range(6)]
gif = standins.write_gif(tmp / "in.gif", frames, [4] * 6)
opts = RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, fmt=fmt, tile=128, batch=int(sys.argv[5]), memory_budget=1 << 40,
                      session=SessionOptions(threads=1, models_dir=models))
ext = {"png": "frames"}.get(fmt.value, "out." + {"apng": "png"}.get(fmt.value, fmt.value))
loaded = peak_rss_bytes()
restore(gif, tmp / ext, opts)
print(json.dumps({"loaded": loaded, "peak": peak_rss_bytes()}))
"""


def measure_frames(side: int, fmt: str, batch: int = 1) -> dict:
    import tempfile
    from pathlib import Path

    tests = Path(__file__).resolve().parents[2] / "tests"
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _FRAMES_CHILD, str(side), fmt, tmp, str(tests), str(batch)],
                             check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(network: str, side: int, precision: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, network, str(side), precision],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """(slope bytes/pixel, intercept bytes) of the least-squares line through (pixels, bytes)."""
    n = len(points)
    mx = sum(p for p, _ in points) / n
    my = sum(b for _, b in points) / n
    sxx = sum((p - mx) ** 2 for p, _ in points)
    slope = sum((p - mx) * (b - my) for p, b in points) / sxx if sxx else my / mx
    return slope, my - slope * mx


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="128,256,384", help="frame sides to measure (comma-separated)")
    ap.add_argument("--networks", default="dequant,interp,dither")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--frames", action="store_true", help="measure budget.FRAME_BYTES per output format instead")
    ap.add_argument("--frame-sizes", default="512,1024,1536")
    ap.add_argument("--formats", default="mp4,webm,apng,gif,png")
    args = ap.parse_args(argv)
    if args.frames:
        _frames_table(args)
        return
    sides = [int(s) for s in args.sizes.split(",")]
    table = {}
    for net in args.networks.split(","):
        points = []
        for side in sides:
            m = measure(net, side, args.precision)
            grown = m["peak"] - m["loaded"]
            points.append((side * side, grown))
            print(f"# {net} {side}x{side}: loaded {m['loaded'] / 2**20:.0f} MiB, call +{grown / 2**20:.1f} MiB",
                  file=sys.stderr)
        slope, intercept = fit(points)
        table[net] = (round(slope), max(0, round(intercept)))
    print(f"# python -m trt_gif2video.bench.activation --sizes {args.sizes} --precision {args.precision}")
    for net, (slope, intercept) in table.items():
        print(f'    "{net}": ({slope}, {intercept}),  # bytes per pixel of one batch item, fixed bytes')


def _frames_table(args) -> None:
    sides = [int(s) for s in args.frame_sizes.split(",")]
    rows = {}
    for fmt in args.formats.split(","):
        points = []
        for side in sides:
            m = measure_frames(side, fmt)
            points.append((side * side, m["peak"]))
            print(f"# {fmt} {side}x{side}: peak {m['peak'] / 2**20:.0f} MiB", file=sys.stderr)
        rows[fmt] = fit(points)
    side = sides[len(sides) // 2]  # each extra batch item: one more frame in every batch-sized buffer
    one, four = (measure_frames(side, "mp4", 1)["peak"], measure_frames(side, "mp4", 4)["peak"])
    per_item = (four - one) / 3 / (side * side)
    print(f"# python -m trt_gif2video.bench.activation --frames --frame-sizes {args.frame_sizes}")
    for fmt, (slope, intercept) in rows.items():
        print(f"    OutputFormat.{fmt.upper() if fmt != 'png' else 'PNG_DIR'}: {round(slope)},  "
              f"# intercept {intercept / 2**20:.0f} MiB")
    print(f"BATCH_FRAME_BYTES = {max(0, round(per_item))}  # mp4 {side}x{side}: batch 1 {one / 2**20:.0f} MiB, "
          f"batch 4 {four / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
