"""Validate an ONNX file against the deploy contract (docs/CONTRACTS.md): no torch.

One `ModelError` per broken rule, naming the file and what is required: the checker
(full type check), shape inference, the metadata keys, and every input/output's name,
element type and rank, with N, H, W dynamic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..config import Precision
from ..errors import ModelError
from ..models import STRIDE
from . import Network, OutputDtype

MIN_OPSET = 17
METADATA_KEYS = ("stride", "network", "variant", "precision")

_U8, _F32, _F16 = onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


@dataclass(frozen=True)
class TensorSpec:
    """One graph input/output: name, ONNX element type, static dims (None = dynamic)."""

    name: str
    elem_type: int
    dims: tuple[int | None, ...]


def _img(name: str, elem_type: int = _U8) -> TensorSpec:
    return TensorSpec(name, elem_type, (None, None, None, 3))


Specs = tuple[TensorSpec, ...]


def contract(network: Network, output: OutputDtype = OutputDtype.UINT8) -> tuple[Specs, Specs]:
    """(inputs, outputs) the deploy graph of `network` must have."""
    out_type = _U8 if output is OutputDtype.UINT8 else _F16
    if network is Network.DEQUANT:
        return (_img("gif"), TensorSpec("palette", _U8, (None, 256, 3))), (_img("restored", out_type),)
    if network is Network.INTERP:
        ins = (_img("gif0"), _img("gif1"), _img("img0"), _img("img1"), TensorSpec("t", _F32, (None,)))
        return ins, (_img("frame_t", out_type),)
    return (_img("gif"),), (TensorSpec("p_dither", _F32, (None,)),)


def set_metadata(model: onnx.ModelProto, **props: str) -> None:
    """Set (or replace) `metadata_props` entries."""
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _dims(vi: onnx.ValueInfoProto) -> tuple[int | None, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim)


def _check_io(where: str, kind: str, actual: list[onnx.ValueInfoProto], expected: tuple[TensorSpec, ...]) -> None:
    names = [v.name for v in actual]
    if names != [s.name for s in expected]:
        raise ModelError(f"{where}: {kind} must be {[s.name for s in expected]}, got {names}")
    for vi, spec in zip(actual, expected):
        elem = vi.type.tensor_type.elem_type
        if elem != spec.elem_type:
            raise ModelError(f"{where}: {kind} {spec.name!r} must be {onnx.TensorProto.DataType.Name(spec.elem_type)},"
                             f" got {onnx.TensorProto.DataType.Name(elem)}")
        dims = _dims(vi)
        if len(dims) != len(spec.dims):
            raise ModelError(f"{where}: {kind} {spec.name!r} must have rank {len(spec.dims)}, got {len(dims)}")
        for axis, (got, want) in enumerate(zip(dims, spec.dims)):
            if got != want:
                need = "dynamic" if want is None else str(want)
                raise ModelError(f"{where}: {kind} {spec.name!r} axis {axis} must be {need}, got {got or 'dynamic'}")


def check_model(model: onnx.ModelProto | Path | str, precision: Precision | None = None) -> onnx.ModelProto:
    """Run every rule; return the shape-inferred model. Raises ModelError naming the first broken rule."""
    where = str(model) if isinstance(model, (str, Path)) else (model.graph.name or "onnx model")
    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ModelError(f"{where}: ONNX file not found")
        model = onnx.load(str(model))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise ModelError(f"{where}: opset must be >= {MIN_OPSET}, got {opset}")
    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"{where}: ONNX checker / shape inference failed: {str(exc).splitlines()[0]}") from exc
    meta = read_metadata(model)
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{where}: metadata_props must contain {list(METADATA_KEYS)}; missing {missing}")
    try:
        network = Network(meta["network"])
        want_precision = Precision(meta["precision"])
        output = OutputDtype(meta.get("output_dtype", OutputDtype.UINT8.value))
    except ValueError as exc:
        raise ModelError(f"{where}: bad metadata value ({exc})") from exc
    # the runtime pads to the stride the metadata states; the contract's values are the defaults
    if not meta["stride"].isdigit() or int(meta["stride"]) < 1 or int(meta["stride"]) & (int(meta["stride"]) - 1):
        raise ModelError(f"{where}: metadata stride must be a power of two (contract: {STRIDE[network]} for "
                         f"{network.value}), got {meta['stride']!r}")
    if precision is not None and want_precision is not precision:
        raise ModelError(f"{where}: precision must be {precision.value}, metadata says {want_precision.value}")
    inputs, outputs = contract(network, output)
    _check_io(where, "inputs", list(model.graph.input), inputs)
    _check_io(where, "outputs", list(model.graph.output), outputs)
    return inferred


# --- accuracy of a derived precision against its FP32 source -------------------------------

# PSNR drop allowed against the FP32 model, dB (the gates)
DROP_GATES = {Precision.FP16: 0.1, Precision.INT8: 0.5}
# the dither detector has no image: its mean probability change, and the share of frames whose
# decision (p > 0.5) flips, must stay under these
PROB_GATE = 0.05
FLIP_GATE = 0.05
# ONNX Runtime's CPU provider runs FP16 convolutions in FP32 (see `reference_evaluator`), so FP16
# gates run in onnx's reference evaluator, on crops of this size
REFERENCE_CROP = 64


@dataclass(frozen=True)
class PrecisionDrop:
    """FP32 vs a derived model on the same frames: PSNRs (dB, pooled over the frames) against
    ground truth for image networks, the largest probability change for the dither detector."""

    name: str
    precision: Precision
    samples: int
    evaluator: str  # what ran the variant: onnxruntime, or onnx-reference (true FP16 arithmetic)
    psnr_fp32: float | None = None
    psnr_variant: float | None = None
    psnr_variant_vs_fp32: float | None = None  # fidelity to the FP32 output itself (capped at 99 dB)
    mean_prob_diff: float | None = None
    max_prob_diff: float | None = None
    flips: int | None = None  # frames whose dither decision differs from FP32's

    @property
    def drop(self) -> float | None:
        return None if self.psnr_fp32 is None else self.psnr_fp32 - self.psnr_variant

    def passes(self) -> bool:
        if self.flips is not None:
            return self.mean_prob_diff <= PROB_GATE and self.flips <= FLIP_GATE * self.samples
        return self.drop <= DROP_GATES[self.precision]

    def line(self) -> str:
        head = f"{self.name} {self.precision.value} ({self.evaluator})"
        if self.flips is not None:
            return (f"{head}: mean |dp| {self.mean_prob_diff:.4f} (gate {PROB_GATE}), max {self.max_prob_diff:.3f}, "
                    f"{self.flips} decisions flipped (gate {FLIP_GATE:.0%}) over {self.samples} frames")
        return (f"{head}: PSNR {self.psnr_fp32:.2f} -> {self.psnr_variant:.2f} dB (drop {self.drop:+.3f}, gate "
                f"{DROP_GATES[self.precision]}), vs FP32 {self.psnr_variant_vs_fp32:.1f} dB, {self.samples} frames")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _session(path: Path | str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _as_uint8_image(x: np.ndarray) -> np.ndarray:
    """A float16 [0,1] image output on the uint8 scale, so PSNRs compare like for like."""
    x = np.asarray(x)
    return x if x.dtype == np.uint8 else np.clip(np.rint(x.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def measure_drop(fp32: Path | str, variant: Path | str, feeds: list[dict], targets: list | None,
                 reference: bool = False) -> PrecisionDrop:
    """Run both models on `feeds`; PSNR of each against `targets` (HxWx3 uint8 each; None for the detector).

    `reference` runs the variant in onnx's ReferenceEvaluator (true FP16 arithmetic; small crops
    only); FP32 always runs in ONNX Runtime (the two agree exactly on FP32 graphs).
    """
    meta = read_metadata(onnx.load(str(variant), load_external_data=False))
    a, b = _session(fp32), (reference_evaluator if reference else _session)(variant)
    evaluator = "onnx-reference" if reference else "onnxruntime"
    head = (Path(variant).name, Precision(meta["precision"]), len(feeds), evaluator)
    if targets is None:
        pa, pb = (np.concatenate([s.run(None, f)[0] for f in feeds]) for s in (a, b))
        diffs = np.abs(pa.astype(np.float64) - pb)
        return PrecisionDrop(*head, mean_prob_diff=float(diffs.mean()), max_prob_diff=float(diffs.max()),
                             flips=int(((pa > 0.5) != (pb > 0.5)).sum()))
    # pooled over all frames (PSNR of the whole set): a frame the GIF already reproduces exactly
    # (infinite PSNR) cannot swamp the mean
    ya, yb = zip(*((_as_uint8_image(a.run(None, f)[0])[0], _as_uint8_image(b.run(None, f)[0])[0]) for f in feeds))
    ya, yb, gt = (np.concatenate([x.reshape(-1, 3) for x in v]) for v in (ya, yb, targets))
    return PrecisionDrop(*head, psnr(ya, gt), psnr(yb, gt), min(psnr(yb, ya), 99.0))


def validation_drop(fp32: Path | str, variant: Path | str, frames: int = 32, cache_dir: Path | str | None = None,
                    manifest=None) -> PrecisionDrop:
    """`measure_drop` on GIF frames made from the corpus VALIDATION split (never calibrated on).

    Frames are drawn like calibration frames (`manifest`, default the shipped one) but from the
    validation split with another seed.
    """
    from dataclasses import replace

    from ..calib import DEFAULT_MANIFEST, iter_samples, network_feeds
    from .int8 import calibration_dithers

    meta = read_metadata(onnx.load(str(fp32), load_external_data=False))
    network = meta["network"]
    fp16 = read_metadata(onnx.load(str(variant), load_external_data=False))["precision"] == Precision.FP16.value
    manifest = manifest or DEFAULT_MANIFEST
    manifest = replace(manifest, split="val", frames=frames, seed=manifest.seed + 1)
    if fp16:  # true FP16 arithmetic needs the slow reference evaluator: fewer, smaller frames
        manifest = replace(manifest, frames=max(1, frames // 8), crop=REFERENCE_CROP)
    samples = list(iter_samples(manifest, calibration_dithers(meta["variant"], manifest.dithers),
                                pairs=network == "interp", cache_dir=cache_dir))
    feeds = network_feeds(network, samples, t=0.5)
    targets = {"dequant": [s.clean for s in samples], "interp": [s.clean_mid for s in samples]}.get(network)
    return measure_drop(fp32, variant, feeds, targets, reference=fp16)


def gate(fp32: Path | str, variant: Path | str, frames: int = 32, cache_dir: Path | str | None = None,
         manifest=None) -> PrecisionDrop:
    """`validation_drop`, raising ModelError when the drop exceeds its gate (DROP_GATES, PROB_GATE, FLIP_GATE)."""
    drop = validation_drop(fp32, variant, frames, cache_dir, manifest)
    if not drop.passes():
        raise ModelError(f"{variant}: fails its accuracy gate: {drop.line()}")
    return drop


def write_gated(fp32: Path | str, dst: Path | str, make: Callable[[Path], object], check_frames: int = 32,
                cache_dir: Path | str | None = None, manifest=None) -> PrecisionDrop | None:
    """`make(path)` writes a derived model; it lands at `dst` only if it passes `gate` (None: not checked)."""
    from dataclasses import replace

    dst = Path(dst)
    trial = dst.with_name(dst.name + ".trial")
    try:
        make(trial)
        drop = gate(fp32, trial, check_frames, cache_dir, manifest) if check_frames else None
        trial.replace(dst)
    finally:
        trial.unlink(missing_ok=True)
    return drop and replace(drop, name=dst.name)


def _bilinear(x: np.ndarray, grid: np.ndarray, padding_mode: str, align_corners: bool) -> np.ndarray:
    """Vectorized 2-D bilinear GridSample (the reference one loops over pixels in Python)."""
    n, c, h, w = x.shape
    gx, gy = grid[..., 0].astype(np.float64), grid[..., 1].astype(np.float64)
    if align_corners:
        px, py = (gx + 1) * (w - 1) / 2, (gy + 1) * (h - 1) / 2
    else:
        px, py = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
    if padding_mode == "border":
        px, py = np.clip(px, 0, w - 1), np.clip(py, 0, h - 1)
    x0, y0 = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    out = np.zeros((n, c) + gx.shape[1:], np.float64)
    batch = np.arange(n)[:, None, None]
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - np.abs(px - xi)) * (1 - np.abs(py - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            vals = x[batch, :, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]  # [N, Ho, Wo, C]
            out += np.moveaxis(vals * (wgt * inside)[..., None], -1, 1)
    return out.astype(x.dtype)


def reference_evaluator(path: Path | str):
    """onnx's pure-numpy ReferenceEvaluator for a model, able to run our graphs.

    ONNX Runtime's CPU provider has no FP16 kernels for Conv, ConvTranspose, (Leaky)Relu,
    AveragePool or Resize: it wraps them in Casts and computes in FP32, so FP16 accuracy
    measured there is FP16 storage only. The reference evaluator computes in the tensors'
    own dtype (slowly: use small crops). Two of its ops need help with our graphs: its
    GatherElements uses np.choose (at most 64 choices; palettes have 256) and its GridSample
    only knows the opset-20 mode names.
    """
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops.op_gather_elements import GatherElements as _GatherElements
    from onnx.reference.ops.op_grid_sample import GridSample as _GridSample

    class GatherElements(_GatherElements):
        def _run(self, data, indices, axis=None):
            axis = 0 if axis is None else axis
            idx = np.where(indices < 0, indices + data.shape[axis], indices)
            return (np.take_along_axis(data, idx, axis=axis),)

    class GridSample(_GridSample):
        def _run(self, X, grid, mode=None, padding_mode=None, align_corners=None):
            mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
            if X.ndim == 4 and mode == "linear" and padding_mode in ("border", "zeros"):
                return (_bilinear(X, grid, padding_mode, bool(align_corners)),)
            return super()._run(X, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    return ReferenceEvaluator(str(path), new_ops=[GatherElements, GridSample])
