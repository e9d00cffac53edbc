#!/usr/bin/env bash
# The exact commands behind benchmarks/results/cpu-*: the shipped models on this machine's CPU.
# Usage: benchmarks/run_cpu.sh [OUT_DIR]   (default: benchmarks/results/cpu-<date>)
# About 10 minutes on 2 idle cores. Run it on an otherwise idle machine: bench.md records the
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

# 1. Every usable backend (onnxruntime, torch) at FP32 and INT8, the three issue sizes, the
#    paper's originals as the baseline, one end-to-end restore per backend.
.venv/bin/trt-gif2video bench \
    --backend onnxruntime --backend torch --precision fp32 --precision int8 \
    --sizes 256x256,480x270,1280x720 --frames 8 --large-frames 3 --warmup 2 --batch 1 \
    --baseline --end-to-end --out "$out" 2> "$out/progress.log"

# 2. INT8 with uint8 activations (U8S8), the form ONNX Runtime's CPU kernels fuse, beside the
#    shipped symmetric int8 (S8S8, for TensorRT): speed only, see benchmarks/int8_u8s8.py.
u8s8="$(mktemp -d)"
trap 'rm -rf "$u8s8"' EXIT
.venv/bin/python benchmarks/int8_u8s8.py trt_gif2video/weights "$u8s8" 2>> "$out/progress.log"
.venv/bin/trt-gif2video bench --backend onnxruntime --precision fp32 --precision int8 --sizes 480x270 \
    --frames 8 --warmup 2 --no-baseline --no-end-to-end --models-dir "$u8s8" \
    --out "$out/int8-u8s8" 2>> "$out/progress.log" > /dev/null
uptime | tee -a "$out/uptime.txt"
