"""Derived model files (FP16, INT8 for TensorRT, INT8 for ONNX Runtime's CPU): found, checked, made on first use.

Every derived file records the sha256 of the FP32 ONNX it was made from (metadata
`source_sha256`; `<stem>.calib.json` likewise). `model_file` returns, for a network and
precision, the file the backend should load:

1. the models folder (the shipped weights, or `--models-dir`): used when it was made from
   the FP32 file beside it (a file without the key is a user's own and is used as is);
2. the user cache, `<cache>/models/<fp32 sha256[:16]>/`: made there earlier;
3. otherwise it is made there now, once, under a lock, with one progress line on stderr.
   Never into the installed package.

FP16 needs only the FP32 file. INT8 needs calibration ranges: the shipped `<stem>.calib.json`
when it belongs to this FP32 file (calibrated on the corpus by `export --derived`), else frames
of the bundled sample GIF (said on the progress line and recorded in the file's `calib_source`;
calibrating on the corpus is `export --derived`'s job, with its accuracy gate).

Which INT8 file: ONNX Runtime on the CPU runs `<stem>.int8-cpu.onnx` (uint8 activations, its
integer kernels); TensorRT and ONNX Runtime's GPU providers run `<stem>.int8.onnx` (TensorRT's
symmetric Q/DQ rules).
"""

from __future__ import annotations

import enum
import sys
import time
from pathlib import Path
from typing import Callable

from .config import Precision
from .errors import ModelError
from .hashing import sha256_file
from .models import Network, Variant, model_stem, onnx_path, require, weights_dir

SOURCE_KEY = "source_sha256"  # same key as export.int8.SOURCE_KEY (this module must not import onnx at load)
Notify = Callable[[str], None]


class Flavour(str, enum.Enum):
    """A derived file; the value is its name suffix: `<stem>.<value>.onnx`."""

    FP16 = "fp16"
    INT8 = "int8"  # TensorRT's explicit-quantization rules (also ONNX Runtime's GPU providers)
    INT8_CPU = "int8-cpu"  # ONNX Runtime's x86/ARM CPU integer kernels

    @property
    def precision(self) -> Precision:
        return Precision.FP16 if self is Flavour.FP16 else Precision.INT8


def flavour_for(precision: Precision, cpu: bool) -> Flavour | None:
    """The file a backend runs for `precision` (None: the FP32 file itself)."""
    precision = Precision(precision)
    if precision is Precision.FP32:
        return None
    if precision is Precision.FP16:
        return Flavour.FP16
    return Flavour.INT8_CPU if cpu else Flavour.INT8


def file_name(stem: str, flavour: Flavour) -> str:
    return f"{stem}.{Flavour(flavour).value}.onnx"


def ranges_name(stem: str) -> str:
    return f"{stem}.calib.json"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def source_sha256(path: Path) -> str | None:
    """The FP32 sha256 a derived ONNX or calibration file records (None: not recorded)."""
    path = Path(path)
    if path.suffix == ".json":
        from .export.int8 import read_ranges

        return read_ranges(path)[1].get(SOURCE_KEY)
    return onnx_metadata(path).get(SOURCE_KEY)


def onnx_metadata(path: Path) -> dict[str, str]:
    """`metadata_props` of an ONNX file, read from the protobuf wire format without the onnx package:
    importing onnx costs 0.15 s, and `restore --precision int8` needs only this from it. The top-level
    fields of ModelProto are walked and every one but metadata_props (field 14, key/value strings as
    fields 1 and 2) skipped by its length, the graph included."""
    data = memoryview(Path(path).read_bytes())
    try:
        out = {}
        for field, value in _fields(data):
            if field == 14:
                entry = dict(_fields(value))
                out[bytes(entry.get(1, b"")).decode()] = bytes(entry.get(2, b"")).decode()
        return out
    except (IndexError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable ONNX file ({exc})") from None


def _fields(buf: memoryview):
    """(field number, value) of each field of one protobuf message: ints for varint and fixed-width
    fields, memoryviews for length-delimited ones."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = int.from_bytes(buf[i:i + size], "little"), i + size
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > len(buf):
                raise ValueError("truncated")
            value, i = buf[i:i + size], i + size
        else:  # groups (3, 4) are not used by ONNX; 6, 7 do not exist
            raise ValueError(f"wire type {wire}")
        if field == 0:
            raise ValueError("field number 0")
        yield field, value


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def cache_root(cache_dir: Path | None = None) -> Path:
    """`<user cache>/models` ($TRT_GIF2VIDEO_CACHE honoured), where first-use files go."""
    from .data.corpus import resolve_cache_dir

    return resolve_cache_dir(cache_dir) / "models"


def model_file(network: Network, variant: Variant | None, precision: Precision, *, cpu: bool = True,
               models_dir: Path | None = None, cache_dir: Path | None = None, notify: Notify = _stderr) -> Path:
    """The ONNX file to run `network` at `precision`: shipped and current, cached, or made now (see module doc)."""
    root = Path(models_dir) if models_dir else weights_dir()
    fp32 = onnx_path(network, variant, Precision.FP32, root=root)
    flavour = flavour_for(precision, cpu)
    if flavour is None:
        return require(fp32)
    stem = model_stem(network, variant)
    own = root / file_name(stem, flavour)
    if not fp32.is_file():
        # nothing to make one from: a derived file on its own is used as it is (the CPU may run the Q/DQ one)
        fallback = [root / file_name(stem, Flavour.INT8)] if flavour is Flavour.INT8_CPU else []
        found = next((p for p in (own, *fallback) if p.is_file()), None)
        if found is None:
            raise ModelError(f"{own}: ONNX file not found; derive it from {fp32.name} (made on first use when that "
                             "file is present), or pass the folder holding it")
        return found
    sha = sha256_file(fp32)
    if own.is_file():
        recorded = source_sha256(own)
        if recorded is None or recorded == sha:  # no record: a user's own file, used as it is
            return own
        notify(f"{own}: made from another {fp32.name} (stale); using a fresh one from the user cache")
    cached = cache_root(cache_dir) / sha[:16] / own.name
    import filelock

    cached.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(cached) + ".lock"):
        if cached.is_file() and source_sha256(cached) == sha:
            return cached
        notify(f"{own.name}: not shipped for this {fp32.name}; making it once (first use)")
        make(fp32, flavour, cached, notify, sha)
    return cached


def make(fp32: Path, flavour: Flavour, dst: Path, notify: Notify = _stderr, sha: str | None = None,
         calibration: tuple[dict, dict[str, str]] | None = None) -> Path:
    """Write the `flavour` derivative of FP32 ONNX `fp32` to `dst`, recording the FP32 sha256.

    INT8 takes its ranges from `calibration` (ranges, provenance) when given, else `calibration_ranges`."""
    from .export.check import set_metadata
    from .export.fp16 import _atomic_save

    import onnx

    sha = sha or sha256_file(fp32)
    start = time.perf_counter()
    if flavour is Flavour.FP16:
        notify(f"making {dst.name} from {fp32.name} (FP16, a few seconds) in {dst.parent}")
        try:
            from .export.fp16 import make_fp16
        except ImportError as exc:
            raise ModelError(f"{dst.name}: making FP16 needs onnxconverter-common ({exc}); "
                             "pip install onnxconverter-common") from None
        import warnings

        with warnings.catch_warnings():  # onnxconverter-common warns per FP32 constant it rounds (tiny eps values)
            warnings.simplefilter("ignore", UserWarning)
            make_fp16(fp32, dst)
        extra = {}
    else:
        from .export.int8 import Int8Flavour, quantize_int8

        ranges, provenance = calibration or calibration_ranges(fp32, sha, notify)
        notify(f"making {dst.name} from {fp32.name} (INT8 {flavour.value}, ranges from "
               f"{provenance.get('calib_source', '?')}) in {dst.parent}")
        quantize_int8(fp32, dst, ranges, Int8Flavour(flavour.value))
        extra = {k: v for k, v in provenance.items() if k.startswith("calib_")}
    model = onnx.load(str(dst))
    set_metadata(model, **{SOURCE_KEY: sha, **extra})
    _atomic_save(model, dst)
    notify(f"{dst}: ready in {time.perf_counter() - start:.1f} s")
    return dst


def calibration_ranges(fp32: Path, sha: str, notify: Notify = _stderr) -> tuple[dict, dict[str, str]]:
    """INT8 ranges for FP32 `fp32`: its shipped `<stem>.calib.json` when current, else from the bundled sample GIF."""
    from .export.int8 import FeedsReader, calibrate_ranges, read_ranges

    stem = fp32.name[: -len(".onnx")]
    shipped = fp32.with_name(ranges_name(stem))
    if shipped.is_file():
        ranges, provenance = read_ranges(shipped)
        if provenance.get(SOURCE_KEY) == sha:
            return ranges, provenance
        notify(f"{shipped}: ranges of another {fp32.name} (stale); calibrating again")
    notify(f"{fp32.name}: calibrating INT8 on the bundled sample GIF (accuracy not validated; "
           "`trt-gif2video data fetch` then `trt-gif2video export --derived` calibrates on the corpus and gates it)")
    feeds, source = sample_feeds(_network_of(fp32)), "bundled sample.gif (not the corpus; accuracy not validated)"
    ranges = calibrate_ranges(fp32, FeedsReader(feeds))
    return ranges, {SOURCE_KEY: sha, "calib_source": source}


def sample_feeds(network: str, crop: int = 128) -> list[dict]:
    """Calibration inputs from the bundled sample GIF: 128 px crops of consecutive frame pairs."""
    import numpy as np

    from .calib import CalibSample, network_feeds
    from .io.gif_decode import read_frames

    frames = read_frames(Path(__file__).resolve().parent / "samples" / "sample.gif")
    rng = np.random.default_rng(0)
    samples = []
    for a, b in zip(frames[:-1], frames[1:]):
        h, w = a.rgb.shape[:2]
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        ca, cb = (f.rgb[y:y + crop, x:x + crop].copy() for f in (a, b))
        # no clean frames here: the GIF frames stand in for the interpolator's dequantized inputs
        samples.append(CalibSample(ca, a.palette, ca, cb, b.palette, cb, None))
    return network_feeds(network, samples, seed=0)


def _metadata(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def _network_of(fp32: Path) -> str:
    network = _metadata(fp32).get("network")
    if network not in {n.value for n in Network}:
        raise ModelError(f"{fp32}: metadata 'network' must be one of {[n.value for n in Network]}, got {network!r}")
    return network
