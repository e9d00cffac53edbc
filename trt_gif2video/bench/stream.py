"""`bench --stream`: a GIF played into the restore stages at its own delays, as a live source would.

GIF frame i "arrives" at its timestamp (sleep until then); the dequantize and interpolate
stages run in their threads as in `pipeline.restore`, and each output frame's time of output
is recorded. Per output frame:
- latency = output time - arrival of the GIF frame it shows. It contains the interpolator's
  look-ahead: frames between GIF frames i and i+1 (and frame i itself) can only be made once
  frame i+1 has arrived, so one GIF delay is inherent; `compute` = output time - arrival of
  the last GIF frame it needed, the part the machine adds;
- late: a player starts with the first output frame and shows frame k at first + s_k; frames
  out after their slot are late. The pipeline keeps up when none is late.
Models are opened and run once at the GIF's size before the clock starts (loading is not
streaming latency); batch 1; the plain dequantizer (no dither detection: it waits for several
frames before the first result); frames are decoded before playing (decode costs ~1 ms per
frame, see the stage table).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import Backend, DitherChoice, Precision
from ..io.gif_decode import read_frames
from ..models import Network, Variant
from ..runtime.backends.base import SessionOptions, open_session, resolve_backend
from .stats import Latency

LATE_TOLERANCE_MS = 1.0  # scheduling jitter of the sleep itself


@dataclass(frozen=True)
class StreamResult:
    gif: str
    size: str
    backend: str
    precision: str
    gif_frames: int
    frames_out: int
    gif_fps: float  # the GIF's own rate (from its median delay)
    out_fps: float  # the output rate asked for (x interp)
    latency: Latency  # output time - arrival of the GIF frame shown
    compute: Latency  # output time - arrival of the last GIF frame needed
    late: int
    sustained_fps: float  # output frames per second between the first and the last output
    keeps_up: bool
    description: str


def play(gif: Path, backend: Backend = Backend.AUTO, precision: Precision = Precision.FP32, interp: int = 2,
         session: SessionOptions = SessionOptions(), notify: Callable[[str], None] = lambda _: None) -> StreamResult:
    """Play `gif` at its own delays through dequantize -> interpolate; see the module doc."""
    from ..pipeline import _Flow
    from ..stages.dequantize import DequantizeConfig, Dequantizer
    from ..stages.interpolate import Interpolator, gif_fps, output_fps

    frames = read_frames(gif)
    delays = [f.delay_ms for f in frames]
    fps = output_fps(delays, interp, None)
    backend, _ = resolve_backend(backend, session.device)
    sessions = {Network.DEQUANT: open_session(Network.DEQUANT, backend, precision, variant=Variant.NODITHER,
                                              options=session),
                Network.INTERP: open_session(Network.INTERP, backend, precision, options=session)}
    notify(f"stream {gif.name}: warming up {sessions[Network.DEQUANT].description}")

    def stages() -> tuple[Dequantizer, Interpolator]:
        return (Dequantizer(lambda network, variant=None: _Borrowed(sessions[network]),
                            DequantizeConfig(batch=1, dither=DitherChoice.NO, detect_frames=1)),
                Interpolator(lambda: _Borrowed(sessions[Network.INTERP]), fps, batch=1))

    dequantizer, interpolator = stages()
    list(interpolator(dequantizer(frames[:2])))  # untimed: first calls grow arenas and pack weights
    description = sessions[Network.DEQUANT].description
    dequantizer, interpolator = stages()

    arrival: dict[int, float] = {}
    flow = _Flow(queue_size=4)
    start = time.perf_counter() + 0.05

    def source():
        for f in frames:
            delay = start + f.timestamp_ms / 1000.0 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            arrival[f.index] = time.perf_counter()
            yield f

    notify(f"stream {gif.name}: playing {len(frames)} frames at {float(gif_fps(delays)):.3g} fps")
    out: list[tuple[float, float, int, float]] = []  # (output time, s_k ms, shown GIF frame, arrival needed)
    try:
        q_frames = flow.stage("source", source)
        q_restored = flow.stage("dequantize", lambda: dequantizer(flow.drain(q_frames)))
        q_out = flow.stage("interpolate", lambda: interpolator(flow.drain(q_restored)))
        for frame in flow.drain(q_out):
            now = time.perf_counter()
            i = frame.source.index
            # frames from GIF frame i on (i itself included) come out once frame i+1 is in
            out.append((now, float(frame.time_ms), i, arrival[min(i + 1, len(frames) - 1)]))
    finally:
        flow.join()
        for s in sessions.values():
            s.close()
    if flow.errors:
        raise flow.errors[0]
    first = out[0][0]
    lat = [int((t - arrival[i]) * 1e9) for t, _, i, _ in out]
    comp = [int((t - n) * 1e9) for t, _, _, n in out]
    late = sum(1 for t, s, _, _ in out if (t - first) * 1000.0 > s - out[0][1] + LATE_TOLERANCE_MS)
    span = out[-1][0] - first
    h, w = frames[0].rgb.shape[:2]
    return StreamResult(gif.name, f"{w}x{h}", backend.value, Precision(precision).value, len(frames), len(out),
                        float(gif_fps(delays)), float(fps), Latency.from_ns(lat), Latency.from_ns(comp), late,
                        (len(out) - 1) / span if span > 0 else float("inf"), late == 0, description)


class _Borrowed:
    """A session lent to a stage: entering gives it, leaving does not close it (the bench closes it)."""

    def __init__(self, session) -> None:
        self._session = session

    def __enter__(self):
        return self._session

    def __exit__(self, *exc) -> None:
        return None


def markdown(results: list[StreamResult], meta: dict) -> str:
    lines = ["# trt-gif2video bench --stream", "", f"Command: `{meta['command']}`", "",
             f"- machine: {meta['host_cpu']}, {meta['cpu_cores']} cores; load average before {meta['load_avg_before']}, "
             f"after {meta.get('load_avg_after')}",
             "- latency: output time - arrival of the GIF frame shown (includes waiting one GIF delay for the next "
             "frame, which interpolation needs); compute: output time - arrival of the last GIF frame it needed",
             "- late: output after its slot in a player that starts at the first output frame", "",
             "| GIF | size | backend | precision | GIF fps | out fps | frames out | latency p50 / p95 / p99 ms | "
             "compute p50 / p95 / p99 ms | late | sustained fps | keeps up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lat = f"{r.latency.p50_ms:.0f} / {r.latency.p95_ms:.0f} / {r.latency.p99_ms:.0f}"
        comp = f"{r.compute.p50_ms:.0f} / {r.compute.p95_ms:.0f} / {r.compute.p99_ms:.0f}"
        lines.append(f"| {r.gif} | {r.size} | {r.backend} | {r.precision} | {r.gif_fps:.3g} | {r.out_fps:.3g} | "
                     f"{r.frames_out} | {lat} | {comp} | {r.late} | {r.sustained_fps:.2f} | "
                     f"{'yes' if r.keeps_up else 'no'} |")
    return "\n".join(lines) + "\n"
