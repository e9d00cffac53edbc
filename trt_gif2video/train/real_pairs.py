"""Training pairs made by real GIF encoders (ffmpeg, ImageMagick, gifski) from the TRAINING footage.

Beside the project's own synthesis (`patches.degrade`), the dequantizer sees frames exactly as
the encoders people use make them: random frames of the training pictures (the same crops and
downscales as `PatchPool`), each encoded at a colour count drawn from `COLORS`, decoded by our
decoder. Encodes are cached under the user cache (`eval.encoders`), so only the first run pays.

Build the cache ahead of a training run (it spawns the encoders; minutes on a small CPU):
    python -m trt_gif2video.train.real_pairs --variant nodither --per-source 3
A trainer then loads them with `load_real_frames(...)` (cache hits only) and mixes them into
its `PatchPool` (`real_fraction`).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from ..eval.encoders import ENCODERS, RealEncoder, encode_frames, missing_reason
from ..palette import pad_palette
from .patches import random_frame

COLORS = (16, 24, 32, 48, 64, 128, 256)  # log-spaced like patches.random_colors; 32 included


@dataclass(frozen=True)
class RealFrame:
    gif: np.ndarray  # HxWx3 uint8
    target: np.ndarray  # HxWx3 uint8, the clean frame
    palette: np.ndarray  # 256x3 uint8, padded
    dithered: bool
    encoder: str


def encoders_for(dithered: bool) -> tuple[RealEncoder, ...]:
    """The real encoders whose GIFs the given dequantizer variant is meant for."""
    return tuple(e for e in ENCODERS if e.dithered == dithered)


def real_frames(sources: list[np.ndarray], dithered: bool, per_source: int = 3, frame: int = 192,
                seed: int = 0, cache_dir=None, log=print) -> list[RealFrame]:
    """`per_source` random frames of every source through every available encoder of the variant.

    Deterministic in (sources, per_source, frame, seed): a rerun hits the cache. Encoders whose
    tool is missing are skipped (and said so through `log`).
    """
    rng = np.random.default_rng(seed)
    clean = [random_frame(s, frame, rng) for s in sources for _ in range(per_source)]
    colors = rng.choice(COLORS, size=len(clean))
    out: list[RealFrame] = []
    for enc in encoders_for(dithered):
        reason = missing_reason(enc.tool, cache_dir)
        if reason:
            log(f"real pairs: skipping {enc.name}: {reason}")
            continue
        t0 = time.monotonic()
        # One tool call per colour count (gifski picks its own palette size: one group).
        groups = [list(np.flatnonzero(colors == c)) for c in COLORS] if enc.fixed_colors else [list(range(len(clean)))]
        for idx in groups:
            if not idx:
                continue
            c = int(colors[idx[0]]) if enc.fixed_colors else 256
            for i, e in zip(idx, encode_frames([clean[i] for i in idx], enc, c, cache_dir)):
                out.append(RealFrame(e.gif, clean[i], pad_palette(e.palette), enc.dithered, enc.name))
        log(f"real pairs: {enc.name}: {len(clean)} frames in {time.monotonic() - t0:.0f} s")
    return out


def main(argv: list[str] | None = None) -> None:
    from .dequant import DataPaths
    from .patches import load_sources

    ap = argparse.ArgumentParser(description="Build the real-encoder training pairs cache.")
    ap.add_argument("--variant", choices=("nodither", "dither"), required=True)
    ap.add_argument("--per-source", type=int, default=3)
    ap.add_argument("--frame", type=int, default=192)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = DataPaths.from_corpus()
    sources = load_sources(list(data.train_photos), list(data.train_videos))
    frames = real_frames(sources, args.variant == "dither", args.per_source, args.frame, args.seed)
    print(f"{len(frames)} real-encoder training frames from {len(sources)} training pictures")


if __name__ == "__main__":
    main()
