"""The two `bench` modes besides the main run: `--stream` (bench/stream.py) and `--predict` (bench/predict.py).

Each writes `<mode>.md` and `<mode>.json` into `--out`, with the command that reproduces it.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..config import Backend, Precision
from ..runtime.backends.base import SessionOptions


def _write(out: Path, stem: str, md: str, data: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    path = out / f"{stem}.md"
    path.write_text(md)
    return path


def run_predict(targets: list[str], sizes, precisions: tuple[Precision, ...], models_dir: Path | None,
                eff_compute: float | None, eff_memory: float | None, out: Path) -> Path:
    from ..engine.recipe import available_targets, recipe_path
    from . import predict as pr

    names = available_targets() if "all" in targets else list(dict.fromkeys(targets))
    peaks = [pr.load_peaks(recipe_path(t)) for t in names]
    precisions = precisions or (Precision.FP32, Precision.FP16, Precision.INT8)
    eff_c = eff_compute or pr.COMPUTE_EFFICIENCY
    eff_m = eff_memory or pr.MEMORY_EFFICIENCY
    works = pr.network_work(sizes, models_dir)
    predictions = [p for board in peaks for p in pr.predict(board, works, precisions, eff_c, eff_m)]
    args = ["trt-gif2video", "bench", *[x for t in targets for x in ("--predict", t)],
            "--sizes", ",".join(s.label for s in sizes), *[x for p in precisions for x in ("--precision", p.value)]]
    if eff_compute:
        args += ["--efficiency", str(eff_compute)]
    if eff_memory:
        args += ["--memory-efficiency", str(eff_memory)]
    if models_dir:
        args += ["--models-dir", str(models_dir)]
    command = shlex.join(args)
    md = pr.markdown(predictions, works, peaks, eff_c, eff_m, command)
    data = {"command": command, "efficiency": {"compute": eff_c, "memory": eff_m, "basis": pr.EFFICIENCY_BASIS},
            "boards": [asdict(p) for p in peaks],
            "work": {s: {n: asdict(w) for n, w in nets.items()} for s, nets in works.items()},
            "predictions": [{**asdict(p), "gif_fps": p.gif_fps, "fps_x2": p.fps_x2} for p in predictions]}
    return _write(out, "predict", md, data)


def run_stream(sizes, frames: int, gif: Path | None, backends: tuple[Backend, ...], precisions: tuple[Precision, ...],
               threads: int, models_dir: Path | None, out: Path, notify: Callable[[str], None]) -> Path:
    from .run import environment, BenchConfig
    from .stages import synthetic_gif
    from .stream import markdown, play

    backends = backends or (Backend.AUTO,)
    precisions = precisions or (Precision.FP32,)
    options = SessionOptions(threads=threads, models_dir=models_dir)
    meta = environment(BenchConfig(sizes=sizes, threads=threads, models_dir=models_dir))
    args = ["trt-gif2video", "bench", "--stream", *[x for b in backends for x in ("--backend", b.value)],
            *[x for p in precisions for x in ("--precision", p.value)], "--threads", str(threads)]
    args += ["--stream-gif", str(gif)] if gif else ["--sizes", ",".join(s.label for s in sizes),
                                                     "--stream-frames", str(frames)]
    if models_dir:
        args += ["--models-dir", str(models_dir)]
    meta["command"] = shlex.join(args)
    results = []
    with tempfile.TemporaryDirectory(prefix="g2v-stream-") as tmp:
        gifs = [gif] if gif else [synthetic_gif(Path(tmp) / f"{s.label}.gif", s.width, s.height, frames) for s in sizes]
        for path in gifs:
            for backend in backends:
                for precision in precisions:
                    results.append(play(Path(path), backend, precision, session=options, notify=notify))
    meta["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return _write(out, "stream", markdown(results, meta), {"meta": meta, "results": [asdict(r) for r in results]})
