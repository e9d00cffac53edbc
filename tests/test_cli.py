"""The command line as a user meets it: help texts, and bad input -> one line on stderr,
exit code 2, nothing left at the output path (no temp file beside it either).

Restores run on the ONNX stand-ins of runtime_standins (milliseconds per frame), so these
tests check the CLI's behaviour, not the shipped models.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import gifcraft as gc
import runtime_standins as standins
from trt_gif2video.cli import app
from trt_gif2video.io.encode import open_writer
from trt_gif2video.models import WEIGHTS_ENV

SAMPLE = Path(__file__).resolve().parents[1] / "trt_gif2video" / "samples" / "sample.gif"
EXE = Path(sys.executable).parent / "trt-gif2video"
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
PALETTE = gc.pad_palette([(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)])

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"))


def _cli(args: list[str], models: Path | None = None, **env: str):
    env = {"COLUMNS": "120", **env}  # wide enough that rich never cuts an option name
    if models is not None:
        env[WEIGHTS_ENV] = str(models)
    return runner.invoke(app, [str(a) for a in args], env=env)


def _noisy_gif(n: int, size: int = 40, seed: int = 0) -> bytes:
    """n frames of random indices (so the LZW data is long enough to cut in the middle)."""
    rng = np.random.default_rng(seed)
    frames = [gc.Frame(rng.integers(0, 4, (size, size)).astype(np.uint8)) for _ in range(n)]
    return gc.make_gif(size, size, frames, global_palette=PALETTE, loop=0)


def _one_error(res, *needles: str) -> str:
    """Exit code 2, nothing on stdout, exactly one line on stderr naming every needle."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _usage_error(res, option: str, *needles: str) -> None:
    """Option range errors come from the parser: the same one `error:` line, naming the option and its bound."""
    _one_error(res, option, *needles)
    assert "Traceback" not in res.stderr


def _empty(folder: Path) -> None:
    """Nothing written: neither the output nor a temp file (`.name.xxxx.partial`) beside it."""
    assert sorted(p.name for p in folder.iterdir()) == []


# --- help -----------------------------------------------------------------------------------


def _commands(cmd, path=()):
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))
    yield path, cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=[" ".join(p) or "top" for p, _ in COMMANDS])
def test_help_of_every_command_exits_0_and_names_its_options(path, cmd):
    res = _cli([*path, "--help"])
    assert res.exit_code == 0 and res.stderr == "", res.output
    for sub in getattr(cmd, "commands", {}):
        assert sub in res.stdout
    for param in cmd.params:
        if param.param_type_name != "option":
            continue
        assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
        for opt in (*param.opts, *param.secondary_opts):
            assert opt in res.stdout, (path, opt)


def test_the_commands_the_brief_promises_exist():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"restore", "make-gif", "build", "eval", "info", "data list", "data fetch"} <= names


def test_info_json_parses():
    res = _cli(["info", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert isinstance(data, dict) and data["backends"]["onnxruntime"] is True
    import numpy
    import onnxruntime

    assert data["numpy"] == numpy.__version__ and data["onnxruntime"]["version"] == onnxruntime.__version__
    if HAS_TENSORRT:
        import tensorrt

        assert data["tensorrt"] == {"version": tensorrt.__version__, "error": None}
    else:  # absent: no version, and the reason says which module is missing
        assert data["tensorrt"]["version"] is None and "tensorrt" in data["tensorrt"]["error"]
        assert data["backends"]["tensorrt"] is False


# --- restore: bad GIFs --------------------------------------------------------------------

GOOD = _noisy_gif(3)
# header 13 + palette 12 + NETSCAPE 19 + graphic control 8 = 52: the image descriptor starts there
BAD_GIFS = {
    "png-renamed": (None, "not a GIF file"),
    "truncated-header": (GOOD[:10], "truncated GIF"),
    "truncated-descriptor": (GOOD[:58], "truncated GIF"),
    "zero-frames": (gc.make_gif(8, 8, [], global_palette=PALETTE), "no frames"),
    "0x0": (gc.make_gif(0, 0, [gc.Frame(np.zeros((0, 0), np.uint8))], global_palette=PALETTE), "0x0"),
    "60000x60000": (gc.make_gif(60000, 60000, [gc.Frame(np.zeros((8, 8), np.uint8))], global_palette=PALETTE),
                    "60000x60000"),
    "no-palette": (gc.make_gif(8, 8, [gc.Frame(np.zeros((8, 8), np.uint8))]), "no colour table"),
}


def _write_bad(path: Path, data: bytes | None) -> Path:
    if data is None:
        Image.new("RGB", (8, 8), (200, 10, 10)).save(path, format="PNG")
        return path
    return gc.write(path, data)


@pytest.mark.parametrize("case", list(BAD_GIFS))
def test_restore_bad_gif_is_one_line_naming_the_file(models, tmp_path, case):
    data, message = BAD_GIFS[case]
    gif = _write_bad(tmp_path / f"{case}.gif", data)
    out = tmp_path / "out"
    out.mkdir()
    _one_error(_cli(["restore", gif, "-o", out / "o.mp4"], models), str(gif), message)
    _empty(out)


@pytest.mark.parametrize("keep", [200, -12], ids=["inside-first-frame", "inside-last-frame"])
def test_restore_truncated_gif_says_truncated_and_leaves_nothing(models, tmp_path, keep):
    gif = gc.write(tmp_path / "cut.gif", GOOD[:keep])
    out = tmp_path / "out"
    out.mkdir()
    _one_error(_cli(["restore", gif, "-o", out / "o.mp4"], models), str(gif), "truncated")
    _empty(out)


@pytest.mark.parametrize("target", ["o.mp4", "frames"])
def test_restore_failing_mid_stream_leaves_nothing(models, tmp_path, target):
    """Frames 0-2 decode and get written, frame 3's LZW data is garbage: the output is dropped."""
    head = _noisy_gif(3)[:-1]  # without the trailer
    broken = b"\x2c" + struct.pack("<HHHHB", 0, 0, 40, 40, 0) + b"\x02" + gc.sub_blocks(b"\xff" * 20) + b"\x3b"
    gif = gc.write(tmp_path / "midway.gif", head + broken)
    out = tmp_path / "out"
    out.mkdir()
    _one_error(_cli(["restore", gif, "-o", out / target, "--interp", "1"], models), str(gif), "LZW")
    _empty(out)


def test_restore_missing_file(models, tmp_path):
    _one_error(_cli(["restore", tmp_path / "nope.gif", "-o", tmp_path / "o.mp4"], models),
               str(tmp_path / "nope.gif"), "no such file")
    assert not (tmp_path / "o.mp4").exists()


# --- restore: outputs and options -----------------------------------------------------------


@pytest.fixture()
def gif(tmp_path) -> Path:
    return gc.write(tmp_path / "in.gif", GOOD)


def test_restore_into_a_missing_directory(models, gif, tmp_path):
    target = tmp_path / "missing" / "o.mp4"
    _one_error(_cli(["restore", gif, "-o", target], models), str(target), "does not exist")
    assert not (tmp_path / "missing").exists()


def test_restore_under_a_regular_file(models, gif, tmp_path):
    blocker = tmp_path / "notadir"
    blocker.write_text("x")
    target = blocker / "o.mp4"
    _one_error(_cli(["restore", gif, "-o", target], models), str(target), "it is a regular file")
    assert blocker.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["in.gif", "notadir"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fps", "0"], '"--fps" must be > 0'),
        (["--interp", "2", "--fps", "10"], "not both"),
        (["--fps", "1e9"], "above 1000"),  # a typo must not run out of memory listing frame times
        (["--interp", "100000"], "above 1000"),
        (["--tile", "7"], "--tile"),
    ],
)
def test_restore_bad_options(models, gif, tmp_path, extra, message):
    out = tmp_path / "out"
    out.mkdir()
    _one_error(_cli(["restore", gif, "-o", out / "o.mp4", *extra], models), message)
    _empty(out)


def test_restore_interp_0_is_one_line(models, gif, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _one_error(_cli(["restore", gif, "-o", out / "o.mp4", "--interp", "0"], models), '"--interp" must be >= 1')
    _empty(out)


def test_restore_refuses_to_overwrite_its_input(models, gif):
    before = gif.read_bytes()
    _one_error(_cli(["restore", gif, "-o", gif, "--format", "gif"], models), str(gif), "overwrite its input")
    assert gif.read_bytes() == before


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_restore_tensorrt_backend_without_tensorrt(models, gif, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _one_error(_cli(["restore", gif, "-o", out / "o.mp4", "--backend", "tensorrt"], models), "TensorRT")
    _empty(out)


def test_restore_directory_with_a_bad_first_gif_leaves_no_output_directory(models, tmp_path):
    src = tmp_path / "gifs"
    src.mkdir()
    gc.write(src / "a.gif", GOOD[:40])
    gc.write(src / "b.gif", GOOD)
    _one_error(_cli(["restore", src, "-o", f"{tmp_path / 'out'}/"], models), str(src / "a.gif"))
    assert not (tmp_path / "out").exists()


# --- restore: happy paths -------------------------------------------------------------------


def _video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_restore_sample_to_png_frames_and_mp4(models, tmp_path):
    with Image.open(SAMPLE) as im:
        n, size = im.n_frames, im.size
    res = _cli(["restore", SAMPLE, "-o", tmp_path / "frames", "--interp", "1"], models)
    assert res.exit_code == 0, res.output
    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) == n and Image.open(frames[0]).size == size
    res = _cli(["restore", SAMPLE, "-o", tmp_path / "o.mp4", "--interp", "2"], models)
    assert res.exit_code == 0, res.output
    assert f"{2 * n} frames" in res.stdout and _video_frames(tmp_path / "o.mp4") == 2 * n
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "o.mp4"]  # no temp left over


def test_restore_a_directory_of_two_gifs_into_a_directory(models, tmp_path):
    src = tmp_path / "gifs"
    src.mkdir()
    gc.write(src / "a.gif", _noisy_gif(3, seed=1))
    gc.write(src / "b.gif", _noisy_gif(5, seed=2))
    res = _cli(["restore", src, "-o", f"{tmp_path / 'out'}/", "--interp", "1"], models)  # a folder: asked for by "/"
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "b.mp4"]
    assert [_video_frames(tmp_path / "out" / f) for f in ("a.mp4", "b.mp4")] == [3, 5]


# --- make-gif -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with open_writer(path, 10) as w:
        for i in range(6):
            w.write(np.full((32, 32, 3), 30 * i, np.uint8))
    return path


def test_make_gif_missing_video(tmp_path):
    src = tmp_path / "nope.mp4"
    _one_error(_cli(["make-gif", src, "-o", tmp_path / "o.gif"]), str(src), "no such file")
    assert not (tmp_path / "o.gif").exists()


def test_make_gif_non_video(tmp_path):
    src = tmp_path / "notes.mp4"
    src.write_text("not a video at all\n" * 20)
    line = _one_error(_cli(["make-gif", src, "-o", tmp_path / "o.gif"]), str(src), "not a readable video")
    assert "Errno" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


@pytest.mark.parametrize("colors, bound", [("1", "2"), ("300", "256")])
def test_make_gif_colors_out_of_range(video, tmp_path, colors, bound):
    _usage_error(_cli(["make-gif", video, "-o", tmp_path / "o.gif", "--colors", colors]), "--colors", bound)
    _empty(tmp_path)


def test_make_gif_unwritable_output(video, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "o.gif"
    _one_error(_cli(["make-gif", video, "-o", target]), str(target), "it is a regular file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_make_gif_happy_path(video, tmp_path):
    res = _cli(["make-gif", video, "-o", tmp_path / "o.gif", "--colors", "8"])
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "o.gif") as im:
        assert im.n_frames == 6 and im.size == (32, 32)


# --- build, eval, data ----------------------------------------------------------------------


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_build_without_tensorrt(tmp_path):
    _one_error(_cli(["build", "--cache-dir", tmp_path / "engines"]), "build", "TensorRT is not installed")
    assert not (tmp_path / "engines").exists()


def test_eval_model_syntax(tmp_path):
    _one_error(_cli(["eval", "--model", "bad", "-o", tmp_path / "r.json"]), "--model must be STEM=PATH", '"bad"')
    _empty(tmp_path)


def test_data_list_on_an_empty_cache_says_to_fetch(tmp_path):
    _one_error(_cli(["data", "list", "--cache-dir", tmp_path]), str(tmp_path), "trt-gif2video data fetch")


# --- as a shell sees it ---------------------------------------------------------------------


@pytest.mark.skipif(not EXE.exists(), reason="console script not installed in this environment")
def test_shell_sees_one_line_on_stderr_and_exit_2(models, tmp_path):
    bad = _write_bad(tmp_path / "photo.gif", None)
    out = tmp_path / "out"
    out.mkdir()
    env = {"PATH": "/usr/bin:/bin", WEIGHTS_ENV: str(models)}
    proc = subprocess.run([str(EXE), "restore", str(bad), "-o", str(out / "o.mp4")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {bad}: not a GIF file (no GIF87a/GIF89a signature)"]
    _empty(out)
