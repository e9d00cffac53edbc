"""eval's real section (quick: 13 crops) with the torch backend over a folder of safetensors.

python benchmarks/real_eval_torch.py WEIGHTS_DIR OUT.json [encoder ...]   (default: ffmpeg-none magick-none)
WEIGHTS_DIR holds the four <stem>.safetensors (e.g. a copy of trt_gif2video/weights with one file swapped).
"""
import sys
from pathlib import Path
from trt_gif2video.config import Backend, Precision
from trt_gif2video.eval.harness import EvalConfig, run_eval, write_report
from trt_gif2video.eval.runners import SessionRunners
from trt_gif2video.runtime.backends.base import SessionOptions
d, out = Path(sys.argv[1]), Path(sys.argv[2])
enc = tuple(sys.argv[3:]) or ("ffmpeg-none", "magick-none")
cfg = EvalConfig(crops_per_photo=1, max_intervals_per_clip=4, real_encoders=enc)
with SessionRunners(Backend.TORCH, Precision.FP32, options=SessionOptions(models_dir=d, threads=1)) as r:
    rep = run_eval(r, cfg, None, ("real",))
    rep["models"] = {k: str(v) for k, v in r.files.items()}
print(write_report(rep, out).read_text())
