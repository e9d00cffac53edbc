"""GIF decoding: crafted files per feature, checked pixel for pixel against ImageMagick
and Pillow; bad inputs; constant memory.

Where references differ from browsers (our target), the comparison says so:
- Transparent pixels and disposal=background: browsers and ImageMagick `-coalesce` make them
  transparent, and so do we (`GifFrame.alpha`): our alpha must equal ImageMagick's; under
  alpha 0 our RGB is the background colour (module docstring).
- Screen area the first frame does not cover: browsers show it transparent, and so do we;
  ImageMagick 6 paints it with the opaque background colour when the first frame has no
  transparent index. Those cases compare colour only, and browsers' rule is tested apart.
- Pillow paints screen area that no frame has covered yet with palette entry 0, not the
  background colour: those cases are compared with Pillow with background index 0.
- Pillow does not undo a first frame with disposal=previous; browsers and ImageMagick
  restore the empty screen. Pillow is compared on the frames before that.
- Pillow enlarges the screen for frames reaching past it; browsers and ImageMagick clip.
- Disposal 4: Chromium, Firefox and Pillow treat it as 3 (previous); ImageMagick as none.
- Early end-of-information: browsers show what was decoded; ImageMagick and Pillow
  refuse the file. We follow browsers.
"""

from __future__ import annotations

import io
import shutil
import sys
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import gifcraft as gc
from trt_gif2video.config import Limits
from trt_gif2video.errors import GifDecodeError
from trt_gif2video.io import gif_decode
from trt_gif2video.io.gif_decode import lzw_decode, open_gif, pillow_lzw_decode, probe_gif, read_frames


def _has_imagemagick() -> bool:
    if shutil.which("convert") is None:
        return False
    out = subprocess.run(["convert", "-version"], capture_output=True, text=True)
    return "ImageMagick" in out.stdout


needs_im = pytest.mark.skipif(not _has_imagemagick(), reason="`convert` is not ImageMagick (or missing)")
RNG_SEED = 1234


def _palette(n: int, seed: int = 0) -> np.ndarray:
    """n distinct colours (distinct so a wrong index can never look right)."""
    rng = np.random.default_rng(seed)
    pal = rng.choice(256**3, size=n, replace=False)
    return np.stack([pal >> 16, (pal >> 8) & 255, pal & 255], axis=1).astype(np.uint8)


def _noise(h: int, w: int, colours: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, colours, (h, w), dtype=np.uint8)


def _imagemagick_frames(path: Path, tmp: Path) -> list[np.ndarray]:
    out = tmp / "im"
    out.mkdir(exist_ok=True)
    subprocess.run(["convert", str(path), "-coalesce", str(out / "f_%d.png")], check=True)
    files = sorted(out.glob("f_*.png"), key=lambda p: int(p.stem[2:]))
    return [np.asarray(Image.open(f).convert("RGBA")) for f in files]


def _pillow_frames(path: Path) -> list[np.ndarray]:
    frames = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGBA")))
    return frames


def _assert_same(ours, ref_rgba: list[np.ndarray], bg: np.ndarray, who: str, alpha: bool = False) -> None:
    """Opaque reference pixels must match ours exactly; transparent ones must be our background.
    alpha: our alpha must equal the reference's too (ImageMagick -coalesce: browsers' alpha)."""
    assert len(ours) == len(ref_rgba), f"{who}: {len(ref_rgba)} frames, we decoded {len(ours)}"
    for frame, ref in zip(ours, ref_rgba):
        assert frame.rgb.shape == ref.shape[:2] + (3,)
        if alpha:
            ours_alpha = np.full(ref.shape[:2], 255, np.uint8) if frame.alpha is None else frame.alpha
            wrong = ours_alpha != ref[..., 3]
            assert not wrong.any(), f"{who}: frame {frame.index} alpha differs at {np.argwhere(wrong)[:3].tolist()}"
            assert frame.alpha is None or not frame.alpha.all(), "a fully opaque frame must have alpha None"
        opaque = ref[..., 3] == 255
        diff = np.any(frame.rgb != ref[..., :3], axis=-1) & opaque
        assert not diff.any(), f"{who}: frame {frame.index} differs at {np.argwhere(diff)[:3].tolist()}"
        assert np.all(frame.rgb[~opaque] == bg), f"{who}: frame {frame.index} transparent pixels are not background"


# --- crafted cases: (width, height, frames, make_gif kwargs) ------------------------------

PAL16 = gc.pad_palette(_palette(16, 1))
PAL4 = gc.pad_palette(_palette(4, 2))
PAL8B = gc.pad_palette(_palette(8, 3))


def case_global_palette():
    frames = [gc.Frame(_noise(20, 30, 16, s)) for s in range(3)]
    return 30, 20, frames, dict(global_palette=PAL16)


def case_local_palettes():
    frames = [
        gc.Frame(_noise(20, 30, 4, 10), palette=PAL4),
        gc.Frame(_noise(20, 30, 8, 11), palette=PAL8B),
        gc.Frame(_noise(20, 30, 16, 12)),  # back to the global table
    ]
    return 30, 20, frames, dict(global_palette=PAL16)


def case_local_only():
    frames = [gc.Frame(_noise(9, 7, 4, 13), palette=PAL4), gc.Frame(_noise(9, 7, 8, 14), palette=PAL8B)]
    return 7, 9, frames, {}


def case_transparency():
    first = _noise(16, 16, 4, 20)  # index 3 transparent: shows the background (index 5)
    second = _noise(16, 16, 16, 21)  # index 0 transparent: first frame shows through
    frames = [gc.Frame(first, transparent=3), gc.Frame(second, transparent=0)]
    return 16, 16, frames, dict(global_palette=PAL16, background=5)


def case_sticker():
    # A shape moving on a transparent canvas, each frame disposed to background (transparent).
    frames = []
    for k in range(3):
        idx = np.full((10, 14), 3, np.uint8)  # 3 = transparent
        idx[2 + k : 6 + k, 3 + 2 * k : 8 + 2 * k] = 1
        frames.append(gc.Frame(idx, transparent=3, disposal=gc.DISPOSE_BACKGROUND))
    frames.append(gc.Frame(np.full((3, 3), 2, np.uint8), left=5, top=4))  # after a clear: small opaque patch
    return 14, 10, frames, dict(global_palette=PAL4, background=0)


def case_previous_restores_alpha():
    # Holes in the first frame; a patch over a hole disposed to previous must bring the hole back.
    first = _noise(12, 12, 16, 130)
    first[4:8, 4:8] = 5
    frames = [
        gc.Frame(first, transparent=5),
        gc.Frame(_noise(6, 6, 16, 131), left=3, top=3, disposal=gc.DISPOSE_PREVIOUS),
        gc.Frame(_noise(2, 2, 16, 132), left=0, top=0, transparent=0),
    ]
    return 12, 12, frames, dict(global_palette=PAL16, background=9)


def case_disposal_none():
    frames = [
        gc.Frame(_noise(12, 12, 16, 30), disposal=gc.DISPOSE_NONE),
        gc.Frame(_noise(4, 5, 16, 31), left=3, top=2, disposal=gc.DISPOSE_UNSPECIFIED),
        gc.Frame(_noise(3, 3, 16, 32), left=8, top=8, disposal=gc.DISPOSE_NONE),
    ]
    return 12, 12, frames, dict(global_palette=PAL16)


def case_disposal_background():
    frames = [
        gc.Frame(_noise(12, 12, 16, 40)),
        gc.Frame(_noise(5, 6, 16, 41), left=2, top=3, disposal=gc.DISPOSE_BACKGROUND),
        gc.Frame(_noise(2, 2, 16, 42), left=10, top=10),
    ]
    return 12, 12, frames, dict(global_palette=PAL16, background=7)


def case_disposal_previous():
    frames = [
        gc.Frame(_noise(12, 12, 16, 50)),
        gc.Frame(_noise(5, 6, 16, 51), left=2, top=3, disposal=gc.DISPOSE_PREVIOUS),
        gc.Frame(_noise(4, 4, 16, 52), left=6, top=6, disposal=gc.DISPOSE_PREVIOUS, transparent=2),
        gc.Frame(_noise(2, 2, 16, 53), left=0, top=0),
    ]
    return 12, 12, frames, dict(global_palette=PAL16)


def case_disposal_previous_first():
    frames = [
        gc.Frame(_noise(6, 6, 16, 60), left=3, top=3, disposal=gc.DISPOSE_PREVIOUS),
        gc.Frame(_noise(3, 3, 16, 61), left=0, top=0),
    ]
    return 12, 12, frames, dict(global_palette=PAL16, background=1)


def case_sub_rectangles():
    frames = [
        gc.Frame(_noise(5, 7, 16, 70), left=4, top=6),  # first frame does not cover the screen
        gc.Frame(_noise(3, 20, 16, 71), left=0, top=17),
        gc.Frame(_noise(20, 1, 16, 72), left=19, top=0),
    ]
    return 20, 20, frames, dict(global_palette=PAL16, background=2)


def case_interlaced():
    # 21 rows exercise all four passes; the 3-row frame has an empty first-pass tail.
    frames = [
        gc.Frame(_noise(21, 9, 16, 80), interlace=True),
        gc.Frame(_noise(3, 4, 16, 81), left=2, top=5, interlace=True),
        gc.Frame(_noise(1, 9, 16, 82), top=20, interlace=True),
    ]
    return 9, 21, frames, dict(global_palette=PAL16)


def case_tiny_palette():
    # Two-entry table (size field 0) and the smallest legal code size, with one colour used.
    one = np.zeros((8, 8), np.uint8)
    frames = [gc.Frame(one, min_code_size=2), gc.Frame(_noise(8, 8, 2, 90), min_code_size=2)]
    return 8, 8, frames, dict(global_palette=gc.pad_palette([(200, 10, 30)]))


def case_deferred_clear():
    # 256-colour noise fills the 4096-entry table; the encoder keeps going without a clear.
    frames = [gc.Frame(_noise(96, 96, 256, 100), deferred_clear=True)]
    return 96, 96, frames, dict(global_palette=_palette(256, 4))


def case_big_code_size():
    # An 8-bit code size with a 4-colour table is legal (and common from some encoders).
    frames = [gc.Frame(_noise(10, 10, 4, 110), min_code_size=8)]
    return 10, 10, frames, dict(global_palette=PAL4)


def case_extensions_skipped():
    extras = gc.comment(b"made by gifcraft" * 30) + gc.plain_text(b"hi")
    extras += b"\x21\xff\x0bXMP DataXMP" + gc.sub_blocks(b"<x/>" * 100)
    frames = [gc.Frame(_noise(6, 6, 16, 120)), gc.Frame(_noise(6, 6, 16, 121))]
    return 6, 6, frames, dict(global_palette=PAL16, extras=extras, loop=2)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


PILLOW_FILLS_WITH_INDEX0 = {"disposal_previous_first", "sub_rectangles"}
IMAGEMAGICK_FILLS_OPAQUE = {"disposal_previous_first", "sub_rectangles"}  # see the module docstring
PILLOW_AGREES_FOR_FRAMES = {"disposal_previous_first": 1}


def _write_case(name: str, tmp_path: Path, **override) -> Path:
    width, height, frames, kwargs = CASES[name]()
    return gc.write(tmp_path / f"{name}.gif", gc.make_gif(width, height, frames, **{**kwargs, **override}))


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_matches_pillow(name, tmp_path):
    override = {"background": 0} if name in PILLOW_FILLS_WITH_INDEX0 else {}
    path = _write_case(name, tmp_path, **override)
    with open_gif(path) as reader:
        frames, bg = list(reader), reader.background
    upto = PILLOW_AGREES_FOR_FRAMES.get(name, len(frames))
    _assert_same(frames[:upto], _pillow_frames(path)[:upto], bg, "Pillow")


@needs_im
@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_matches_imagemagick(name, tmp_path):
    path = _write_case(name, tmp_path)
    with open_gif(path) as reader:
        frames, bg = list(reader), reader.background
    _assert_same(frames, _imagemagick_frames(path, tmp_path), bg, "ImageMagick", alpha=name not in IMAGEMAGICK_FILLS_OPAQUE)


def test_uncovered_screen_is_transparent_like_browsers(tmp_path):
    # sub_rectangles: a 5x7 first frame at (4, 6) on a 20x20 screen; disposal_previous_first:
    # the first frame is disposed back to the empty (transparent) screen.
    frames = read_frames(_write_case("sub_rectangles", tmp_path))
    want = np.zeros((20, 20), np.uint8)
    want[6:11, 4:11] = 255
    assert np.array_equal(frames[0].alpha, want)
    want[17:20, :] = 255
    assert np.array_equal(frames[1].alpha, want)
    frames = read_frames(_write_case("disposal_previous_first", tmp_path))
    want = np.zeros((12, 12), np.uint8)
    want[3:9, 3:9] = 255
    assert np.array_equal(frames[0].alpha, want)
    want[:] = 0
    want[:3, :3] = 255
    assert np.array_equal(frames[1].alpha, want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_probe_transparency_agrees_with_decoding(name, tmp_path):
    path = _write_case(name, tmp_path)
    assert gif_decode.probe_transparency(path) == any(f.alpha is not None for f in read_frames(path))


def test_opaque_gif_with_transparent_index_has_no_alpha(tmp_path):
    # ffmpeg-style frame differencing: later frames mark unchanged pixels transparent.
    first = _noise(8, 8, 15, 1)
    second = first.copy()
    second[2:4, 2:4] = 15 - 1
    second[first == second] = 15  # unchanged -> transparent index 15
    path = _gif(tmp_path, 8, 8, [gc.Frame(first), gc.Frame(second, transparent=15)], global_palette=PAL16)
    assert all(f.alpha is None for f in read_frames(path))
    assert not gif_decode.probe_transparency(path)


# --- real-ish GIFs written by Pillow (frame-difference cropping, its own LZW) --------------


def _photo_like(h: int, w: int, t: int) -> np.ndarray:
    """A smooth gradient with a moving blob and mild noise: what video-made GIFs look like."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], axis=-1)
    blob = np.exp(-(((x - 10 - 4 * t) ** 2 + (y - h / 2) ** 2) / 60.0))[..., None]
    img = img * (1 - blob) + blob * np.array([250, 40, 40], np.float32)
    img += np.random.default_rng(t).normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "options",
    [
        dict(optimize=True, disposal=1),
        dict(optimize=True, disposal=2),
        dict(optimize=False, disposal=0, interlace=True),
        dict(optimize=True, disposal=1, transparency=0),
    ],
    ids=["keep", "background", "interlaced", "transparency"],
)
def test_pillow_written_gifs(options, tmp_path):
    images = [Image.fromarray(_photo_like(40, 56, t)) for t in range(5)]
    if "transparency" in options:  # a shared palette, so index 0 means the same everywhere
        images = [im.quantize(64, palette=images[0].quantize(64)) for im in images]
    path = tmp_path / "pillow.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=[40, 0, 10, 70, 20], loop=0, **options)
    with open_gif(path) as reader:
        frames, bg = list(reader), reader.background
    assert reader.info.loop == 0
    _assert_same(frames, _pillow_frames(path), bg, "Pillow")
    if _has_imagemagick():
        _assert_same(frames, _imagemagick_frames(path, tmp_path), bg, "ImageMagick", alpha=True)


# --- behaviour where viewers differ: checked against what browsers do ---------------------


def _gif(tmp_path: Path, width: int, height: int, frames, name: str = "t.gif", **kwargs) -> Path:
    return gc.write(tmp_path / name, gc.make_gif(width, height, frames, **kwargs))


def test_early_end_code_leaves_the_rest_untouched(tmp_path):
    first, second = _noise(8, 8, 16, 1), _noise(8, 8, 16, 2)
    path = _gif(tmp_path, 8, 8, [gc.Frame(first), gc.Frame(second, stop_after=20)], global_palette=PAL16)
    frames = read_frames(path)
    expected = PAL16[first].reshape(64, 3).copy()
    expected[:20] = PAL16[second].reshape(64, 3)[:20]
    assert np.array_equal(frames[1].rgb.reshape(64, 3), expected)


def test_disposal_4_restores_previous_like_browsers(tmp_path):
    frames = [gc.Frame(_noise(8, 8, 16, 1)), gc.Frame(_noise(4, 4, 16, 2), disposal=4), gc.Frame(_noise(2, 2, 16, 3))]
    as3 = [frames[0], gc.Frame(frames[1].indices, disposal=gc.DISPOSE_PREVIOUS), frames[2]]
    got = read_frames(_gif(tmp_path, 8, 8, frames, "d4.gif", global_palette=PAL16))
    want = read_frames(_gif(tmp_path, 8, 8, as3, "d3.gif", global_palette=PAL16))
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(got, want))
    assert not np.array_equal(got[2].rgb[2:4, 2:4], got[1].rgb[2:4, 2:4])  # restored, not kept


def test_frame_past_the_screen_is_clipped(tmp_path):
    first, second = _noise(8, 8, 16, 1), _noise(5, 5, 16, 2)
    frames = read_frames(_gif(tmp_path, 8, 8, [gc.Frame(first), gc.Frame(second, left=5, top=5)], global_palette=PAL16))
    assert frames[1].rgb.shape == (8, 8, 3)
    assert np.array_equal(frames[1].rgb[5:, 5:], PAL16[second[:3, :3]])
    assert np.array_equal(frames[1].rgb[:5], PAL16[first[:5]])


def test_index_beyond_palette_is_black(tmp_path):
    idx = np.array([[0, 1, 6, 7]], np.uint8)  # a 4-entry table, indices 6 and 7 do not exist
    path = _gif(tmp_path, 4, 1, [gc.Frame(idx, palette=PAL4, min_code_size=3)])
    rgb = read_frames(path)[0].rgb
    assert np.array_equal(rgb[0, :2], PAL4[:2]) and not rgb[0, 2:].any()


# --- frame metadata -----------------------------------------------------------------------


def test_delays_timestamps_palette_and_loop(tmp_path):
    delays = [0, 1, 2, 7, 10]
    frames = [gc.Frame(_noise(4, 4, 16, i), delay_cs=d) for i, d in enumerate(delays)]
    frames[2] = gc.Frame(_noise(4, 4, 8, 2), delay_cs=2, palette=PAL16[:8].copy())
    path = _gif(tmp_path, 4, 4, frames, global_palette=PAL16, loop=3)
    decoded = read_frames(path)
    assert [f.delay_cs for f in decoded] == delays
    assert [f.delay_ms for f in decoded] == [100, 100, 20, 70, 100]
    assert [f.timestamp_ms for f in decoded] == [0, 100, 200, 220, 290]
    assert [f.index for f in decoded] == list(range(5))
    assert decoded[0].palette.shape == (16, 3) and decoded[2].palette.shape == (8, 3)
    info, count, durations = probe_gif(path)
    assert (info.width, info.height, info.loop, count) == (4, 4, 3, 5)
    assert durations == [100, 100, 20, 70, 100]
    assert np.array_equal(info.global_palette, PAL16)


@pytest.mark.parametrize("loop", [None, 0, 5])
def test_loop_count(loop, tmp_path):
    path = _gif(tmp_path, 2, 2, [gc.Frame(np.zeros((2, 2), np.uint8))], global_palette=PAL4, loop=loop)
    with open_gif(path) as reader:
        assert reader.info.loop == loop


def test_reader_is_lazy_and_frames_are_independent(tmp_path):
    bad_lzw = b"\x2c" + bytes(4) + b"\x04\x00\x04\x00\x00" + b"\x02" + gc.sub_blocks(b"\x3c\xff")
    good = gc.make_gif(4, 4, [gc.Frame(_noise(4, 4, 4, 1)), gc.Frame(_noise(4, 4, 4, 2))], global_palette=PAL4)
    path = gc.write(tmp_path / "lazy.gif", good[:-1] + bad_lzw + b"\x3b")
    with open_gif(path) as reader:
        it = iter(reader)
        first, second = next(it), next(it)
        first.rgb[:] = 0
        assert second.rgb.any()
        with pytest.raises(GifDecodeError, match="invalid LZW code"):
            next(it)
        again = next(iter(reader))  # iterating again starts over
    assert np.array_equal(again.rgb, PAL4[_noise(4, 4, 4, 1)])


def test_lzw_round_trip_with_table_growth():
    data = np.repeat(_noise(64, 16, 256, 7), 8, axis=1).tobytes()  # runs + noise: every code width
    for deferred in (False, True):
        assert lzw_decode(gc.lzw_encode(data, 8, deferred_clear=deferred), 8, len(data)) == data
    assert lzw_decode(gc.lzw_encode(data, 8), 8, 100) == data[:100]  # extra data ignored


# --- fast path (Pillow's C LZW decoder) against the pure-Python reference -----------------


def _content(kind: str, h: int, w: int, colours: int, rng) -> np.ndarray:
    if kind == "noise":
        return rng.integers(0, colours, (h, w), dtype=np.uint8)
    if kind == "gradient":
        y, x = np.mgrid[0:h, 0:w]
        return ((x * 3 + y * 5) * colours // (3 * w + 5 * h)).astype(np.uint8)
    runs = rng.integers(0, colours, (h, max(1, w // 7) + 1), dtype=np.uint8)
    return np.repeat(runs, 7, axis=1)[:, :w].copy()


def _random_streams(count: int):
    """(id, data, min code size, width, height, clean): random LZW streams; `clean` ones
    are whole, complete and large enough that their codes outgrow the padding bits."""
    rng = np.random.default_rng(RNG_SEED)
    for i in range(count):
        colours = int(rng.choice([2, 3, 4, 7, 16, 50, 129, 256]))
        min_code_size = int(rng.integers(max(2, (colours - 1).bit_length()), 9))
        w, h = int(rng.integers(1, 90)), int(rng.integers(1, 70))
        kind = str(rng.choice(["noise", "gradient", "runs"]))
        pixels = _content(kind, h, w, colours, rng).tobytes()
        deferred = bool(rng.integers(0, 2))
        damage = str(rng.choice(["none", "none", "early_end", "truncated", "extra"]))
        stop = int(rng.integers(0, w * h)) if damage == "early_end" else None
        stream = pixels + (pixels if damage == "extra" else b"")  # "extra": data after the last pixel
        data = gc.lzw_encode(stream, min_code_size, deferred_clear=deferred, stop_after=stop)
        if damage == "truncated":
            data = data[: int(rng.integers(0, len(data)))]
        clean = damage in ("none", "extra") and w * h >= 1024
        name = f"{i}-{kind}-{colours}c-m{min_code_size}-{w}x{h}-{damage}{'-deferred' if deferred else ''}"
        yield name, data, min_code_size, w, h, clean


@pytest.mark.parametrize("stream", list(_random_streams(80)), ids=lambda s: s[0])
def test_fast_path_matches_reference(stream):
    _, data, min_code_size, w, h, clean = stream
    reference = lzw_decode(data, min_code_size, w * h)
    fast = pillow_lzw_decode(data, min_code_size, w, h)
    if fast is not None:
        assert fast.tobytes() == reference  # trusted only for whole frames
    if clean:
        assert fast is not None, "a whole, well-formed frame must take the fast path"
    assert gif_decode._frame_indices(_image(data, min_code_size, w, h), "x.gif").tobytes() == reference


def _image(data: bytes, min_code_size: int, w: int, h: int, cut_short: bool = False) -> gif_decode._Image:
    return gif_decode._Image(0, 0, w, h, False, None, min_code_size, data, cut_short)


@pytest.mark.parametrize("min_code_size", range(2, 9))
@pytest.mark.parametrize("deferred", [False, True], ids=["clear-at-4096", "deferred-clear"])
def test_fast_path_over_full_tables(min_code_size, deferred):
    # Noise over every code size fills the 4096-entry table several times.
    pixels = _noise(90, 100, 1 << min_code_size, min_code_size).tobytes()
    data = gc.lzw_encode(pixels, min_code_size, deferred_clear=deferred)
    fast = pillow_lzw_decode(data, min_code_size, 100, 90)
    assert fast is not None and fast.tobytes() == pixels == lzw_decode(data, min_code_size, len(pixels))


def _pack(codes: list[int], width: int) -> bytes:
    """Fixed-width LSB-first codes (the caller keeps the table from widening)."""
    bits = (np.asarray(codes)[:, None] >> np.arange(width)) & 1
    return np.packbits(bits.astype(np.uint8).ravel(), bitorder="little").tobytes()


def test_pillow_reads_past_an_early_end_code_so_we_fall_back():
    # Code size 2 (3-bit codes): "clear, a, b" groups keep the table below 8 entries.
    # The end code after two groups ends the frame for us (and browsers). Pillow stops
    # there only while the rest of the file came in the same read: with more than its
    # 64 KiB read size to come, it goes on and fills the frame from the codes after it.
    clear, end = 4, 5
    codes = [clear, 1, 2, clear, 3, 0, end] + [clear, 2, 2] * 59_998
    data = _pack(codes, 3)
    assert len(data) > 65_536
    assert lzw_decode(data, 2, 400 * 300) == bytes([1, 2, 3, 0])
    with Image.open(io.BytesIO(gif_decode._one_frame_gif(data, 2, 400, 300))) as im:
        im.load()  # what the fast path would return without the end-code check
        unchecked = np.asarray(im).reshape(-1)
    assert unchecked[:4].tolist() == [1, 2, 3, 0] and np.all(unchecked[4:] == 2)
    assert gif_decode._first_end_code(data, 2) == (18, 3)
    assert pillow_lzw_decode(data, 2, 400, 300) is None
    assert gif_decode._frame_indices(_image(data, 2, 400, 300), "x.gif").tobytes() == bytes([1, 2, 3, 0])


def test_fast_path_falls_back_where_pillow_cannot_be_trusted(monkeypatch):
    pixels = _noise(40, 40, 16, 5).tobytes()
    data = gc.lzw_encode(pixels, 4)
    assert pillow_lzw_decode(data, 4, 40, 40).tobytes() == pixels
    assert pillow_lzw_decode(gc.lzw_encode(pixels, 4, stop_after=700), 4, 40, 40) is None  # early end
    assert pillow_lzw_decode(data[:-40], 4, 40, 40) is None  # data runs out
    assert pillow_lzw_decode(b"\x3c\xff", 2, 4, 4) is None  # invalid code: the reference raises
    assert pillow_lzw_decode(data, 4, 40, 0) is None
    two_colours = _noise(8, 8, 2, 6).tobytes()
    one_bit = gc.lzw_encode(two_colours, 1)
    assert lzw_decode(one_bit, 1, 64) == two_colours
    assert pillow_lzw_decode(one_bit, 1, 8, 8) is None  # Pillow widens 1-bit codes differently
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert pillow_lzw_decode(data, 4, 40, 40) is None  # truncation would go unnoticed


def _decode_both_ways(path: Path, monkeypatch) -> tuple[list, list, int]:
    """Frames with the fast path, frames with the reference only, and fast-path uses."""
    used = []

    def spy(*args):
        result = pillow_lzw_decode(*args)
        used.append(result is not None)
        return result

    monkeypatch.setattr(gif_decode, "pillow_lzw_decode", spy)
    fast = read_frames(path)
    monkeypatch.setattr(gif_decode, "pillow_lzw_decode", lambda *args: None)
    reference = read_frames(path)
    return fast, reference, sum(used)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_and_reference_decode_the_same_gifs(name, tmp_path, monkeypatch):
    # Tiny frames may not use the fast path (padding after the end code can hold a code).
    fast, reference, _ = _decode_both_ways(_write_case(name, tmp_path), monkeypatch)
    assert len(fast) == len(reference)
    for a, b in zip(fast, reference):
        assert np.array_equal(a.rgb, b.rgb)


def test_fast_and_reference_on_damaged_and_interlaced_frames(tmp_path, monkeypatch):
    frames = [
        gc.Frame(_noise(30, 40, 256, 1), interlace=True),
        gc.Frame(_noise(21, 17, 16, 2), left=3, top=4, interlace=True, transparent=3, stop_after=200),
        gc.Frame(_noise(30, 40, 8, 3), deferred_clear=True, transparent=1),
        gc.Frame(_noise(30, 40, 4, 4)),
    ]
    data = gc.make_gif(40, 30, frames, global_palette=gc.pad_palette(_palette(256, 9)))
    fast, reference, used = _decode_both_ways(gc.write(tmp_path / "d.gif", data), monkeypatch)
    assert used >= 2 and len(fast) == len(reference) == 4
    for a, b in zip(fast, reference):
        assert np.array_equal(a.rgb, b.rgb)
    cut = gc.write(tmp_path / "cut.gif", data[:-30])  # the last frame cut short: refused both ways
    for fast_path in (gif_decode.pillow_lzw_decode, lambda *args: None):
        monkeypatch.setattr(gif_decode, "pillow_lzw_decode", fast_path)
        with pytest.raises(GifDecodeError, match="truncated GIF .*frame 3"):
            read_frames(cut)


# --- bad input: one line naming the file and the problem -----------------------------------


def _decode_error(path: Path, limits: Limits | None = None) -> str:
    with pytest.raises(GifDecodeError) as info:
        read_frames(path) if limits is None else read_frames(path, limits)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def _two_frames() -> bytes:
    return gc.make_gif(8, 8, [gc.Frame(_noise(8, 8, 16, 1)), gc.Frame(_noise(8, 8, 16, 2))], global_palette=PAL16)


def test_not_a_gif(tmp_path):
    png = tmp_path / "photo.gif"
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    assert "not a GIF" in _decode_error(png)
    assert "not a GIF" in _decode_error(gc.write(tmp_path / "empty.gif", b""))
    assert "cannot open" in _decode_error(tmp_path / "missing.gif")


@pytest.mark.parametrize("cut", [10, 13 + 20], ids=["screen-descriptor", "colour-table"])
def test_truncated_header(cut, tmp_path):
    assert "truncated" in _decode_error(gc.write(tmp_path / "t.gif", _two_frames()[:cut]))


def test_truncated_inside_first_frame(tmp_path):
    header = gc.make_gif(8, 8, [], global_palette=PAL16, trailer=False)
    first = header + gc.image_block(gc.Frame(_noise(8, 8, 16, 1)), palette_bits=3)
    assert _two_frames().startswith(first)
    assert "truncated" in _decode_error(gc.write(tmp_path / "t.gif", first[:-10]))


def test_truncated_later_frame_is_refused(tmp_path):
    # A damaged download must not turn into a silently shorter video.
    path = gc.write(tmp_path / "t.gif", _two_frames()[:-12])
    assert "truncated GIF (file ends inside frame 1)" in _decode_error(path)
    assert probe_gif(path)[1] == 2  # counting needs no pixels; decoding decides


def test_missing_trailer_is_fine(tmp_path):
    path = gc.write(tmp_path / "t.gif", _two_frames()[:-1])
    assert len(read_frames(path)) == 2 and probe_gif(path)[1] == 2


def test_zero_frames(tmp_path):
    path = _gif(tmp_path, 8, 8, [], global_palette=PAL16, loop=0)
    assert "no frames" in _decode_error(path)
    with pytest.raises(GifDecodeError, match="no frames"):
        probe_gif(path)


def test_zero_size_screen(tmp_path):
    path = _gif(tmp_path, 0, 0, [gc.Frame(np.zeros((1, 1), np.uint8))], global_palette=PAL4)
    assert "0x0" in _decode_error(path)


def test_huge_screen_refused_before_allocating(tmp_path):
    path = _gif(tmp_path, 60000, 60000, [gc.Frame(np.zeros((1, 1), np.uint8))], global_palette=PAL4)
    tracemalloc.start()
    message = _decode_error(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "60000x60000" in message and "limit" in message
    assert peak < 1_000_000  # a 60000x60000 canvas would be 10.8 GB


def test_frame_and_count_limits(tmp_path):
    path = _gif(tmp_path, 6, 6, [gc.Frame(_noise(8, 8, 16, 1))], "big.gif", global_palette=PAL16)
    assert "a frame is 8x8" in _decode_error(path, Limits(max_width=16, max_height=16, max_pixels=40))
    path = gc.write(tmp_path / "t.gif", _two_frames())
    assert "more than 1 frames" in _decode_error(path, Limits(max_frames=1))
    with pytest.raises(GifDecodeError, match="more than 1 frames"):
        probe_gif(path, Limits(max_frames=1))


def test_invalid_lzw_code(tmp_path):
    # Clear (4) then code 7 while the table holds 6 entries (3-bit codes: 0b111_100 = 0x3c).
    image = b"\x2c" + bytes(4) + b"\x02\x00\x02\x00\x00" + b"\x02" + gc.sub_blocks(b"\x3c\x01")
    path = gc.write(tmp_path / "t.gif", gc.make_gif(2, 2, [], global_palette=PAL4, trailer=False) + image + b"\x3b")
    assert "invalid LZW code 7" in _decode_error(path)


def test_missing_colour_table_and_bad_code_size(tmp_path):
    assert "no colour table" in _decode_error(_gif(tmp_path, 2, 2, [gc.Frame(np.zeros((2, 2), np.uint8))]))
    image = b"\x2c" + bytes(4) + b"\x02\x00\x02\x00\x00" + b"\x0c" + gc.sub_blocks(b"\x00\x00")
    path = gc.write(tmp_path / "c.gif", gc.make_gif(2, 2, [], global_palette=PAL4, trailer=False) + image)
    assert "minimum code size 12" in _decode_error(path)


# --- constant memory ----------------------------------------------------------------------


def _many_frames(path: Path, count: int) -> Path:
    """`count` 64x64 frames: one encoded image block repeated (fast to build). Two flat
    halves keep LZW cheap: tracemalloc slows the per-code allocations about tenfold."""
    indices = np.repeat(np.arange(2, dtype=np.uint8), 32)[:, None].repeat(64, axis=1)
    block = gc.image_block(gc.Frame(indices, delay_cs=4), palette_bits=3)
    header = gc.make_gif(64, 64, [], global_palette=PAL16, loop=0, trailer=False)
    return gc.write(path, header + block * count + b"\x3b")


def _peak_bytes(path: Path) -> int:
    tracemalloc.start()
    with open_gif(path) as reader:
        for frame in reader:
            assert frame.rgb.shape == (64, 64, 3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_is_flat_in_frame_count(tmp_path):
    # Measured: 0.114 MB peak for 200 frames, 0.105 MB for 2,000 (2,000 RGB frames are 24.6 MB).
    small, large = _many_frames(tmp_path / "a.gif", 200), _many_frames(tmp_path / "b.gif", 2000)
    read_frames(_many_frames(tmp_path / "warm.gif", 2))  # one-time imports and caches: not per frame
    peak_small, peak_large = _peak_bytes(small), _peak_bytes(large)
    assert peak_large <= 1.5 * peak_small
    assert probe_gif(large)[1] == 2000


def test_decoder_does_not_need_torch():
    code = "import sys; sys.modules['torch'] = None; import trt_gif2video.io.gif_decode"
    subprocess.run([sys.executable, "-c", code], check=True)


def _ffmpeg_gif(path: Path) -> None:
    # ffmpeg's encoder crops frames to what changed and marks unchanged pixels transparent.
    # A finite source: palettegen waits for the end of its input.
    source = "testsrc2=size=72x40:rate=12:duration=0.5"
    graph = "split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-filter_complex", graph, "-y", str(path)]
    subprocess.run(cmd, check=True)


def _imagemagick_gif(path: Path) -> None:
    frames = [path.with_name(f"src{t}.png") for t in range(4)]
    for t, frame in enumerate(frames):
        Image.fromarray(_photo_like(36, 50, t)).save(frame)
    cmd = ["convert", "-delay", "7", *map(str, frames), "-colors", "48", "-layers", "Optimize", str(path)]
    subprocess.run(cmd, check=True)


@pytest.mark.parametrize(
    "make, tool",
    [(_ffmpeg_gif, "ffmpeg"), (_imagemagick_gif, "convert")],
    ids=["ffmpeg", "imagemagick"],
)
def test_third_party_encoders(make, tool, tmp_path):
    if tool == "convert" and not _has_imagemagick() or shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    path = tmp_path / "third.gif"
    make(path)
    with open_gif(path) as reader:
        frames, bg = list(reader), reader.background
    assert len(frames) >= 4
    _assert_same(frames, _pillow_frames(path), bg, "Pillow")
    if _has_imagemagick():
        _assert_same(frames, _imagemagick_frames(path, tmp_path), bg, "ImageMagick", alpha=True)
