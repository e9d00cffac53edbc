"""A/B of the onnxruntime session's memory settings on call time (one config per process)."""
import os, resource, sys, tempfile, time
from pathlib import Path
cfg, name = sys.argv[1], sys.argv[2]
import trt_gif2video.runtime.backends.onnxruntime as o
if cfg in ("nopin", "arena"):
    o._fix_mmap_threshold = lambda: None
if cfg == "arena":
    import onnxruntime as ort
    orig = ort.SessionOptions
    class SO(orig):
        def __setattr__(self, k, v):
            if k == "enable_cpu_mem_arena": v = True
            super().__setattr__(k, v)
    ort.SessionOptions = SO
from trt_gif2video.bench.paired import _feeds
from trt_gif2video.bench.run import Size
from trt_gif2video.models import Network
from trt_gif2video.runtime.backends.base import SessionOptions
s = o.OnnxRuntimeSession(Path(f"trt_gif2video/weights/{name}.onnx"), SessionOptions(threads=0))
net = Network.INTERP if name == "interp" else Network.DEQUANT
with tempfile.TemporaryDirectory() as t:
    f = _feeds(s, net, Size(480, 270), Path(t))
s.infer(f); s.infer(f)
ms = []; f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    t0 = time.perf_counter(); s.infer(f); ms.append((time.perf_counter() - t0) * 1e3)
flt = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 5
print(cfg, name, "median ms %.0f" % sorted(ms)[2], "min %.0f" % min(ms), "minflt/call %.0f" % flt, "load %.2f" % os.getloadavg()[0], flush=True)
