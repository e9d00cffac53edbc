"""The restore flow, in one place:

    GIF file --decode--> q_frames --dequantize--> q_restored --interpolate--> q_out --encode--> video

Transparent GIFs (stages.alpha): decode fills transparent pixels from nearby opaque colour
before the networks; encode puts the alpha back (APNG, WebM, GIF, PNG frames) or composites
onto `background` (MP4, and the --compare video). Opaque frames skip both steps.
With `temporal` set (opt-in), a stage between dequantize and interpolate blends each restored
frame with its neighbours where they agree (stages.temporal).

Decode, dequantize and interpolate each run in a thread; encoding runs in the caller's
thread. The queues are bounded, so memory stays flat however long the GIF is; each
producer ends its stream with an end marker. If any stage fails, the others stop, every
thread is joined, the half-written output is discarded (writers are atomic) and the
first error is raised here, in the caller.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import budget as membudget
from .config import DEFAULT_LIMITS, Backend, DitherChoice, InterpolatorChoice, Limits, OutputFormat, Precision
from .errors import BadArgumentError, InferenceError, OutputError
from .io.encode import ALPHA_FORMATS, MAX_GIF_FPS, open_writer, resolve_format
from .io.gif_decode import open_gif, probe_gif, probe_transparency
from .io.outputs import Overwrite, check_distinct, check_input, check_name, check_output
from .models import Network, Variant
from .runtime.backends.base import Session, SessionOptions, open_session, resolve_backend, stage_options
from .stages import alpha as alpha_stage
from .stages.dequantize import DequantizeConfig, Dequantizer
from .stages.interpolate import Interpolator, OutputFrame, gif_fps, output_fps
from .stages.pad import TileSpec
from .stages.receptive import with_receptive_radius
from .stages.temporal import temporal_filter


@dataclass(frozen=True)
class RestoreOptions:
    interp: int = 2  # output frames per GIF frame (at the GIF's median delay)
    fps: float | None = None  # overrides interp: output frame rate
    backend: Backend = Backend.AUTO
    precision: Precision = Precision.FP32
    dither: DitherChoice = DitherChoice.AUTO
    interpolator: InterpolatorChoice = InterpolatorChoice.OURS  # rife: pretrained, `weights fetch rife` first
    fmt: OutputFormat | None = None  # None = from the output path
    tile: int | None = None  # max tile side in pixels; None = whole frames
    batch: int | None = None  # frames per model call; None: `default_batch(backend)`
    compare: Path | None = None  # also write GIF | restored side by side here
    limits: Limits = DEFAULT_LIMITS
    session: SessionOptions = field(default_factory=SessionOptions)
    queue_size: int = 4  # items per queue: bounds memory to a few frames per stage
    memory_budget: int | None = None  # bytes; None = budget.default_budget(); batch and tile follow from it
    max_output_frames: int = 20_000  # refuse a GIF that would make more (e.g. one 655 s delay at x2)
    overwrite: Overwrite = Overwrite.YES  # the CLI passes REFUSE unless -y / -n
    crf: int | None = None  # MP4/WebM quality (encode.DEFAULT_CRF when None)
    background: tuple[int, int, int] = alpha_stage.DEFAULT_BACKGROUND  # under transparency, where alpha is dropped
    temporal: float | None = None  # sigma (grey levels) of the neighbouring-frame blend; None = off

    def __post_init__(self) -> None:
        if self.interp < 1:
            raise BadArgumentError(f'restore: "--interp" must be >= 1, got {self.interp}')
        if self.fps is not None and not self.fps > 0:
            raise BadArgumentError(f'restore: "--fps" must be > 0, got {self.fps}')
        if (self.batch is not None and self.batch < 1) or self.queue_size < 1:
            raise BadArgumentError(f"restore: batch and queue_size must be >= 1, got {self.batch}, {self.queue_size}")
        TileSpec(self.tile)  # refuse a bad --tile before any file is touched
        if self.max_output_frames < 1:
            raise BadArgumentError(f'restore: "--max-output-frames" must be >= 1, got {self.max_output_frames}')
        if self.memory_budget is not None and self.memory_budget < 1:
            raise BadArgumentError(f'restore: "--memory-budget" must be > 0, got {self.memory_budget}')
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise BadArgumentError(f"restore: background must be an RGB triple in 0..255, got {self.background}")
        if self.temporal is not None and not self.temporal > 0:
            raise BadArgumentError(f'restore: "--temporal" must be > 0 grey levels, got {self.temporal:g}')


@dataclass(frozen=True)
class Progress:
    gif_frames_done: int
    gif_frames_total: int
    frames_written: int


@dataclass(frozen=True)
class RestoreResult:
    input: Path
    output: Path
    gif_frames: int
    frames_written: int
    fps: Fraction
    backend: str  # which backend ran, and why (auto)
    variant: Variant  # dequantizer weights used
    p_dither: float | None  # detector's dither probability (--dither auto)
    interpolator_calls: int
    seconds: float
    notes: tuple[str, ...] = ()  # one line each: rate changes, memory plan, decoder warnings
    skipped: bool = False  # -n and the output existed: nothing was done

    def as_dict(self) -> dict:
        """The --json summary of this GIF."""
        return {"input": str(self.input), "output": str(self.output), "skipped": self.skipped,
                "gif_frames": self.gif_frames, "frames_written": self.frames_written,
                "fps": str(self.fps), "fps_float": float(self.fps), "backend": self.backend,
                "variant": self.variant.value, "p_dither": self.p_dither,
                "interpolator_calls": self.interpolator_calls, "seconds": round(self.seconds, 3),
                "notes": list(self.notes)}


class _Cancelled(Exception):
    """Raised inside a stage when another stage failed: unwinds it without a second error."""


_END = object()


class _Flow:
    """Threads connected by bounded queues; the first error stops all of them."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.cancels: list[Callable[[], None]] = []  # stop running network calls (Ctrl-C, another stage failed)

    def put(self, q: queue.Queue, item: object) -> None:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        raise _Cancelled

    def drain(self, q: queue.Queue) -> Iterator:
        while True:
            try:
                item = q.get(timeout=0.05)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Cancelled from None
                continue
            if item is _END:
                return
            yield item

    def stage(self, name: str, items: Callable[[], Iterable]) -> queue.Queue:
        """Run `items()` in a thread, feeding a new bounded queue; returns that queue."""
        out: queue.Queue = queue.Queue(self.queue_size)

        def run() -> None:
            try:
                for item in items():
                    self.put(out, item)
                self.put(out, _END)
            except _Cancelled:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
                self.errors.append(exc)
                self.stop.set()

        thread = threading.Thread(target=run, name=f"restore-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()
        return out

    def join(self) -> None:
        self.stop.set()
        if any(t.is_alive() for t in self.threads):
            for cancel in list(self.cancels):
                cancel()
        for thread in self.threads:
            for _ in range(200):
                try:
                    thread.join()
                    break
                except RuntimeError:  # Ctrl-C landed inside start(): it starts a moment later, or never did
                    time.sleep(0.01)


def default_batch(backend: Backend) -> int:
    """Frames per model call: 4 on a GPU; 1 on the CPU, where ONNX Runtime's conv buffers grow with
    the batch (a 640x272 GIF peaked at 1.15 GB RSS with 4, 0.57 GB with 1) and speed does not."""
    return 1 if backend is Backend.ONNXRUNTIME else 4


def restore(
    gif_path: Path,
    output: Path,
    options: RestoreOptions = RestoreOptions(),
    progress: Callable[[Progress], None] | None = None,
) -> RestoreResult:
    """Restore one GIF into a video at `output` (and a side-by-side at `options.compare`)."""
    start = time.perf_counter()
    gif_path, output = Path(gif_path), Path(output)
    fmt = check_outputs(gif_path, output, options)
    info, n_frames, delays = probe_gif(gif_path, options.limits)  # fps and progress total, no pixel decode
    fps = output_fps(delays, options.interp, options.fps)
    notes: list[str] = []
    if fmt is OutputFormat.GIF or (options.compare is not None and resolve_format(options.compare) is OutputFormat.GIF):
        fps, note = gif_legal_fps(fps, output)
        notes += [note] if note else []
    n_out = output_frame_count(delays, fps)
    if n_out > options.max_output_frames:
        raise BadArgumentError(
            f"{gif_path}: would make {n_out} output frames ({sum(delays) / 1000:g} s at {float(fps):g} fps), over "
            f"the limit of {options.max_output_frames}: raise --max-output-frames or lower --interp/--fps")
    backend, reason = resolve_backend(options.backend, options.session.device)
    # Dequantize and interpolate run at the same time (unless no frame lies between GIF frames):
    # each session gets its share of the CPUs.
    options = replace(options, session=stage_options(options.session, 1 if options.interp == 1 and options.fps is None else 2))
    # Alpha in the output only where the format keeps it and some frame is transparent.
    transparent = probe_transparency(gif_path, options.limits)
    keep_alpha = fmt in ALPHA_FORMATS and transparent
    batch = options.batch or default_batch(backend)
    budget = options.memory_budget or membudget.default_budget()
    mem = membudget.plan(info.width, info.height, fmt, budget, batch=batch, tile=options.tile,
                         compare=options.compare is not None, backend=backend, what=str(gif_path),
                         margins=_tile_margins(options), alpha=transparent,
                         temporal=options.temporal is not None)
    if mem.tile != options.tile or mem.batch != batch:
        notes.append(mem.line())
    flow = _Flow(options.queue_size)

    def open_model(network: Network, variant: Variant | None = None):
        session = open_session(network, backend, options.precision, variant=variant, options=options.session)
        flow.cancels.append(session.cancel)
        return with_receptive_radius(session, network, variant, options.session.models_dir)  # tiles need it

    tiles = TileSpec(mem.tile)
    dequantizer = Dequantizer(open_model, DequantizeConfig(batch=mem.batch, dither=options.dither, tiles=tiles))
    interpolator = Interpolator(_interp_opener(options, backend, flow), fps, batch=mem.batch, tiles=tiles,
                                motion_ms=Fraction(1000) / gif_fps(delays))

    bg = options.background
    written = 0
    with open_gif(gif_path, options.limits) as reader:
        try:
            with _Writers(output, options, fps, fmt, keep_alpha) as (writer, compare):
                q_frames = flow.stage("decode", lambda: map(alpha_stage.prepare, reader))
                q_restored = flow.stage("dequantize", lambda: dequantizer(flow.drain(q_frames)))
                if options.temporal is not None:
                    q_dequant, sigma = q_restored, options.temporal
                    q_restored = flow.stage("temporal", lambda: temporal_filter(flow.drain(q_dequant), sigma))
                q_out = flow.stage("interpolate", lambda: interpolator(flow.drain(q_restored)))
                for frame in flow.drain(q_out):
                    if keep_alpha:
                        writer.write(alpha_stage.with_alpha(frame.rgb, frame.alpha))
                    else:
                        writer.write(alpha_stage.composite(frame.rgb, frame.alpha, bg))
                    if compare is not None:
                        compare.write(_side_by_side(frame, bg))
                    written += 1
                    if progress is not None:
                        progress(Progress(frame.source.index + 1, n_frames, written))
        except _Cancelled:
            pass  # a stage failed: its error is raised below, after every thread has stopped
        finally:
            flow.join()
    if flow.errors:
        err = flow.errors[0]
        if isinstance(err, InferenceError) and str(gif_path) not in str(err):
            raise InferenceError(f"{gif_path}: {err}") from None
        if isinstance(err, (OSError, MemoryError)):  # a stage hit the system: one line naming the GIF
            raise OutputError(f"{gif_path}: {type(err).__name__}: {getattr(err, 'strerror', None) or err}") from None
        raise err
    backend_line = dequantizer.description or backend.value
    return RestoreResult(
        input=gif_path,
        output=output,
        gif_frames=n_frames,
        frames_written=written,
        fps=fps,
        backend=f"{backend_line} [{reason}]",
        variant=dequantizer.variant or Variant.NODITHER,
        p_dither=dequantizer.p_dither,
        interpolator_calls=interpolator.calls,
        seconds=time.perf_counter() - start,
        notes=tuple(notes + [f"{gif_path}: {w}" for w in getattr(reader, "warnings", ())]),
    )


def check_outputs(gif_path: Path, output: Path, options: RestoreOptions) -> OutputFormat:
    """Everything about the outputs that can be refused before any work; returns the output format."""
    check_name(output)
    fmt = resolve_format(output, options.fmt)
    if fmt is OutputFormat.PNG_DIR and output.suffix and not output.is_dir():
        raise OutputError(f"{output}: PNG frames go into a directory: give a path without an extension "
                          f"(or an existing directory), not a file name ending in {output.suffix}")
    check_output(output, allow_dir=fmt is OutputFormat.PNG_DIR, inputs=[gif_path],
                 overwrite=Overwrite.YES if options.overwrite is Overwrite.SKIP else options.overwrite)
    if options.compare is not None:
        cmp_fmt = resolve_format(options.compare)
        check_output(options.compare, allow_dir=cmp_fmt is OutputFormat.PNG_DIR, inputs=[gif_path],
                     overwrite=Overwrite.YES if options.overwrite is Overwrite.SKIP else options.overwrite)
    check_distinct([output, options.compare])
    return fmt


def gif_legal_fps(fps: Fraction, output: Path) -> tuple[Fraction, str | None]:
    """A rate a GIF can hold: delays are whole centiseconds, >= 2 (viewers slow 0-1 cs to 10) and <= 65535."""
    if fps > MAX_GIF_FPS:
        return Fraction(MAX_GIF_FPS), (f"{output}: GIF delays are whole centiseconds >= 2, so {float(fps):g} fps "
                                       f"becomes {MAX_GIF_FPS} fps (2 cs per frame); use mp4/webm/apng for more")
    if fps < Fraction(100, 0xFFFF):
        raise BadArgumentError(f"{output}: GIF output needs fps >= {100 / 0xFFFF:.4f} "
                               f"(a delay fits in 65535 cs), got {float(fps):g}")
    return fps, None


def output_frame_count(delays_ms: Sequence[int], fps: Fraction) -> int:
    """Frames the interpolator will emit: one per 1/fps over the GIF's whole duration."""
    total = Fraction(sum(delays_ms))
    return int(-(-total * fps // 1000))

def _tile_margins(options: RestoreOptions) -> Mapping[str, int | None]:
    """Receptive-field margin (px per side) each network's tiles carry, for the memory plan;
    None where the network cannot be tiled or its graph is not at hand (planned as whole frames).
    Read on first lookup: the plan asks only when whole frames do not fit, and reading a radius
    parses the ONNX graph."""
    from .models import STRIDE, onnx_path
    from .stages.receptive import file_radius, tile_margin

    def margin(network: Network, variant: Variant | None) -> int | None:
        path = onnx_path(network, variant, root=options.session.models_dir)
        try:
            return tile_margin(file_radius(path), STRIDE[network]) if path.is_file() else None
        except Exception:  # looks at the whole frame, or unreadable: its session open reports that
            return None

    ours = options.interpolator is InterpolatorChoice.OURS
    return _LazyMap({"dequant": lambda: margin(Network.DEQUANT, Variant.NODITHER),
                     "interp": (lambda: margin(Network.INTERP, None)) if ours else (lambda: None)})


class _LazyMap(Mapping):
    """A read-only mapping whose values are computed on first lookup."""

    def __init__(self, makers: dict[str, Callable[[], object]]):
        self._makers, self._values = makers, {}

    def __getitem__(self, key: str):
        if key not in self._values:
            self._values[key] = self._makers[key]()
        return self._values[key]

    def __iter__(self):
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


def _interp_opener(options: RestoreOptions, backend: Backend, flow: "_Flow") -> Callable[[], Session]:
    """Opens the chosen interpolator. RIFE is checked for here, before any output exists."""

    def cancellable(session: Session) -> Session:
        flow.cancels.append(session.cancel)  # a failing stage stops a running call
        return session

    if options.interpolator is InterpolatorChoice.OURS:
        return lambda: with_receptive_radius(  # tiles need it
            cancellable(open_session(Network.INTERP, backend, options.precision, options=options.session)),
            Network.INTERP, None, options.session.models_dir)
    from .pretrained import RifeVariant, require_rife_onnx, rife_models_dir

    variant = RifeVariant(refine=options.interpolator is InterpolatorChoice.RIFE)
    require_rife_onnx(variant=variant)
    # RIFE is one FP32 graph in a models folder of its own; the torch backend has no RIFE
    # weights at run time, so there it runs in ONNX Runtime
    rife_backend = backend if backend is Backend.TENSORRT else Backend.ONNXRUNTIME
    session = replace(options.session, models_dir=rife_models_dir(variant=variant))
    return lambda: cancellable(open_session(Network.INTERP, rife_backend, Precision.FP32, options=session))


class _Writers:
    """The output writer and the optional --compare writer, both atomic, closed (or aborted) together."""

    def __init__(self, output: Path, options: RestoreOptions, fps: Fraction, fmt: OutputFormat | None = None,
                 alpha: bool = False) -> None:
        self.writer = self.compare = None
        try:
            self.writer = open_writer(output, fps, fmt or options.fmt, quality=options.crf, alpha=alpha)
            if options.compare is not None:
                self.compare = open_writer(options.compare, fps, quality=options.crf)  # its own path says its format
        except BaseException:  # Ctrl-C included: drop what was opened
            if self.writer is not None:
                self.writer.abort()
            raise

    def __enter__(self):
        return self.writer, self.compare

    def __exit__(self, exc_type, exc, tb) -> None:
        writers = [w for w in (self.writer, self.compare) if w is not None]
        if exc_type is not None:
            for w in writers:
                w.abort()
            return
        try:
            for w in writers:
                w.close()
        except BaseException:
            for w in writers:
                w.abort()  # no-op for one already closed
            raise


COMPARE_LABELS = ("GIF", "restored")
COMPARE_DIVIDER = 2  # px of mid grey between the halves
COMPARE_HEADER = 14  # px of label strip above them


@functools.lru_cache(maxsize=4)
def _compare_header(half_width: int) -> np.ndarray:
    """The label strip above a side-by-side frame: 'GIF' over the left half, 'restored' over the right."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (2 * half_width + COMPARE_DIVIDER, COMPARE_HEADER), (32, 32, 32))
    draw = ImageDraw.Draw(strip)
    for i, label in enumerate(COMPARE_LABELS):
        draw.text((i * (half_width + COMPARE_DIVIDER) + 3, 1), label, fill=(235, 235, 235))
    draw.rectangle((half_width, 0, half_width + COMPARE_DIVIDER - 1, COMPARE_HEADER), fill=(128, 128, 128))
    out = np.asarray(strip)
    out.flags.writeable = False
    return out


def _side_by_side(frame: OutputFrame, background: tuple[int, int, int]) -> np.ndarray:
    """GIF as a viewer shows it at this time | restored frame, composited onto `background`,
    with a divider between them and a label strip ("GIF", "restored") above."""
    gif = alpha_stage.composite(frame.source.rgb, frame.source.alpha, background)
    restored = alpha_stage.composite(frame.rgb, frame.alpha, background)
    h, w = gif.shape[:2]
    divider = np.full((h, COMPARE_DIVIDER, 3), 128, np.uint8)
    return np.concatenate([_compare_header(w), np.concatenate([gif, divider, restored], axis=1)], axis=0)


# --- many GIFs ----------------------------------------------------------------------------

_EXTENSION = {
    OutputFormat.MP4: ".mp4",
    OutputFormat.WEBM: ".webm",
    OutputFormat.APNG: ".png",
    OutputFormat.GIF: ".gif",
    OutputFormat.PNG_DIR: "",
}


def plan_jobs(
    inputs: Sequence[Path], output: Path | str, fmt: OutputFormat | None, compare: Path | str | None = None
) -> list[tuple[Path, Path, Path | None]]:
    """(gif, output, compare) per GIF. One GIF file -> `output` itself; several GIFs, or a
    directory of GIFs -> `output` (and `compare`) are directories, one file per GIF named after it:
    an existing directory, or a path ending in "/" (made here)."""
    gifs: list[Path] = []
    for raw in (output, compare):
        if raw is not None and os.fspath(raw) in ("", ".", ".."):
            raise OutputError(f"{os.fspath(raw)!r}: not an output path: give a file such as out.mp4 or a directory/")
        if raw is not None and os.fspath(raw) == "-":
            raise OutputError("'-': writing to stdout is not supported: give a file name such as out.mp4")
    for p in map(Path, inputs):
        check_input(p)  # a FIFO or /dev/null is "not a regular file", not "no such file"
        if p.is_dir():
            found = sorted(c for c in p.iterdir() if c.suffix.lower() == ".gif" and c.is_file())
            if not found:
                raise BadArgumentError(f"{p}: directory holds no .gif files")
            gifs.extend(found)
        elif p.is_file():
            gifs.append(p)
        else:
            raise BadArgumentError(f"{p}: no such file or directory")
    if not _is_batch(inputs):
        for target in (output, compare):
            if target is not None:
                check_name(Path(target))  # too long: one line before anything touches the path
        jobs = [(gifs[0], Path(output), None if compare is None else Path(compare))]
    else:
        for raw in (output, compare):
            if raw is not None and not (os.fspath(raw).endswith(("/", os.sep)) or Path(raw).is_dir()):
                raise OutputError(f"{raw}: several GIFs need a directory here: give an existing directory "
                                  f"or end the path with /")
        jobs = _batch_jobs(gifs, Path(output), fmt, None if compare is None else Path(compare))
    for gif, out, cmp in jobs:
        for target in (out, cmp):
            if target is not None and target.resolve() == gif.resolve():
                raise OutputError(f"{target}: the output would overwrite its input GIF; choose another path")
    return jobs


def _batch_jobs(gifs: list[Path], output: Path, fmt: OutputFormat | None, compare: Path | None) -> list[tuple[Path, Path, Path | None]]:
    ext = _EXTENSION[fmt or OutputFormat.MP4]
    for folder in (output, compare):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder}: several GIFs need a directory here, not a file")
    if len({g.stem for g in gifs}) != len(gifs):
        raise BadArgumentError("restore: two input GIFs share a name; outputs would overwrite each other")
    return [(g, output / f"{g.stem}{ext}", compare / f"{g.stem}{ext}" if compare else None) for g in gifs]


def _is_batch(inputs: Sequence[Path]) -> bool:
    return not (len(inputs) == 1 and Path(inputs[0]).is_file())


def restore_many(
    inputs: Sequence[Path],
    output: Path,
    options: RestoreOptions = RestoreOptions(),
    progress: Callable[[Path, Progress], None] | None = None,
    *,
    compare_raw: str | None = None,
) -> list[RestoreResult]:
    """Restore one GIF, several, or directories of GIFs (see `plan_jobs`); stops at the first failure.

    compare_raw: --compare as typed (a trailing "/" asks for a directory; Path drops it)."""
    jobs = plan_jobs(inputs, output, options.fmt, compare_raw if compare_raw is not None else options.compare)
    output = Path(output)
    check_distinct([p for _, o, c in jobs for p in (o, c)])
    created: list[Path] = []
    if _is_batch(inputs):
        for folder in (output, None if options.compare is None else Path(options.compare)):
            if folder is not None and not folder.is_dir():
                try:
                    folder.mkdir()
                except OSError as exc:
                    raise OutputError(f"{folder}: cannot create the output directory ({exc.strerror})") from None
                created.append(folder)
    results: list[RestoreResult] = []
    try:
        todo = []
        for gif, out, cmp in jobs:  # refuse existing outputs (or skip them with -n) before any work
            keep = check_output(out, allow_dir=resolve_format(out, options.fmt) is OutputFormat.PNG_DIR,
                                inputs=[g for g, _, _ in jobs], overwrite=options.overwrite)
            if cmp is not None:
                keep = check_output(cmp, allow_dir=False, inputs=[g for g, _, _ in jobs],
                                    overwrite=options.overwrite) and keep
            if keep:
                todo.append((gif, out, cmp))
            else:
                results.append(RestoreResult(gif, out, 0, 0, Fraction(0), "", Variant.NODITHER, None, 0, 0.0,
                                             notes=(f"{out}: exists, skipped (-n)",), skipped=True))
        for gif, out, compare in todo:
            report = None if progress is None else functools.partial(progress, gif)
            results.append(restore(gif, out, replace(options, compare=compare), report))
    except BaseException:
        for folder in created:
            if not any(folder.iterdir()):
                folder.rmdir()  # made here and still empty: leave nothing behind for a failed run
        raise
    return results
