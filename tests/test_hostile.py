"""Hostile inputs and outputs (issue 11): one regression test per case that once broke.

The contract: every failure is one line on stderr naming the file, exit code 2, and nothing
left behind (no output, no temp file); nothing that is not ours is ever replaced; memory and
time are bounded by the work. Restores run on the ONNX stand-ins (milliseconds per frame).
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gifcraft as gc
import runtime_standins as standins
from trt_gif2video import budget
from trt_gif2video.cli import app
from trt_gif2video.config import Backend, OutputFormat
from trt_gif2video.errors import BadArgumentError, GifDecodeError, InferenceError, OutputError
from trt_gif2video.io.gif_decode import open_gif, read_frames
from trt_gif2video.io.outputs import Overwrite, check_output, sweep_leftovers
from trt_gif2video.models import WEIGHTS_ENV
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions

ROOT = Path(__file__).resolve().parents[1]
PALETTE = gc.pad_palette([(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)])
runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"))


def _cli(args, models=None):
    env = {"COLUMNS": "120"}
    if models is not None:
        env[WEIGHTS_ENV] = str(models)
    return runner.invoke(app, [str(a) for a in args], env=env)


def _gif_bytes(n: int = 3, size: int = 16, delay_cs: int = 10, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    frames = [gc.Frame(rng.integers(0, 4, (size, size)).astype(np.uint8), delay_cs=delay_cs) for _ in range(n)]
    return gc.make_gif(size, size, frames, global_palette=PALETTE, loop=0)


@pytest.fixture()
def gif(tmp_path) -> Path:
    return gc.write(tmp_path / "in.gif", _gif_bytes())


def _one_error(res, *needles: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- outputs that must never be replaced ----------------------------------------------------


def test_dev_null_is_refused_as_a_character_device():
    # Only the check (no restore runs): as root a regression here would destroy /dev/null.
    with pytest.raises(OutputError, match="character device"):
        check_output(Path("/dev/null"), allow_dir=False, overwrite=Overwrite.YES)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifo_output_is_refused_and_stays_a_fifo(models, gif, tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    _one_error(_cli(["restore", gif, "-o", fifo, "-y"], models), str(fifo), "FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert _listing(tmp_path) == ["in.gif", "pipe.mp4"]


def test_fifo_and_dev_null_inputs_are_not_regular_files(models, tmp_path):
    fifo = tmp_path / "in.gif"
    os.mkfifo(fifo)
    _one_error(_cli(["restore", fifo, "-o", tmp_path / "o.mp4"], models), str(fifo), "not a regular file")
    _one_error(_cli(["restore", "/dev/null", "-o", tmp_path / "o.mp4"], models), "/dev/null", "not a regular file")
    assert _listing(tmp_path) == ["in.gif"]


def test_compare_equal_to_output_is_refused(models, gif, tmp_path):
    out = tmp_path / "o.mp4"
    _one_error(_cli(["restore", gif, "-o", out, "--compare", tmp_path / "." / "o.mp4"], models), "two outputs")
    assert not out.exists()


def test_output_hard_linked_to_the_input_is_refused(models, gif, tmp_path):
    link = tmp_path / "link.gif"
    os.link(gif, link)
    before = gif.read_bytes()
    _one_error(_cli(["restore", gif, "-o", link, "-y"], models), "overwrite its input")
    assert gif.read_bytes() == before


def test_make_gif_refuses_its_own_input_as_output(tmp_path):
    src = tmp_path / "clip.gif"  # make-gif reads any video PyAV opens, GIFs included
    gc.write(src, _gif_bytes())
    before = src.read_bytes()
    _one_error(_cli(["make-gif", src, "-o", src, "-y"]), str(src), "overwrite its input")
    assert src.read_bytes() == before


@pytest.mark.parametrize("target", ["", ".", "-"])
def test_empty_or_dot_output_is_refused_up_front(models, gif, tmp_path, target):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        _one_error(_cli(["restore", gif, "-o", target], models), "not an output" if target != "-" else "stdout")
    finally:
        os.chdir(cwd)
    assert _listing(tmp_path) == ["in.gif"]


def test_existing_output_refused_by_default_replaced_with_y_skipped_with_n(models, gif, tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    _one_error(_cli(["restore", gif, "-o", out], models), str(out), "already exists", "-y")
    assert out.read_bytes() == b"keep me"
    res = _cli(["restore", gif, "-o", out, "-n"], models)
    assert res.exit_code == 0 and "skipped" in res.stderr and out.read_bytes() == b"keep me"
    res = _cli(["restore", gif, "-o", out, "-y", "--interp", "1"], models)
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _one_error(_cli(["restore", gif, "-o", out, "-y", "-n"], models), "not both")


def test_folder_output_only_when_asked_for(models, tmp_path):
    src = tmp_path / "gifs"
    src.mkdir()
    for name in ("a", "b"):
        gc.write(src / f"{name}.gif", _gif_bytes(seed=ord(name)))
    _one_error(_cli(["restore", src, "-o", tmp_path / "dirout.mp4"], models), "dirout.mp4", "directory")
    _one_error(_cli(["restore", src / "a.gif", "-o", tmp_path / "x.mp4", "--format", "png"], models),
               "x.mp4", "directory")
    assert _listing(tmp_path) == ["gifs"]
    res = _cli(["restore", src, "-o", f"{tmp_path / 'made'}/", "--interp", "1"], models)
    assert res.exit_code == 0, res.output
    assert _listing(tmp_path / "made") == ["a.mp4", "b.mp4"]


def test_name_too_long_fails_before_work_and_250_bytes_work(models, gif, tmp_path):
    long = tmp_path / ("x" * 252 + ".mp4")  # 256 bytes
    _one_error(_cli(["restore", gif, "-o", long], models), "file name is 256 bytes")
    legal = tmp_path / ("y" * 246 + ".mp4")  # 250 bytes: the temp name must not push it over
    res = _cli(["restore", gif, "-o", legal, "--interp", "1"], models)
    assert res.exit_code == 0, res.output
    assert legal.stat().st_size > 0 and _listing(tmp_path) == sorted(["in.gif", legal.name])


def test_leftovers_of_a_killed_run_are_swept(models, gif, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # that process has exited: its temp files are leftovers
    (tmp_path / f".g2v-{pid}-0badf00d.partial").write_bytes(b"half a video")
    (tmp_path / f".g2v-{pid}-0badf00e.partial").mkdir()
    (tmp_path / f".g2v-{os.getppid()}-00000001.partial").write_bytes(b"a live run's")  # not ours to remove
    res = _cli(["restore", gif, "-o", tmp_path / "o.mp4", "--interp", "1"], models)
    assert res.exit_code == 0, res.output
    assert _listing(tmp_path) == sorted(["in.gif", "o.mp4", f".g2v-{os.getppid()}-00000001.partial"])
    assert sweep_leftovers(tmp_path) == []


# --- rates, caps, time bounded by the work ---------------------------------------------------


def test_fps_too_low_for_gif_output_is_one_line(models, gif, tmp_path):
    _one_error(_cli(["restore", gif, "-o", tmp_path / "o.gif", "--fps", "0.001"], models), "o.gif", "fps")
    assert _listing(tmp_path) == ["in.gif"]


def test_gif_output_picks_a_legal_rate_and_says_so(models, tmp_path):
    fast = gc.write(tmp_path / "fast.gif", _gif_bytes(4, delay_cs=3))  # 33 fps, x2 = 67 fps
    res = _cli(["restore", fast, "-o", tmp_path / "o.gif", "--json"], models)
    assert res.exit_code == 0, res.output
    assert "50 fps" in res.stderr
    import json

    summary = json.loads(res.stdout)
    assert summary[0]["fps"] == "50" and summary[0]["frames_written"] > 0
    with open_gif(tmp_path / "o.gif") as reader:
        assert {f.delay_cs for f in reader} == {2}


def test_long_delay_is_capped_by_output_frames(models, tmp_path):
    frames = [gc.Frame(np.full((8, 8), i % 4, np.uint8), delay_cs=d) for i, d in enumerate([2, 65535, 2])]
    g = gc.write(tmp_path / "long.gif", gc.make_gif(8, 8, frames, global_palette=PALETTE))
    _one_error(_cli(["restore", g, "-o", tmp_path / "o.mp4"], models), str(g), "output frames", "--max-output-frames")
    assert _listing(tmp_path) == ["long.gif"]


def test_held_frames_need_no_network_calls(models, tmp_path):
    """A 20 s hold and 5 duplicate frames: the interpolator runs only across real changes."""
    a, b = np.zeros((8, 8), np.uint8), np.ones((8, 8), np.uint8)
    frames = [gc.Frame(a, delay_cs=10)] * 5 + [gc.Frame(a, delay_cs=2000), gc.Frame(b, delay_cs=10)]
    g = gc.write(tmp_path / "held.gif", gc.make_gif(8, 8, frames, global_palette=PALETTE))
    opts = RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, session=SessionOptions(threads=1, models_dir=models))
    result = restore(g, tmp_path / "o.mp4", opts)
    assert result.frames_written == 2 * (5 + 200 + 1)  # timing is kept: 20 fps over 10.3 s
    assert result.interpolator_calls == 1  # one call: the t = 0.5 frame just before the change


# --- errors are one line ----------------------------------------------------------------------


def test_max_pixels_message_shows_the_real_limit(models, gif, tmp_path):
    line = _one_error(_cli(["restore", gif, "-o", tmp_path / "o.mp4", "--max-pixels", "100"], models), str(gif))
    assert "100 pixels" in line and "8192" not in line


def test_max_frames_and_max_side_options(models, gif, tmp_path):
    _one_error(_cli(["restore", gif, "-o", tmp_path / "o.mp4", "--max-frames", "2"], models), "more than 2 frames")
    _one_error(_cli(["restore", gif, "-o", tmp_path / "o.mp4", "--max-side", "8"], models), "8x8")


def test_inference_error_is_one_line_naming_the_gif(models, gif, tmp_path, monkeypatch):
    from trt_gif2video.runtime.backends import onnxruntime as ort_backend

    def boom(self, feeds):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code\n  at line 2\n  line 3")

    monkeypatch.setattr(ort_backend.OnnxRuntimeSession, "_infer_impl", boom)
    opts = RestoreOptions(backend=Backend.ONNXRUNTIME, session=SessionOptions(threads=1, models_dir=models))
    with pytest.raises(InferenceError) as info:
        restore(gif, tmp_path / "o.mp4", opts)
    assert str(gif) in str(info.value) and "\n" not in str(info.value) and "RUNTIME_EXCEPTION" in str(info.value)
    assert _listing(tmp_path) == ["in.gif"]


def test_damaged_control_block_decodes_all_frames_with_a_warning(tmp_path):
    rng = np.random.default_rng(1)
    frames = [gc.Frame(rng.integers(0, 4, (8, 8)).astype(np.uint8), delay_cs=7) for _ in range(10)]
    data = gc.make_gif(8, 8, frames, global_palette=PALETTE)
    good_gce = gc.graphic_control(7)
    bad = data.replace(good_gce, b"\x21\xf9\x03" + good_gce[3:], 1)  # size byte 3 instead of 4
    g = gc.write(tmp_path / "gce3.gif", bad)
    with open_gif(g) as reader:
        got = list(reader)
        warnings = reader.warnings
    assert len(got) == 10 and got[0].delay_cs == 7
    assert len(warnings) >= 1 and all("\n" not in w for w in warnings) and any("3 bytes" in w for w in warnings)


@pytest.mark.parametrize("cut", ["comment", "control"])
def test_file_cut_inside_a_trailing_block_is_refused(tmp_path, cut):
    data = _gif_bytes()[:-1]  # no trailer
    tail = gc.comment(b"made by hand " * 10) if cut == "comment" else gc.graphic_control(10)
    g = gc.write(tmp_path / "cut.gif", data + tail[: len(tail) - 3])
    with pytest.raises(GifDecodeError, match="truncated"):
        read_frames(g)


def test_unknown_block_stops_with_a_warning_not_silently(tmp_path):
    data = _gif_bytes(4)[:-1]
    g = gc.write(tmp_path / "junk.gif", data + b"\x99" + b"rest of a broken file")
    with open_gif(g) as reader:
        assert len(list(reader)) == 4
        assert any("0x99" in w for w in reader.warnings)


# --- memory budget ------------------------------------------------------------------------------


def test_memory_plan_tiles_big_frames_and_refuses_what_cannot_fit():
    small = budget.plan(256, 256, OutputFormat.MP4, 2 * budget.GIB)
    assert small.tile is None and small.estimate <= 2 * budget.GIB
    big = budget.plan(4096, 4096, OutputFormat.MP4, 8 * budget.GIB)
    assert big.tile is not None and big.estimate <= 8 * budget.GIB
    with pytest.raises(BadArgumentError, match="memory budget"):
        budget.plan(8192, 8192, OutputFormat.MP4, 1 * budget.GIB)
    assert budget.parse_size("1.5G") == 3 * budget.GIB // 2 and budget.parse_size("512M") == 512 * budget.MIB
    assert budget.MIN_BUDGET <= budget.default_budget() <= budget.DEFAULT_CAP



def test_memory_plan_counts_the_receptive_field_margins_tiles_carry():
    """A tile is computed with its network's receptive-field margin on each side (exact tiling),
    so a call sees tile + 2 x margin px, never more than the frame; the plan must count that."""
    m = {"dequant": 288, "interp": 576}
    plain = budget.estimate(4096, 4096, OutputFormat.MP4, 1, 256)
    carried = budget.estimate(4096, 4096, OutputFormat.MP4, 1, 256, margins=m)
    d_slope, _ = budget.NETWORK_BYTES["dequant"]
    i_slope, _ = budget.NETWORK_BYTES["interp"]
    extra = d_slope * ((256 + 576) ** 2 - 256 ** 2) + i_slope * ((256 + 1152) ** 2 - 256 ** 2)
    assert carried - plain == pytest.approx(budget.MARGIN * extra, rel=1e-6)
    # on a frame the margins already cover, tiling saves nothing: the call is the whole frame
    whole = budget.estimate(320, 320, OutputFormat.MP4, 1, None, margins=m)
    assert budget.estimate(320, 320, OutputFormat.MP4, 1, 128, margins=m) == whole
    # a network that cannot be tiled (margin None) is planned at the whole frame
    untiled = budget.estimate(4096, 4096, OutputFormat.MP4, 1, 256, margins={"dequant": 288, "interp": None})
    assert untiled > carried
    # the planner still finds a tile that fits once margins are counted, and says so
    p = budget.plan(4096, 4096, OutputFormat.MP4, 8 * budget.GIB, batch=1, margins=m)
    assert p.tile is not None and p.estimate <= 8 * budget.GIB


def test_memory_plan_counts_alpha_for_transparent_gifs():
    opaque = budget.estimate(2048, 2048, OutputFormat.WEBM, 1, None)
    alpha = budget.estimate(2048, 2048, OutputFormat.WEBM, 1, None, alpha=True)
    per_frame = budget.FRAME_BYTES[OutputFormat.WEBM] * 2048 * 2048
    assert alpha - opaque == pytest.approx(budget.MARGIN * per_frame * (budget.ALPHA_FACTOR - 1), rel=1e-6)

def test_memory_budget_option_refuses_up_front(models, gif, tmp_path):
    _one_error(_cli(["restore", gif, "-o", tmp_path / "o.mp4", "--memory-budget", "1M"], models), "memory budget")
    _one_error(_cli(["restore", gif, "-o", tmp_path / "o.mp4", "--memory-budget", "lots"], models), "--memory-budget")
    assert _listing(tmp_path) == ["in.gif"]


# --- the real process: disk full, signals --------------------------------------------------------

_MAIN = "import sys; from trt_gif2video.cli import main; sys.argv[0] = 'trt-gif2video'; main()"


def _env(models: Path) -> dict:
    return {**os.environ, WEIGHTS_ENV: str(models), "PYTHONPATH": str(ROOT), "COLUMNS": "120"}


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("name", ["o.png", "o.gif", "o.mp4", "frames", "make.gif"])
def test_disk_full_is_one_line_and_leaves_nothing(models, tmp_path, name):
    big = gc.write(tmp_path / "in.gif", _gif_bytes(12, size=96))
    out = tmp_path / "out"
    out.mkdir()
    if name == "make.gif":
        args = ["make-gif", big, "-o", out / name, "--colors", "256"]
    else:
        args = ["restore", big, "-o", out / name, "--interp", "1", "--crf", "0"]
    proc = subprocess.run([sys.executable, "-c", _MAIN, *map(str, args)], env=_env(models), capture_output=True,
                          text=True, preexec_fn=_limit_file_size(6000), timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(out / name) in lines[0], proc.stderr
    assert _listing(out) == []


@pytest.mark.parametrize("signals", [[signal.SIGHUP], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
                         ids=["hup", "term", "double-ctrl-c"])
def test_signals_clean_up_without_native_abort(models, tmp_path, signals):
    g = gc.write(tmp_path / "in.gif", _gif_bytes(400, size=64))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _MAIN, "restore", str(g), "-o", str(out / "o.mp4"),
                             "--interp", "4"], env=_env(models), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.endswith(".partial") for p in out.iterdir()):
        time.sleep(0.05)  # wait until it is writing
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.02)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "terminate called" not in err and "Traceback" not in err
    assert err.strip().splitlines() == ["error: interrupted"], err
    assert _listing(out) == []


_PEAK_CHILD = r"""
import sys
from pathlib import Path
from trt_gif2video.bench.memory import peak_rss_bytes
from trt_gif2video.budget import parse_size
from trt_gif2video.config import Backend
from trt_gif2video.pipeline import RestoreOptions, restore
from trt_gif2video.runtime.backends.base import SessionOptions

opts = RestoreOptions(interp=2, backend=Backend.ONNXRUNTIME, memory_budget=parse_size(sys.argv[3]),
                      batch=int(sys.argv[4]), session=SessionOptions(threads=1))
r = restore(Path(sys.argv[1]), Path(sys.argv[2]), opts)
print(r.notes, r.frames_written)
print(peak_rss_bytes())
"""


def test_real_models_stay_under_the_memory_budget(tmp_path):
    """The shipped networks on a 320x320 GIF asked for batch 4: a 600 MiB budget makes the plan
    lower the batch (tiles cannot help: a tile's receptive-field margins cover this whole frame),
    and the measured peak (VmHWM of the restoring process) stays under it."""
    rng = np.random.default_rng(3)
    pal = gc.pad_palette([tuple(c) for c in rng.integers(0, 256, (16, 3))])
    frames = [gc.Frame(rng.integers(0, 16, (320, 320)).astype(np.uint8)) for _ in range(2)]
    g = gc.write(tmp_path / "big.gif", gc.make_gif(320, 320, frames, global_palette=pal))
    proc = subprocess.run([sys.executable, "-c", _PEAK_CHILD, str(g), str(tmp_path / "o.mp4"), "600M", "4"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    notes, peak = proc.stdout.splitlines()[-2:]
    assert "batch 1, whole frames" in notes  # the plan had to lower the batch to fit
    assert int(peak) <= budget.parse_size("600M"), (int(peak) / 2**20, notes)


def test_memory_plan_counts_the_temporal_stage():
    plain = budget.estimate(2048, 2048, OutputFormat.MP4, 1, None)
    with_temporal = budget.estimate(2048, 2048, OutputFormat.MP4, 1, None, temporal=True)
    assert with_temporal - plain == pytest.approx(budget.MARGIN * budget.TEMPORAL_BYTES * 2048 * 2048, rel=1e-6)
