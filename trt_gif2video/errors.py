"""One exception family. Every message names the thing and says what is required.

The CLI turns any `Gif2VideoError` into a one-line message and a non-zero exit.
"""

from __future__ import annotations


class Gif2VideoError(Exception):
    """Base of every error this package raises on purpose."""


class GifDecodeError(Gif2VideoError):
    """A file is not a readable GIF (truncated, wrong format, no frames, too big)."""


class OutputError(Gif2VideoError):
    """An output cannot be written (unwritable path, unknown format, encoder failure)."""


class BadArgumentError(Gif2VideoError):
    """An argument or option is out of range or inconsistent."""


class DataError(Gif2VideoError):
    """The training/validation corpus is missing, incomplete or corrupt."""


class ModelError(Gif2VideoError):
    """A model file (safetensors, ONNX) is missing or does not match what is expected."""


class BackendUnavailableError(Gif2VideoError):
    """A requested backend (TensorRT, CUDA, torch) cannot be used on this machine."""


class EngineBuildError(Gif2VideoError):
    """TensorRT failed to parse or build a network."""


class EngineMismatchError(Gif2VideoError):
    """A serialized plan does not fit this GPU / TensorRT version / the requested shapes."""


class InferenceError(Gif2VideoError):
    """A backend failed while running a network (out of memory, a kernel error): wrapped into one line."""
