"""The only module that knows TensorRT versions.

Versions are parsed to tuples once; everything else asks `Features`, which is
detected with `hasattr` on the imported module, so a point release that adds or
removes a symbol does not need a version table here.

Supported: 8.5 (JetPack 5: weakly typed, legacy FP16/INT8 flags), 10.x (strongly
typed networks), 11.x (always strongly typed: no FP16/INT8 builder flags, no
calibrators, STRONGLY_TYPED accepted and ignored).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from types import ModuleType

from ..config import Precision
from ..errors import BackendUnavailableError, EngineBuildError

INSTALL_HINT = "pip install 'trt-gif2video[gpu]'; on Jetson use the system python with --system-site-packages"
MIN_VERSION = (8, 5)

# Identifiers that exist in only some supported majors. Code outside this module
# must not touch them (tests/test_trt_identifiers.py enforces it).
VERSION_SPECIFIC = frozenset({"FP16", "INT8", "EXPLICIT_BATCH", "STRONGLY_TYPED", "IProgressMonitor",
                              "engine_host_code_allowed", "device_memory_size_v2"})


def parse_version(text: str) -> tuple[int, ...]:
    """'10.13.3.9.post1' -> (10, 13, 3, 9); leading numeric fields only."""
    fields = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        fields.append(int(match.group()))
        if match.group() != part:
            break
    if not fields:
        raise BackendUnavailableError(f"TensorRT version {text!r} is not a dotted version number")
    return tuple(fields)


def import_tensorrt(what: str) -> ModuleType:
    """The full TensorRT module (builder + runtime), or one line saying why not."""
    try:
        trt = importlib.import_module("tensorrt")
    except (ImportError, OSError) as exc:  # OSError: bindings present, libnvinfer missing
        raise BackendUnavailableError(f"{what}: TensorRT is not installed ({INSTALL_HINT})") from exc
    _require_supported(trt, what)
    return trt


def import_runtime(what: str, *, lean: bool | None) -> ModuleType:
    """The module that deserializes plans. lean=True (a version-compatible plan): the lean
    runtime when it is installed, else the full TensorRT (which runs them too). lean=None
    (unknown plan, e.g. no sidecar): the full TensorRT, else the lean runtime (which can
    only run version-compatible plans). lean=False: the full TensorRT."""
    if lean:
        try:
            return importlib.import_module("tensorrt_lean")
        except (ImportError, OSError):
            pass
    try:
        return import_tensorrt(what)
    except BackendUnavailableError:
        if lean is None:
            try:
                return importlib.import_module("tensorrt_lean")
            except (ImportError, OSError):
                pass
        raise


def tensorrt_status() -> tuple[str | None, str | None]:
    """(version, None) when TensorRT imports, else (None, why not); never raises."""
    try:
        trt = importlib.import_module("tensorrt")
    except (ImportError, OSError) as exc:
        return None, f"not importable: {exc}"
    version = getattr(trt, "__version__", "unknown")
    try:
        _require_supported(trt, "tensorrt")
    except BackendUnavailableError as exc:
        return version, str(exc)
    return version, None


def _require_supported(trt: ModuleType, what: str) -> None:
    version = parse_version(getattr(trt, "__version__", "0"))
    if version[:2] < MIN_VERSION:
        need = ".".join(map(str, MIN_VERSION))
        raise BackendUnavailableError(f"{what}: TensorRT {trt.__version__} is too old (need >= {need})")


@dataclass(frozen=True)
class Features:
    version: tuple[int, ...]
    strongly_typed_flag: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists (>= 9.x)
    explicit_batch_flag: bool  # 8.x needs EXPLICIT_BATCH for ONNX networks
    legacy_precision_flags: bool  # BuilderFlag.FP16/INT8 exist (gone in 11.x)
    progress_monitor: bool  # trt.IProgressMonitor (>= 10.0)
    optimization_level: bool  # IBuilderConfig.builder_optimization_level (>= 8.6)
    version_compatible: bool  # BuilderFlag.VERSION_COMPATIBLE (>= 8.6)

    @property
    def weakly_typed(self) -> bool:
        """No strong typing at all (8.5): precision comes from builder flags."""
        return not self.strongly_typed_flag and self.legacy_precision_flags


def detect(trt: ModuleType) -> Features:
    flags = trt.NetworkDefinitionCreationFlag
    builder_flags = trt.BuilderFlag
    return Features(
        version=parse_version(trt.__version__),
        strongly_typed_flag=hasattr(flags, "STRONGLY_TYPED"),
        explicit_batch_flag=hasattr(flags, "EXPLICIT_BATCH"),
        legacy_precision_flags=hasattr(builder_flags, "FP16") and hasattr(builder_flags, "INT8"),
        progress_monitor=hasattr(trt, "IProgressMonitor"),
        optimization_level=hasattr(trt.IBuilderConfig, "builder_optimization_level"),
        version_compatible=hasattr(builder_flags, "VERSION_COMPATIBLE"),
    )


def network_flags(trt: ModuleType, features: Features) -> int:
    """Creation flags for an ONNX network: strongly typed where the flag exists
    (precision then comes from the ONNX file), explicit batch on 8.x."""
    flags = 0
    if features.strongly_typed_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    if features.explicit_batch_flag and features.version[0] < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    return flags


def apply_precision(trt: ModuleType, config, features: Features, precision: Precision) -> None:
    """Strongly typed builds need nothing: the ONNX carries the types. 8.5 has no
    strong typing, so the legacy flags let it pick the FP16 / Q/DQ INT8 kernels."""
    if not features.weakly_typed or precision is Precision.FP32:
        return
    config.set_flag(trt.BuilderFlag.FP16)
    if precision is Precision.INT8:
        config.set_flag(trt.BuilderFlag.INT8)  # explicit Q/DQ in the ONNX: no calibrator


def progress_monitor_base(trt: ModuleType, features: Features) -> type | None:
    """The class to subclass for build progress, or None where TensorRT has none."""
    return trt.IProgressMonitor if features.progress_monitor else None


def require_version_compatible(features: Features, what: str) -> None:
    if not features.version_compatible:
        version = ".".join(map(str, features.version))
        raise EngineBuildError(f"{what}: version-compatible plans need TensorRT >= 8.6 (found {version})")


# (built major, runtime major) pairs where a version-compatible plan crosses a major:
# "TensorRT 10 version-compatible engines can run with a TensorRT 11 runtime, and TensorRT 8
# version-compatible engines can run with a TensorRT 10 runtime. No other combination across
# major versions is supported" (TensorRT 11.4 support matrix, Engine Portability); 8 -> 9 per
# the 10.x "Version Compatibility" page.
VERSION_COMPATIBLE_MAJOR_STEPS = frozenset({(8, 9), (8, 10), (10, 11)})
VERSION_COMPATIBLE_SINCE = (8, 6)


def plan_version_problem(built: str, runtime: str, version_compatible: bool) -> str | None:
    """Why a plan built by TensorRT `built` cannot run on TensorRT `runtime`, or None.

    A plain plan runs only on the TensorRT that built it. A version-compatible one (built
    by >= 8.6) also runs on a newer TensorRT of the same major, or of the next major for
    the pairs NVIDIA supports, never on an older one: the check is forward-only.
    """
    b, r = parse_version(built), parse_version(runtime)
    if b == r:
        return None
    if not version_compatible:
        return f"it was built by TensorRT {built} and runs only on that version (this machine has {runtime})"
    if b > r:
        return f"it was built by TensorRT {built}, newer than this machine's {runtime}: plans run only on the same or a newer TensorRT"
    if b[:2] < VERSION_COMPATIBLE_SINCE:
        return f"it was built by TensorRT {built}, before version-compatible plans existed (8.6); this machine has {runtime}"
    if b[0] != r[0] and (b[0], r[0]) not in VERSION_COMPATIBLE_MAJOR_STEPS:
        return f"it was built by TensorRT {built}: TensorRT {r[0]} does not run version-compatible plans from TensorRT {b[0]} (this machine has {runtime})"
    return None


def allow_host_code(runtime) -> bool:
    """Let `runtime` deserialize version-compatible plans (they embed the lean runtime,
    i.e. host code); False where TensorRT predates them (< 8.6). Only trusted plans
    should be loaded: a plan is code either way."""
    if not hasattr(runtime, "engine_host_code_allowed"):
        return False
    runtime.engine_host_code_allowed = True
    return True


def engine_device_memory(engine) -> int | None:
    """Bytes of activation memory one execution context needs at the profile's max
    shapes, where TensorRT reports it (10.1+), else None."""
    size = getattr(engine, "device_memory_size_v2", None)
    return int(size) if size is not None else None
