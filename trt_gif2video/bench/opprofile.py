"""Where ONNX Runtime spends its time, per op type and per role in the graph, from its own profiler.

Explains the efficiency numbers: FLOPs are only counted for Conv/ConvTranspose/MatMul/Gemm,
so time in pooling, concatenation, resampling, layout reorders or Q/DQ conversions is time
at zero counted GFLOP/s. The session mirrors the onnxruntime backend's settings (all graph
optimizations, no spinning) so the fused graph is the one the backend runs.

Roles name the non-convolution cost by what it does, found by graph structure on the model
that runs (`export.fp16.fp32_regions`, the same regions FP16 keeps in FP32): the palette
step (distances to the palette, ArgMin, the palette lookup), the warp (GridSample and the
flow arithmetic that builds its grid and blends its outputs), the input/output conversion,
then by op type: convolutions, Q/DQ, layout reorders, and the rest of the U-Net bodies.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

COUNTED = frozenset({"Conv", "FusedConv", "QLinearConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm",
                     "MatMulInteger", "QLinearMatMul", "NchwcConv", "ConvInteger"})
ROLES = ("convolutions (FLOPs counted)", "palette step", "warp: GridSample + flow arithmetic",
         "input/output conversion", "Q/DQ", "layout reorders", "other body ops")


@dataclass(frozen=True)
class OpProfile:
    by_op: dict[str, float]  # op type -> mean ms per run, largest first
    by_role: dict[str, float]  # ROLES -> mean ms per run


def _role(node: str, op: str, regions: Mapping[str, set[str]]) -> str:
    if node in regions.get("requant", ()):
        return ROLES[1]
    if node in regions.get("grid", ()):
        return ROLES[2]
    if op in COUNTED:
        return ROLES[0]
    if node in regions.get("io", ()):
        return ROLES[3]
    if op in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"):
        return ROLES[4]
    if op.startswith("Reorder") or op == "Transpose":
        return ROLES[5]
    return ROLES[6]


def ort_profile(path: Path, feeds: Mapping[str, np.ndarray], runs: int = 3, threads: int = 0) -> OpProfile:
    """Mean ms per run per op type and per role (kernel time, as ONNX Runtime reports it)."""
    import onnx
    import onnxruntime as ort

    from ..export.fp16 import fp32_regions

    model = onnx.load(str(path))
    try:
        regions = fp32_regions(model)
    except Exception:  # an unnamed node (hand-made graphs): op types only
        regions = {}
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
    by_op: dict[str, float] = {}
    by_role = dict.fromkeys(ROLES, 0.0)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] > first_end:
            op = e.get("args", {}).get("op_name", "?")
            ms = e["dur"] / 1000.0 / runs
            by_op[op] = by_op.get(op, 0.0) + ms
            by_role[_role(e["name"][: -len("_kernel_time")], op, regions)] += ms
    return OpProfile(dict(sorted(by_op.items(), key=lambda kv: -kv[1])), by_role)


def ort_op_profile(path: Path, feeds: Mapping[str, np.ndarray], runs: int = 3, threads: int = 0) -> dict[str, float]:
    """Mean ms per run in each op type (kernel time, as ONNX Runtime reports it), largest first."""
    return ort_profile(path, feeds, runs, threads).by_op
