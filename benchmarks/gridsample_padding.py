"""ONNX Runtime CPU GridSample: padding_mode "border" against "zeros", one op, interleaved.

    .venv/bin/python benchmarks/gridsample_padding.py [--size 480x352] [--batch 1 2] [--reps 30]

Why it exists: `nets/warp.py` replicates the frame edge by clamping the sampling position and
sampling with zeros padding instead of asking GridSample for border padding. This measures the
op alone (bilinear, align_corners=0, opset 17, one thread, random image and a random flow of up
to 8 px) so the choice can be rechecked on another CPU or ONNX Runtime version. Prints the
median milliseconds per mode and the ratio; the two modes' outputs are also compared on
in-frame positions, where they must agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


def _model(padding: str) -> bytes:
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode="bilinear",
                            padding_mode=padding, align_corners=0)
    graph = helper.make_graph(
        [node], f"gridsample_{padding}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "C", "H", "W"]),
         helper.make_tensor_value_info("grid", TensorProto.FLOAT, ["N", "H", "W", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C", "H", "W"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _session(padding: str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(_model(padding), so, providers=["CPUExecutionProvider"])


def _grid(n: int, h: int, w: int, rng: np.random.Generator, clamp: bool) -> np.ndarray:
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    px = xs[None] + rng.uniform(-8, 8, (n, h, w)).astype(np.float32)
    py = ys[None] + rng.uniform(-8, 8, (n, h, w)).astype(np.float32)
    if clamp:  # what nets/warp.py does before a zeros-padded sample
        px, py = np.clip(px, 0, w - 1), np.clip(py, 0, h - 1)
    return np.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], axis=-1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="480x352", help="WxH (the interpolator pads to multiples of 32)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=30)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    rng = np.random.default_rng(0)
    sess = {p: _session(p) for p in ("border", "zeros")}
    print(f"onnxruntime {ort.__version__}, {w}x{h}x3, 1 thread, {a.reps} interleaved reps")
    for n in a.batch:
        x = rng.random((n, 3, h, w), dtype=np.float32)
        raw, clamped = _grid(n, h, w, rng, False), _grid(n, h, w, rng, True)
        feeds = {"border": {"x": x, "grid": raw}, "zeros": {"x": x, "grid": clamped}}
        # Same positions, clamped for zeros: the two must give the same picture.
        same = sess["border"].run(None, {"x": x, "grid": clamped})[0]
        diff = float(np.abs(same - sess["zeros"].run(None, feeds["zeros"])[0]).max())
        times: dict[str, list[float]] = {"border": [], "zeros": []}
        for _ in range(3):
            for p in times:
                sess[p].run(None, feeds[p])
        for _ in range(a.reps):
            for p in times:
                t = time.perf_counter()
                sess[p].run(None, feeds[p])
                times[p].append((time.perf_counter() - t) * 1e3)
        b, z = statistics.median(times["border"]), statistics.median(times["zeros"])
        print(f"N={n}: border {b:.2f} ms, zeros {z:.2f} ms, border/zeros {b / z:.2f}x; "
              f"max |border - zeros| on clamped positions {diff:.1e}")


if __name__ == "__main__":
    main()
