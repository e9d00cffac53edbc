"""The benchmark: every backend x precision x size, the paper's originals, end-to-end restores.

One process, one stream, sessions opened once per backend x precision. Each configuration's
peak RSS is its own (VmHWM is reset before it). Timings on a shared machine are only as good
as its load: the load average before and after is part of the result.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shlex
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Backend, DitherChoice, Precision
from ..errors import BackendUnavailableError, BadArgumentError, Gif2VideoError
from ..models import Network, Variant, onnx_path
from ..runtime.backends.base import Session, SessionOptions, default_stride, open_session, resolve_backend
from . import memory, stages
from .flops import count_graph
from .peak import Peak, measure_cpu_peak, measure_cuda_peak
from .stats import Latency

NETWORKS = (Network.DEQUANT, Network.INTERP)
LARGE_PIXELS = 500_000  # sizes above this run `large_frames` timed frames (720p costs seconds per frame)
MIB = 2**20


@dataclass(frozen=True)
class Size:
    width: int
    height: int

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @classmethod
    def parse(cls, text: str) -> "Size":
        w, sep, h = text.strip().lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
            raise BadArgumentError(f'bench: size must be WIDTHxHEIGHT like "480x270", got "{text}"')
        return cls(int(w), int(h))


def parse_sizes(text: str) -> tuple[Size, ...]:
    return tuple(Size.parse(s) for s in text.split(",") if s.strip())


DEFAULT_SIZES = parse_sizes("256x256,480x270,1280x720")


@dataclass(frozen=True)
class BenchConfig:
    backends: tuple[Backend, ...] = ()  # () = every backend usable here
    precisions: tuple[Precision, ...] = ()  # () = fp32 + int8 on a CPU, all three on a GPU
    sizes: tuple[Size, ...] = DEFAULT_SIZES
    frames: int = 8  # timed calls per network and size
    large_frames: int = 3  # ... at sizes above LARGE_PIXELS
    warmup: int = 2
    batch: int = 1
    baseline: bool = True
    baseline_frames: int = 2  # the originals take seconds per frame: fewer, 1 at large sizes
    end_to_end: bool = False
    threads: int = 0  # CPU threads per session (0 = backend default)
    models_dir: Path | None = None  # None = the shipped weights
    peak_size: int = 2048
    profile: bool = True  # onnxruntime per-op profile at one size (profile_size)

    def __post_init__(self) -> None:
        if min(self.frames, self.large_frames, self.baseline_frames, self.batch) < 1 or self.warmup < 0:
            raise BadArgumentError("bench: --frames, --batch and frame counts must be >= 1, --warmup >= 0")
        if not self.sizes:
            raise BadArgumentError("bench: --sizes needs at least one WIDTHxHEIGHT")

    @property
    def command(self) -> str:
        """The command line that reproduces this run, every option explicit (defaults may change)."""
        args = ["trt-gif2video", "bench"]
        args += [x for b in self.backends for x in ("--backend", Backend(b).value)]
        args += [x for p in self.precisions for x in ("--precision", Precision(p).value)]
        args += ["--sizes", ",".join(s.label for s in self.sizes), "--frames", str(self.frames),
                 "--large-frames", str(self.large_frames), "--warmup", str(self.warmup), "--batch", str(self.batch),
                 "--threads", str(self.threads), "--baseline" if self.baseline else "--no-baseline",
                 "--end-to-end" if self.end_to_end else "--no-end-to-end", "--peak-size", str(self.peak_size)]
        if self.models_dir is not None:
            args += ["--models-dir", str(self.models_dir)]
        return shlex.join(args)

    @property
    def profile_size(self) -> Size:
        """The size the per-op profile runs at: 480x270 when measured (the edge budget frame), else the first."""
        return next((s for s in self.sizes if s == Size(480, 270)), self.sizes[0])

    def timed(self, size: Size) -> int:
        return self.frames if size.pixels <= LARGE_PIXELS else min(self.frames, self.large_frames)


@dataclass(frozen=True)
class NetResult:
    network: str  # dequant | interp
    model: str  # file (or the paper network) that ran
    latency: Latency | None  # per frame
    flops_per_frame: float | None  # at the padded size the runtime runs
    counted_at: str  # WxH the FLOPs were counted at
    gflops: float | None = None  # achieved: FLOPs per frame / mean latency
    peak_fraction: float | None = None  # of the device's measured FP32 matmul peak
    error: str | None = None


@dataclass(frozen=True)
class Row:
    """One backend x precision x size (or the paper's originals at one size)."""

    backend: str
    precision: str
    size: str
    device: str  # cpu | cuda:N
    batch: int
    streams: int
    description: str  # the session's own line (provider, threads, ...)
    dequant: NetResult | None = None
    interp: NetResult | None = None
    open_s: float | None = None  # loading both sessions
    peak_rss_mib: float | None = None
    device_peak_mib: float | None = None
    skipped: str | None = None
    op_ms: dict[str, dict[str, float]] | None = None  # network -> op type -> ms per call (onnxruntime profile)
    role_ms: dict[str, dict[str, float]] | None = None  # network -> role (bench/opprofile.ROLES) -> ms per call

    @property
    def fps_x2(self) -> float | None:
        """Output frames per second of a serial --interp 2 restore: one dequant + one interp per 2 frames."""
        if not (self.dequant and self.interp and self.dequant.latency and self.interp.latency):
            return None
        return 2000.0 / (self.dequant.latency.mean_ms + self.interp.latency.mean_ms)


@dataclass(frozen=True)
class StageResult:
    size: str
    stage: str
    latency: Latency | None  # per frame
    note: str = ""


@dataclass(frozen=True)
class EndToEnd:
    backend: str
    precision: str
    size: str
    gif_frames: int
    frames_written: int
    interpolator_calls: int
    wall_s: float  # restore() from call to return: decode, both networks, encode, model loading
    pure_inference_s: float  # the same calls at the measured mean latencies, nothing else
    open_s: float  # model loading, measured separately (part of wall_s)

    @property
    def ratio(self) -> float:
        return self.wall_s / self.pure_inference_s

    @property
    def ratio_without_load(self) -> float:
        return (self.wall_s - self.open_s) / self.pure_inference_s


@dataclass(frozen=True)
class BenchReport:
    meta: dict
    peaks: dict[str, Peak]  # device -> peak
    stages: list[StageResult] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    baseline: list[Row] = field(default_factory=list)
    end_to_end: list[EndToEnd] = field(default_factory=list)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    """The CPU's name and the SIMD features behind its numbers, e.g. "AMD EPYC (AVX2)"."""
    from ..cpuinfo import cpu_name, isa_summary

    return f"{cpu_name()} ({isa_summary()})"


def environment(config: BenchConfig) -> dict:
    return {
        "command": config.command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host_cpu": _cpu_model(),
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "versions": {"python": platform.python_version(), "trt-gif2video": _version("trt-gif2video"),
                     **{d: _version(d) for d in ("numpy", "onnx", "onnxruntime", "torch", "tensorrt", "av")}},
        "threads": config.threads,
        "batch": config.batch,
        "streams": 1,
        "frames": config.frames,
        "large_frames": config.large_frames,
        "warmup": config.warmup,
        "models_dir": str(config.models_dir) if config.models_dir else "shipped weights",
        "peak_rss_reset": memory.reset_peak_rss(),
        # thread-pool settings change CPU timings a lot on a loaded machine (spinning OpenMP workers)
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")},
    }


def default_backends() -> tuple[Backend, ...]:
    found = [Backend.ONNXRUNTIME]
    if importlib.util.find_spec("torch") is not None:
        found.append(Backend.TORCH)
    if resolve_backend(Backend.AUTO)[0] is Backend.TENSORRT:  # auto picks TensorRT only where it can run
        found.append(Backend.TENSORRT)
    return tuple(found)


def resolve_plan(config: BenchConfig) -> tuple[tuple[Backend, ...], tuple[Precision, ...]]:
    backends = tuple(dict.fromkeys(resolve_backend(b)[0] for b in (config.backends or default_backends())))
    gpu = stages.cuda_transfers_usable() or Backend.TENSORRT in backends
    precisions = config.precisions or ((Precision.FP32, Precision.FP16, Precision.INT8) if gpu
                                       else (Precision.FP32, Precision.INT8))
    return backends, tuple(dict.fromkeys(precisions))


def _device_of(session: Session) -> str:
    text = session.description.lower()
    return "cuda:0" if session.backend is Backend.TENSORRT or "cuda" in text else "cpu"


def _counted(backend: Backend, network: Network, precision: Precision, size: Size, batch: int,
             models_dir: Path | None) -> tuple[float | None, str]:
    """FLOPs per frame, counted on the FP32 graph: FP16 and INT8 files run the same convolutions
    (and may be made only on first use), torch runs the same weights."""
    variant = Variant.NODITHER if network is Network.DEQUANT else None
    path = onnx_path(network, variant, Precision.FP32, root=models_dir)
    if not path.is_file():
        return None, "no ONNX to count"
    g = count_graph(path, batch, size.height, size.width)
    return g.per_frame, f"{g.width}x{g.height}"


class Bench:
    def __init__(self, config: BenchConfig, notify: Callable[[str], None] = lambda _: None) -> None:
        self.config = config
        self.notify = notify
        # cuda_graphs only applies to torch on a GPU (the FP16 CUDA-graph pipeline of the issue)
        self.options = SessionOptions(threads=config.threads, models_dir=config.models_dir, cuda_graphs=True)
        self.device_memory = memory.DeviceMemory()

    def run(self) -> BenchReport:
        cfg = self.config
        backends, precisions = resolve_plan(cfg)
        meta = environment(cfg)
        meta["plan"] = {"backends": [b.value for b in backends], "precisions": [p.value for p in precisions],
                        "sizes": [s.label for s in cfg.sizes]}
        self.notify(f"measuring the FP32 matmul peak ({cfg.peak_size}x{cfg.peak_size})")
        peaks = {"cpu": measure_cpu_peak(cfg.peak_size, cfg.threads)}
        if stages.cuda_transfers_usable():
            peaks["cuda:0"] = measure_cuda_peak()
        report = BenchReport(meta, peaks)
        with tempfile.TemporaryDirectory(prefix="g2v-bench-") as tmp:
            inputs = {size: self._size_inputs(size, Path(tmp), report.stages) for size in cfg.sizes}
            for backend in backends:
                for precision in precisions:
                    report.rows.extend(self._backend_rows(backend, precision, inputs, peaks))
            if cfg.baseline:
                report.baseline.extend(self._baseline_rows(inputs, peaks))
            if cfg.end_to_end:
                report.end_to_end.extend(self._end_to_end(inputs, report.rows, Path(tmp)))
        meta["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        return report

    def _size_inputs(self, size: Size, tmp: Path, results: list[StageResult]) -> list:
        """Decode and encode timings at this size; returns the decoded frames the networks get."""
        n = self.config.timed(size) * self.config.batch + self.config.warmup + 1
        gif = stages.synthetic_gif(tmp / f"{size.label}.gif", size.width, size.height, n)
        frames, decode_ns = stages.time_decode(gif)
        write_ns, flush_ns = stages.time_encode([f.rgb for f in frames], tmp / f"{size.label}.mp4")
        # the flush encodes x264's buffered frames: spread it over them so the mean is the real cost
        encode_ns = [s + flush_ns // len(write_ns) for s in write_ns]
        results.append(StageResult(size.label, stages.Stage.DECODE.value, Latency.from_ns(decode_ns),
                                         "GIF -> RGB, streaming decoder"))
        results.append(StageResult(size.label, stages.Stage.ENCODE.value, Latency.from_ns(encode_ns),
                                         "RGB -> MP4 (x264), flush spread over the frames"))
        if stages.cuda_transfers_usable():
            image = size.pixels * 3
            h2d, d2h = stages.time_transfers(5 * image, 2 * image, self.config.timed(size), self.config.warmup)
            results.append(StageResult(size.label, stages.Stage.HOST_TO_DEVICE.value, Latency.from_ns(h2d),
                                             "pinned copy of one GIF frame's 5 input images (x2 restore)"))
            results.append(StageResult(size.label, stages.Stage.DEVICE_TO_HOST.value, Latency.from_ns(d2h),
                                             "pinned copy of its 2 output images"))
        else:
            for stage in (stages.Stage.HOST_TO_DEVICE, stages.Stage.DEVICE_TO_HOST):
                results.append(StageResult(size.label, stage.value, None,
                                                 "none on the CPU: inference reads and writes host memory"))
        return frames

    def _backend_rows(self, backend: Backend, precision: Precision, inputs: dict, peaks: dict[str, Peak]) -> list[Row]:
        cfg = self.config
        base = dict(backend=backend.value, precision=precision.value, batch=cfg.batch, streams=1)
        self.notify(f"{backend.value} {precision.value}: loading")
        memory.reset_peak_rss()
        with ExitStack() as stack:
            start = time.perf_counter()
            try:
                sessions = {net: stack.enter_context(open_session(
                    net, backend, precision, variant=Variant.NODITHER if net is Network.DEQUANT else None,
                    options=self.options)) for net in NETWORKS}
            except Gif2VideoError as exc:  # not runnable here (no backend, no model file): say why, go on
                return [Row(size=s.label, device="-", description="-", skipped=str(exc), **base) for s in cfg.sizes]
            open_s = time.perf_counter() - start
            device = _device_of(sessions[Network.DEQUANT])
            rows = []
            for size in cfg.sizes:
                self.notify(f"{backend.value} {precision.value} {size.label}")
                memory.reset_peak_rss()
                self.device_memory.reset()
                results = {net: self._time_net(sessions[net], backend, net, precision, size, inputs[size],
                                               peaks.get(device)) for net in NETWORKS}
                rss, dev = _mib(memory.peak_rss_bytes()), _mib(self.device_memory.peak_bytes())
                ops = roles = None
                if cfg.profile and backend is Backend.ONNXRUNTIME and device == "cpu" and size == cfg.profile_size:
                    self.notify(f"{backend.value} {precision.value} {size.label}: per-op profile")
                    profiles = {net.value: self._op_profile(sessions[net], net, precision, inputs[size])
                                for net in NETWORKS}
                    ops = {n: {op: round(ms, 3) for op, ms in p.by_op.items()} for n, p in profiles.items()}
                    roles = {n: {r: round(ms, 3) for r, ms in p.by_role.items()} for n, p in profiles.items()}
                rows.append(Row(size=size.label, device=device, description=sessions[Network.DEQUANT].description,
                                dequant=results[Network.DEQUANT], interp=results[Network.INTERP], open_s=open_s,
                                peak_rss_mib=rss, device_peak_mib=dev, op_ms=ops, role_ms=roles, **base))
        return rows

    def _time_net(self, session: Session, backend: Backend, network: Network, precision: Precision, size: Size,
                  frames: list, peak: Peak | None) -> NetResult:
        cfg = self.config
        flops, counted_at = _counted(backend, network, precision, size, cfg.batch, cfg.models_dir)
        try:
            samples = stages.time_network(session, network, frames, cfg.batch, cfg.timed(size), cfg.warmup)
        except Gif2VideoError as exc:
            return NetResult(network.value, session.label, None, flops, counted_at, error=str(exc))
        lat = Latency.from_ns(samples, per=cfg.batch)
        gflops = flops / lat.mean_ms / 1e6 if flops else None
        return NetResult(network.value, session.label, lat, flops, counted_at, gflops,
                         gflops / peak.gflops if gflops and peak else None)

    def _op_profile(self, session: Session, network: Network, precision: Precision, frames: list):
        from .opprofile import ort_profile

        variant = Variant.NODITHER if network is Network.DEQUANT else None
        # the file the session runs (INT8 on the CPU: the uint8-activation flavour)
        path = getattr(session, "path", None) or onnx_path(network, variant, precision, root=self.config.models_dir)
        feeds = stages.FEEDS[network](frames, self.config.batch, default_stride(session, network))(0)
        return ort_profile(path, feeds, threads=self.config.threads)

    def _baseline_rows(self, inputs: dict, peaks: dict[str, Peak]) -> list[Row]:
        if importlib.util.find_spec("torch") is None:
            raise BackendUnavailableError(
                "bench: the baseline runs the paper's networks in torch; install torch or pass --no-baseline")
        from .baseline import baseline_device, time_originals

        cfg = self.config
        device = baseline_device()
        peak = peaks.get(device)
        rows = []
        for size, frames in inputs.items():
            n = 1 if size.pixels > LARGE_PIXELS else cfg.baseline_frames
            self.notify(f"baseline (paper originals, torch eager) {size.label}: {n} frame(s) per network")
            memory.reset_peak_rss()
            res = time_originals(frames, n, warmup=0 if size.pixels > LARGE_PIXELS else 1, threads=cfg.threads)
            nets = {}
            for name, (lat, flops, model) in res.items():
                gflops = flops / lat.mean_ms / 1e6
                nets[name] = NetResult(name, model, lat, flops, "padded to 16 / 32", gflops,
                                       gflops / peak.gflops if peak else None)
            rows.append(Row(backend="torch-eager (paper originals)", precision=Precision.FP32.value, size=size.label,
                            device=device, batch=1, streams=1, description="random weights, FP32 eager",
                            dequant=nets["dequant"], interp=nets["interp"],
                            peak_rss_mib=_mib(memory.peak_rss_bytes())))
        return rows

    def _end_to_end(self, inputs: dict, rows: list[Row], tmp: Path) -> list[EndToEnd]:
        """One restore (--interp 2, plain dequantizer) per backend at its first measured precision."""
        from ..pipeline import RestoreOptions, restore

        first: dict[str, str] = {}
        for row in rows:
            if row.fps_x2 is not None:
                first.setdefault(row.backend, row.precision)
        out = []
        for row in rows:
            if row.fps_x2 is None or first.get(row.backend) != row.precision:
                continue
            size = next(s for s in inputs if s.label == row.size)
            self.notify(f"end-to-end restore {row.backend} {row.precision} {row.size}")
            options = RestoreOptions(interp=2, backend=Backend(row.backend), precision=Precision(row.precision),
                                     dither=DitherChoice.NO, batch=self.config.batch, session=self.options)
            gif = tmp / f"{size.label}.gif"
            try:
                result = restore(gif, tmp / f"e2e-{row.backend}-{row.precision}-{size.label}.mp4", options)
            except Gif2VideoError as exc:  # one failed restore must not lose the rest of the run
                self.notify(f"end-to-end {row.backend} {row.precision} {row.size} failed: {exc}")
                continue
            pure = (result.gif_frames * row.dequant.latency.mean_ms
                    + result.interpolator_calls * row.interp.latency.mean_ms) / 1000.0
            out.append(EndToEnd(row.backend, row.precision, row.size, result.gif_frames, result.frames_written,
                                result.interpolator_calls, result.seconds, pure, row.open_s or 0.0))
        return out


def _mib(n: int | None) -> float | None:
    return None if n is None else round(n / MIB, 1)
