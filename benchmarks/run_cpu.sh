#!/usr/bin/env bash
# The exact commands behind benchmarks/results/cpu-*: the shipped models on this machine's CPU.
# Usage: benchmarks/run_cpu.sh [OUT_DIR]   (default: benchmarks/results/cpu-<date>)
#        SHORT=1 benchmarks/run_cpu.sh OUT_DIR   (ONNX Runtime only, 256x256 and 480x270, no torch,
#        no paper baseline, no whole-restore pass in step 1: about 6 minutes; steps 2-4 as below)
# About 15 minutes on 2 idle cores. Run it on an otherwise idle machine: bench.md records the
# load average before and after, and numbers taken under load are not comparable.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/cpu-$(date -u +%Y%m%d)}"
mkdir -p "$out"
uptime | tee "$out/uptime.txt"
# Idle OpenMP workers sleep instead of spinning, as ONNX Runtime's do in this package: on a
# shared machine spinning workers make torch's timings swing 2-20x; on an idle one this setting
# changed torch eager by < 3% (0.216 vs 0.218 s per 256x256 dequantizer call).
export OMP_WAIT_POLICY=PASSIVE

# 1. Every usable backend (onnxruntime, torch) at FP32 and INT8 (ONNX Runtime on the CPU runs the
#    shipped <stem>.int8-cpu.onnx), the three issue sizes, the paper's originals as the baseline,
#    one end-to-end restore per backend, the per-op profile at 480x270.
if [ "${SHORT:-0}" = 1 ]; then
    .venv/bin/trt-gif2video bench \
        --backend onnxruntime --precision fp32 --precision int8 \
        --sizes 256x256,480x270 --frames 8 --warmup 2 --batch 1 \
        --no-baseline --no-end-to-end --out "$out" 2> "$out/progress.log"
else
    .venv/bin/trt-gif2video bench \
        --backend onnxruntime --backend torch --precision fp32 --precision int8 \
        --sizes 256x256,480x270,1280x720 --frames 8 --large-frames 3 --warmup 2 --batch 1 \
        --baseline --end-to-end --out "$out" 2> "$out/progress.log"
fi

# 2. Streaming: a 20-frame 10 fps GIF per size played at its own delays (latency per output frame).
.venv/bin/trt-gif2video bench --stream --backend onnxruntime --precision fp32 --precision int8 --threads 0 \
    --sizes 256x256,480x270 --stream-frames 20 --out "$out" 2>> "$out/progress.log" > /dev/null

# 3. CPU INT8 vs FP32 end to end on real GIFs (the bundled sample, a 480-wide GIF from a corpus video).
.venv/bin/python benchmarks/cpu_int8_e2e.py "$out" --reps 3 2>> "$out/progress.log" > /dev/null

# 4. The roofline per recipe (no timing: FLOPs and bytes from the ONNX, peaks from build_engines/*.toml).
.venv/bin/trt-gif2video bench --predict all --sizes 256x256,480x270,864x480,1280x720 \
    --precision fp32 --precision fp16 --precision int8 --out "$out" > /dev/null
# 5. FP32 share of the matmul peak at 480x270, each call paired with a peak measured beside it (load-robust).
.venv/bin/python -m trt_gif2video.bench.paired trt_gif2video/weights/dequant_nodither.onnx \
    trt_gif2video/weights/interp.onnx --size 480x270 --rounds 12 --out "$out/paired" 2>> "$out/progress.log" > /dev/null
uptime | tee -a "$out/uptime.txt"
