"""The chunked palette re-quantization returns exactly the indices of the old single-shot form.

The old form (kept here as the reference) built an [N,256,H*W] distance tensor and took its
ArgMin; `nets.blocks.nearest_index` scans the palette 32 entries at a time. Both must agree on
every pixel, ties included (lowest index wins; the padded palette repeats entry 0), on the
shipped sample GIF, on random images and on crafted ties. The exported graph must agree too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trt_gif2video.io.gif_decode import read_frames  # noqa: E402
from trt_gif2video.nets.blocks import PALETTE_CHUNK, nearest_index, requantize  # noqa: E402
from trt_gif2video.palette import pad_palette  # noqa: E402
from trt_gif2video.quantize import nearest_palette_index  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "trt_gif2video" / "samples" / "sample.gif"


def old_indices(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """The pre-chunking re-quantization's indices: full [N,256,HW] distances, then ArgMin."""
    n, c, h, w = x.shape
    xs = torch.round(x.clamp(0.0, 1.0) * 255.0).reshape(n, c, h * w)
    pal = torch.round(palette * 255.0)
    dist = (pal * pal).sum(-1, keepdim=True) - 2.0 * torch.bmm(pal, xs)
    return dist.argmin(dim=1, keepdim=True)


def _tensors(images: np.ndarray, palettes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return x, torch.from_numpy(palettes).float() / 255


def _assert_same(images: np.ndarray, palettes: np.ndarray) -> None:
    x, pal = _tensors(images, palettes)
    new, old = nearest_index(x, pal), old_indices(x, pal)
    assert new.dtype == torch.int64 and new.shape == old.shape
    mismatch = int((new != old).sum())
    assert mismatch == 0, f"{mismatch} of {new.numel()} pixels get another palette index"
    for i in range(len(images)):  # and both are the brute-force integer reference
        ref = nearest_palette_index(images[i], palettes[i]).reshape(-1)
        assert (new[i, 0].numpy() == ref).all()


def test_sample_gif_frames_same_indices_as_before():
    frames = read_frames(SAMPLE)[:6]
    assert frames, f"{SAMPLE} has no frames"
    images = np.stack([f.rgb for f in frames])
    palettes = np.stack([pad_palette(f.palette) for f in frames])
    _assert_same(images, palettes)
    # a smoothed estimate (what the network feeds the step) lands between palette colours
    blurred = ((images.astype(np.int32) + np.roll(images, 1, axis=2) + np.roll(images, 1, axis=1)) // 3)
    _assert_same(blurred.astype(np.uint8), palettes)


@pytest.mark.parametrize("n_colors", [1, 2, 31, 32, 33, 200, 256])
def test_random_images_same_indices_as_before(n_colors):
    rng = np.random.default_rng(n_colors)
    images = rng.integers(0, 256, size=(2, 40, 56, 3), dtype=np.uint8)
    palettes = np.stack([pad_palette(rng.integers(0, 256, size=(n_colors, 3), dtype=np.uint8)) for _ in range(2)])
    _assert_same(images, palettes)


def test_ties_across_and_inside_chunks_go_to_the_lowest_index():
    rng = np.random.default_rng(7)
    pal = rng.integers(0, 256, size=(256, 3), dtype=np.uint8)
    pal[[5, 40, 100, 255]] = pal[3]  # duplicates inside chunk 0 and in later chunks
    pal[70] = pal[64]  # a duplicate inside a later chunk
    images = rng.integers(0, 256, size=(1, 16, 16, 3), dtype=np.uint8)
    images[0, 0, :8] = pal[[3, 5, 40, 64, 70, 100, 255, 0]]  # pixels exactly on duplicated colours
    # equidistant pixels: the midpoint of two entries in different chunks (even sums, exact)
    pal[10], pal[200] = (10, 20, 30), (30, 40, 50)
    images[0, 1, 0] = (20, 30, 40)
    palettes = pal[None]
    _assert_same(images, palettes)
    x, p = _tensors(images, palettes)
    idx = nearest_index(x, p)[0, 0].numpy()
    assert list(idx[:7]) == [3, 3, 3, 64, 64, 3, 3]
    # the padded palette repeats entry 0: no padded index ever wins
    small = pad_palette(pal[:5])
    got = nearest_index(x, torch.from_numpy(small[None]).float() / 255)
    assert int(got.max()) < 5


def test_no_intermediate_larger_than_a_chunk_of_the_palette():
    """The largest tensor the step builds has 32 x N x H*W elements (the old one 256 x N x H*W)."""
    x = torch.rand(1, 3, 48, 64)
    pal = torch.rand(1, 256, 3)
    sizes = []
    orig_bmm = torch.bmm

    def bmm(a, b):
        out = orig_bmm(a, b)
        sizes.append(out.numel())
        return out

    torch.bmm = bmm
    try:
        requantize(x, pal)
    finally:
        torch.bmm = orig_bmm
    assert len(sizes) == 256 // PALETTE_CHUNK and max(sizes) == PALETTE_CHUNK * 48 * 64


def test_chunk_above_the_exactness_bound_is_refused():
    with pytest.raises(ValueError, match="chunk"):
        nearest_index(torch.rand(1, 3, 4, 4), torch.rand(1, 256, 3), chunk=64)


def _tf32(t: torch.Tensor) -> torch.Tensor:
    """Round float32 to TF32 (10 explicit mantissa bits, nearest-even), as a TF32 matmul reads its operands."""
    bits = t.contiguous().view(torch.int32)
    rounded = (bits + 0x0FFF + ((bits >> 13) & 1)) & ~0x1FFF
    return rounded.view(torch.float32)


def test_key_matmul_operands_are_exact_in_tf32():
    """TensorRT may run the FP32 key matmul in TF32: every operand must survive that rounding."""
    from trt_gif2video.nets.blocks import _MAX_D, _tf32_exact_parts

    rng = np.random.default_rng(3)
    pal = torch.from_numpy(rng.integers(0, 256, size=(2, 256, 3)).astype(np.float32))
    pal[0, :4] = torch.tensor([[255.0, 255.0, 255.0], [0.0, 0.0, 0.0], [255.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    local = (torch.arange(256) % PALETTE_CHUNK).float().reshape(1, 256, 1)
    bias = ((pal * pal).sum(-1, keepdim=True) + _MAX_D) * PALETTE_CHUNK + local
    parts = _tf32_exact_parts(bias)
    assert torch.equal(sum(parts), bias) and float(bias.max()) < 2**24
    for operand in (*parts, pal * (-2.0 * PALETTE_CHUNK), torch.arange(256.0)):
        assert torch.equal(_tf32(operand), operand)
    assert not torch.equal(_tf32(bias), bias)  # the bias itself would not survive: hence the parts
