"""Accuracy gates of the derived files `build` makes on first use (not shipped): FP16 and TensorRT Q/DQ INT8
of the dequantizers and the interpolator, from the shipped FP32 ONNX and corpus ranges (`<stem>.calib.json`).

    PYTHONPATH=. .venv/bin/python benchmarks/derived_gates.py OUT_DIR [--frames 32]

The same gate `export --derived` applies to the shipped files (`export.derived.write_flavours`: PSNR drop
against the clean frames on the corpus validation split; FP16 in onnx's reference evaluator on 4 crops).
Writes the files to a temporary folder (nothing into the package) and `derived_gates.md` to OUT_DIR.
Needs the corpus (`trt-gif2video data fetch`).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

from trt_gif2video.derived import Flavour, ranges_name
from trt_gif2video.export.derived import write_flavours
from trt_gif2video.export.int8 import read_ranges
from trt_gif2video.models import weights_dir

STEMS = ("dequant_nodither", "dequant_dither", "interp")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # onnxconverter-common: one warning per rounded FP32 constant
    lines = ["# Gates of the FP16 / TensorRT INT8 files made on first use", "",
             f"Command: `PYTHONPATH=. .venv/bin/python benchmarks/derived_gates.py {args.out} --frames {args.frames}`", ""]
    with tempfile.TemporaryDirectory(prefix="g2v-gates-") as tmp:
        for stem in STEMS:
            fp32 = weights_dir() / f"{stem}.onnx"
            calibration = read_ranges(weights_dir() / ranges_name(stem))
            for f in write_flavours(fp32, (Flavour.INT8, Flavour.FP16), Path(tmp), calibration, args.frames):
                lines.append(f"- {f.line}")
                print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "derived_gates.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
