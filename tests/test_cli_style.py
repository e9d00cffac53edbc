"""One style for the whole command line (issue 15, item 4): -h, --version, --quiet, -o/--output,
help without internal types, enums for closed choices, one `error:` line for parser mistakes,
markup escaped where user or package text is printed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from PIL import Image
from typer.testing import CliRunner

import runtime_standins as standins
from trt_gif2video import __version__
from trt_gif2video.cli import _progress_columns, app
from trt_gif2video.models import WEIGHTS_ENV

runner = CliRunner()


def _cli(*args, **env: str):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **env})


def _one_error_line(res, *needles: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Traceback" not in res.output and "╭" not in res.output, res.output  # no rich error box
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _commands(cmd, path=()):
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))
    yield path, cmd


COMMANDS = list(_commands(typer.main.get_command(app)))
IDS = [" ".join(p) or "top" for p, _ in COMMANDS]


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_help_shows_no_internal_types(path, cmd):
    short, long = _cli(*path, "-h"), _cli(*path, "--help")
    assert short.exit_code == long.exit_code == 0 and short.stdout == long.stdout
    for internal in ("<bool>", "<list", "<path>", "<int", "<float", "<str>", "<text>", "{", "Path]"):
        assert internal not in short.stdout, (path, internal)


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_every_output_option_is_dash_o_output(path, cmd):
    for param in cmd.params:
        if param.param_type_name == "option" and param.name in ("out", "output"):
            assert sorted(param.opts) == ["--output", "-o"], (path, param.opts)


def test_version():
    res = _cli("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"trt-gif2video {__version__}"


@pytest.mark.parametrize(
    "args, needles",
    [
        (["restore", "--bogus"], ["error: restore:", "No such option: --bogus", "trt-gif2video restore -h"]),
        (["restore", "x.gif"], ["error: restore:", "--output"]),
        (["restore"], ["error: restore:", "Missing argument 'GIF...'"]),
        (["restore", "x.gif", "-o", "y.mp4", "--interp", "two"], ["--interp"]),
        (["restore", "x.gif", "-o", "y.mp4", "--backend", "cuda"], ["--backend", "onnxruntime"]),
        (["eval", "--backend", "tensorflow"], ["error: eval:", "--backend", "onnxruntime"]),
        (["eval", "--precision", "fp8"], ["--precision", "int8"]),
        (["make-gif", "v.mp4", "-o", "x.gif", "--global-palette", "true"], ["error: make-gif:"]),
        (["bogus"], ["error: trt-gif2video:", "bogus"]),
        (["data", "list", "--split", "nope"], ["error: data list:", "--split"]),
    ],
)
def test_parser_mistakes_are_one_error_line(args, needles):
    _one_error_line(_cli(*args), *needles)


def test_parser_mistake_in_a_real_shell_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", "from trt_gif2video.cli import main; main()", "restore", "--nope"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: restore: No such option: --nope")
    assert lines[0].endswith("(see: trt-gif2video restore -h)")


def test_old_out_spelling_still_works_but_is_hidden(tmp_path):
    assert "--out " not in _cli("eval", "-h").stdout
    res = _cli("make-gif", tmp_path / "missing.mp4", "--out", tmp_path / "x.gif")  # parsed as --output
    _one_error_line(res, "missing.mp4")


def _image_dir(folder: Path, n: int = 6) -> Path:
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_make_gif_picks_a_legal_rate_without_complaining_about_fps(tmp_path):
    # A 100 fps source and no --fps: every 2nd frame at 50 fps, and no word about "--fps".
    res = _cli("make-gif", _image_dir(tmp_path / "src"), "-o", tmp_path / "x.gif", "--src-fps", "100")
    assert res.exit_code == 0 and "--fps" not in res.output, res.output
    with Image.open(tmp_path / "x.gif") as im:
        assert im.n_frames == 3 and im.info["duration"] == 20
    # An explicit --fps above 50 is refused, naming --fps.
    _one_error_line(_cli("make-gif", tmp_path / "src", "-o", tmp_path / "y.gif", "--src-fps", "100", "--fps", "60"),
                    "--fps 60")


def test_global_palette_flag_pair(tmp_path):
    src = _image_dir(tmp_path / "src")
    for flag in ("--global-palette", "--local-palette"):
        res = _cli("make-gif", src, "-o", tmp_path / f"{flag[2:]}.gif", flag)
        assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "global-palette.gif") as g, Image.open(tmp_path / "local-palette.gif") as l:
        assert g.n_frames == l.n_frames == 6
    help_text = _cli("make-gif", "-h").stdout
    assert "--global-palette" in help_text and "--local-palette" in help_text


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return standins.write_models(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def gif(tmp_path) -> Path:
    return standins.write_gif(tmp_path / "in.gif", standins.flat_frames(3, 20, 24), [10, 10, 10])


@pytest.mark.parametrize("where", ["command", "root"])
def test_quiet_prints_nothing(models, gif, tmp_path, where):
    args = ["restore", gif, "-o", tmp_path / "o.png", "--backend", "onnxruntime", "--threads", "1"]
    args = [*args, "-q"] if where == "command" else ["--quiet", *args]
    res = _cli(*args, **{WEIGHTS_ENV: str(models)})
    assert res.exit_code == 0 and res.output == "", res.output
    assert (tmp_path / "o.png").stat().st_size > 0
    loud = _cli(*[a for a in args if a not in ("-q", "--quiet")], "-y", **{WEIGHTS_ENV: str(models)})
    assert loud.exit_code == 0 and "o.png:" in loud.stdout


def test_restore_errors_are_one_line_too(models, tmp_path):
    _one_error_line(_cli("restore", tmp_path / "nope.gif", "-o", tmp_path / "o.mp4", **{WEIGHTS_ENV: str(models)}),
                    "nope.gif")


def test_info_prints_package_text_with_brackets(monkeypatch):
    import trt_gif2video.runtime as runtime

    monkeypatch.setattr(runtime, "environment_info",
                        lambda: {"tensorrt": "missing: pip install 'trt-gif2video[gpu]' (pycuda)", "x[y]": "[bold]z"})
    res = _cli("info")
    assert res.exit_code == 0
    assert "trt-gif2video[gpu]" in res.stdout and "x[y]" in res.stdout and "[bold]z" in res.stdout


def test_progress_bar_keeps_brackets_and_labels_eta_and_fps():
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    with Progress(*_progress_columns("GIF frames", fps=True), console=console, auto_refresh=False) as bar:
        task = bar.add_task(escape("clip[hd].gif"), total=10, written=0)
        bar.update(task, completed=4, written=8)
        bar.refresh()
    text = out.getvalue()
    assert "clip[hd].gif" in text and "4/10 GIF frames" in text and "8 written" in text
    assert "ETA" in text and " fps" in text
