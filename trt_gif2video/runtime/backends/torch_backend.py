"""torch sessions over the shipped safetensors (`nets.deploy` form): CPU or CUDA, FP16 autocast,
optional CUDA graphs. torch is imported when a session opens, never at module import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...config import Backend, Precision
from ...errors import BackendUnavailableError
from ...models import Network, Variant, require, safetensors_path
from .base import Session, SessionOptions, TensorSpec

_U8, _F32 = np.dtype(np.uint8), np.dtype(np.float32)
_IMAGE = ("N", "H", "W", 3)

# The deploy I/O of docs/CONTRACTS.md (ONNX and TensorRT read theirs from the model).
CONTRACT_IO: dict[Network, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]] = {
    Network.DEQUANT: (
        (TensorSpec("gif", _U8, _IMAGE), TensorSpec("palette", _U8, ("N", 256, 3))),
        (TensorSpec("restored", _U8, _IMAGE),),
    ),
    Network.INTERP: (
        tuple(TensorSpec(n, _U8, _IMAGE) for n in ("gif0", "gif1", "img0", "img1")) + (TensorSpec("t", _F32, ("N",)),),
        (TensorSpec("frame_t", _U8, _IMAGE),),
    ),
    Network.DITHER: ((TensorSpec("gif", _U8, _IMAGE),), (TensorSpec("p_dither", _F32, ("N",)),)),
}


def _import_torch():
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError(
            "torch backend: torch is not installed; install the 'train' extra or use --backend onnxruntime"
        ) from None
    return torch


class TorchSession(Session):
    backend = Backend.TORCH

    def __init__(self, network: Network, path: Path, precision: Precision, options: SessionOptions) -> None:
        torch = _import_torch()
        from ...nets.deploy import wrap
        from ...nets.store import load_network, read_metadata

        if precision is Precision.INT8:
            raise BackendUnavailableError("torch backend: int8 needs --backend tensorrt or onnxruntime (Q/DQ ONNX)")
        self._torch = torch
        self._device = torch.device(f"cuda:{options.device}" if torch.cuda.is_available() else "cpu")
        if precision is Precision.FP16 and self._device.type == "cpu":
            raise BackendUnavailableError("torch backend: fp16 needs a CUDA GPU; use --precision fp32 on CPU")
        self._module = wrap(load_network(path)).to(self._device)
        self._fp16 = precision is Precision.FP16
        self._graphs: dict | None = {} if options.cuda_graphs and self._device.type == "cuda" else None
        if options.threads and self._device.type == "cpu":
            torch.set_num_threads(options.threads)
        inputs, outputs = CONTRACT_IO[network]
        meta = read_metadata(path)
        super().__init__(path.name, inputs, outputs, {k: v for k, v in meta.items() if k != "config"})

    @property
    def description(self) -> str:
        extras = (", fp16 autocast" if self._fp16 else "") + (", CUDA graphs" if self._graphs is not None else "")
        return f"torch ({self._device}{extras})"

    def _forward(self, tensors: dict):
        torch = self._torch
        with torch.inference_mode(), torch.autocast(self._device.type, torch.float16, enabled=self._fp16):
            return self._module(*(tensors[n] for n in self.input_names))

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        if self._graphs is None:
            out = self._forward({k: torch.from_numpy(v).to(self._device) for k, v in feeds.items()})
        else:
            out = self._replay(feeds)
        # autocast may leave p_dither in float16; the contract says float32
        return {self.output_names[0]: out.cpu().numpy().astype(self.outputs[0].dtype, copy=False)}

    def _replay(self, feeds: dict[str, np.ndarray]):
        """Capture one CUDA graph per input shape (cheap launches for small frames), then replay."""
        torch = self._torch
        key = tuple((k, v.shape) for k, v in feeds.items())
        if key not in self._graphs:
            static = {k: torch.from_numpy(v).to(self._device) for k, v in feeds.items()}
            side = torch.cuda.Stream(self._device)
            side.wait_stream(torch.cuda.current_stream(self._device))
            with torch.cuda.stream(side):
                self._forward(static)  # warm-up allocates outside the graph, as capture requires
            torch.cuda.current_stream(self._device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                result = self._forward(static)
            self._graphs[key] = (graph, static, result)
        graph, static, result = self._graphs[key]
        for k, v in feeds.items():
            static[k].copy_(torch.from_numpy(v))
        graph.replay()
        return result.clone()

    def close(self) -> None:
        self._graphs = None if self._graphs is None else {}


def open_torch(network: Network, variant: Variant | None, precision: Precision, options: SessionOptions) -> TorchSession:
    _import_torch()  # a missing torch is the first thing to report
    path = require(safetensors_path(network, variant, root=options.models_dir))
    return TorchSession(network, path, precision, options)
