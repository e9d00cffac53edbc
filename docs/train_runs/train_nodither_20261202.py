"""2026-12-02 (stop 19): resume dequant_nodither from the shipped weights with larger patches, as run:
    python docs/train_runs/train_nodither_20261202.py 110   # minutes; checkpoint and log in /work/runs/dequant_nodither
Until now every dequantizer trained on 64 px patches; a 32-colour false contour can be wider than that, so
this run uses 128 px patches (batch 6: 1.5x the pixels per step of batch 16 x 64 px), half of the pool's
new frames from the undithered real encoders (ffmpeg paletteuse=dither=none, ImageMagick -dither None).
Precision: bf16 autocast where the CPU has native bf16 (AVX-512 BF16 / AMX), else fp32: on the AMD EPYC
(AVX2 only) this session ran on, bf16 measured 0.063 steps/s against fp32's 0.69 (`python -m
trt_gif2video.train.speed --steps 5 --batch 6 --patch 128 --threads 1`).
It seeds from the dequant_nodither.safetensors shipped before the run (`git show e335403:trt_gif2video/weights/dequant_nodither.safetensors`).
"""
import sys
from pathlib import Path
from trt_gif2video.cpuinfo import has_native_bf16
from trt_gif2video.train import Precision
from trt_gif2video.train.common import TrainOptions, seed_checkpoint
from trt_gif2video.train.dequant import train, DequantTrainSpec

out = Path("/work/runs/dequant_nodither")
minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 110
lr = 5e-4
if seed_checkpoint(out, Path("trt_gif2video/weights/dequant_nodither.safetensors"), lr):
    print("seeded checkpoint from shipped weights")
spec = DequantTrainSpec(patch=128, real_fraction=0.5, real_per_source=3)
r = train(TrainOptions(out, steps=10**6, minutes=minutes, resume=True, seed=13, variant="nodither", batch=6, lr=lr,
                       precision=Precision.BF16 if has_native_bf16() else Precision.FP32), spec=spec)
print(r.metrics)
