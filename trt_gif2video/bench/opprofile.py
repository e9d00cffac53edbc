"""Where ONNX Runtime spends its time, per op type, from its own profiler.

Explains the efficiency numbers: FLOPs are only counted for Conv/ConvTranspose/MatMul/Gemm,
so time in pooling, concatenation, resampling, layout reorders or Q/DQ conversions is time
at zero counted GFLOP/s. The session mirrors the onnxruntime backend's settings (all graph
optimizations, no spinning) so the fused graph is the one the backend runs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np


def ort_op_profile(path: Path, feeds: Mapping[str, np.ndarray], runs: int = 3, threads: int = 0) -> dict[str, float]:
    """Mean ms per run in each op type (kernel time, as ONNX Runtime reports it), largest first."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="g2v-prof-") as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        sess.run(None, dict(feeds))  # warm-up: excluded below by dropping the first run's events
        for _ in range(runs):
            sess.run(None, dict(feeds))
        events = json.loads(Path(sess.end_profiling()).read_text())
    runs_seen = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    first_end = runs_seen[0]["ts"] + runs_seen[0]["dur"] if runs_seen else 0
    totals: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] > first_end:
            op = e.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + e["dur"] / 1000.0 / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))
