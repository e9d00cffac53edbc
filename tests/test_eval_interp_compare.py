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
