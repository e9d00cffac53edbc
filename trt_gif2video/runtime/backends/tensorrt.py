"""TensorRT sessions: a cached plan per model, checked on load, run with
name-based I/O (`set_input_shape` / `set_tensor_address` / `execute_async_v3`).

One execution context per session (`CONTEXTS_PER_SESSION`), with its stream,
pinned host buffers and device buffers sized for the profile's max shapes. Each
context allocates activation memory for the profile's max shapes, and the stages
only call `infer` (submit, then collect at once), so a second context would double
that memory without ever overlapping anything. `submit` / `collect` stay for a
caller that has host work to do while the GPU runs; one batch is in flight at a time.

Everything a session allocates is registered on one ExitStack as it is made, so a
failure part-way (no memory for the context, cudaMalloc failing) frees what already
exists, and `close()` may be called any number of times.

Importing this module needs neither tensorrt nor torch (the lint reads
`CONTEXTS_PER_SESSION` from here).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping, TypeVar

import numpy as np

from ...config import Backend, Precision
from ...engine import compat
from ...engine.cache import EngineCache, EngineKey, Environment, load_checked, read_sidecar, sha256_file
from ...engine.recipe import OnnxInfo, load_recipe, read_onnx_info, recipe_path, target_for_device
from ...errors import BackendUnavailableError, BadArgumentError, EngineMismatchError, ModelError
from ...models import Network, Variant, model_stem
from ..cuda import Cuda, DeviceBuffer
from .base import Session, SessionOptions, ShapeLimits, TensorSpec

# Execution contexts one session creates: each holds activation memory for the
# profile's max shapes, so device memory = plan weights + this x per-context memory.
CONTEXTS_PER_SESSION = 1
B = TypeVar("B")

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


def context_failure(plan_name: str, need_bytes: int | None) -> str:
    """The one line for `create_execution_context()` returning None (TensorRT's out-of-memory answer)."""
    need = f" ({need_bytes / 2**20:.0f} MiB of activation memory)" if need_bytes else ""
    return (f"{plan_name}: TensorRT could not create an execution context: out of device memory for the "
            f"profile's max shapes{need}; free GPU memory or build with a recipe whose max shapes are smaller")


def require_context(context, plan_name: str, need_bytes: int | None):
    if context is None:
        raise BackendUnavailableError(context_failure(plan_name, need_bytes))
    return context


def allocate_all(sizes: Mapping[str, int], alloc: Callable[[int], B], free: Callable[[B], None],
                 resources: ExitStack) -> dict[str, B]:
    """One buffer per name. Each one's release is registered on `resources` as soon as it
    exists, so when a later allocation fails, closing `resources` frees the earlier ones."""
    buffers: dict[str, B] = {}
    for name, nbytes in sizes.items():
        buffers[name] = buf = alloc(nbytes)
        resources.callback(free, buf)
    return buffers


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
    _resources: ExitStack | None = None  # set first in __init__; close() before that is a no-op

    def __init__(self, trt: ModuleType, engine, cuda: Cuda, label: str, inputs, outputs, metadata,
                 plan_name: str = "plan") -> None:
        """Takes ownership of `engine` and `cuda`: both are released by close(), also when this fails."""
        self._resources = ExitStack()
        self._resources.callback(cuda.close)  # LIFO: runs last, after everything made on the device
        self._trt, self._engine, self._cuda, self.plan_name = trt, engine, cuda, plan_name
        self._resources.callback(self._drop_tensorrt_objects)  # before cuda.close: they free device memory
        self._slots: list[_Slot] = []
        try:
            super().__init__(label, inputs, outputs, metadata)
            problems = check_engine(trt, engine, label, self.inputs, self.outputs)
            if problems:
                raise EngineMismatchError("; ".join(problems))
            self._profile = {s.name: tuple(tuple(x) for x in engine.get_tensor_profile_shape(s.name, 0)) for s in self.inputs}
            for _ in range(CONTEXTS_PER_SESSION):
                self._slots.append(self._make_slot())
        except BaseException:
            self.close()
            raise
        self._next = 0

    def _drop_tensorrt_objects(self) -> None:
        for slot in self._slots:
            slot.context = None
        self._slots = []
        self._engine = None

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
        cuda, resources = self._cuda, self._resources
        need = compat.engine_device_memory(self._engine)
        context = require_context(self._engine.create_execution_context(), self.plan_name, need)
        for name, (_, _, hi) in self._profile.items():
            context.set_input_shape(name, hi)
        sizes = {}
        for spec in self.inputs + self.outputs:
            shape = tuple(context.get_tensor_shape(spec.name))
            sizes[spec.name] = int(np.prod(shape)) * spec.dtype.itemsize
        device = allocate_all(sizes, cuda.device_alloc, cuda.device_free, resources)
        for name, buf in device.items():
            context.set_tensor_address(name, buf.ptr)
        host = {name: cuda.pinned_empty((n,), np.uint8) for name, n in sizes.items()}  # freed by cuda.close
        stream = cuda.stream()
        resources.callback(cuda.destroy, stream)
        done = cuda.event()
        resources.callback(cuda.destroy, done)
        resources.callback(cuda.sync_stream, stream)  # runs first: nothing may still use the buffers
        return _Slot(context, stream, done, device, host)

    def _check_profile(self, feeds: dict[str, np.ndarray]) -> None:
        for name, arr in feeds.items():
            lo, _, hi = self._profile[name]
            if any(not a <= s <= b for a, s, b in zip(lo, arr.shape, hi)):
                raise BadArgumentError(
                    f"{self.label}: input {name} shape {arr.shape} is outside the plan's profile {lo}..{hi}; "
                    "build a plan whose recipe covers it (trt-gif2video build --recipe FILE)"
                )

    def submit(self, feeds: dict[str, np.ndarray]) -> Ticket:
        """Queue one batch; returns at once. One batch per context may be in flight."""
        if not self._slots:
            raise BadArgumentError(f"{self.label}: session is closed")
        self._check_profile(feeds)
        index = self._next
        slot = self._slots[index]
        if slot.busy:
            raise BadArgumentError(f"{self.label}: a batch is already in flight; collect its ticket before submitting again")
        self._next = (index + 1) % len(self._slots)
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
        """Release the context, buffers, stream, event and device, newest first; idempotent."""
        if self._resources is not None:
            self._resources.close()


def deserializer(trt: ModuleType, version_compatible: bool | None):
    """bytes -> ICudaEngine or None (TensorRT logs why).

    Version-compatible plans embed the lean runtime (host code), which TensorRT runs
    only when `engine_host_code_allowed` is set. `version_compatible` is None when
    nothing says what the plan is (an explicit plan without its JSON sidecar): host
    code is then allowed too, since the user chose that plan file to run."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    if version_compatible is not False:
        compat.allow_host_code(runtime)

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
    # explicit plan: what its sidecar says, None (unknown) without one
    version_compatible = bool(sidecar.get("key", {}).get("options", {}).get("version_compatible")) if sidecar else None
    trt = compat.import_runtime("tensorrt backend", lean=version_compatible if explicit else False)
    cuda = Cuda(options.device)
    try:
        device = cuda.device_info()
        environment = Environment(trt.__version__, device.name, device.compute_capability)
        if explicit:
            engine = load_checked(Path(explicit), environment, deserializer(trt, version_compatible), rebuild=None)
            return TensorRTSession(trt, engine, cuda, label, inputs, outputs, info.metadata, Path(explicit).name)
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
        return TensorRTSession(trt, engine, cuda, label, inputs, outputs, info.metadata, path.name)
    except BaseException:
        cuda.close()  # idempotent: a failed TensorRTSession has closed it already
        raise
