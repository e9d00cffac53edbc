"""Restore throughput through a local Triton server (python flavour) with 1 and 2 concurrent
clients, beside local ONNX Runtime, on the same GIF. Each client is a `trt-gif2video restore`
process, as a user would run it; throughput = output frames of all clients / wall time.

    .venv/bin/python benchmarks/triton_throughput.py [GIF] [OUT_DIR]

Defaults: the bundled sample GIF, benchmarks/results/triton-<date>. Writes triton.json and
triton.md. The server runs on the same machine as the clients, so on a 2-core CPU the server's
ONNX Runtime and the clients' decode/encode share the cores (read the numbers that way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trt_gif2video.triton.config import Platform  # noqa: E402
from trt_gif2video.triton.repo import RepoRequest, write_repository  # noqa: E402
from trt_gif2video.triton.server import TritonServer, find_server, free_port  # noqa: E402


def run_clients(gif: Path, clients: int, extra: list[str], work: Path) -> tuple[float, int]:
    """Start `clients` restores at once; (wall seconds, output frames in all)."""
    cmds = [[sys.executable, "-m", "trt_gif2video", "restore", str(gif), "-o", str(work / f"c{i}-{time.monotonic_ns()}.mp4"), *extra]
            for i in range(clients)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    frames = 0
    for p, (out, err) in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"client failed: {err.strip()}")
        frames += int(out.split(": ", 1)[1].split(" frames", 1)[0])
    return wall, frames


def main() -> None:
    gif = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "trt_gif2video" / "samples" / "sample.gif"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "benchmarks" / "results" / f"triton-{time.strftime('%Y%m%d')}"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = work / "repo"
        write_repository(RepoRequest(out=repo, platform=Platform.PYTHON), notify=lambda m: None)
        for clients in (1, 2):
            wall, frames = run_clients(gif, clients, ["--backend", "onnxruntime"], work)
            rows.append({"where": "local onnxruntime", "clients": clients, "wall_s": wall, "frames": frames})
        grpc, http = free_port(), free_port()
        with TritonServer(repo, find_server(), grpc_port=grpc, http_port=http, log=work / "server.log"):
            run_clients(gif, 1, ["--triton-url", f"127.0.0.1:{grpc}"], work)  # warm-up: model load, first calls
            for clients in (1, 2):
                wall, frames = run_clients(gif, clients, ["--triton-url", f"127.0.0.1:{grpc}"], work)
                rows.append({"where": "triton python backend", "clients": clients, "wall_s": wall, "frames": frames})
    for r in rows:
        r["fps"] = r["frames"] / r["wall_s"]
    meta = {"command": "python benchmarks/triton_throughput.py " + " ".join(sys.argv[1:]), "gif": str(gif.name),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count()}
    (out / "triton.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# Restore throughput: local vs Triton ({gif.name})", "",
             f"Command: `{meta['command']}`; load average before {load_before[0]:.2f}, after {meta['loadavg_after'][0]:.2f}; "
             f"{meta['cpus']} CPUs; server and clients on the same machine.", "",
             "| where | clients | output frames | wall s | output fps |", "|---|---|---|---|---|"]
    lines += [f"| {r['where']} | {r['clients']} | {r['frames']} | {r['wall_s']:.1f} | {r['fps']:.2f} |" for r in rows]
    (out / "triton.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
