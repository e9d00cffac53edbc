"""Output conventions users of ffmpeg expect (issue 15, item 3): colour tags that match the
encoded matrix, --crf, and a --json summary. (-y/-n, folders and GIF rates: test_hostile.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gifcraft as gc
import runtime_standins as standins
from trt_gif2video.cli import app
from trt_gif2video.io.encode import open_writer
from trt_gif2video.models import WEIGHTS_ENV

COLOURS = [(200, 30, 40), (20, 180, 60), (40, 60, 220), (235, 235, 20)]
runner = CliRunner()


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg")
@pytest.mark.parametrize("ext", ["mp4", "webm"])
def test_video_is_tagged_bt709_limited_and_decodes_to_the_same_colours(tmp_path, ext):
    path = tmp_path / f"c.{ext}"
    with open_writer(path, 10, quality=0) as w:
        for c in COLOURS:
            w.write(np.full((32, 32, 3), c, np.uint8))
    tags = _ffprobe(path)
    assert (tags["color_space"], tags["color_range"], tags["color_transfer"], tags["color_primaries"]) == \
        ("bt709", "tv", "bt709", "bt709")
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 32, 32, 3)
    got = frames[:, 16, 16].astype(int)
    # A BT.601 matrix under BT.709 tags would be off by ~10-20 levels on saturated colours.
    assert np.abs(got - np.array(COLOURS)).max() <= 4, got


def test_crf_option_changes_quality_and_json_summary(tmp_path):
    models = standins.write_models(tmp_path / "m")
    rng = np.random.default_rng(0)
    frames = [gc.Frame(rng.integers(0, 4, (48, 48)).astype(np.uint8)) for _ in range(4)]
    gif = gc.write(tmp_path / "in.gif", gc.make_gif(48, 48, frames, global_palette=gc.pad_palette(
        [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)])))
    sizes = {}
    for crf in (0, 45):
        res = runner.invoke(app, ["restore", str(gif), "-o", str(tmp_path / f"q{crf}.mp4"), "--crf", str(crf),
                                  "--json"], env={WEIGHTS_ENV: str(models)})
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout)
        assert summary[0]["output"] == str(tmp_path / f"q{crf}.mp4") and summary[0]["gif_frames"] == 4
        assert summary[0]["frames_written"] == 8 and summary[0]["fps_float"] == 20.0
        sizes[crf] = (tmp_path / f"q{crf}.mp4").stat().st_size
    assert sizes[0] > 2 * sizes[45]
    res = runner.invoke(app, ["restore", str(gif), "-o", str(tmp_path / "x.mp4"), "--crf", "64"],
                        env={WEIGHTS_ENV: str(models)})
    assert res.exit_code == 2
