"""Regenerate every derived file that ships, from the FP32 ONNX files beside them (no torch).

    trt-gif2video export --derived            # after any FP32 re-export or retraining

Per model: calibrate INT8 ranges on the corpus (calib/manifest.toml, training split) into
`<stem>.calib.json`, then write each shipped derivative (`SHIPPED`) through the accuracy gate
on the validation split (`check.write_gated`). Every file records the FP32 sha256 it belongs
to; tests/test_derived.py fails while any is stale. Files that do not ship (FP16 of the big
networks, their TensorRT INT8) are made on first use from the FP32 file and these ranges
(`trt_gif2video.derived`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..derived import Flavour, file_name, make, ranges_name
from ..hashing import sha256_file
from . import MODELS, ModelFile

# What ships beside each FP32 file: the CPU INT8 of every network (fast `restore --precision
# int8` out of the box, ~2-3 MB each) and all three of the 40 KB dither detector.
SHIPPED: dict[str, tuple[Flavour, ...]] = {
    "dequant_nodither": (Flavour.INT8_CPU,),
    "dequant_dither": (Flavour.INT8_CPU,),
    "dither_detector": (Flavour.FP16, Flavour.INT8, Flavour.INT8_CPU),
    "interp": (Flavour.INT8_CPU,),
}


@dataclass(frozen=True)
class DerivedFile:
    path: Path
    line: str  # what was written, with its accuracy against FP32


def corpus_calibration(fp32: Path, manifest=None, cache_dir: Path | None = None) -> tuple[dict, dict[str, str]]:
    """(ranges, provenance) of FP32 `fp32` from the corpus training split, sampled per `manifest`."""
    import onnx

    from ..calib import DEFAULT_MANIFEST, iter_samples, network_feeds
    from .check import read_metadata
    from .int8 import SOURCE_KEY, FeedsReader, calibrate_ranges, calibration_dithers

    manifest = manifest or DEFAULT_MANIFEST
    meta = read_metadata(onnx.load(str(fp32), load_external_data=False))
    samples = list(iter_samples(manifest, calibration_dithers(meta["variant"], manifest.dithers),
                                pairs=meta["network"] == "interp", cache_dir=cache_dir))
    ranges = calibrate_ranges(fp32, FeedsReader(network_feeds(meta["network"], samples, manifest.seed)))
    return ranges, {SOURCE_KEY: sha256_file(fp32),
                    "calib_source": f"corpus {manifest.split} split, manifest {manifest.key()}, {len(samples)} frames"}


def write_flavours(fp32: Path, flavours: tuple[Flavour, ...], dst_dir: Path, calibration, check_frames: int = 32,
                   cache_dir: Path | None = None, manifest=None,
                   notify: Callable[[str], None] = lambda _: None) -> list[DerivedFile]:
    """Each flavour of `fp32` into `dst_dir`, through the accuracy gate on the validation split."""
    from .check import write_gated

    stem = fp32.name[: -len(".onnx")]
    sha = sha256_file(fp32)
    dst_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for flavour in flavours:
        dst = dst_dir / file_name(stem, flavour)
        notify(f"{dst.name}: making and gating on {check_frames} validation frames")
        drop = write_gated(fp32, dst, lambda trial, fl=flavour: make(fp32, fl, trial, notify, sha, calibration),
                           check_frames, cache_dir, manifest)
        out.append(DerivedFile(dst, drop.line() if drop else "not gated (--check-frames 0)"))
    return out


def regenerate(models_dir: Path, models: tuple[ModelFile, ...] = MODELS, manifest=None, check_frames: int = 32,
               cache_dir: Path | None = None, notify: Callable[[str], None] = lambda _: None) -> list[DerivedFile]:
    """Calibration ranges and every SHIPPED derivative of each model in `models_dir` (see the module doc)."""
    from .int8 import SOURCE_KEY, write_ranges

    out = []
    for mf in models:
        fp32 = models_dir / mf.onnx_name()
        notify(f"{mf.stem}: calibrating on the corpus")
        ranges, provenance = corpus_calibration(fp32, manifest, cache_dir)
        calib = write_ranges(models_dir / ranges_name(mf.stem), ranges, provenance[SOURCE_KEY],
                             calib_source=provenance["calib_source"])
        out.append(DerivedFile(calib, f"{len(ranges)} tensor ranges"))
        out += write_flavours(fp32, SHIPPED.get(mf.stem, ()), models_dir, (ranges, provenance), check_frames,
                              cache_dir, manifest, notify)
    return out
