"""Per-network INT8 vs FP32, interleaved: process CPU ms per run at 480x352 (random uint8 inputs), default threads.

    PYTHONPATH=. .venv/bin/python benchmarks/results/cpu-int8-20261202/net_ab.py MODEL.onnx ... > net_ab.txt

Each file gets one session; runs are interleaved file by file (N=8 rounds) so all see the same load.
CPU seconds, not wall: on this shared 2-core machine they are the steadier measure.
"""
import sys, time, numpy as np, onnxruntime as ort, os
H, Wd = 352, 480
rng = np.random.default_rng(0)
img = lambda: rng.integers(0, 256, (1, H, Wd, 3), dtype=np.uint8)
fd = {"dequant": {"gif": img(), "palette": rng.integers(0, 256, (1, 256, 3), dtype=np.uint8)},
      "interp": {"gif0": img(), "gif1": img(), "img0": img(), "img1": img(), "t": np.array([0.5], np.float32)}}
ss = []
for f in sys.argv[1:]:
    so = ort.SessionOptions(); so.inter_op_num_threads = 1; so.intra_op_num_threads = int(os.environ.get("T", 0)); so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    s = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"]); feeds = fd["interp" if "interp" in f else "dequant"]
    s.run(None, feeds); ss.append((f, s, feeds, []))
for _ in range(int(os.environ.get("N", 10))):
    for f, s, feeds, t in ss:
        t0 = time.process_time(); s.run(None, feeds); t.append(time.process_time() - t0)
for f, s, feeds, t in ss:
    print(f"{f}: min {min(t)*1e3:.0f} median {np.median(t)*1e3:.0f} ms")
print("load", os.getloadavg())
