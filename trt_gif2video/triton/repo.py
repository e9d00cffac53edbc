"""`trt-gif2video triton repo DIR`: a Triton model repository, one model per network.

    DIR/<stem>/config.pbtxt       derived from the ONNX file (config.py)
    DIR/<stem>/1/model.onnx       onnxruntime_onnx, and the python flavour's model
    DIR/<stem>/1/model.plan       tensorrt_plan: a plan made by `trt-gif2video build`
    DIR/<stem>/1/model.py         python flavour: runs model.onnx with ONNX Runtime

Stems are the package's model names (dequant_nodither, dequant_dither, dither_detector,
interp), so a client asks the server for the same names the local backends load.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import Precision
from ..derived import model_file
from ..engine.build import VARIANTS
from ..engine.cache import read_sidecar
from ..engine.recipe import read_onnx_info
from ..errors import ModelError, OutputError
from ..models import Network, Variant, model_stem
from .config import ModelSettings, Platform, model_config

TEMPLATE = Path(__file__).resolve().parent / "python_backend" / "model.py"


@dataclass(frozen=True)
class RepoRequest:
    out: Path
    platform: Platform
    precision: Precision = Precision.FP32
    models_dir: Path | None = None  # ONNX files (default: the shipped weights)
    plans_dir: Path | None = None  # tensorrt flavour: where `build` left its plans (default: its cache)
    settings: ModelSettings = ModelSettings()
    networks: tuple[Network, ...] = tuple(Network)


def models(networks: tuple[Network, ...]) -> list[tuple[Network, Variant | None, str]]:
    """(network, variant, model name) of every model the repository holds."""
    return [(n, v, model_stem(n, v)) for n in networks for v in VARIANTS[n]]


def find_plan(plans_dir: Path, stem: str, onnx_sha256: str | None = None) -> tuple[Path, int]:
    """The newest plan built by `build` for `stem` (and this ONNX, when given) and its profile's max batch."""
    found = []
    for sidecar in plans_dir.glob(f"{stem}_*.json"):
        meta = read_sidecar(sidecar.with_suffix(".plan")) or {}
        key = meta.get("key", {})
        plan = sidecar.with_suffix(".plan")
        if key.get("network") != stem or not plan.is_file():
            continue
        if onnx_sha256 is not None and key.get("onnx_sha256") != onnx_sha256:
            continue
        max_batch = min(ranges[2][0] for ranges in key["profile"].values())
        found.append((plan.stat().st_mtime, plan, max_batch))
    if not found:
        raise ModelError(f"{plans_dir}: no TensorRT plan for {stem} built from the current ONNX; "
                         "run `trt-gif2video build` on the GPU node first (or pass --plans DIR)")
    _, plan, max_batch = max(found)
    return plan, max_batch


def write_repository(request: RepoRequest, notify=print) -> list[Path]:
    """Write the repository into request.out (atomically: a temp folder renamed at the end)."""
    from ..hashing import sha256_file

    out = request.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out}: exists and is not an empty folder (choose a new folder for the repository)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".triton-", dir=out.parent))
    written = []
    try:
        for network, variant, stem in models(request.networks):
            # FP16 / Q/DQ INT8: shipped, cached, or made once, the same file `build` reads (plans key on its sha256)
            onnx_file = model_file(network, variant, request.precision, cpu=False, models_dir=request.models_dir)
            info = read_onnx_info(onnx_file)
            settings = request.settings
            version = tmp / stem / "1"
            version.mkdir(parents=True)
            if request.platform is Platform.TENSORRT:
                from ..engine.cache import default_cache_dir

                plan, plan_batch = find_plan(request.plans_dir or default_cache_dir(), stem, sha256_file(onnx_file))
                # Triton sends at most max_batch_size frames; the plan's profile must accept them.
                settings = ModelSettings(min(settings.max_batch_size, plan_batch), settings.queue_delay_us, settings.instances)
                shutil.copyfile(plan, version / "model.plan")
            else:
                shutil.copyfile(onnx_file, version / "model.onnx")
                if request.platform is Platform.PYTHON:
                    shutil.copyfile(TEMPLATE, version / "model.py")
            (tmp / stem / "config.pbtxt").write_text(model_config(stem, info, request.platform, settings))
            (tmp / stem / "source.json").write_text(json.dumps(
                {"onnx": onnx_file.name, "onnx_sha256": sha256_file(onnx_file), "precision": request.precision.value,
                 "platform": request.platform.value}, indent=2))
            written.append(out / stem)
            notify(f"{stem}: {request.platform.value} ({onnx_file.name})")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def repository_platforms(repo: Path) -> dict[str, str]:
    """model name -> platform/backend, read from each config.pbtxt (for `serve`'s checks)."""
    if not repo.is_dir():
        raise ModelError(f"{repo}: not a model repository folder (make one with `trt-gif2video triton repo`)")
    found = {}
    for cfg in sorted(repo.glob("*/config.pbtxt")):
        for line in cfg.read_text().splitlines():
            if line.startswith(("platform:", "backend:")):
                found[cfg.parent.name] = line.split(":", 1)[1].strip().strip('"')
    if not found:
        raise ModelError(f"{repo}: no model with a config.pbtxt (make one with `trt-gif2video triton repo`)")
    return found
