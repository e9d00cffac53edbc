"""torch deploy modules -> FP32 ONNX, checked and verified against torch (the only torch file in export/).

The TorchScript exporter (dynamo=False) is used: it handles grid_sample, argmin and
dynamic N/H/W in one pass, and names nodes by module scope. Every export is checked
(onnx checker, shape inference, contract) and then run in ONNX Runtime against torch on
the float values before the uint8 rounding, so the 1e-4 bound is meaningful.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import torch

from ..config import Precision
from ..errors import ModelError
from . import MODELS, ModelFile, Network, OutputDtype
from ..models import STRIDE
from .check import PrecisionDrop, check_model, contract, set_metadata, write_gated
from .fp16 import _atomic_save, float_image_outputs, make_fp16

DEFAULT_OPSET = 17
# torch vs ONNX Runtime, on the [0,1] image scale, before rounding to uint8.
FP32_TOLERANCE = 1e-4
FP16_OUTPUT_TOLERANCE = 2.0 ** -10  # one FP16 step just below 1.0


@dataclass(frozen=True)
class ExportReport:
    path: Path
    max_abs_error: float  # vs torch, [0,1] scale, before rounding (NaN when not verified)
    fp16: Path | None = None  # the FP16 graph derived from it, if made
    fp16_drop: PrecisionDrop | None = None  # its validation PSNR drop, if gated


def example_feeds(network: Network, n: int = 1, height: int = 64, width: int = 64,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Contract-shaped inputs: smooth colour images with a GIF-like palette (not noise: argmin ties matter)."""
    from ..palette import pad_palette
    from ..quantize import quantize_rgb

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    def image() -> np.ndarray:
        f = rng.uniform(0.02, 0.12, size=(3, 2))
        ph = rng.uniform(0, 6.3, size=3)
        rgb = [127.5 + 120 * np.sin(f[c, 0] * xx + f[c, 1] * yy + ph[c]) for c in range(3)]
        return np.clip(np.stack(rgb, -1), 0, 255).astype(np.uint8)

    clean = np.stack([image() for _ in range(n)])
    gifs, pals = zip(*(quantize_rgb(im, 32) for im in clean))
    gif = np.stack(gifs)
    if network is Network.DEQUANT:
        return {"gif": gif, "palette": np.stack([pad_palette(p) for p in pals])}
    if network is Network.DITHER:
        return {"gif": gif}
    shift = np.roll(clean, 3, axis=2)
    gif1 = np.stack([quantize_rgb(im, 32)[0] for im in shift])
    return {"gif0": gif, "gif1": gif1, "img0": clean, "img1": shift,
            "t": rng.uniform(0.1, 0.9, size=n).astype(np.float32)}


def _torch_float(module: torch.nn.Module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    from ..nets.deploy import unrounded_images

    # only the output's rounding goes (the mirror of `float_image_outputs`); the palette step keeps its own
    with torch.no_grad(), unrounded_images():
        out = module(*(torch.from_numpy(v) for v in feeds.values()))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.float().numpy() for o in outs]


def _ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def verify_fp32(module: torch.nn.Module, model: onnx.ModelProto, network: Network, height: int = 64,
                width: int = 64, n: int = 2) -> float:
    """Max abs error ONNX Runtime vs torch on the [0,1] scale, before the uint8 rounding (both sides)."""
    feeds = example_feeds(network, n, height, width)
    tapped = float_image_outputs(model)
    errs = []
    for ref, got, vi in zip(_torch_float(module, feeds), _ort_run(tapped, feeds), model.graph.output):
        # uint8 images are compared on their 0..255 scale here; float outputs are already 0..1
        scale = 255.0 if vi.type.tensor_type.elem_type == onnx.TensorProto.UINT8 else 1.0
        errs.append(float(np.max(np.abs(ref - got.astype(np.float32)))) / scale)
    return max(errs)


def _declare_output_shapes(model: onnx.ModelProto, outputs: tuple) -> None:
    """State the contract's output shapes (N, H, W symbolic, channels 3): the exporter loses some static dims."""
    for vi, spec in zip(model.graph.output, outputs):
        dims = vi.type.tensor_type.shape.dim
        del dims[:]
        for axis, size in enumerate(spec.dims):
            d = dims.add()
            if size is None:
                d.dim_param = ("N", "H", "W")[axis]
            else:
                d.dim_value = size


def _keep_contract_inputs(model: onnx.ModelProto, inputs: tuple) -> None:
    """Put back contract inputs the exporter dropped because the network ignores them (RIFE reads
    only img0/img1): the contract's names and order hold, and feeding them stays harmless."""
    have = {vi.name: vi for vi in model.graph.input}
    if all(s.name in have for s in inputs):
        return
    ordered = []
    for spec in inputs:
        if spec.name in have:
            ordered.append(have[spec.name])
        else:
            dims = [("N", "H", "W")[a] if d is None else d for a, d in enumerate(spec.dims)]
            ordered.append(onnx.helper.make_tensor_value_info(spec.name, spec.elem_type, dims))
    del model.graph.input[:]
    model.graph.input.extend(ordered)


def export_module(module: torch.nn.Module, model_file: ModelFile, dst: Path | str, opset: int = DEFAULT_OPSET,
                  verify: bool = True) -> ExportReport:
    """Export one deploy module (nets.deploy: uint8 NHWC in, uint8 or float16 image out) to FP32 ONNX at `dst`."""
    dst = Path(dst)
    network = model_file.network
    module = module.eval()
    config = getattr(getattr(module, "net", None), "config", None)
    stride = int(getattr(config, "stride", STRIDE[network]))
    inputs, _ = contract(network)
    feeds = example_feeds(network, 1, 2 * stride, 2 * stride)
    out_name = contract(network)[1][0].name
    dyn = {s.name: {a: ("N", "H", "W")[a] for a, d in enumerate(s.dims) if d is None} for s in inputs}
    dyn[out_name] = {0: "N"} if network is Network.DITHER else {0: "N", 1: "H", 2: "W"}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of dynamo, which does not handle this graph yet
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.onnx.export(module, tuple(torch.from_numpy(v) for v in feeds.values()), buf, dynamo=False,
                          opset_version=opset, input_names=[s.name for s in inputs], output_names=[out_name],
                          dynamic_axes=dyn, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    _keep_contract_inputs(model, inputs)
    out_type = model.graph.output[0].type.tensor_type.elem_type
    output = OutputDtype.FP16 if out_type == onnx.TensorProto.FLOAT16 else OutputDtype.UINT8
    _declare_output_shapes(model, contract(network, output)[1])
    model.graph.name = model_file.stem
    model.producer_name = "trt-gif2video"
    set_metadata(model, stride=str(stride), network=network.value, variant=model_file.variant,
                 precision=Precision.FP32.value, output_dtype=output.value)
    check_model(model, Precision.FP32)
    err = float("nan")
    if verify:
        err = verify_fp32(module, model, network)
        # a float16 image output can differ by one FP16 step near 1.0 where the two sides round differently
        tolerance = FP32_TOLERANCE if output is OutputDtype.UINT8 else FP16_OUTPUT_TOLERANCE
        if not err <= tolerance:
            raise ModelError(f"{dst.name}: ONNX Runtime differs from torch by {err:.2e} (> {tolerance:g})")
    _atomic_save(model, dst)
    return ExportReport(dst, err)


def load_deploy(model_file: ModelFile, weights_dir: Path | str,
                output: OutputDtype = OutputDtype.UINT8) -> torch.nn.Module:
    """The deploy wrapper (nets.deploy) around one shipped safetensors file, checked against `model_file`."""
    from ..nets import deploy, store

    path = Path(weights_dir) / f"{model_file.stem}.safetensors"
    if not path.is_file():
        raise ModelError(f"{path}: weights not found (train them, or pass --weights DIR)")
    meta = store.read_metadata(path)
    if meta["network"] != model_file.network.value:
        raise ModelError(f"{path}: metadata says network {meta['network']!r}, need {model_file.network.value!r}")
    dtype = torch.uint8 if output is OutputDtype.UINT8 else torch.float16
    return deploy.wrap(store.load_network(path), dtype)


def export_all(weights_dir: Path | str, out_dir: Path | str, opset: int = DEFAULT_OPSET,
               models: tuple[ModelFile, ...] = MODELS, fp16: bool = True, output: OutputDtype = OutputDtype.UINT8,
               check_frames: int = 0, cache_dir: Path | str | None = None) -> list[ExportReport]:
    """Regenerate `<stem>.onnx` (and `<stem>.fp16.onnx`) in `out_dir` from the safetensors in `weights_dir`.

    Missing weights are an error: the shipped ONNX must match the shipped weights. With
    `check_frames`, each FP16 graph must pass its PSNR-drop gate on the corpus validation split.
    """
    out_dir = Path(out_dir)
    reports = []
    for mf in models:
        report = export_module(load_deploy(mf, weights_dir, output), mf, out_dir / mf.onnx_name(output=output), opset)
        if fp16:
            dst = out_dir / mf.onnx_name(Precision.FP16, output)
            drop = write_gated(report.path, dst, lambda trial: make_fp16(report.path, trial), check_frames, cache_dir)
            report = replace(report, fp16=dst, fp16_drop=drop)
        reports.append(report)
    return reports
