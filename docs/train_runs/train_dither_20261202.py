"""2026-12-02: resume dequant_dither from the shipped weights (bf16, half the new pool frames from real encoders), as run:
    python docs/train_runs/train_dither_20261202.py 100   # minutes; checkpoint and log in /work/runs/dequant_dither
    (it seeded from the dequant_dither.safetensors shipped before the run, i.e. `git show 9410139:trt_gif2video/weights/dequant_dither.safetensors`)
"""
import sys
from pathlib import Path
from trt_gif2video.train import Precision
from trt_gif2video.train.common import TrainOptions, seed_checkpoint
from trt_gif2video.train.dequant import train, DequantTrainSpec

out = Path("/work/runs/dequant_dither")
minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 95
lr = 5e-4
if seed_checkpoint(out, Path("trt_gif2video/weights/dequant_dither.safetensors"), lr):
    print("seeded checkpoint from shipped weights")
spec = DequantTrainSpec(real_fraction=0.5, real_per_source=2)
r = train(TrainOptions(out, steps=10**6, minutes=minutes, resume=True, seed=12, variant="dither", batch=16, lr=lr,
                       precision=Precision.BF16), spec=spec)
print(r.metrics)
