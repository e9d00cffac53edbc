"""Superseded: the shipped `<stem>.int8-cpu.onnx` files are this idea with corpus calibration and an
accuracy gate (`trt-gif2video export --derived`). Kept because results/cpu-20261124/int8-u8s8 was made by it.

CPU INT8 experiment: the shipped INT8 graphs use symmetric int8 activations (S8S8), which
TensorRT needs; this writes U8S8 variants (asymmetric uint8 activations, per-channel int8
weights, the same convolutions excluded) into a models folder the bench can run:

    .venv/bin/python benchmarks/int8_u8s8.py trt_gif2video/weights /tmp/u8s8
    .venv/bin/trt-gif2video bench --backend onnxruntime --precision fp32 --precision int8 \
        --sizes 480x270 --no-baseline --models-dir /tmp/u8s8 -o benchmarks/results/<run>/int8-u8s8

Why: ONNX Runtime's CPU provider fuses DequantizeLinear -> Conv -> QuantizeLinear into an
integer QLinearConv only for uint8 activations on x86; with int8 activations it keeps the float
Conv and adds the Q/DQ passes, so S8S8 INT8 is slower than FP32 there. Speed only: the
calibration frames are the bench's synthetic GIF, not the corpus (no accuracy claim).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

from trt_gif2video.bench.stages import FEEDS, synthetic_gif, time_decode
from trt_gif2video.export.int8 import head_convs, input_convs
from trt_gif2video.models import Network

MODELS = {"dequant_nodither": Network.DEQUANT, "interp": Network.INTERP}


class Frames(CalibrationDataReader):
    def __init__(self, feeds: list[dict]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        frames, _ = time_decode(synthetic_gif(Path(tmp) / "calib.gif", 128, 128, 9))
        for stem, network in MODELS.items():
            for suffix in (".onnx", ".safetensors"):
                shutil.copy2(src / f"{stem}{suffix}", dst / f"{stem}{suffix}")
            model = onnx.load(str(src / f"{stem}.onnx"))
            excluded = sorted(set(head_convs(model)) | set(input_convs(model)))
            make = FEEDS[network](frames, 1, 32)
            quantize_static(str(src / f"{stem}.onnx"), str(dst / f"{stem}.int8.onnx"), Frames([make(i) for i in range(8)]),
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv", "ConvTranspose"],
                            per_channel=True, nodes_to_exclude=excluded, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"QuantizeBias": False})
            print(f"{dst / stem}.int8.onnx: U8S8, {len(excluded)} convs kept FP32")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: int8_u8s8.py SRC_MODELS_DIR DST_DIR")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
