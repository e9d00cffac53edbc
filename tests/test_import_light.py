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
