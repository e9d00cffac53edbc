#!/usr/bin/env bash
# The exact commands behind benchmarks/results/cpu-*: the shipped models on this machine's CPU.
# Usage: benchmarks/run_cpu.sh [OUT_DIR]   (default: benchmarks/results/cpu-<date>)
# Takes ~10 minutes on 2 cores. Run it on an otherwise idle machine: bench.md records the
# load average before and after, and numbers taken under load are not comparable.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/cpu-$(date -u +%Y%m%d)}"
mkdir -p "$out"
uptime | tee "$out/uptime.txt"
# Every usable backend (onnxruntime, torch) at FP32 and INT8, the three issue sizes, the paper's
# originals as the baseline, one end-to-end restore per backend.
.venv/bin/trt-gif2video bench \
    --backend onnxruntime --backend torch --precision fp32 --precision int8 \
    --sizes 256x256,480x270,1280x720 --frames 8 --large-frames 3 --warmup 2 --batch 1 \
    --baseline --end-to-end --out "$out" 2> "$out/progress.log"
uptime | tee -a "$out/uptime.txt"
