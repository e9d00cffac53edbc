"""TensorRT sessions: a cached plan per model, checked on load, run with
name-based I/O (`set_input_shape` / `set_tensor_address` / `execute_async_v3`).

Two slots, each with its own execution context, stream, pinned host buffers and
device buffers sized for the profile's max shapes: `submit` fills one slot while
the other may still be copying back, `collect` waits for a slot's event.
`infer` (the Session interface) is submit + collect. Both contexts use profile 0,
as vs-mlrt's `num_streams` does: one plan, one profile, N contexts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ...config import Backend, Precision
from ...engine import compat
from ...engine.cache import EngineCache, EngineKey, Environment, load_checked, read_sidecar, sha256_file
from ...engine.recipe import OnnxInfo, load_recipe, read_onnx_info, recipe_path, target_for_device
from ...errors import BadArgumentError, EngineMismatchError, ModelError
from ...models import Network, Variant, model_stem
from ..cuda import Cuda, DeviceBuffer
from .base import Session, SessionOptions, ShapeLimits, TensorSpec

# ONNX TensorProto element types the contract uses -> numpy
_ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 10: np.float16}

# SessionOptions.extra keys this backend reads
EXTRA_PLAN = "tensorrt_plan"  # a plan file to load as is (no rebuild: mismatches are errors)
EXTRA_RECIPE = "tensorrt_recipe"  # recipe file; default: the shipped one for this GPU
EXTRA_CACHE_DIR = "tensorrt_cache_dir"


def _tensor_specs(info: OnnxInfo) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Expected I/O from the ONNX file the plan was built from (names, dtypes, ranks)."""

    def spec(tensor) -> TensorSpec:
        if tensor.elem_type not in _ONNX_DTYPES:
            raise ModelError(f"{info.path.name}: tensor {tensor.name!r} has unsupported element type {tensor.elem_type}")
        return TensorSpec(tensor.name, np.dtype(_ONNX_DTYPES[tensor.elem_type]), tensor.dims)

    return tuple(map(spec, info.inputs)), tuple(map(spec, info.outputs))


def check_engine(trt: ModuleType, engine, label: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> list[str]:
    """One message per broken rule (vs-mlrt's checkEngine): names, ranks, dtypes, profile ranges."""
    problems: list[str] = []
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    modes = {name: engine.get_tensor_mode(name) for name in names}
    have_in = sorted(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
    have_out = sorted(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
    if have_in != sorted(s.name for s in inputs):
        problems.append(f"{label}: plan inputs {have_in} differ from the model's {sorted(s.name for s in inputs)}")
    if have_out != sorted(s.name for s in outputs):
        problems.append(f"{label}: plan outputs {have_out} differ from the model's {sorted(s.name for s in outputs)}")
    if engine.num_optimization_profiles < 1:
        problems.append(f"{label}: plan has no optimization profile")
    for spec in inputs + outputs:
        if spec.name not in modes:
            continue
        shape = tuple(engine.get_tensor_shape(spec.name))
        if len(shape) != len(spec.shape):
            problems.append(f"{label}: {spec.name} has rank {len(shape)} in the plan, {len(spec.shape)} in the model")
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(spec.name)))
        if dtype != spec.dtype:
            problems.append(f"{label}: {spec.name} is {dtype.name} in the plan, {spec.dtype.name} in the model")
        if modes[spec.name] == trt.TensorIOMode.INPUT and engine.num_optimization_profiles >= 1:
            lo, _, hi = (tuple(s) for s in engine.get_tensor_profile_shape(spec.name, 0))
            fixed = [(axis, d) for axis, d in enumerate(spec.shape) if isinstance(d, int)]
            for axis, d in fixed:
                if axis < len(lo) and not lo[axis] <= d <= hi[axis]:
                    problems.append(f"{label}: {spec.name} axis {axis} is {d} in the model, profile allows {lo[axis]}..{hi[axis]}")
    return problems


@dataclass
class _Slot:
    context: object
    stream: object
    done: object  # event recorded after the last copy back
    device: dict[str, DeviceBuffer]
    host: dict[str, np.ndarray]  # pinned, flat uint8, max size
    busy: bool = False


@dataclass(frozen=True)
class Ticket:
    slot: int
    shapes: dict[str, tuple[int, ...]]


class TensorRTSession(Session):
    backend = Backend.TENSORRT

    def __init__(self, trt: ModuleType, engine, cuda: Cuda, label: str, inputs, outputs, metadata) -> None:
        super().__init__(label, inputs, outputs, metadata)
        problems = check_engine(trt, engine, label, self.inputs, self.outputs)
        if problems:
            raise EngineMismatchError("; ".join(problems))
        self._trt, self._engine, self._cuda = trt, engine, cuda
        self._profile = {s.name: tuple(tuple(x) for x in engine.get_tensor_profile_shape(s.name, 0)) for s in self.inputs}
        self._slots = [self._make_slot() for _ in range(2)]
        self._next = 0

    @property
    def description(self) -> str:
        info = self._cuda.device_info()
        return f"tensorrt {self._trt.__version__} on {info.name} ({self._cuda.binding})"

    @property
    def limits(self) -> ShapeLimits:
        """The plan's profile for the [N,H,W,3] image inputs, so the stages batch, pad and tile to fit."""
        images = [(lo, hi) for lo, _, hi in self._profile.values() if len(lo) == 4]
        if not images:
            return ShapeLimits()
        return ShapeLimits(
            max_batch=min(hi[0] for _, hi in images),
            min_hw=(max(lo[1] for lo, _ in images), max(lo[2] for lo, _ in images)),
            max_hw=(min(hi[1] for _, hi in images), min(hi[2] for _, hi in images)),
        )

    def _make_slot(self) -> _Slot:
        context = self._engine.create_execution_context()
        for name, (_, _, hi) in self._profile.items():
            context.set_input_shape(name, hi)
        sizes = {}
        for spec in self.inputs + self.outputs:
            shape = tuple(context.get_tensor_shape(spec.name))
            sizes[spec.name] = int(np.prod(shape)) * spec.dtype.itemsize
        device = {name: self._cuda.device_alloc(n) for name, n in sizes.items()}
        for name, buf in device.items():
            context.set_tensor_address(name, buf.ptr)
        host = {name: self._cuda.pinned_empty((n,), np.uint8) for name, n in sizes.items()}
        return _Slot(context, self._cuda.stream(), self._cuda.event(), device, host)

    def _check_profile(self, feeds: dict[str, np.ndarray]) -> None:
        for name, arr in feeds.items():
            lo, _, hi = self._profile[name]
            if any(not a <= s <= b for a, s, b in zip(lo, arr.shape, hi)):
                raise BadArgumentError(
                    f"{self.label}: input {name} shape {arr.shape} is outside the plan's profile {lo}..{hi}; "
                    "build a plan whose recipe covers it (trt-gif2video build --recipe FILE)"
                )

    def submit(self, feeds: dict[str, np.ndarray]) -> Ticket:
        """Queue one batch on the next free slot; returns at once."""
        self._check_profile(feeds)
        index = self._next
        slot = self._slots[index]
        if slot.busy:
            raise BadArgumentError(f"{self.label}: both slots are in flight; collect a ticket before submitting again")
        self._next ^= 1
        cuda = self._cuda
        for spec in self.inputs:
            arr = feeds[spec.name]
            staged = slot.host[spec.name][: arr.nbytes].view(spec.dtype).reshape(arr.shape)
            np.copyto(staged, arr)
            slot.context.set_input_shape(spec.name, arr.shape)
            cuda.htod_async(slot.device[spec.name], staged, slot.stream)
        if not slot.context.execute_async_v3(cuda.stream_handle(slot.stream)):
            raise ModelError(f"{self.label}: TensorRT failed to enqueue the network (see the TensorRT log)")
        shapes = {s.name: tuple(slot.context.get_tensor_shape(s.name)) for s in self.outputs}
        for spec in self.outputs:
            nbytes = int(np.prod(shapes[spec.name])) * spec.dtype.itemsize
            cuda.dtoh_async(slot.host[spec.name][:nbytes], slot.device[spec.name], slot.stream)
        cuda.record(slot.done, slot.stream)
        slot.busy = True
        return Ticket(index, shapes)

    def collect(self, ticket: Ticket) -> dict[str, np.ndarray]:
        """Wait for a submitted batch and copy its outputs out of pinned memory."""
        slot = self._slots[ticket.slot]
        self._cuda.sync_event(slot.done)
        slot.busy = False
        out = {}
        for spec in self.outputs:
            shape = ticket.shapes[spec.name]
            nbytes = int(np.prod(shape)) * spec.dtype.itemsize
            out[spec.name] = slot.host[spec.name][:nbytes].view(spec.dtype).reshape(shape).copy()
        return out

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.collect(self.submit(feeds))

    def close(self) -> None:
        for slot in self._slots:
            self._cuda.sync_stream(slot.stream)
            for buf in slot.device.values():
                self._cuda.device_free(buf)
            self._cuda.destroy(slot.done)
            self._cuda.destroy(slot.stream)
        self._slots = []
        self._cuda.close()


def deserializer(trt: ModuleType, version_compatible: bool):
    """bytes -> ICudaEngine or None (TensorRT logs why)."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    if version_compatible:
        runtime.engine_host_code_allowed = True  # version-compatible plans embed the lean runtime

    def deserialize(data: bytes):
        return runtime.deserialize_cuda_engine(data)

    return deserialize


def open_tensorrt(network: Network, variant: Variant | None, precision: Precision, options: SessionOptions) -> TensorRTSession:
    """A session on a plan: an explicit `tensorrt_plan`, else the cached plan for this GPU,
    built on first use from the ONNX and the recipe (the shipped one for this GPU by default)."""
    from ...engine.build import TimingCache, build_plan, spec_from_info

    network, precision = Network(network), Precision(precision)
    stem = model_stem(network, variant)
    from ...derived import model_file  # FP16 / Q/DQ INT8: shipped, cached, or made on first use

    info = read_onnx_info(model_file(network, variant, precision, cpu=False, models_dir=options.models_dir))
    inputs, outputs = _tensor_specs(info)
    label = f"{stem} ({precision.value}, tensorrt)"
    explicit = options.extra.get(EXTRA_PLAN)
    sidecar = read_sidecar(Path(explicit)) if explicit else None
    version_compatible = bool(sidecar and sidecar.get("key", {}).get("options", {}).get("version_compatible"))
    trt = compat.import_runtime("tensorrt backend", lean=version_compatible)
    cuda = Cuda(options.device)
    try:
        device = cuda.device_info()
        environment = Environment(trt.__version__, device.name, device.compute_capability)
        if explicit:
            engine = load_checked(Path(explicit), environment, deserializer(trt, version_compatible), rebuild=None)
            return TensorRTSession(trt, engine, cuda, label, inputs, outputs, info.metadata)
        target = target_for_device(device.compute_capability, device.total_memory_bytes)
        recipe_file = Path(options.extra.get(EXTRA_RECIPE) or recipe_path(target))
        recipe = load_recipe(recipe_file).with_overrides(precision=precision)
        spec = spec_from_info(recipe, network, stem, info)
        cache_dir = options.extra.get(EXTRA_CACHE_DIR)
        cache = EngineCache(Path(cache_dir) if cache_dir else None)
        key = EngineKey.create(stem, sha256_file(spec.onnx), spec.profile, spec.precision, spec.options, environment)
        timing_file = TimingCache(cache.directory, environment)
        path, _ = cache.get_or_build(key, lambda: build_plan(trt, spec, timing_file))

        def rebuild() -> Path:
            return cache.get_or_build(key, lambda: build_plan(trt, spec, timing_file), force=True)[0]

        engine = load_checked(path, environment, deserializer(trt, recipe.version_compatible), rebuild)
        return TensorRTSession(trt, engine, cuda, label, inputs, outputs, info.metadata)
    except BaseException:
        cuda.close()
        raise
