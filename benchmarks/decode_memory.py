"""GIF decoder: peak memory against frame count, and decode speed at 480x270.

Run: .venv/bin/python benchmarks/decode_memory.py

Measured 2026-11-24 on the shared 2-core dev box (load average ~10, so speeds are per
CPU-second; wall-clock frames/s were 2-3x lower while the box was that busy):
  memory (tracemalloc peak while streaming 64x64 frames, after a warm-up decode):
  200 frames 0.127 MB, 2,000 frames 0.105 MB (holding 2,000 RGB frames would take 24.6 MB)
  speed at 480x270, frames/s (pure-Python LZW before the Pillow fast path / now / Pillow's
  own decode to RGB): Pillow-written photo-like GIF 78 / 598 / 1107; worst case
  256-colour noise 23 / 328 / 810
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import gifcraft as gc  # noqa: E402

from trt_gif2video.io.gif_decode import open_gif  # noqa: E402


def many_frames(path: Path, count: int) -> Path:
    """`count` 64x64 frames (one encoded block repeated: quick to build)."""
    indices = np.repeat(np.arange(2, dtype=np.uint8), 32)[:, None].repeat(64, axis=1)
    palette = gc.pad_palette(np.random.default_rng(0).integers(0, 256, (16, 3)))
    block = gc.image_block(gc.Frame(indices, delay_cs=4), palette_bits=3)
    return gc.write(path, gc.make_gif(64, 64, [], global_palette=palette, trailer=False) + block * count + b";")


def peak_mb(path: Path) -> float:
    tracemalloc.start()
    with open_gif(path) as reader:
        for _ in reader:
            pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def photo_like(t: int, h: int = 270, w: int = 480) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 255, y / h * 255, 128 + 100 * np.sin((x + 8 * t) / 30)], axis=-1)
    img += np.random.default_rng(t).normal(0, 4, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def frames_per_second(path: Path) -> tuple[float, float]:
    """(ours, Pillow) frames per CPU-second, best of 3: CPU time, as the 2-core box is shared."""
    ours, pillow = [], []
    for _ in range(3):
        start = time.process_time()
        with open_gif(path) as reader:
            count = sum(1 for _ in reader)
        ours.append(count / (time.process_time() - start))
        start = time.process_time()
        with Image.open(path) as im:
            for i in range(im.n_frames):
                im.seek(i)
                im.convert("RGB")
        pillow.append(count / (time.process_time() - start))
    return max(ours), max(pillow)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        peak_mb(many_frames(tmp / "warm.gif", 2))  # one-time imports and caches: not per frame
        small, large = peak_mb(many_frames(tmp / "200.gif", 200)), peak_mb(many_frames(tmp / "2000.gif", 2000))
        print(f"memory: 200 frames {small:.3f} MB, 2000 frames {large:.3f} MB peak (ratio {large / small:.2f})")

        photo = tmp / "photo.gif"
        frames = [photo_like(t) for t in range(12)]
        frames[0].save(photo, save_all=True, append_images=frames[1:], duration=40, loop=0, optimize=True)
        ours, pillow = frames_per_second(photo)
        print(f"speed 480x270 photo-like (Pillow-written): {ours:.1f} frames/s (Pillow {pillow:.0f})")

        rng = np.random.default_rng(1)
        noise = [gc.Frame(rng.integers(0, 256, (270, 480), dtype=np.uint8)) for _ in range(6)]
        palette = rng.integers(0, 256, (256, 3)).astype(np.uint8)
        worst = gc.write(tmp / "noise.gif", gc.make_gif(480, 270, noise, global_palette=palette))
        ours, pillow = frames_per_second(worst)
        print(f"speed 480x270 256-colour noise (worst case): {ours:.1f} frames/s (Pillow {pillow:.0f})")


if __name__ == "__main__":
    main()
