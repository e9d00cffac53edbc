"""The bench's outputs: JSON (everything), a markdown table, a PNG plot, and the issue's targets
as ratios measured in the same run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .run import BenchReport, Row

NO_GPU = "not measured: no GPU in this run"
# op types whose FLOPs are counted, as ONNX Runtime names them after fusion
COUNTED_KERNELS = ("Conv", "FusedConv", "QLinearConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm",
                   "MatMulInteger", "QLinearMatMul", "NchwcConv")


@dataclass(frozen=True)
class Target:
    name: str
    threshold: str  # e.g. ">= 0.70"
    measured: dict[str, float]  # size -> ratio
    met: bool | None  # None: not measured
    note: str  # how it is computed; why it is missed where it is


def _pair(row: Row) -> tuple[float, float] | None:
    """(FLOPs, ms) of one GIF frame at x2: one dequantizer and one interpolator call."""
    d, i = row.dequant, row.interp
    if not (d and i and d.latency and i.latency):
        return None
    flops = (d.flops_per_frame or 0) + (i.flops_per_frame or 0)
    return flops, d.latency.mean_ms + i.latency.mean_ms


def _find(rows: list[Row], backend: str, precision: str) -> dict[str, Row]:
    return {r.size: r for r in rows if r.backend == backend and r.precision == precision and _pair(r)}


def _check(name: str, threshold: float, measured: dict[str, float], at_least: bool, note: str) -> Target:
    sign = ">=" if at_least else "<="
    if not measured:
        return Target(name, f"{sign} {threshold:g}", {}, None, "not measured in this run (backend or precision missing)")
    ok = all((v >= threshold) if at_least else (v <= threshold) for v in measured.values())
    return Target(name, f"{sign} {threshold:g}", {k: round(v, 3) for k, v in measured.items()}, ok, note)


def targets(report: BenchReport) -> list[Target]:
    rows, cpu_peak = report.rows, report.peaks["cpu"].gflops
    ort = _find(rows, "onnxruntime", "fp32")
    out = []
    frac = {s: _pair(r)[0] / _pair(r)[1] / 1e6 / cpu_peak for s, r in ort.items() if r.device == "cpu"}
    out.append(_check("onnxruntime FP32 share of the CPU's measured FP32 matmul peak", 0.70, frac, True,
                      "counted FLOPs (conv/matmul) of dequantizer + interpolator / their mean latency / peak"))
    torch_cpu = _find(rows, "torch", "fp32")
    speed = {s: _pair(torch_cpu[s])[1] / _pair(r)[1] for s, r in ort.items() if s in torch_cpu}
    out.append(_check("onnxruntime FP32 speed-up over PyTorch eager (same weights)", 1.2, speed, True,
                      "torch eager ms / onnxruntime ms, dequantizer + interpolator"))
    int8 = _find(rows, "onnxruntime", "int8")
    speed = {s: _pair(r)[1] / _pair(int8[s])[1] for s, r in ort.items() if s in int8}
    out.append(_check("INT8 speed-up over FP32 (onnxruntime, CPU)", 1.5, speed, True,
                      "FP32 ms / INT8 ms, dequantizer + interpolator"))
    e2e = {e.size: e.ratio for e in report.end_to_end if e.backend == "onnxruntime"}
    out.append(_check("end-to-end restore time / pure inference time (onnxruntime)", 1.15, e2e, False,
                      "restore() wall time (decode, both networks, encode, model loading) / the same calls at the "
                      "measured latencies; see the end-to-end table for the ratio without model loading"))
    base = {r.size: r for r in report.baseline if _pair(r)}
    shipped = {r.size: r for r in rows if _pair(r) and _pair(r)[0]}
    cheaper = {s: _pair(b)[0] / _pair(shipped[s])[0] for s, b in base.items() if s in shipped}
    out.append(_check("FLOPs per frame: paper originals / shipped networks", 10.0, cheaper, True,
                      "(CCDNet-2 + SuperSlomo) / (shipped dequantizer + interpolator), each at its padded size"))
    gpu_fast = _find(rows, "torch", "fp16")
    gpu = {s: _pair(base[s])[1] / _pair(r)[1] for s, r in gpu_fast.items() if r.device != "cpu" and s in base}
    if gpu:
        out.append(_check("GPU: torch FP16 CUDA-graph speed-up over the original FP32 eager", 5.0, gpu, True,
                          "original ms / shipped torch FP16 (CUDA graphs) ms"))
    else:
        out.append(Target("GPU: torch FP16 CUDA-graph speed-up over the original FP32 eager", ">= 5", {}, None, NO_GPU))
    return out


def to_json(report: BenchReport) -> dict:
    data = asdict(report)
    for key in ("rows", "baseline"):
        for row, obj in zip(getattr(report, key), data[key]):
            obj["fps_x2"] = row.fps_x2
    for e, obj in zip(report.end_to_end, data["end_to_end"]):
        obj["ratio"], obj["ratio_without_load"] = e.ratio, e.ratio_without_load
    data["targets"] = [asdict(t) for t in targets(report)]
    return data


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def _lat(net) -> str:
    if net is None or net.latency is None:
        return "-" if net is None or not net.error else "error"
    lat = net.latency
    return f"{lat.p50_ms:.1f} / {lat.p95_ms:.1f} / {lat.p99_ms:.1f}"


def _eff(net) -> str:
    if net is None or net.gflops is None:
        return "-"
    share = "" if net.peak_fraction is None else f" ({net.peak_fraction:.0%})"
    return f"{net.gflops:.1f}{share}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(report: BenchReport) -> str:
    m = report.meta
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items() if val)
    lines = [f"# trt-gif2video bench, {m['date']}", "", f"Command: `{m['command']}`", "",
             f"- machine: {m['host_cpu']}, {m['cpu_cores']} cores; load average (1/5/15 min) before "
             f"{m['load_avg_before']}, after {m.get('load_avg_after')}",
             f"- versions: {v}",
             f"- streams {m['streams']}, batch {m['batch']}, threads {m['threads'] or 'backend default'}, "
             f"{m['frames']} timed frames per network ({m['large_frames']} above 0.5 MP), {m['warmup']} warm-up; "
             f"models: {m['models_dir']}"]
    for dev, p in report.peaks.items():
        engines = ", ".join(f"{k} {g:.1f}" for k, g in p.by_engine.items())
        lines.append(f"- measured FP32 matmul peak ({dev}, {p.size}x{p.size}): **{p.gflops:.1f} GFLOP/s** ({engines})")
    lines += ["", "## Throughput, latency, efficiency (per frame)", "",
              "fps: output frames per second of a serial `--interp 2` restore (one dequantizer and one interpolator "
              "call per two output frames). Latency p50 / p95 / p99 in ms. GFLOP/s achieved (share of the measured "
              "peak). FLOPs are counted at the size padded to the stride (480x270 runs as 480x272 / 480x288).", ""]
    body = []
    for r in report.rows + report.baseline:
        if r.skipped:
            body.append([r.backend, r.precision, r.size, "skipped: " + r.skipped.replace("|", "/")] + ["-"] * 6)
            continue
        body.append([r.backend, r.precision, r.size, _f(r.fps_x2, ".2f"), _lat(r.dequant), _lat(r.interp),
                     _eff(r.dequant), _eff(r.interp), _f(r.peak_rss_mib, ".0f"), _f(r.device_peak_mib, ".0f")])
    lines += _table(["backend", "precision", "size", "fps (x2)", "dequant ms", "interp ms", "dequant GFLOP/s",
                     "interp GFLOP/s", "peak RSS MiB", "device MiB"], body)
    lines += ["", "## FLOPs per frame", ""]
    seen, body = set(), []
    for r in report.rows + report.baseline:  # precisions share their graph's FLOPs: one line per network
        for net in (r.dequant, r.interp):
            key = (net and net.network, r.size, r in report.baseline)
            if net and net.flops_per_frame and key not in seen:
                seen.add(key)
                body.append([net.model, r.size, net.counted_at, f"{net.flops_per_frame / 1e9:.2f}"])
    lines += _table(["model", "size", "counted at", "GFLOP"], body)
    lines += ["", "## Stages (per frame, ms)", ""]
    body = [[s.size, s.stage, *(["-"] * 4 if s.latency is None else
                                [f"{s.latency.p50_ms:.2f}", f"{s.latency.p95_ms:.2f}", f"{s.latency.p99_ms:.2f}",
                                 f"{s.latency.mean_ms:.2f}"]), s.note] for s in report.stages]
    for r in report.rows:
        for net in (r.dequant, r.interp):
            if net and net.latency:
                lat = net.latency
                stage = "dequantize" if net.network == "dequant" else "interpolate"
                body.append([r.size, f"{stage} ({r.backend} {r.precision})", f"{lat.p50_ms:.2f}", f"{lat.p95_ms:.2f}",
                             f"{lat.p99_ms:.2f}", f"{lat.mean_ms:.2f}", net.model])
    order = {size: i for i, size in enumerate(dict.fromkeys(s.size for s in report.stages))}
    lines += _table(["size", "stage", "p50", "p95", "p99", "mean", "note"],
                    sorted(body, key=lambda b: order.get(b[0], len(order))))
    if report.end_to_end:
        lines += ["", "## End-to-end restore (--interp 2, plain dequantizer)", "",
                  "Decode, dequantize and interpolate run in threads. A ratio below 1 means the concurrent stages "
                  "got more of a loaded machine than one serial call did: compare only on an idle machine.", ""]
        lines += _table(["backend", "precision", "size", "GIF frames", "frames out", "wall s", "pure inference s",
                         "ratio", "ratio without model load"],
                        [[e.backend, e.precision, e.size, str(e.gif_frames), str(e.frames_written), f"{e.wall_s:.2f}",
                          f"{e.pure_inference_s:.2f}", f"{e.ratio:.2f}", f"{e.ratio_without_load:.2f}"]
                         for e in report.end_to_end])
    profiled = [r for r in report.rows if r.op_ms]
    if profiled:
        lines += ["", f"## Where ONNX Runtime spends its time ({profiled[0].size}, its own profiler)", "",
                  "Share of kernel time per op type (top 6) and the share in ops whose FLOPs are counted "
                  "(convolutions and matrix products): time outside them runs at zero counted GFLOP/s.", ""]
        body = []
        for r in profiled:
            peak = report.peaks.get(r.device)
            for net, ops in r.op_ms.items():
                total = sum(ops.values()) or 1.0
                top = ", ".join(f"{op} {ms / total:.0%}" for op, ms in list(ops.items())[:6])
                counted_ms = sum(ms for op, ms in ops.items() if op in COUNTED_KERNELS)
                result = r.dequant if net == "dequant" else r.interp
                rate = "-"
                if result and result.flops_per_frame and counted_ms and peak:
                    gflops = result.flops_per_frame * r.batch / counted_ms / 1e6
                    rate = f"{gflops:.1f} ({gflops / peak.gflops:.0%})"
                body.append([r.precision, net, f"{total:.1f}", f"{counted_ms / total:.0%}", rate, top])
        lines += _table(["precision", "network", "kernel ms per call", "in counted ops",
                         "GFLOP/s inside them (% peak)", "top op types"], body)
        with_roles = [r for r in profiled if r.role_ms]
        if with_roles:
            from .opprofile import ROLES

            lines += ["", "Kernel ms per call by role (graph regions as FP16 keeps them in FP32: the palette step is "
                      "the distances, ArgMin and palette lookup; the warp is GridSample with the flow arithmetic "
                      "building its grid and blending its outputs):", ""]
            body = [[r.precision, net, *(f"{roles.get(role, 0.0):.1f} ({roles.get(role, 0.0) / (sum(roles.values()) or 1):.0%})"
                                         for role in ROLES)]
                    for r in with_roles for net, roles in r.role_ms.items()]
            lines += _table(["precision", "network", *ROLES], body)
    lines += ["", "## Targets (ratios measured in this run)", ""]
    lines += _table(["target", "threshold", "measured", "met", "how"],
                    [[t.name, t.threshold, ", ".join(f"{k}: {v:.2f}" for k, v in t.measured.items()) or "-",
                      {True: "yes", False: "**no**", None: "-"}[t.met], t.note] for t in targets(report)])
    return "\n".join(lines) + "\n"


def plot(report: BenchReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows + report.baseline if r.fps_x2]
    sizes = list(dict.fromkeys(r.size for r in rows))
    configs = list(dict.fromkeys((r.backend, r.precision) for r in rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(configs))
    for k, cfg in enumerate(configs):
        by_size = {r.size: r for r in rows if (r.backend, r.precision) == cfg}
        xs = [i + k * width for i, s in enumerate(sizes) if s in by_size]
        ax1.bar(xs, [by_size[s].fps_x2 for s in sizes if s in by_size], width, label=f"{cfg[0]} {cfg[1]}")
        shares = [(_pair(by_size[s])[0] / _pair(by_size[s])[1] / 1e6) / report.peaks[by_size[s].device].gflops * 100
                  if by_size[s].device in report.peaks else 0.0 for s in sizes if s in by_size]
        ax2.bar(xs, shares, width, label=f"{cfg[0]} {cfg[1]}")
    for ax, title in ((ax1, "output fps, serial --interp 2 (log)"), (ax2, "% of measured FP32 matmul peak")):
        ax.set_xticks([i + width * (len(configs) - 1) / 2 for i in range(len(sizes))], sizes)
        ax.set_title(title)
    ax1.set_yscale("log")
    ax2.axhline(70, color="k", ls="--", lw=1, label="target 70%")
    ax2.legend(fontsize=7)
    fig.suptitle(f"trt-gif2video bench, {report.meta['host_cpu']} ({report.meta['date']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(report: BenchReport, out: Path, stem: str = "bench") -> tuple[Path, Path, Path]:
    """`<stem>.json`, `<stem>.md`, `<stem>.png` in `out` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    js, md, png = out / f"{stem}.json", out / f"{stem}.md", out / f"{stem}.png"
    js.write_text(json.dumps(to_json(report), indent=1, default=str) + "\n")
    md.write_text(markdown(report))
    plot(report, png)
    return js, md, png
