"""`python -m trt_gif2video.eval.interp_compare`: refuses early without RIFE; its table keeps a fixed method order."""

from __future__ import annotations

from trt_gif2video.data.corpus import CACHE_ENV
from trt_gif2video.eval.interp_compare import main, to_markdown
from trt_gif2video.pretrained import FETCH_COMMAND


def test_without_rife_it_stops_with_the_fetch_command_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    out = tmp_path / "report.json"
    assert main(["--no-ffmpeg", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and FETCH_COMMAND in err[0]
    assert not out.exists() and not (tmp_path / "cache" / "corpus").exists()


def test_markdown_lists_methods_in_reading_order():
    cell = {"psnr": 30.0, "ssim": 0.9, "n": 3}
    methods = ["rife-refine-restored", "ours", "rife-fast-gif-s0.5", "nearest", "rife-fast-gif", "ffmpeg-minterpolate"]
    report = {"x2": {"clips": {m: cell for m in methods}}, "gflops_480x270": {"ours": 18.0}}
    header = next(line for line in to_markdown(report).splitlines() if line.startswith("| group"))
    assert header.split(" | ")[1:] == ["nearest", "ffmpeg-minterpolate", "ours", "rife-fast-gif", "rife-fast-gif-s0.5",
                                       "rife-refine-restored |"]


def test_an_unknown_encoder_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    out = tmp_path / "report.json"
    assert main(["--no-ffmpeg", "--encoder", "ffmpeg-nope", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ffmpeg-nope" in err[0] and "ffmpeg-none" in err[0]
    assert not out.exists()


def test_real_encoder_end_frames_are_gif_frames_of_their_own_palette(tmp_path):
    import shutil

    import numpy as np
    import pytest

    from trt_gif2video.eval.interp_compare import CompareConfig, gif_ends

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (.ci/setup installs it)")
    yy, xx = np.mgrid[0:64, 0:96]
    a = np.stack([xx * 2, yy * 3, (xx + yy)], -1).astype(np.uint8)  # smooth ramps: far more than 32 colours
    b = np.roll(a, 5, axis=1)
    for cfg in (CompareConfig(cache_dir=tmp_path), CompareConfig(cache_dir=tmp_path, encoder="ffmpeg-none")):
        ends = gif_ends([a, a, b], cfg)
        assert len(ends) == 2
        for (gif, pal), src in zip(ends, (a, b)):
            assert gif.shape == src.shape and gif.dtype == np.uint8
            colours = np.unique(gif.reshape(-1, 3), axis=0)
            assert len(colours) <= 32 < len(np.unique(src.reshape(-1, 3), axis=0))
            assert {tuple(c) for c in colours} <= {tuple(c) for c in pal}  # every pixel is a palette entry
            assert np.abs(gif.astype(int) - src).mean() < 8  # and still the same picture
