"""Save and load network weights as safetensors with their architecture in the metadata.

Metadata keys: "config" (the dataclass as JSON), "network" (dequant|dither|interp) and
"variant" (nodither|dither|none). Loading is strict: a missing or extra tensor is an error.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import ModelError
from .dequant import DequantConfig, Dequantizer
from .dither import DitherConfig, DitherDetector


def network_kind(net: nn.Module) -> str:
    if isinstance(net, Dequantizer):
        return "dequant"
    if isinstance(net, DitherDetector):
        return "dither"
    return "interp"


def save_network(net: nn.Module, path: Path, variant: str = "none", dtype: torch.dtype = torch.float16) -> Path:
    """Write weights (fp16 storage by default: half the size, far below the models' error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    meta = {"config": net.config.to_json(), "network": network_kind(net), "variant": variant}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.chmod(0o644)  # safetensors creates 0600 files; shipped package data must be world-readable
    tmp.replace(path)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    if not Path(path).is_file():
        raise ModelError(f"{path}: weights file not found (train it or point to an existing .safetensors)")
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if "config" not in meta or "network" not in meta:
        raise ModelError(f"{path}: safetensors metadata needs 'config' and 'network' keys")
    return meta


def build_network(kind: str, config_json: str) -> nn.Module:
    if kind == "dequant":
        return Dequantizer(DequantConfig.from_json(config_json))
    if kind == "dither":
        return DitherDetector(DitherConfig.from_json(config_json))
    if kind == "interp":
        from .interp import InterpConfig, Interpolator

        return Interpolator(InterpConfig.from_json(config_json))
    raise ModelError(f"weights: unknown network {kind!r}; need dequant, dither or interp")


def load_network(path: Path) -> nn.Module:
    """The float32 training module (eval mode) described by a weights file."""
    meta = read_metadata(path)
    net = build_network(meta["network"], meta["config"])
    with safe_open(str(path), framework="pt") as fh:
        state = {k: fh.get_tensor(k).float() for k in fh.keys()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not match its config ({str(exc).splitlines()[0]})") from exc
    return net.eval()
