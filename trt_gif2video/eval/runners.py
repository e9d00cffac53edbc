"""The networks behind eval's `Runners` protocol, through the runtime's sessions."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Mapping

import numpy as np

from ..config import Backend, Precision
from ..errors import BadArgumentError
from ..models import Network, Variant, model_stem
from ..runtime.backends.base import Session, SessionOptions, open_session

STEMS = ("dequant_nodither", "dequant_dither", "dither_detector", "interp")


def _stem_key(network: Network, variant: Variant | None) -> str:
    return model_stem(network, variant)


class SessionRunners:
    """Opens the four model sessions once; `--model STEM=PATH` swaps in another ONNX file."""

    def __init__(self, backend: Backend = Backend.ONNXRUNTIME, precision: Precision = Precision.FP32,
                 overrides: Mapping[str, Path] | None = None, options: SessionOptions = SessionOptions()) -> None:
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(STEMS)
        if unknown:
            raise BadArgumentError(f"eval: --model names must be among {', '.join(STEMS)}; got {', '.join(sorted(unknown))}")
        self._stack = ExitStack()
        self.sessions: dict[str, Session] = {}
        self.files: dict[str, str] = {}
        for network, variant in ((Network.DEQUANT, Variant.NODITHER), (Network.DEQUANT, Variant.DITHER),
                                 (Network.DITHER, None), (Network.INTERP, None)):
            key = _stem_key(network, variant)
            if key in overrides:
                from ..runtime.backends.onnxruntime import OnnxRuntimeSession

                sess = OnnxRuntimeSession(Path(overrides[key]), options)
                self.files[key] = str(overrides[key])
            else:
                sess = open_session(network, backend, precision, variant=variant, options=options)
                self.files[key] = f"{sess.description} {precision.value}"
            self.sessions[key] = self._stack.enter_context(sess)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "SessionRunners":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def dequant(self, gif: np.ndarray, palette: np.ndarray, dithered: bool) -> np.ndarray:
        key = "dequant_dither" if dithered else "dequant_nodither"
        return self.sessions[key].infer({"gif": gif, "palette": palette})["restored"]

    def p_dither(self, gif: np.ndarray) -> np.ndarray:
        return self.sessions["dither_detector"].infer({"gif": gif})["p_dither"]

    def interp(self, gif0, gif1, img0, img1, t) -> np.ndarray:
        feeds = {"gif0": gif0, "gif1": gif1, "img0": img0, "img1": img1, "t": t.astype(np.float32)}
        return self.sessions["interp"].infer(feeds)["frame_t"]
