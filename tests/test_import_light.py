"""The runtime never needs torch or tensorrt: import every runtime module and run the CLI's
--help in a fresh interpreter where both are blocked (a None entry in sys.modules makes
`import torch` raise ImportError, as on a machine without them)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Offline-path packages whose submodules may import torch (their __init__ must still be light).
TORCH_PACKAGES = ("trt_gif2video.nets.", "trt_gif2video.train.", "trt_gif2video.export.")

SCRIPT = textwrap.dedent(
    f"""
    import sys
    sys.modules["torch"] = None
    sys.modules["tensorrt"] = None
    sys.modules["tensorrt_lean"] = None
    import importlib, pkgutil
    import trt_gif2video
    checked, failed = [], []
    for info in pkgutil.walk_packages(trt_gif2video.__path__, "trt_gif2video."):
        if info.name.startswith({TORCH_PACKAGES!r}):
            continue
        try:
            importlib.import_module(info.name)
            checked.append(info.name)
        except ImportError as exc:
            failed.append(f"{{info.name}}: {{exc}}")
    print("CHECKED", len(checked))
    print("FAILED", failed)
    from trt_gif2video.cli import app
    for args in (["--help"], ["restore", "--help"]):
        try:
            app(args, prog_name="trt-gif2video")
        except SystemExit as exc:
            print("EXIT", exc.code)
    """
)


def test_runtime_imports_and_help_without_torch_or_tensorrt():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "FAILED []" in lines, out.stdout[-2000:]
    checked = int(next(ln for ln in lines if ln.startswith("CHECKED")).split()[1])
    assert checked >= 15  # the pipeline, stages, runtime backends, io, engine, cli ...
    assert lines.count("EXIT 0") == 2
    assert "Usage: trt-gif2video" in out.stdout and "--interp" in out.stdout


# The CLI starts without onnx (0.15 s of imports), and a restore on whole frames never imports it: the
# receptive-field radius is read only when a frame is tiled, and the INT8 file's record of its FP32
# source is read from the protobuf wire format (derived.onnx_metadata).
FP32_RESTORE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import trt_gif2video.cli
    print("AFTER_CLI", "onnx" in sys.modules)
    from trt_gif2video.config import Backend
    from trt_gif2video.pipeline import RestoreOptions, restore
    sample = Path(trt_gif2video.cli.__file__).parent / "samples" / "sample.gif"
    from trt_gif2video.config import Precision
    for precision in (Precision.FP32, Precision.INT8):
        restore(sample, Path(sys.argv[1]), RestoreOptions(backend=Backend.ONNXRUNTIME, interp=1, precision=precision))
        print("AFTER_RESTORE", precision.value, "onnx" in sys.modules)
    """
)


def test_cli_and_whole_frame_restores_do_not_import_onnx(tmp_path):
    out = subprocess.run([sys.executable, "-c", FP32_RESTORE, str(tmp_path / "out.mp4")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "AFTER_CLI False" in out.stdout, out.stdout
    assert "AFTER_RESTORE fp32 False" in out.stdout and "AFTER_RESTORE int8 False" in out.stdout, out.stdout
    assert (tmp_path / "out.mp4").stat().st_size > 0


def test_triton_dtype_keys_are_onnx_element_types():
    from onnx import TensorProto

    from trt_gif2video.triton.config import TRITON_DTYPES

    assert TRITON_DTYPES == {TensorProto.UINT8: "TYPE_UINT8", TensorProto.FLOAT: "TYPE_FP32",
                             TensorProto.FLOAT16: "TYPE_FP16"}
