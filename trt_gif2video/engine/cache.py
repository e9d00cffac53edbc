"""Engine cache: one plan per everything that changes a plan.

The key hashes the ONNX bytes, the profile shapes, precision, builder options,
TensorRT version, GPU name and compute capability; the file name spells out the
readable parts (vs-mlrt style) so a directory listing tells plans apart. Each
plan has a JSON sidecar with the full key; writes go to a temp file and
`os.replace`, under a file lock, so concurrent builders never see half a plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, TypeVar

import filelock
import platformdirs

from ..hashing import sha256_file
from ..config import Precision
from ..errors import BackendUnavailableError, EngineMismatchError, OutputError
from . import compat
from .recipe import BuilderOptions, Profile

PLAN_SUFFIX = ".plan"
SIDECAR_SUFFIX = ".json"
LOCK_TIMEOUT_S = 3600.0  # another process may be building the same plan: minutes, not hours
T = TypeVar("T")


@dataclass(frozen=True)
class Environment:
    """What a plan is tied to besides its inputs."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]

    def describe(self) -> str:
        major, minor = self.compute_capability
        return f"{self.gpu_name} (sm {major}.{minor}) with TensorRT {self.tensorrt_version}"


@dataclass(frozen=True)
class EngineKey:
    network: str  # ONNX stem, e.g. dequant_nodither
    onnx_sha256: str
    profile: tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]  # sorted (input, (min, opt, max))
    precision: Precision
    options: BuilderOptions
    environment: Environment

    @classmethod
    def create(cls, network: str, onnx_sha256: str, profile: Profile, precision: Precision,
               options: BuilderOptions, environment: Environment) -> EngineKey:
        frozen = tuple(sorted((name, tuple(tuple(s) for s in ranges)) for name, ranges in profile.items()))
        return cls(network, onnx_sha256, frozen, Precision(precision), options, environment)

    def to_json(self) -> dict:
        data = asdict(self)
        data["precision"] = self.precision.value
        data["profile"] = {name: [list(s) for s in ranges] for name, ranges in self.profile}
        data["environment"]["compute_capability"] = list(self.environment.compute_capability)
        return data

    def digest(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def file_stem(self) -> str:
        """e.g. dequant_nodither_fp16_n1-2_272x480-720x1280_o3_trt10.13.3_nvidia-geforce-rtx-3090_sm86_1a2b3c4d5e6f."""
        # image inputs share N/H/W, so the first [N,H,W,C] one names them
        lo, opt, hi = next((r for _, r in self.profile if len(r[0]) == 4), self.profile[0][1])
        parts = [self.network, self.precision.value, f"n{lo[0]}-{hi[0]}"]
        if len(lo) == 4:
            parts.append(f"{lo[1]}x{lo[2]}-{opt[1]}x{opt[2]}-{hi[1]}x{hi[2]}")
        parts.append(f"o{self.options.builder_optimization_level}")
        if self.options.dla_core is not None:
            parts.append(f"dla{self.options.dla_core}")
        if self.options.version_compatible:
            parts.append("vc")
        major, minor = self.environment.compute_capability
        parts += [f"trt{self.environment.tensorrt_version}", slug(self.environment.gpu_name), f"sm{major}{minor}"]
        parts.append(self.digest()[:12])
        return "_".join(parts)


def slug(text: str) -> str:
    """A file-name-safe lower-case form of a GPU name."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "gpu"




def default_cache_dir() -> Path:
    """The user cache dir, or a per-user temp dir when that is not writable
    (read-only home on CI runners and some Jetson images)."""
    preferred = Path(platformdirs.user_cache_dir("trt-gif2video")) / "engines"
    if _writable(preferred):
        return preferred
    fallback = Path(tempfile.gettempdir()) / f"trt-gif2video-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "engines"
    if _writable(fallback):
        return fallback
    raise OutputError(f"engine cache: neither {preferred} nor {fallback} is writable (pass --cache-dir)")


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EngineCache:
    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        if not _writable(self.directory):
            raise OutputError(f"engine cache {self.directory}: directory is not writable (pass another --cache-dir)")

    def plan_path(self, key: EngineKey) -> Path:
        return self.directory / (key.file_stem() + PLAN_SUFFIX)

    def lock(self, key: EngineKey) -> filelock.FileLock:
        return filelock.FileLock(str(self.plan_path(key)) + ".lock", timeout=LOCK_TIMEOUT_S)

    def lookup(self, key: EngineKey) -> Path | None:
        """The plan for `key` if it and a sidecar with the same key are present."""
        path = self.plan_path(key)
        sidecar = read_sidecar(path)
        if path.is_file() and sidecar is not None and sidecar.get("digest") == key.digest():
            return path
        return None

    def store(self, key: EngineKey, plan: bytes) -> Path:
        """Plan first, sidecar last: a sidecar always describes a complete plan."""
        path = self.plan_path(key)
        atomic_write(path, plan)
        sidecar = {"digest": key.digest(), "key": key.to_json(), "plan_bytes": len(plan), "plan": path.name}
        atomic_write(sidecar_path(path), json.dumps(sidecar, indent=2, sort_keys=True).encode())
        return path

    def get_or_build(self, key: EngineKey, build: Callable[[], bytes], *, force: bool = False,
                     notify: Callable[[str], None] = print) -> tuple[Path, bool]:
        """(plan, built now): the cached plan, or build it once even when several
        processes ask at the same time (the others wait on the lock, then hit)."""
        with self.lock(key):
            hit = None if force else self.lookup(key)
            if hit is not None:
                return hit, False
            notify(f"building {self.plan_path(key).name}")
            return self.store(key, build()), True


def sidecar_path(plan: Path) -> Path:
    return plan.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(plan: Path) -> dict | None:
    try:
        return json.loads(sidecar_path(plan).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def environment_mismatch(plan: Path, current: Environment) -> str | None:
    """Why `plan` cannot run here (another GPU, compute capability or TensorRT version),
    or None if it fits (or has no sidecar to tell: deserialization is then the judge)."""
    sidecar = read_sidecar(plan)
    if sidecar is None:
        return None
    try:
        env = sidecar["key"]["environment"]
        built = Environment(env["tensorrt_version"], env["gpu_name"], tuple(env["compute_capability"]))
        version_compatible = bool(sidecar["key"].get("options", {}).get("version_compatible", False))
        version_problem = compat.plan_version_problem(built.tensorrt_version, current.tensorrt_version, version_compatible)
    except (KeyError, TypeError, AttributeError, BackendUnavailableError):
        return f"{plan.name}: sidecar {sidecar_path(plan).name} is malformed"
    if built.compute_capability != current.compute_capability:
        why = "plans run only on the compute capability they were built for"
    elif built.gpu_name != current.gpu_name:
        why = "plans are tuned for the GPU model that built them"
    elif version_problem is not None:
        why = version_problem
    else:
        return None
    return f"{plan.name} was built for {built.describe()}; this machine has {current.describe()} ({why})"


def load_checked(plan: Path, current: Environment, deserialize: Callable[[bytes], T | None],
                 rebuild: Callable[[], Path] | None, notify: Callable[[str], None] = print) -> T:
    """Deserialize `plan`; when it belongs to another GPU / TensorRT version or
    does not deserialize, rebuild it (if possible) or raise EngineMismatchError."""
    reason = environment_mismatch(plan, current)
    if reason is None:
        if not plan.is_file():
            reason = f"{plan}: plan file not found"
        else:
            engine = deserialize(plan.read_bytes())
            if engine is not None:
                return engine
            reason = f"{plan.name} does not deserialize with TensorRT {current.tensorrt_version}"
    if rebuild is None:
        raise EngineMismatchError(f"{reason}: rebuild it with `trt-gif2video build` (the ONNX is needed)")
    notify(f"{reason}: rebuilding")
    fresh = rebuild()
    engine = deserialize(fresh.read_bytes())
    if engine is None:
        raise EngineMismatchError(f"{fresh.name}: freshly built plan does not deserialize with TensorRT {current.tensorrt_version}")
    return engine
