"""2026-12-02 afternoon: resume dequant_dither from the weights shipped at 5dc5c78 (the morning run's), as run:
    python docs/train_runs/train_dither_20261202b.py 68   # minutes; checkpoint and log in /work/runs/dequant_dither_b
Same recipe as train_dither_20261202.py (64 px patches, batch 16, half of the pool's new frames from the
real encoders incl. gifski), in fp32 on this AVX2-only CPU (bf16 is emulated there: about 10x slower,
`python -m trt_gif2video.train.speed`), beside the no-dither run on the other core.
"""
import sys
from pathlib import Path
from trt_gif2video.cpuinfo import has_native_bf16
from trt_gif2video.train import Precision
from trt_gif2video.train.common import TrainOptions, seed_checkpoint
from trt_gif2video.train.dequant import train, DequantTrainSpec

out = Path("/work/runs/dequant_dither_b")
minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 68
lr = 3e-4
if seed_checkpoint(out, Path("trt_gif2video/weights/dequant_dither.safetensors"), lr):
    print("seeded checkpoint from shipped weights")
spec = DequantTrainSpec(real_fraction=0.5, real_per_source=2)
r = train(TrainOptions(out, steps=10**6, minutes=minutes, resume=True, seed=14, variant="dither", batch=16, lr=lr,
                       precision=Precision.BF16 if has_native_bf16() else Precision.FP32), spec=spec)
print(r.metrics)
