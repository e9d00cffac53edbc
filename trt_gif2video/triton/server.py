"""`trt-gif2video triton serve DIR`: find or prepare a tritonserver and run it on 127.0.0.1.

Where the server comes from, in order:
1. `TRT_GIF2VIDEO_TRITONSERVER` or a `tritonserver` on PATH (NVIDIA's container has it in
   /opt/tritonserver/bin, with every backend).
2. A server environment prepared in the user cache: the real `tritonserver` binary that
   the PyPI wheel `nvidia-pytriton` carries (python backend only), unpacked without
   installing it (it pins numpy<2), plus a small venv with numpy<2 and the same ONNX Runtime
   version as ours, which the python backend's stub runs (it takes the first `python` on PATH).
Anything else: print how to run NVIDIA's container on the repository.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendUnavailableError, BadArgumentError
from .repo import repository_platforms

PYTRITON = "nvidia-pytriton==0.7.0"  # tritonserver 2.51, python backend, stubs for Python 3.8-3.13
SERVER_ENV = "TRT_GIF2VIDEO_TRITONSERVER"
CONTAINER = "nvcr.io/nvidia/tritonserver:24.10-py3"  # the release that matches tritonserver 2.51


@dataclass(frozen=True)
class ServerInstall:
    binary: Path
    backends: Path | None  # --backend-directory (None: the binary's default)
    env: dict[str, str]  # extra environment (PATH for the python stub, LD_LIBRARY_PATH)
    platforms: frozenset[str]  # what it can serve

    def describe(self) -> str:
        return f"{self.binary} (serves {', '.join(sorted(self.platforms))})"


def container_hint(repo: Path) -> str:
    return (f"docker run --gpus all --rm -p 127.0.0.1:8000:8000 -p 127.0.0.1:8001:8001 -v {repo.resolve()}:/models "
            f"{CONTAINER} tritonserver --model-repository=/models")


def cache_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("trt-gif2video")) / "triton" / PYTRITON.replace("==", "-")


def _system_server() -> ServerInstall | None:
    found = os.environ.get(SERVER_ENV) or shutil.which("tritonserver")
    if not found:
        return None
    binary = Path(found)
    backends = binary.resolve().parent.parent / "backends"
    platforms = {"python"} if (backends / "python").is_dir() else set()
    if (backends / "onnxruntime").is_dir():
        platforms.add("onnxruntime_onnx")
    if (backends / "tensorrt").is_dir():
        platforms.add("tensorrt_plan")
    return ServerInstall(binary, backends if backends.is_dir() else None, {}, frozenset(platforms))


def _own_env() -> dict[str, str]:
    """This environment without what would point a Python at other packages: with the caller's
    PYTHONPATH (pytest sets one), pip found onnxruntime "already satisfied" in the caller's venv and
    left the stub's venv without it, and the stub would import the caller's numpy 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _imports_work(pyenv: Path) -> bool:
    """Whether the python backend's venv, on its own, imports what the generated model.py files import."""
    python = pyenv / "bin" / "python"
    return python.is_file() and subprocess.run([str(python), "-c", "import numpy, onnxruntime"],
                                               capture_output=True, env=_own_env()).returncode == 0


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, env=_own_env())
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendUnavailableError(f"triton serve: {what} failed ({last})")


def prepare_server(root: Path | None = None, notify=print) -> ServerInstall:
    """Unpack the tritonserver of the nvidia-pytriton wheel and make the python stub's venv (once)."""
    root = root or cache_root()
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    server, pyenv = root / "server", root / f"python{version}"
    stub = server / "pytriton" / "tritonserver" / "backends" / "python" / "triton_python_backend_stub"
    if not stub.is_file():
        notify(f"preparing a Triton server in {root} (downloads {PYTRITON} from PyPI, 55 MB; once)")
        wheels = root / "wheel"
        wheels.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), PYTRITON],
             f"downloading {PYTRITON}")
        wheel = next(wheels.glob("nvidia_pytriton-*.whl"))
        tmp = root / "server.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        dist = tmp / "pytriton" / "tritonserver"
        src_stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not src_stub.is_file():
            raise BackendUnavailableError(f"triton serve: {PYTRITON} has no python backend stub for Python {version}")
        shutil.copy(src_stub, dist / "backends" / "python" / "triton_python_backend_stub")
        for f in (dist / "bin" / "tritonserver", dist / "backends" / "python" / "triton_python_backend_stub"):
            f.chmod(0o755)
        shutil.rmtree(server, ignore_errors=True)
        tmp.rename(server)
        wheel.unlink()
    ready = pyenv / ".ready"  # written last: a half-made venv is made again
    if not ready.is_file() or not _imports_work(pyenv):
        import onnxruntime

        notify(f"preparing the python backend's environment in {pyenv} (numpy<2, onnxruntime {onnxruntime.__version__})")
        shutil.rmtree(pyenv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(pyenv)], "creating the python backend's venv")
        _run([str(pyenv / "bin" / "python"), "-m", "pip", "install", "-q", "numpy<2", f"onnxruntime=={onnxruntime.__version__}"],
             "installing numpy<2 and onnxruntime for the python backend")
        if not _imports_work(pyenv):  # pip can return 0 and still leave it out
            raise BackendUnavailableError(f"triton serve: {pyenv}: numpy or onnxruntime does not import after pip install")
        ready.write_text(PYTRITON + "\n")
    dist = server / "pytriton" / "tritonserver"
    libdirs = [str(server / "nvidia_pytriton.libs")]
    libpython = sysconfig.get_config_var("LIBDIR")  # a pyenv-built Python's libpython lives here
    if libpython:
        libdirs.append(libpython)
    env = {"PATH": f"{pyenv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "LD_LIBRARY_PATH": os.pathsep.join(libdirs + [p for p in [os.environ.get("LD_LIBRARY_PATH")] if p])}
    return ServerInstall(dist / "bin" / "tritonserver", dist / "backends", env, frozenset({"python"}))


def find_server(prepare: bool = True, notify=print) -> ServerInstall:
    system = _system_server()
    if system is not None:
        return system
    if not prepare:
        raise BackendUnavailableError("triton serve: no tritonserver found")
    return prepare_server(notify=notify)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TritonServer:
    """A running tritonserver bound to 127.0.0.1; a context manager that stops it (SIGTERM, then waits)."""

    def __init__(self, repo: Path, install: ServerInstall, grpc_port: int = 8001, http_port: int = 8000,
                 log: Path | None = None, exit_timeout_s: int = 5):
        self.repo, self.install = Path(repo), install
        self.grpc_port, self.http_port = grpc_port, http_port
        self.log = log
        self.exit_timeout_s = exit_timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        cmd = [str(self.install.binary), f"--model-repository={self.repo.resolve()}",
               "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
               "--http-address=127.0.0.1", f"--http-port={self.http_port}",
               "--allow-metrics=false", f"--exit-timeout-secs={self.exit_timeout_s}", "--log-verbose=0"]
        if self.install.backends is not None:
            cmd.append(f"--backend-directory={self.install.backends}")
        return cmd

    def start(self, timeout_s: float = 60.0) -> "TritonServer":
        platforms = repository_platforms(self.repo)
        missing = sorted({p for p in platforms.values() if p not in self.install.platforms})
        if missing:
            raise BackendUnavailableError(
                f"triton serve: {self.install.binary} cannot serve {', '.join(missing)} models of {self.repo}; "
                f"run NVIDIA's container instead: {container_hint(self.repo)}")
        env = {**_own_env(), **self.install.env}  # the python stub sees its own venv only
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.command(), env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if self.log:
                out.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self.proc = None
                raise BackendUnavailableError(f"triton serve: tritonserver exited while starting ({tail})")
            if self._ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise BackendUnavailableError(f"triton serve: tritonserver not ready after {timeout_s:.0f} s ({self._log_tail()})")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/v2/health/ready", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self) -> str:
        if not self.log or not self.log.is_file():
            return "no log"
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "empty log"

    def wait(self) -> int:
        return self.proc.wait() if self.proc else 0

    def stop(self) -> None:
        """SIGTERM, then wait for the server's own exit timeout (+ margin); SIGKILL as a last resort."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.exit_timeout_s + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "TritonServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def check_ports(*ports: int) -> None:
    for port in ports:
        if not 1 <= port <= 65535:
            raise BadArgumentError(f"triton serve: port {port} must be in 1..65535")
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise BadArgumentError(f"triton serve: port {port} on 127.0.0.1 is in use (pick another)") from None
