"""End to end: GIF -> ONNX Runtime (stand-in models) -> video, errors, and the `restore` command."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import runtime_standins as standins
from trt_gif2video.cli import app
from trt_gif2video.config import Backend, DitherChoice, OutputFormat
from trt_gif2video.errors import GifDecodeError, ModelError, OutputError
from trt_gif2video.models import WEIGHTS_ENV, Variant
from trt_gif2video.pipeline import RestoreOptions, default_batch, plan_jobs, restore, restore_many
from trt_gif2video.runtime.backends.base import SessionOptions

H, W = 40, 50  # not multiples of 16 or 32: the runtime must pad and crop


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"), p_dither=0.1)


@pytest.fixture()
def gif(tmp_path) -> Path:
    return standins.write_gif(tmp_path / "in.gif", standins.flat_frames(5, H, W), [10, 10, 20, 10, 10])


def _opts(models: Path, **kw) -> RestoreOptions:
    kw.setdefault("backend", Backend.ONNXRUNTIME)
    return RestoreOptions(session=SessionOptions(threads=1, models_dir=models), **kw)


def _png_frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("frame_*.png"))]


def test_restore_end_to_end_with_onnxruntime(models, gif, tmp_path):
    seen = []
    result = restore(gif, tmp_path / "out", _opts(models, interp=2, fmt=OutputFormat.PNG_DIR), seen.append)
    frames = _png_frames(tmp_path / "out")
    # 600 ms at the median delay (100 ms) x 2 = 20 fps -> 12 frames
    assert result.fps == 20 and result.frames_written == len(frames) == 12 and result.gif_frames == 5
    assert frames[0].shape == (H, W, 3)
    levels = [int(f[H // 2, W // 2, 0]) for f in frames]
    # GIF levels 10,30,50,70,90 at 0,100,200,400,500 ms; frame 2 shows 200..400 ms, so 250/300/350 ms
    # cross-fade 50 -> 70 by quarters; the stand-in adds (gif1 - gif0) / 4 = +5 to every in-between
    # frame; after 500 ms the last frame is held
    assert levels == [10, 25, 30, 45, 50, 60, 65, 70, 70, 85, 90, 90]
    assert result.variant is Variant.NODITHER and result.p_dither == pytest.approx(0.1)
    # one interpolator call per in-between frame: batch 1 on the CPU (pipeline.default_batch)
    assert "onnxruntime" in result.backend and result.interpolator_calls == 6
    batched = restore(gif, tmp_path / "out4", _opts(models, interp=2, fmt=OutputFormat.PNG_DIR, batch=4))
    frames4 = _png_frames(tmp_path / "out4")
    assert batched.interpolator_calls == 4 and len(frames4) == 12  # the same frames, fewer calls
    assert all((a == b).all() for a, b in zip(frames4, frames))
    assert default_batch(Backend.ONNXRUNTIME) == 1 and default_batch(Backend.TENSORRT) == 4
    assert seen[-1].frames_written == 12 and seen[-1].gif_frames_done == seen[-1].gif_frames_total == 5


def test_dither_detection_picks_the_dithered_weights(tmp_path, gif):
    models = standins.write_models(tmp_path / "m", p_dither=0.9)
    auto = restore(gif, tmp_path / "a", _opts(models, interp=1, fmt=OutputFormat.PNG_DIR))
    assert auto.variant is Variant.DITHER and auto.p_dither == pytest.approx(0.9)
    assert int(_png_frames(tmp_path / "a")[0][H // 2, W // 2, 0]) == 10 + standins.DITHER_OFFSET
    forced = restore(gif, tmp_path / "n", _opts(models, interp=1, dither=DitherChoice.NO, fmt=OutputFormat.PNG_DIR))
    assert forced.variant is Variant.NODITHER and forced.p_dither is None
    assert int(_png_frames(tmp_path / "n")[0][H // 2, W // 2, 0]) == 10


def test_compare_writes_gif_and_restored_side_by_side(models, gif, tmp_path):
    restore(gif, tmp_path / "o.mp4", _opts(models, interp=1, compare=tmp_path / "cmp"))
    sbs = _png_frames(tmp_path / "cmp")
    header, divider = 14, 2
    assert len(sbs) == 6 and sbs[0].shape == (H + header, 2 * W + divider, 3)
    gif_frames = standins.flat_frames(5, H, W)
    assert np.array_equal(sbs[0][header:, :W], gif_frames[0])  # the GIF as shown, left
    assert (sbs[0][header:, W : W + divider] == 128).all()  # the divider
    assert (sbs[0][header + 1 :, W + divider + 1 :] == 10).all()  # restored frame 0 (the stand-in keeps level 10 inside)
    # labels: light text on the dark strip above each half
    assert (sbs[0][:header, :W] > 200).any() and (sbs[0][:header, W + divider :] > 200).any()
    assert (tmp_path / "o.mp4").stat().st_size > 0


def test_tiled_restore_matches_whole_frames(models, tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:150, 0:170]
    base = ((xx // 10 + yy // 10) * 7 % 200).astype(np.uint8)
    frames = [np.stack([base, base // 2 + 10 * i, 255 - base], -1) for i in range(2)]
    frames = [np.minimum(f, 250).astype(np.uint8) + rng.integers(0, 2, f.shape, dtype=np.uint8) for f in frames]
    src = standins.write_gif(tmp_path / "big.gif", frames, [10, 10])
    restore(src, tmp_path / "whole", _opts(models, interp=2, dither=DitherChoice.NO, fmt=OutputFormat.PNG_DIR))
    from trt_gif2video.runtime.backends.onnxruntime import OnnxRuntimeSession

    widths = []
    original = OnnxRuntimeSession._infer_impl

    def spy(self, feeds):
        widths.append(next(v.shape[2] for v in feeds.values() if v.ndim == 4))
        return original(self, feeds)

    OnnxRuntimeSession._infer_impl = spy
    try:
        restore(src, tmp_path / "tiled", _opts(models, interp=2, dither=DitherChoice.NO, tile=96, fmt=OutputFormat.PNG_DIR))
    finally:
        OnnxRuntimeSession._infer_impl = original
    # really tiled: the dequantizer (margin 32) ran on 160-px windows of the 176-px padded width; the
    # interpolator's 64-px margin makes its window the whole 192-px width
    assert set(widths) == {160, 192}
    whole, tiled = _png_frames(tmp_path / "whole"), _png_frames(tmp_path / "tiled")
    assert len(whole) == len(tiled) == 4
    for a, b in zip(whole, tiled):  # tiles carry the stand-ins' receptive-field margin: exact everywhere
        np.testing.assert_array_equal(a, b)


def test_worker_failure_is_raised_and_leaves_no_output(tmp_path, gif):
    models = standins.write_models(tmp_path / "m")
    (models / "interp.onnx").write_bytes(b"broken")  # fails in the interpolate thread, mid-run
    before = threading.active_count()
    out = tmp_path / "out.mp4"
    with pytest.raises(ModelError, match="interp.onnx"):
        restore(gif, out, _opts(models, interp=2, compare=tmp_path / "cmp.mp4"))
    assert not out.exists() and not (tmp_path / "cmp.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind
    assert threading.active_count() == before  # every stage thread was joined


def test_bad_inputs_raise_clear_errors(models, gif, tmp_path):
    not_gif = tmp_path / "x.gif"
    not_gif.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    with pytest.raises(GifDecodeError, match="not a GIF"):
        restore(not_gif, tmp_path / "o.mp4", _opts(models))
    rng = np.random.default_rng(0)
    noisy = standins.write_gif(tmp_path / "n.gif", [rng.integers(0, 4, (H, W, 3), dtype=np.uint8) * 60
                                                    for _ in range(3)], [10] * 3)
    data = noisy.read_bytes()
    truncated = tmp_path / "t.gif"
    truncated.write_bytes(data[: len(data) // 3])  # ends inside the first frame's pixels
    with pytest.raises(GifDecodeError, match="t.gif: "):
        restore(truncated, tmp_path / "o.mp4", _opts(models))
    truncated.write_bytes(data[:-5])  # ends inside the last frame: refused, nothing written
    with pytest.raises(GifDecodeError, match="t.gif: truncated GIF"):
        restore(truncated, tmp_path / "o.mp4", _opts(models, interp=1))
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(OutputError, match="does not exist"):
        restore(gif, tmp_path / "missing" / "o.mp4", _opts(models))
    assert not (tmp_path / "o.mp4").exists()


def test_directory_of_gifs_goes_to_a_directory(models, tmp_path):
    src = tmp_path / "gifs"
    src.mkdir()
    for name in ("a", "b"):
        standins.write_gif(src / f"{name}.gif", standins.flat_frames(2, 16, 16), [10, 10])
    (src / "notes.txt").write_text("not a gif")
    results = restore_many([src], f"{tmp_path / 'out'}/", _opts(models, interp=1, fmt=OutputFormat.APNG))
    assert [r.output.name for r in results] == ["a.png", "b.png"]
    assert all(r.output.is_file() for r in results)
    with pytest.raises(OutputError, match="need a directory"):
        plan_jobs([src], results[0].output, None)


runner = CliRunner()


def _cli(args, models: Path):
    return runner.invoke(app, args, env={WEIGHTS_ENV: str(models)})


def test_cli_restore_writes_the_video_and_reports(models, gif, tmp_path):
    res = _cli(["restore", str(gif), "-o", str(tmp_path / "o.mp4"), "--interp", "4",
                "--backend", "onnxruntime", "--threads", "1"], models)
    assert res.exit_code == 0, res.output
    assert "24 frames at 40 fps from 5 GIF frames" in res.output and "nodither (p=0.10)" in res.output
    assert (tmp_path / "o.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fps", "0"], '"--fps" must be > 0'),
        (["--backend", "tensorrt"], "tensorrt backend: TensorRT"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(models, gif, tmp_path, extra, message):
    if "tensorrt" in extra and importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    res = _cli(["restore", str(gif), "-o", str(tmp_path / "o.mp4"), *extra], models)
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "o.mp4").exists()


def test_cli_refuses_non_gif_and_interp_with_fps(models, tmp_path):
    bad = tmp_path / "a.gif"
    bad.write_text("hello")
    res = _cli(["restore", str(bad), "-o", str(tmp_path / "o.mp4")], models)
    assert res.exit_code == 2 and "not a GIF" in res.output
    res = _cli(["restore", str(bad), "-o", str(tmp_path / "o.mp4"), "--interp", "2", "--fps", "10"], models)
    assert res.exit_code == 2 and "not both" in res.output


def test_cli_max_pixels_refuses_big_gifs(models, gif, tmp_path):
    res = _cli(["restore", str(gif), "-o", str(tmp_path / "o.mp4"), "--max-pixels", str(H * W - 1)], models)
    assert res.exit_code == 2 and str(gif) in res.output and not (tmp_path / "o.mp4").exists()
    # the limit the user set, not the default size limit
    assert f"over the limit of {H * W - 1} pixels" in res.output and "8192" not in res.output
