"""2026-12-02 (stop 21): resume the interpolator from the shipped weights on larger crops and motions, as run:
    python docs/train_runs/train_interp_20261202.py 120 2   # minutes, torch threads; run folder /work/runs/interp
The shipped interpolator had 100.5 CPU minutes on 96 px crops, whose synthetic motions (zoom and rotation
grow with the crop) are smaller than those of the 256 px validation windows; on those windows it is 3-4 dB
below RIFE (docs/interp_real_20261202), while on the real clips it is level with RIFE. This run trains on
128 px crops (batch 6: 1.3x the pixels per step) with zoom up to 16 % and rotation up to 6 deg, lr 3e-4 cosine.
Precision: bf16 autocast where the CPU has native bf16, else fp32 (the AVX2-only EPYC emulates bf16).
It seeds from the interp.safetensors shipped before the run (`git show db127b4:trt_gif2video/weights/interp.safetensors`).
As run: AVX-512 BF16 VM (so bf16), 2 threads, nice 5, 125.0 min, steps 0 -> 17,744, stopped by SIGSTOP for about
8 of those minutes while benchmarks ran; the result ships (model card, "Second run").
"""
import sys
from pathlib import Path
from trt_gif2video.cpuinfo import has_native_bf16
from trt_gif2video.train import Precision
from trt_gif2video.train.common import seed_checkpoint
from trt_gif2video.train.interp import InterpTrainConfig, MotionConfig, train_interp

out = Path("/work/runs/interp")
minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 120
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
lr = 3e-4
if seed_checkpoint(out, Path("trt_gif2video/weights/interp.safetensors"), lr):
    print("seeded checkpoint from shipped weights")
cfg = InterpTrainConfig(out=out, steps=10**6, minutes=minutes, resume=True, seed=21, batch=6, lr=lr, threads=threads,
                        motion=MotionConfig(crop=128, max_zoom=0.16, max_rot_deg=6.0), val_every=100,
                        precision=Precision.BF16 if has_native_bf16() else Precision.FP32)
print(train_interp(cfg))
