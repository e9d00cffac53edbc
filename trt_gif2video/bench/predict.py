"""`bench --predict TARGET`: a roofline estimate of fps per size and precision on a recipe's board.

Work per frame comes from the FP32 ONNX graphs at the padded size (no torch, no GPU):
- FLOPs: Conv/ConvTranspose/MatMul/Gemm multiply-accumulates x 2 (`flops.count_graph`);
- bytes moved: every feature map (a 4-D tensor some node produces, or a graph input) written once
  and read once per consumer, at the precision's element size (FP32 4 B, FP16 2 B, INT8 1 B for
  the tensors the Q/DQ file quantizes, i.e. convolution inputs, else 2 B), plus the weights once.
  No fusion is assumed, so this is an upper bound of DRAM traffic: TensorRT fuses bias and
  activation into convolutions and elides most concatenations, and small maps stay in L2.

Time per frame and network = max(FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency))
with the recipe's published dense peaks (`peak_*` keys, each with `peak_source`). The pipeline
runs one dequantizer and one interpolator call per GIF frame at --interp 2, serially on one
stream; the GIF frame rate it sustains is 1 / (t_dequant + t_interp).

EFFICIENCY is an assumption, not a measurement; its basis is written beside it. When a GPU is
measured (`bench` on the board), the measured share of peak replaces it: pass --efficiency.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Precision
from ..errors import BadArgumentError
from ..models import Network, Variant, onnx_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMPUTE_EFFICIENCY = 0.30
MEMORY_EFFICIENCY = 0.70
EFFICIENCY_BASIS = (
    "assumed, not measured: compute 30% of the dense peak (on this CPU the same networks reach 51-63% of the "
    "measured FP32 matmul peak in ONNX Runtime, their convolutions ~90%, benchmarks/results/cpu-20261124; "
    "32-128-channel convolutions fill a GPU's tensor cores far worse than a large matmul, so half of that is "
    "assumed), memory 70% of the published bandwidth (typical sustained/peak DRAM ratio for streaming kernels). "
    "Replace with the measured share of peak once the board is benchmarked (--efficiency)."
)
REALTIME_GIF_FPS = (10, 25)  # common GIF rates: 10 fps (10 cs delay) and 25 fps (4 cs, the fastest browsers honour well)


@dataclass(frozen=True)
class BoardPeaks:
    """A recipe's published peaks (dense, no sparsity)."""

    target: str
    board: str
    int8_tops: float
    fp16_tflops: float
    fp32_tflops: float
    memory_gbps: float
    source: str

    def compute(self, precision: Precision) -> float:
        """Operations per second at `precision`."""
        return {Precision.INT8: self.int8_tops, Precision.FP16: self.fp16_tflops,
                Precision.FP32: self.fp32_tflops}[Precision(precision)] * 1e12


PEAK_KEYS = ("peak_board", "peak_int8_tops", "peak_fp16_tflops", "peak_fp32_tflops", "peak_memory_gbps", "peak_source")


def load_peaks(path: Path) -> BoardPeaks:
    """The `peak_*` keys of a recipe TOML; a BadArgumentError naming the file and the missing keys."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadArgumentError(f"recipe {path}: not readable TOML ({exc})") from None
    missing = [k for k in PEAK_KEYS if k not in data]
    if missing:
        raise BadArgumentError(f"recipe {path}: --predict needs the published peaks {missing} "
                               "(dense figures from the board's datasheet, with peak_source)")
    try:
        peaks = BoardPeaks(str(data.get("target", Path(path).stem)), str(data["peak_board"]),
                           float(data["peak_int8_tops"]), float(data["peak_fp16_tflops"]),
                           float(data["peak_fp32_tflops"]), float(data["peak_memory_gbps"]), str(data["peak_source"]))
    except (TypeError, ValueError) as exc:
        raise BadArgumentError(f"recipe {path}: peak_* values must be numbers ({exc})") from None
    if min(peaks.int8_tops, peaks.fp16_tflops, peaks.fp32_tflops, peaks.memory_gbps) <= 0:
        raise BadArgumentError(f"recipe {path}: peak_* values must be > 0")
    return peaks


@dataclass(frozen=True)
class Work:
    """One network's work per frame at one size."""

    network: str
    size: str  # requested WxH
    counted_at: str  # padded WxH
    flops: float
    bytes_by_precision: dict[str, float] = field(default_factory=dict)


def _feature_maps(model, batch: int, height: int, width: int) -> tuple[dict[str, int], int, set[str]]:
    """(4-D tensor -> elements, weight elements, tensors read by convolutions) after shape inference."""
    from .flops import _fix_inputs, _shapes

    model = type(model).FromString(model.SerializeToString())
    _fix_inputs(model, batch, height, width)
    shapes = _shapes(model)
    inits = {t.name for t in model.graph.initializer}
    weights = sum(math.prod(t.dims) for t in model.graph.initializer)
    maps = {}
    for name, shape in shapes.items():
        if name not in inits and len(shape) == 4 and math.prod(shape) >= 64:
            maps[name] = math.prod(shape)
    conv_inputs = {n.input[0] for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    return maps, weights, conv_inputs


def count_work(path: Path, network: str, width: int, height: int) -> Work:
    """FLOPs and bytes moved per frame (batch 1) of the ONNX at `path` at WxH, padded to its stride."""
    import onnx

    from .flops import count_graph, model_stride, padded

    model = onnx.load(str(path), load_external_data=False)
    stride = model_stride(model) or 1
    h, w = padded(height, stride), padded(width, stride)
    flops = count_graph(model, 1, h, w, pad=False).total
    maps, weights, conv_inputs = _feature_maps(model, 1, h, w)
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            if name in maps:
                uses[name] = uses.get(name, 0) + 1
    traffic = {name: maps[name] * (1 + uses.get(name, 0)) for name in maps}  # one write, one read per consumer
    total = sum(traffic.values())
    in_conv = sum(v for k, v in traffic.items() if k in conv_inputs)
    by_precision = {
        Precision.FP32.value: 4.0 * total + 4.0 * weights,
        Precision.FP16.value: 2.0 * total + 2.0 * weights,
        Precision.INT8.value: 1.0 * in_conv + 2.0 * (total - in_conv) + 1.0 * weights,
    }
    return Work(network, f"{width}x{height}", f"{w}x{h}", float(flops), by_precision)


@dataclass(frozen=True)
class Prediction:
    target: str
    board: str
    precision: str
    size: str
    dequant_ms: float
    interp_ms: float
    bound: str  # which roof limits the pair: compute | memory (of the slower network)

    @property
    def gif_fps(self) -> float:
        """GIF frames per second sustained at --interp 2 (one dequantizer + one interpolator call each)."""
        return 1000.0 / (self.dequant_ms + self.interp_ms)

    @property
    def fps_x2(self) -> float:
        return 2 * self.gif_fps


def _time_ms(work: Work, peaks: BoardPeaks, precision: Precision, eff_c: float, eff_m: float) -> tuple[float, str]:
    compute = work.flops / (peaks.compute(precision) * eff_c)
    memory = work.bytes_by_precision[precision.value] / (peaks.memory_gbps * 1e9 * eff_m)
    return 1000.0 * max(compute, memory), "compute" if compute >= memory else "memory"


def predict(peaks: BoardPeaks, works: dict[str, dict[str, Work]], precisions: tuple[Precision, ...],
            eff_compute: float = COMPUTE_EFFICIENCY, eff_memory: float = MEMORY_EFFICIENCY) -> list[Prediction]:
    """Predictions for every size in `works` (size -> network -> Work) and precision."""
    if not (0 < eff_compute <= 1 and 0 < eff_memory <= 1):
        raise BadArgumentError("bench --predict: efficiencies must be in (0, 1]")
    out = []
    for precision in precisions:
        for size, nets in works.items():
            (d_ms, d_bound), (i_ms, i_bound) = (_time_ms(nets[n], peaks, precision, eff_compute, eff_memory)
                                                for n in (Network.DEQUANT.value, Network.INTERP.value))
            out.append(Prediction(peaks.target, peaks.board, precision.value, size, d_ms, i_ms,
                                  d_bound if d_ms >= i_ms else i_bound))
    return out


def network_work(sizes, models_dir: Path | None = None) -> dict[str, dict[str, Work]]:
    """size label -> network -> Work, from the FP32 graphs (derived files run the same convolutions)."""
    paths = {Network.DEQUANT.value: onnx_path(Network.DEQUANT, Variant.NODITHER, Precision.FP32, root=models_dir),
             Network.INTERP.value: onnx_path(Network.INTERP, None, Precision.FP32, root=models_dir)}
    return {s.label: {n: count_work(p, n, s.width, s.height) for n, p in paths.items()} for s in sizes}


def markdown(predictions: list[Prediction], works: dict[str, dict[str, Work]], peaks: list[BoardPeaks],
             eff_compute: float, eff_memory: float, command: str) -> str:
    lines = ["# Predicted speed per recipe (roofline, not measured)", "", f"Command: `{command}`", "",
             f"Efficiency: compute {eff_compute:.0%} of the dense peak, memory {eff_memory:.0%} of the bandwidth. "
             f"Basis: {EFFICIENCY_BASIS if (eff_compute, eff_memory) == (COMPUTE_EFFICIENCY, MEMORY_EFFICIENCY) else 'given on the command line.'}",
             "", "## Work per frame (FP32 graphs at the padded size)", "",
             "| size | network | counted at | GFLOP | MB moved fp32 / fp16 / int8 |", "|---|---|---|---|---|"]
    for size, nets in works.items():
        for n, w in nets.items():
            mb = " / ".join(f"{w.bytes_by_precision[p] / 1e6:.0f}" for p in ("fp32", "fp16", "int8"))
            lines.append(f"| {size} | {n} | {w.counted_at} | {w.flops / 1e9:.2f} | {mb} |")
    lines += ["", "## Boards (published dense peaks, from each recipe)", "",
              "| recipe | board | INT8 TOPS | FP16 TFLOPS | FP32 TFLOPS | GB/s | source |", "|---|---|---|---|---|---|---|"]
    for p in peaks:
        lines.append(f"| {p.target} | {p.board} | {p.int8_tops:g} | {p.fp16_tflops:g} | {p.fp32_tflops:g} | "
                     f"{p.memory_gbps:g} | {p.source} |")
    lines += ["", "## Predicted fps at --interp 2 (one dequantizer + one interpolator call per GIF frame)", "",
              "GIF fps: GIF frames per second the pipeline sustains; real-time at x2 for a GIF of R fps when GIF fps >= R.",
              "", "| recipe | precision | size | dequant ms | interp ms | bound | GIF fps | output fps (x2) | "
              + " | ".join(f"real-time {r} fps GIF" for r in REALTIME_GIF_FPS) + " |",
              "|---|---|---|---|---|---|---|---|" + "---|" * len(REALTIME_GIF_FPS)]
    for r in predictions:
        rt = " | ".join("yes" if r.gif_fps >= fps else "no" for fps in REALTIME_GIF_FPS)
        lines.append(f"| {r.target} | {r.precision} | {r.size} | {r.dequant_ms:.2f} | {r.interp_ms:.2f} | {r.bound} | "
                     f"{r.gif_fps:.1f} | {r.fps_x2:.1f} | {rt} |")
    lines += ["", "Assumptions: dense peaks (no structured sparsity); batch 1, one stream, the two networks in series; "
              "bytes moved = every feature map written once and read once per consumer with no fusion (an upper "
              "bound), weights once; INT8 moves 1 byte per convolution input and 2 bytes elsewhere (FP16 between "
              "quantized layers); GridSample, the palette step and other non-convolution ops enter through their "
              "bytes only; decode, encode and host-device copies are not counted (under 2 ms per frame on the CPU)."]
    return "\n".join(lines) + "\n"
