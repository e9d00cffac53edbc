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


def regenerate(models_dir: Path, models: tuple[ModelFile, ...] = MODELS, manifest=None, check_frames: int = 32,
               cache_dir: Path | None = None, notify: Callable[[str], None] = lambda _: None) -> list[DerivedFile]:
    from ..calib import DEFAULT_MANIFEST, iter_samples, network_feeds
    from .check import read_metadata, write_gated
    from .int8 import FeedsReader, calibrate_ranges, calibration_dithers, write_ranges

    import onnx

    manifest = manifest or DEFAULT_MANIFEST
    out = []
    for mf in models:
        fp32 = models_dir / mf.onnx_name()
        sha = sha256_file(fp32)
        meta = read_metadata(onnx.load(str(fp32), load_external_data=False))
        notify(f"{mf.stem}: calibrating on {manifest.frames} {manifest.split} frames")
        samples = list(iter_samples(manifest, calibration_dithers(meta["variant"], manifest.dithers),
                                    pairs=meta["network"] == "interp", cache_dir=cache_dir))
        ranges = calibrate_ranges(fp32, FeedsReader(network_feeds(meta["network"], samples, manifest.seed)))
        calib = write_ranges(models_dir / ranges_name(mf.stem), ranges, sha,
                             calib_source=f"corpus {manifest.split} split, manifest {manifest.key()}, "
                                          f"{len(samples)} frames")
        out.append(DerivedFile(calib, f"{len(ranges)} tensor ranges"))
        for flavour in SHIPPED.get(mf.stem, ()):
            dst = models_dir / file_name(mf.stem, flavour)
            notify(f"{dst.name}: making and gating on {check_frames} validation frames")
            drop = write_gated(fp32, dst, lambda trial, fl=flavour: make(fp32, fl, trial, notify, sha), check_frames,
                               cache_dir, manifest)
            out.append(DerivedFile(dst, drop.line() if drop else "not gated (--check-frames 0)"))
    return out
