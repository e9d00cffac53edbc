"""Every TensorRT identifier our code touches exists in the real bindings.

TensorRT's libraries cannot be installed everywhere, but the compiled bindings
(`tensorrt.so`, from the `tensorrt-cuXX-bindings` wheels) carry each Python name
as a C string. The identifiers are collected statically (AST) from the modules
that talk to TensorRT and checked against the bindings of JetPack 6's 10.3, of
10.13 and of 11.4. Names present in only some versions may be used only in
engine/compat.py, behind `hasattr`.

Limits of the check: a name found proves the string exists in the module, not
on which class; the linker also shares string tails ("INT8" lives inside
"UINT8"), so a name that ends a longer identifier counts as present.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

from trt_gif2video.engine import compat

PKG = Path(__file__).resolve().parents[1] / "trt_gif2video"
COMPAT = PKG / "engine" / "compat.py"
TRT_MODULES = [COMPAT, PKG / "engine" / "build.py", PKG / "runtime" / "backends" / "tensorrt.py"]
WHEEL_CACHE = Path.home() / ".cache" / "trt-gif2video" / "trt-wheels"
WHEELS = {  # version -> pip requirement
    "10.3": "tensorrt-cu12-bindings==10.3.0",
    "10.13": "tensorrt-cu12-bindings==10.13.3.9",
    "11.4": "tensorrt-cu13-bindings==11.4.0.106",
}
LEAN = {"lean-11.4": "tensorrt-lean-cu13-bindings==11.4.0.106"}  # runs version-compatible plans
# Variables that hold TensorRT objects in those modules (as a bare name or `self.`/`slot.` field).
RECEIVERS = {"trt", "builder", "network", "config", "parser", "profile", "engine", "context", "runtime",
             "timing", "saved", "plan", "_engine", "_trt"}
OWNERS = {"self", "slot"}
IDENT_CHARS = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _chain(node: ast.AST) -> list[str]:
    """`a.b(x).c[0].d` -> ['a', 'b', 'c', 'd'] (through calls and subscripts)."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, (ast.Call, ast.Subscript)):
            node = node.func if isinstance(node, ast.Call) else node.value
        elif isinstance(node, ast.Name):
            names.append(node.id)
            return names[::-1]
        else:
            return []


def _trt_attrs(chain: list[str]) -> list[str]:
    if chain and chain[0] in RECEIVERS:
        return chain[1:]
    if len(chain) > 1 and chain[0] in OWNERS and chain[1] in RECEIVERS:
        return chain[2:]
    return []


def used_identifiers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):  # inner nodes of a chain only add its prefixes
            found.update(_trt_attrs(_chain(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr"):
            # feature detection by name: only compat.py may do it, and every name counts
            if path == COMPAT and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                found.add(node.args[1].value)
        elif isinstance(node, ast.ClassDef):
            # methods overriding a TensorRT interface (IProgressMonitor, ILogger...)
            if any(re.fullmatch(r"I[A-Z]\w+", (_chain(b) or [""])[-1]) for b in node.bases):
                found.update(f.name for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("__"))
    return {name for name in found if not name.startswith("__") or name == "__version__"}


def _wheel(requirement: str) -> Path:
    name, version = requirement.split("==")
    stem = name.replace("-", "_") + "-" + version
    cached = sorted(WHEEL_CACHE.glob(f"{stem}-cp*.whl"))
    if cached:
        return cached[0]
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "311",
           "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--dest", str(WHEEL_CACHE), requirement]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot download {requirement} (package registry unreachable?): {exc}")
    cached = sorted(WHEEL_CACHE.glob(f"{stem}-cp*.whl"))
    if not cached:
        pytest.skip(f"pip downloaded no cp311 manylinux x86_64 wheel for {requirement}")
    return cached[0]


@lru_cache(maxsize=None)
def _strings(version: str) -> tuple[frozenset[bytes], tuple[bytes, ...], str]:
    """(NUL-terminated strings of tensorrt.so, the same as a tuple, the package __init__.py)."""
    with zipfile.ZipFile(_wheel({**WHEELS, **LEAN}[version])) as wheel:
        so = next(n for n in wheel.namelist() if re.fullmatch(r"tensorrt\w*_bindings/tensorrt\w*\.so", n))
        init = next(n for n in wheel.namelist() if re.fullmatch(r"tensorrt\w*_bindings/__init__\.py", n))
        runs = re.findall(rb"[\x20-\x7e]{2,}(?=\0)", wheel.read(so))
        return frozenset(runs), tuple(runs), wheel.read(init).decode()


def present(version: str, name: str) -> bool:
    exact, runs, init = _strings(version)
    raw = name.encode()
    if raw in exact or re.search(rf"\b(def {name}\b|{name}\s*=)", init):
        return True
    # tail-merged string: the name ends a longer identifier
    return any(r.endswith(raw) and len(r) > len(raw) and r[-len(raw) - 1] in IDENT_CHARS for r in runs)


@pytest.fixture(scope="module", params=sorted(WHEELS))
def version(request) -> str:
    _strings(request.param)
    return request.param


def test_scanner_sees_the_calls_we_know_we_make():
    build = used_identifiers(PKG / "engine" / "build.py")
    runtime = used_identifiers(PKG / "runtime" / "backends" / "tensorrt.py")
    assert {"create_network", "OnnxParser", "set_memory_pool_limit", "build_serialized_network",
            "create_timing_cache", "set_shape", "phase_start", "step_complete"} <= build
    assert {"deserialize_cuda_engine", "num_io_tensors", "get_tensor_name", "get_tensor_mode", "set_input_shape",
            "set_tensor_address", "execute_async_v3", "get_tensor_profile_shape", "create_execution_context"} <= runtime
    assert {"STRONGLY_TYPED", "FP16", "INT8", "IProgressMonitor"} | RUNTIME_COMPAT_NAMES <= used_identifiers(COMPAT)


def test_the_string_check_has_teeth(version):
    # removed in TensorRT 10.0 and never used by us; invented names are absent
    assert not present(version, "execute_async_v2")
    assert not present(version, "build_engine_with_plan_v9")
    assert present(version, "execute_async_v3")


def test_fp16_flag_and_calibrator_are_gone_in_11():
    assert present("10.13", "FP16") and not present("11.4", "FP16")
    assert present("10.13", "int8_calibrator") and not present("11.4", "int8_calibrator")
    assert present("10.13", "EXPLICIT_BATCH") and not present("11.4", "EXPLICIT_BATCH")


@pytest.mark.parametrize("module", TRT_MODULES[1:], ids=lambda p: p.name)
def test_shared_code_uses_only_names_every_version_has(module, version):
    used = used_identifiers(module)
    assert not used & compat.VERSION_SPECIFIC, f"{module.name} must go through compat.py for these"
    missing = sorted(n for n in used if not present(version, n))
    assert not missing, f"{module.name} uses names absent from TensorRT {version}: {missing}"


# compat.py names that a session uses on the deserializing runtime and the engine: version-
# compatible plans need engine_host_code_allowed; the out-of-memory message reports
# device_memory_size_v2. Both must exist in the lean runtime too (it runs those plans).
RUNTIME_COMPAT_NAMES = {"engine_host_code_allowed", "device_memory_size_v2"}


def test_runtime_names_behind_compat_exist_in_every_runtime_we_support():
    runtimes = sorted(WHEELS) + sorted(LEAN)
    missing = sorted((v, n) for v in runtimes for n in RUNTIME_COMPAT_NAMES if not present(v, n))
    assert not missing, f"absent from these TensorRT runtimes: {missing}"
    assert RUNTIME_COMPAT_NAMES <= compat.VERSION_SPECIFIC  # absent from 8.5: only compat.py may touch them


def test_the_lean_runtime_has_everything_a_session_uses():
    used = used_identifiers(PKG / "runtime" / "backends" / "tensorrt.py")
    missing = sorted(n for n in used if not present("lean-11.4", n))
    assert not missing, f"tensorrt.py uses names the lean runtime lacks: {missing}"
    assert not present("lean-11.4", "build_serialized_network")  # the lean runtime really is builder-free


def test_compat_names_exist_somewhere_and_version_specific_ones_are_declared():
    used = used_identifiers(COMPAT)
    nowhere = sorted(n for n in used if not any(present(v, n) for v in WHEELS))
    assert not nowhere, f"compat.py uses names no TensorRT version has: {nowhere}"
    partial = {n for n in used if not all(present(v, n) for v in WHEELS)}
    assert partial <= compat.VERSION_SPECIFIC, f"declare in compat.VERSION_SPECIFIC: {sorted(partial - compat.VERSION_SPECIFIC)}"
