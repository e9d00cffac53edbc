"""ONNX -> TensorRT plan as small composable steps (Polygraphy-style):

    network_from_onnx -> config_from_spec -> plan_from_network -> EngineCache.store

`plan_specs` does everything that needs no TensorRT (find the ONNX files, check
the recipe's shapes against them), so a bad recipe fails in a second, not
minutes into a build. A timing cache per TensorRT version and GPU sits in the
cache directory and is merged back after every build under a lock.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import filelock

from ..config import Precision
from ..errors import BackendUnavailableError, BadArgumentError, EngineBuildError, ModelError
from ..models import Network, Variant, model_stem, onnx_path, require
from . import compat
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


def make_progress_monitor(trt: ModuleType, features: compat.Features, progress):
    """A TensorRT progress monitor that drives a rich Progress, or None before 10.0."""
    IProgressMonitor = compat.progress_monitor_base(trt, features)
    if IProgressMonitor is None:
        return None

    class RichProgressMonitor(IProgressMonitor):
        def __init__(self):
            IProgressMonitor.__init__(self)
            self._tasks: dict[str, int] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            depth = 1 if parent_phase else 0
            self._tasks[phase_name] = progress.add_task("  " * depth + phase_name, total=max(num_steps, 1))

        def step_complete(self, phase_name, step):
            progress.update(self._tasks[phase_name], completed=step + 1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            progress.remove_task(self._tasks.pop(phase_name))

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
        plan = plan_from_network(builder, network, config, f"build {spec.name}")
    timing_file.merge_back(config)
    return plan


def current_environment(trt: ModuleType, device: int = 0) -> Environment:
    from ..runtime.cuda import query_device

    info, why = query_device(device)
    if info is None:
        raise BackendUnavailableError(f"build: no CUDA device {device} ({why})")
    return Environment(trt.__version__, info.name, info.compute_capability)


def build_engines(
    specs: list[BuildSpec],
    *,
    cache_dir: Path | None = None,
    force: bool = False,
    device: int = 0,
    notify: Callable[[str], None] = print,
) -> list[BuiltPlan]:
    """Build (or find in the cache) the plan of every spec (from `plan_specs`)."""
    trt = compat.import_tensorrt("build")
    environment = current_environment(trt, device)
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
    if not request.check_only:
        compat.import_tensorrt("build")  # the one-line answer comes before anything slow
    recipe = resolve_recipe(request)
    specs = plan_specs(recipe, request.networks, request.onnx_dir)
    if request.check_only:
        return recipe, specs, []
    built = build_engines(specs, cache_dir=request.cache_dir, force=request.force, device=request.device, notify=notify)
    return recipe, specs, built
