"""Share of the measured FP32 matmul peak, paired round by round: robust to a changing load.

`bench` measures the peak once and times the networks minutes later; on a shared machine the
load moves in between (benchmarks/README.md: a 48 GFLOP/s "peak" under load against 202 idle),
so their quotient mixes two loads. Here each round measures a short peak (peak.measure_cpu_peak:
the same matmuls, the same threads) and right after it (a 0.2 s pause) times one network call;
the round's share is the call's GFLOP/s over that peak. The result is the median and IQR of the
rounds' shares. FLOPs are bench's own count (flops.count_graph at the padded size); the session is
the onnxruntime backend's (same options as `bench` and `restore`).

    python -m trt_gif2video.bench.paired MODEL.onnx [...] --size 480x270 --rounds 8 --out DIR

writes DIR/paired.md and DIR/paired.json (with the command, versions and load averages).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import BadArgumentError, Gif2VideoError, ModelError
from ..models import Network
from ..runtime.backends.base import SessionOptions, default_stride
from .flops import count_graph
from .peak import measure_cpu_peak
from .run import Size, _cpu_model, _version
from .stats import percentile


@dataclass(frozen=True)
class Round:
    peak_gflops: float  # the short peak measured just before the call (best engine)
    peak_by_engine: dict[str, float]
    call_ms: float  # one timed network call
    gflops: float  # achieved: FLOPs of the call / its time
    share: float  # gflops / peak_gflops
    load_1min: float  # load average when the round started


@dataclass(frozen=True)
class PairedResult:
    model: str  # the ONNX file
    network: str  # dequant | interp (the file's metadata)
    size: str  # WxH asked for
    counted_at: str  # WxH the FLOPs were counted and the call ran at (padded to the stride)
    flops: int  # of one call (batch 1), flops.count_graph
    rounds: tuple[Round, ...]
    load_avg_before: tuple[float, ...]
    load_avg_after: tuple[float, ...]

    def _quantile(self, q: float) -> float:
        return percentile(sorted(r.share for r in self.rounds), q)

    @property
    def median_share(self) -> float:
        return self._quantile(50)

    @property
    def iqr(self) -> tuple[float, float]:
        return self._quantile(25), self._quantile(75)

    @property
    def median_gflops(self) -> float:
        return percentile(sorted(r.gflops for r in self.rounds), 50)

    @property
    def peak_range(self) -> tuple[float, float]:
        peaks = [r.peak_gflops for r in self.rounds]
        return min(peaks), max(peaks)

    def summary(self) -> dict:
        q1, q3 = self.iqr
        return {"median_share": self.median_share, "q1_share": q1, "q3_share": q3, "iqr": q3 - q1,
                "median_gflops": self.median_gflops, "peak_min": self.peak_range[0], "peak_max": self.peak_range[1],
                # what an unpaired run would report at best: the median call against the best peak seen
                "median_gflops_over_best_peak": self.median_gflops / self.peak_range[1]}


@dataclass(frozen=True)
class PairedConfig:
    models: tuple[Path, ...]
    size: Size = Size(480, 270)
    rounds: int = 8
    threads: int = 0  # both the network session and the peak (0 = ONNX Runtime's default: all cores)
    peak_size: int = 2048  # bench's default
    peak_reps: int = 2  # per round and engine, after one warm-up: short, so the load barely moves
    # pause between the peak and the call: OpenBLAS's workers keep spinning after numpy's matmul
    # and slowed the next interpolator call by ~25 % (333 vs 261 ms back to back, median of 4, load
    # 4.3); after 0.2 s the call took 258 ms again
    settle_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.models:
            raise BadArgumentError("paired: give at least one ONNX file")
        if self.rounds < 1 or self.peak_reps < 1 or self.threads < 0 or self.peak_size < 16 or self.settle_s < 0:
            raise BadArgumentError("paired: --rounds and --peak-reps must be >= 1, --threads and --settle >= 0, "
                                   "--peak-size >= 16")

    @property
    def command(self) -> str:
        return shlex.join(["python", "-m", "trt_gif2video.bench.paired", *map(str, self.models),
                           "--size", self.size.label, "--rounds", str(self.rounds), "--threads", str(self.threads),
                           "--peak-size", str(self.peak_size), "--peak-reps", str(self.peak_reps),
                           "--settle", str(self.settle_s)])


def _feeds(session, network: Network, size: Size, tmp: Path) -> dict:
    """One call's inputs, as bench feeds them: decoded synthetic GIF frames padded to the stride."""
    from ..io.gif_decode import open_gif
    from .stages import FEEDS, synthetic_gif

    gif = synthetic_gif(tmp / f"{size.label}.gif", size.width, size.height, 3)
    with open_gif(gif) as reader:
        frames = list(reader)
    return FEEDS[network](frames, 1, default_stride(session, network))(0)


def measure(path: Path, config: PairedConfig, notify: Callable[[str], None] = lambda _: None) -> PairedResult:
    from ..runtime.backends.onnxruntime import OnnxRuntimeSession

    load_before = tuple(round(x, 2) for x in os.getloadavg())
    with OnnxRuntimeSession(path, SessionOptions(threads=config.threads)) as session:
        try:
            network = Network(session.metadata.get("network"))
        except ValueError:
            raise ModelError(f"{path}: metadata 'network' must be dequant or interp to build its inputs") from None
        if network not in (Network.DEQUANT, Network.INTERP):
            raise ModelError(f"{path}: paired timing knows dequant and interp inputs, not {network.value}")
        counted = count_graph(path, 1, config.size.height, config.size.width)
        with tempfile.TemporaryDirectory(prefix="g2v-paired-") as tmp:
            feeds = _feeds(session, network, config.size, Path(tmp))
        session.infer(feeds)  # warm-up: thread pool, page faults
        rounds = []
        for i in range(config.rounds):
            load = os.getloadavg()[0]
            peak = measure_cpu_peak(config.peak_size, config.threads, config.peak_reps)
            time.sleep(config.settle_s)
            start = time.perf_counter_ns()
            session.infer(feeds)
            ms = (time.perf_counter_ns() - start) / 1e6
            gflops = counted.total / ms / 1e6
            rounds.append(Round(peak.gflops, peak.by_engine, ms, gflops, gflops / peak.gflops, round(load, 2)))
            notify(f"{path.name} round {i + 1}/{config.rounds}: peak {peak.gflops:.1f} GFLOP/s, call {ms:.0f} ms, "
                   f"{gflops:.1f} GFLOP/s, share {gflops / peak.gflops:.0%}")
    return PairedResult(str(path), network.value, config.size.label, f"{counted.width}x{counted.height}",
                        counted.total, tuple(rounds), load_before, tuple(round(x, 2) for x in os.getloadavg()))


def run(config: PairedConfig, notify: Callable[[str], None] = lambda _: None) -> tuple[dict, list[PairedResult]]:
    meta = {"command": config.command,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host_cpu": _cpu_model(),
            "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "load_avg_before": [round(x, 2) for x in os.getloadavg()],
            "versions": {"python": platform.python_version(), **{d: _version(d) for d in ("numpy", "onnxruntime")}},
            **{k: v for k, v in asdict(config).items() if k not in ("models", "size")},
            # numpy's BLAS takes its thread count from these, not from --threads
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")}}
    results = [measure(Path(p), config, notify) for p in config.models]
    meta["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return meta, results


def to_json(meta: dict, results: Sequence[PairedResult]) -> dict:
    return {"meta": meta, "results": [{**asdict(r), "summary": r.summary()} for r in results]}


def markdown(meta: dict, results: Sequence[PairedResult]) -> str:
    lines = ["# Share of the FP32 matmul peak, paired per round", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}, {meta['host_cpu']}, {meta['cpu_cores']} cores, "
             f"threads {meta['threads']} (0 = ONNX Runtime default), peak {meta['peak_size']}^2 matmul best of "
             f"{meta['peak_reps']} per engine and round, {meta['settle_s']} s pause before the call  ",
             f"Load average before / after: {meta['load_avg_before']} / {meta['load_avg_after']}", "",
             *([f"Note: {meta['note']}", ""] if meta.get("note") else []),
             "| model | network | counted at | GFLOP per call | rounds | median share | IQR (q1-q3) | median GFLOP/s "
             "| peak range GFLOP/s | median / best peak | load 1 min |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r.summary()
        loads = [x.load_1min for x in r.rounds]
        lines.append(f"| {Path(r.model).name} | {r.network} | {r.counted_at} | {r.flops / 1e9:.2f} | {len(r.rounds)} "
                     f"| **{s['median_share']:.1%}** | {s['q1_share']:.1%}-{s['q3_share']:.1%} | {s['median_gflops']:.1f} "
                     f"| {s['peak_min']:.1f}-{s['peak_max']:.1f} | {s['median_gflops_over_best_peak']:.1%} "
                     f"| {min(loads):.2f}-{max(loads):.2f} |")
    for r in results:
        lines += ["", f"## {Path(r.model).name} ({r.size}, run at {r.counted_at}; load {list(r.load_avg_before)} -> "
                  f"{list(r.load_avg_after)})", "",
                  "| round | load 1 min | peak GFLOP/s | engines | call ms | GFLOP/s | share |", "|---|---|---|---|---|---|---|"]
        for i, x in enumerate(r.rounds, 1):
            engines = ", ".join(f"{k} {v:.1f}" for k, v in x.peak_by_engine.items())
            lines.append(f"| {i} | {x.load_1min:.2f} | {x.peak_gflops:.1f} | {engines} | {x.call_ms:.1f} "
                         f"| {x.gflops:.1f} | {x.share:.1%} |")
    return "\n".join(lines) + "\n"


def write(meta: dict, results: Sequence[PairedResult], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "paired.json").write_text(json.dumps(to_json(meta, results), indent=2) + "\n")
    md = out / "paired.md"
    md.write_text(markdown(meta, results))
    return md


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trt_gif2video.bench.paired", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="FP32 ONNX files (dequant or interp)")
    parser.add_argument("--size", default="480x270", help="WIDTHxHEIGHT (default 480x270)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of the network and the ONNX Runtime matmul (0 = all cores); numpy's BLAS "
                        "follows OPENBLAS_NUM_THREADS: set it too")
    parser.add_argument("--peak-size", type=int, default=2048)
    parser.add_argument("--peak-reps", type=int, default=2)
    parser.add_argument("--settle", type=float, default=0.2, help="seconds between the peak and the call")
    parser.add_argument("-o", "--out", type=Path, default=Path("paired-results"))
    args = parser.parse_args(argv)
    try:
        config = PairedConfig(tuple(args.models), Size.parse(args.size), args.rounds, args.threads, args.peak_size,
                              args.peak_reps, args.settle)
        meta, results = run(config, notify=lambda m: print(m, file=sys.stderr, flush=True))
    except Gif2VideoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    md = write(meta, results, args.out)
    print(md.read_text(), end="")
    print(f"wrote {md} and {md.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
