"""The `trt-gif2video` command line: builds options, calls the API, nothing else.

Heavy modules (onnxruntime, av, torch, tensorrt) are imported inside the commands,
so `--help` is instant and works without torch or tensorrt installed.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from .errors import Gif2VideoError

app = typer.Typer(
    name="trt-gif2video",
    help="Restore animated GIFs to smooth, full-colour video (ONNX Runtime on CPU, TensorRT on NVIDIA GPUs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch and split the real training/validation corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def handles_errors(fn: Callable) -> Callable:
    """Turn our errors into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Gif2VideoError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def main() -> None:  # pragma: no cover - thin entry point
    app()


# --- commands: each helper module owns its command body ------------------------------------

# (commands are appended below by their owners; keep each one thin)
