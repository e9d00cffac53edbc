"""ONNX -> TensorRT plan as small composable steps (Polygraphy-style):

    network_from_onnx -> config_from_spec -> plan_from_network -> EngineCache.store

`plan_specs` does everything that needs no TensorRT (find the ONNX files, check
the recipe's shapes against them), so a bad recipe fails in a second, not
minutes into a build. A timing cache per TensorRT version and GPU sits in the
cache directory and is merged back after every build under a lock.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Optional

import filelock

from ..config import Precision
from ..errors import BackendUnavailableError, BadArgumentError, EngineBuildError, ModelError
from ..models import Network, Variant, model_stem, onnx_path, require
from . import compat
from .preflight import lint_specs
from .cache import EngineCache, EngineKey, Environment, atomic_write, slug, sha256_file
from .recipe import (
    BuilderOptions,
    OnnxInfo,
    Profile,
    Recipe,
    load_recipe,
    profile_for,
    read_onnx_info,
    recipe_path,
    target_for_device,
)

VARIANTS = {Network.DEQUANT: (Variant.NODITHER, Variant.DITHER), Network.INTERP: (None,), Network.DITHER: (None,)}


@dataclass(frozen=True)
class BuildSpec:
    """One plan to build: an ONNX file, its profile and the builder options."""

    name: str  # ONNX stem
    onnx: Path
    profile: Profile
    precision: Precision
    options: BuilderOptions


@dataclass(frozen=True)
class BuiltPlan:
    name: str
    path: Path
    cached: bool
    seconds: float


def spec_for(recipe: Recipe, kind: Network, variant: Variant | None, onnx_dir: Path | None) -> BuildSpec:
    """Check one network of `recipe` against its ONNX file (no TensorRT needed)."""
    from ..derived import model_file

    # TensorRT takes precision from the ONNX: the FP16 / Q/DQ INT8 file is shipped, cached, or made now
    path = model_file(kind, variant, recipe.precision, cpu=False, models_dir=onnx_dir)
    return spec_from_info(recipe, kind, model_stem(kind, variant), read_onnx_info(path))


def spec_from_info(recipe: Recipe, kind: Network, stem: str, info: OnnxInfo) -> BuildSpec:
    """The spec for an already-read ONNX file, after checking its metadata and shapes."""
    path = info.path
    declared = info.metadata.get("network")
    if declared is not None and declared != kind.value:
        raise ModelError(f"{path.name}: metadata says network {declared!r}, expected {kind.value!r}")
    declared_precision = info.metadata.get("precision")
    if declared_precision is not None and declared_precision != recipe.precision.value:
        raise ModelError(f"{path.name}: metadata says precision {declared_precision!r}, expected {recipe.precision.value!r}")
    shapes = profile_for(info, recipe.network(kind).shapes)
    return BuildSpec(stem, path, shapes, recipe.precision, recipe.builder_options(kind))


def plan_specs(recipe: Recipe, kinds: tuple[Network, ...], onnx_dir: Path | None = None) -> list[BuildSpec]:
    return [spec_for(recipe, kind, variant, onnx_dir) for kind in kinds for variant in VARIANTS[kind]]


# --- the TensorRT steps -----------------------------------------------------------------------


def network_from_onnx(trt: ModuleType, builder, features: compat.Features, onnx: Path, logger):
    """(network, parser): the parser owns weights the network points at, keep both alive."""
    network = builder.create_network(compat.network_flags(trt, features))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))  # __str__ is bound
        raise EngineBuildError(f"{onnx.name}: TensorRT cannot parse the ONNX: {errors}")
    return network, parser


def config_from_spec(trt: ModuleType, builder, network, features: compat.Features, spec: BuildSpec):
    what = f"build {spec.name}"
    names = sorted(network.get_input(i).name for i in range(network.num_inputs))
    if names != sorted(spec.profile):
        raise EngineBuildError(f"{what}: TensorRT sees inputs {names}, the profile has {sorted(spec.profile)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.options.workspace_mib << 20)
    if features.optimization_level:
        config.builder_optimization_level = spec.options.builder_optimization_level
    compat.apply_precision(trt, config, features, spec.precision)
    if spec.options.version_compatible:
        compat.require_version_compatible(features, what)
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if spec.options.dla_core is not None:
        if spec.options.dla_core >= builder.num_DLA_cores:
            raise EngineBuildError(f"{what}: recipe asks for DLA core {spec.options.dla_core}, this device has {builder.num_DLA_cores}")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = spec.options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in spec.profile.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    return config


def plan_from_network(builder, network, config, what: str) -> bytes:
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"{what}: TensorRT could not build a plan (see the TensorRT log above)")
    return bytes(plan)


class TimingCache:
    """A timing cache file per TensorRT version and GPU, shared by every build."""

    def __init__(self, directory: Path, environment: Environment):
        major, minor = environment.compute_capability
        name = f"timing_trt{environment.tensorrt_version}_{slug(environment.gpu_name)}_sm{major}{minor}.cache"
        self.path = directory / name
        self._lock = filelock.FileLock(str(self.path) + ".lock", timeout=600)

    def attach(self, config) -> None:
        data = self.path.read_bytes() if self.path.is_file() else b""
        timing = config.create_timing_cache(data)
        config.set_timing_cache(timing, False)

    def merge_back(self, config) -> None:
        """Combine what this build measured with what others saved meanwhile."""
        timing = config.get_timing_cache()
        with self._lock:
            if self.path.is_file():
                saved = config.create_timing_cache(self.path.read_bytes())
                if saved.combine(timing, False):
                    timing = saved
            atomic_write(self.path, bytes(timing.serialize()))


PhaseKey = tuple[Optional[str], str]  # (parent phase name or None, phase name)


class PhaseTracker:
    """TensorRT build phases as rich progress tasks, safe to call from several threads.

    TensorRT calls its IProgressMonitor from several internal threads, and phase names
    are unique only within one phase hierarchy (they may be reused once the previous
    instance finished), so phases are keyed by (parent, name) under one lock; even the
    same (parent, name) twice at once (two builds in parallel) stays two tasks.
    `step_complete` / `phase_finish` carry the name alone: they go to the newest active
    phase of that name. Calls for unknown phases are ignored: an exception must never
    reach a TensorRT thread. `close()` removes what is left (a failed build) and may be
    called more than once.
    """

    def __init__(self, progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._serial = 0
        self._phases: dict[int, tuple[PhaseKey, int, int]] = {}  # serial -> (key, rich task id, depth)
        self._by_name: dict[str, list[int]] = {}  # name -> serials of its active phases, oldest first

    def _newest(self, name: str | None) -> int | None:
        serials = self._by_name.get(name) if name is not None else None
        return serials[-1] if serials else None

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        with self._lock:
            parent = self._newest(parent_phase)
            depth = self._phases[parent][2] + 1 if parent is not None else (1 if parent_phase else 0)
            task = self._progress.add_task("  " * depth + phase_name, total=max(num_steps, 1))
            self._serial += 1
            self._phases[self._serial] = ((parent_phase or None, phase_name), task, depth)
            self._by_name.setdefault(phase_name, []).append(self._serial)

    def step_complete(self, phase_name: str, step: int) -> bool:
        with self._lock:
            serial = self._newest(phase_name)
            if serial is not None:
                self._progress.update(self._phases[serial][1], completed=step + 1)
        return True  # False would cancel the build

    def phase_finish(self, phase_name: str) -> None:
        with self._lock:
            serial = self._newest(phase_name)
            if serial is not None:
                self._remove(serial)

    def _remove(self, serial: int) -> None:
        (_, name), task, _ = self._phases.pop(serial)
        self._progress.remove_task(task)
        serials = self._by_name[name]
        serials.remove(serial)
        if not serials:
            del self._by_name[name]

    @property
    def active(self) -> tuple[PhaseKey, ...]:
        """(parent, name) of every active phase, oldest first."""
        with self._lock:
            return tuple(key for key, _, _ in self._phases.values())

    def close(self) -> None:
        with self._lock:
            for serial in list(self._phases):
                self._remove(serial)


def make_progress_monitor(trt: ModuleType, features: compat.Features, progress):
    """A TensorRT progress monitor that drives a rich Progress (through a PhaseTracker),
    or None before 10.0."""
    IProgressMonitor = compat.progress_monitor_base(trt, features)
    if IProgressMonitor is None:
        return None

    class RichProgressMonitor(IProgressMonitor):
        def __init__(self):
            IProgressMonitor.__init__(self)
            self.tracker = PhaseTracker(progress)

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.tracker.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name, step):
            return self.tracker.step_complete(phase_name, step)

        def phase_finish(self, phase_name):
            self.tracker.phase_finish(phase_name)

    return RichProgressMonitor()


def build_plan(trt: ModuleType, spec: BuildSpec, timing_file: TimingCache, *, show_progress: bool = True) -> bytes:
    """One plan from one spec: parse, configure, build, merge the timing cache."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    features = compat.detect(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = network_from_onnx(trt, builder, features, spec.onnx, logger)
    config = config_from_spec(trt, builder, network, features, spec)
    timing_file.attach(config)
    with ExitStack() as stack:
        if show_progress:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            progress = stack.enter_context(Progress(*columns, transient=True, console=Console(stderr=True)))
            monitor = make_progress_monitor(trt, features, progress)
            if monitor is not None:
                config.progress_monitor = monitor
                stack.callback(monitor.tracker.close)  # a failed build leaves phases open
        plan = plan_from_network(builder, network, config, f"build {spec.name}")
    timing_file.merge_back(config)
    return plan


def open_build_device(tensorrt_version: str, device: int, stack: ExitStack) -> Environment:
    """Make `device` current in this thread for as long as `stack` is open (TensorRT builds
    on the calling thread's current device) and return its environment, so the GPU that
    builds is the GPU the cache key records. Without a CUDA binding only device 0 (CUDA's
    default) can be used."""
    from ..runtime.cuda import Cuda, bindings_status, query_device

    if any(bindings_status().values()):
        try:
            cuda = stack.enter_context(Cuda(device))
        except BackendUnavailableError as exc:
            raise BackendUnavailableError(f"build: cannot open CUDA device {device} ({exc})") from None
        info = cuda.device_info()
        return Environment(tensorrt_version, info.name, info.compute_capability)
    if device != 0:
        raise BackendUnavailableError(
            f"build --device {device}: selecting a GPU other than 0 needs pycuda or cuda-python "
            f"(pip install 'trt-gif2video[gpu]'), or run with CUDA_VISIBLE_DEVICES={device} and --device 0"
        )
    info, why = query_device(device)
    if info is None:
        raise BackendUnavailableError(f"build: no CUDA device {device} ({why})")
    return Environment(tensorrt_version, info.name, info.compute_capability)


def build_engines(
    specs: list[BuildSpec],
    *,
    cache_dir: Path | None = None,
    force: bool = False,
    device: int = 0,
    notify: Callable[[str], None] = print,
) -> list[BuiltPlan]:
    """Build (or find in the cache) the plan of every spec (from `plan_specs`), on `device`."""
    trt = compat.import_tensorrt("build")
    with ExitStack() as stack:
        environment = open_build_device(trt.__version__, device, stack)  # held while building, in this thread
        cache = EngineCache(cache_dir)
        timing_file = TimingCache(cache.directory, environment)
        built = []
        for spec in specs:
            key = EngineKey.create(spec.name, sha256_file(spec.onnx), spec.profile, spec.precision, spec.options, environment)
            start = time.perf_counter()
            path, fresh = cache.get_or_build(key, lambda spec=spec: build_plan(trt, spec, timing_file), force=force, notify=notify)
            built.append(BuiltPlan(spec.name, path, not fresh, time.perf_counter() - start))
    return built


@dataclass(frozen=True)
class BuildRequest:
    """What `trt-gif2video build` asks for; None keeps the recipe's value."""

    target: str | None = None
    recipe_file: Path | None = None
    precision: Precision | None = None
    networks: tuple[Network, ...] = tuple(Network)
    onnx_dir: Path | None = None
    cache_dir: Path | None = None
    version_compatible: bool | None = None
    opt_level: int | None = None
    workspace_mib: int | None = None
    force: bool = False
    check_only: bool = False  # validate recipe against the ONNX files, build nothing
    device: int = 0
    dry_run: bool = False  # resolve and check shapes only; the caller prints preflight.dry_run_lines


def resolve_recipe(request: BuildRequest) -> Recipe:
    """The recipe named by --recipe / --target, or the shipped one for this GPU."""
    if request.target and request.recipe_file:
        raise BadArgumentError("build: pass --target or --recipe, not both")
    if request.recipe_file:
        path = request.recipe_file
    elif request.target:
        path = recipe_path(request.target)
    else:
        from ..runtime.cuda import query_device

        info, why = query_device(request.device)
        if info is None:
            raise BackendUnavailableError(f"build: cannot pick a recipe without a GPU ({why}); pass --target or --recipe")
        path = recipe_path(target_for_device(info.compute_capability, info.total_memory_bytes))
    return load_recipe(path).with_overrides(
        precision=request.precision,
        workspace_mib=request.workspace_mib,
        builder_optimization_level=request.opt_level,
        version_compatible=request.version_compatible,
    )


def run_build(request: BuildRequest, notify: Callable[[str], None] = print) -> tuple[Recipe, list[BuildSpec], list[BuiltPlan]]:
    """Check the request, then (unless check_only) build or find every plan."""
    if not (request.check_only or request.dry_run):
        compat.import_tensorrt("build")  # the one-line answer comes before anything slow
    recipe = resolve_recipe(request)
    specs = plan_specs(recipe, request.networks, request.onnx_dir)
    if request.dry_run:
        return recipe, specs, []
    lint_specs(recipe, specs)  # TensorRT's rules, checked statically: one line naming model, node, rule
    if request.check_only:
        return recipe, specs, []
    built = build_engines(specs, cache_dir=request.cache_dir, force=request.force, device=request.device, notify=notify)
    return recipe, specs, built
