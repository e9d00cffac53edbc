"""Sessions whose network runs on a Triton Inference Server (gRPC); decode and encode stay local.

The server holds a repository made by `trt-gif2video triton repo` (model names = the package's
model stems). Tensor specs and the stride come from the server's model metadata and config,
so the stages batch, pad and tile exactly as for a local session. The 1-D tensors (`t`,
`p_dither`) travel as [N, 1] (config.py's reshape) and are [N] on this side.
"""

from __future__ import annotations

import numpy as np

from ...config import Backend, Precision
from ...errors import BackendUnavailableError, BadArgumentError, ModelError
from ...models import Network, Variant, model_stem
from .base import Session, SessionOptions, ShapeLimits, TensorSpec

URL_KEY = "triton_url"  # SessionOptions.extra keys this backend reads
TIMEOUT_KEY = "triton_timeout_s"
DEFAULT_TIMEOUT_S = 120.0

_NUMPY = {"UINT8": np.uint8, "FP32": np.float32, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32}


def _message(exc: Exception) -> str:
    text = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
    return (str(text).strip().splitlines() or [type(exc).__name__])[0]


class TritonSession(Session):
    backend = Backend.TRITON

    def __init__(self, model: str, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        try:
            import tritonclient.grpc as grpcclient
            from tritonclient.utils import InferenceServerException
        except ImportError:
            raise BackendUnavailableError(
                "triton backend: tritonclient is not installed (pip install 'trt-gif2video[triton]')") from None
        self._grpc, self._error = grpcclient, InferenceServerException
        self.url, self.model, self.timeout_s = url, model, timeout_s
        self._client = grpcclient.InferenceServerClient(url)
        try:
            if not self._client.is_model_ready(model, client_timeout=10):
                raise ModelError(f"triton {url}: model '{model}' is not ready (is it in the served repository?)")
            meta = self._client.get_model_metadata(model, as_json=True, client_timeout=10)
            config = self._client.get_model_config(model, as_json=True, client_timeout=10)["config"]
        except self._error as exc:
            self.close()
            raise BackendUnavailableError(f"triton {url}: cannot reach the server or model '{model}' ({_message(exc)})") from None
        except ModelError:
            self.close()
            raise
        self._max_batch = int(config.get("max_batch_size", 0)) or None
        reshaped = {t["name"] for t in config.get("input", []) + config.get("output", []) if "reshape" in t}
        self._wire_rank2 = reshaped  # [N] here, [N, 1] on the wire

        def spec(t: dict) -> TensorSpec:
            if t["datatype"] not in _NUMPY:
                raise ModelError(f"triton {url}: model '{model}' tensor '{t['name']}' has unsupported type {t['datatype']}")
            dims = [int(d) for d in t["shape"]]
            if t["name"] in reshaped:
                dims = dims[:1]
            names = ["N", "H", "W"] if len(dims) == 4 else ["N"]
            shape = tuple(names[i] if d < 0 and i < len(names) else (None if d < 0 else d) for i, d in enumerate(dims))
            return TensorSpec(t["name"], np.dtype(_NUMPY[t["datatype"]]), shape)

        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        super().__init__(label=f"{model}@triton", inputs=tuple(spec(t) for t in meta["inputs"]),
                         outputs=tuple(spec(t) for t in meta["outputs"]), metadata=params)

    @property
    def description(self) -> str:
        return f"triton ({self.url})"

    @property
    def limits(self) -> ShapeLimits:
        return ShapeLimits(max_batch=self._max_batch)

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = []
        for spec in self.inputs:
            arr = feeds[spec.name]
            if spec.name in self._wire_rank2:
                arr = arr.reshape(-1, 1)
            wire = {np.dtype(v): k for k, v in _NUMPY.items()}[arr.dtype]
            item = self._grpc.InferInput(spec.name, list(arr.shape), wire)
            item.set_data_from_numpy(arr)
            inputs.append(item)
        outputs = [self._grpc.InferRequestedOutput(name) for name in self.output_names]
        try:
            result = self._client.infer(self.model, inputs, outputs=outputs, client_timeout=self.timeout_s)
        except self._error as exc:
            raise ModelError(f"triton {self.url}: model '{self.model}' failed ({_message(exc)})") from None
        out = {}
        for spec in self.outputs:
            value = result.as_numpy(spec.name)
            if value is None:
                raise ModelError(f"triton {self.url}: model '{self.model}' returned no '{spec.name}'")
            out[spec.name] = value.reshape(-1) if spec.name in self._wire_rank2 else value
        return out

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()  # an open gRPC channel makes the server's SIGTERM wait


def open_triton(network: Network, variant: Variant | None, precision: Precision, options: SessionOptions) -> TritonSession:
    url = options.extra.get(URL_KEY)
    if not url:
        raise BadArgumentError('restore: "--backend triton" needs "--triton-url HOST:PORT" (the server\'s gRPC port)')
    timeout = float(options.extra.get(TIMEOUT_KEY, DEFAULT_TIMEOUT_S))
    return TritonSession(model_stem(network, variant), url, timeout)
