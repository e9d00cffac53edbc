"""Output paths checked before any work: what may be written where, and what must never be replaced.

Rules (every violation is one `OutputError` line naming the path):
- an output is a regular file, or a directory of PNG frames; never a character device, FIFO,
  socket or block device (`-o /dev/null` must not replace /dev/null), never `''` or `.`;
- an existing output is refused unless `Overwrite.YES` (`-y`); `Overwrite.SKIP` (`-n`) skips it;
- no output is an input (same path, symlink or hard link) and no two outputs are the same file;
- a name longer than the file system allows fails here, not after the restore.

Temp files are named `.g2v-<pid>-<hex>.partial` (short, whatever the target's name), so a
legal 255-byte name stays legal; `sweep_leftovers` removes those of processes that no longer
run (a SIGKILLed run), the next time something is written in that directory.
"""

from __future__ import annotations

import enum
import os
import re
import stat
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import BadArgumentError, OutputError

TEMP_PREFIX = ".g2v-"
_TEMP_RE = re.compile(r"^\.g2v-(\d+)-[0-9a-f]+\.partial$")


class Overwrite(str, enum.Enum):
    """What to do when an output already exists."""

    REFUSE = "refuse"  # default: one-line error before any work, with a hint
    YES = "yes"  # -y: replace it (atomically, at the end)
    SKIP = "skip"  # -n: leave it and skip that input


_LIVE: set[Path] = set()  # temp outputs of this process not yet committed or discarded


def track_temp(path: Path, live: bool) -> None:
    """Note a temp output as live (before it is created) or done (after rename or removal)."""
    (_LIVE.add if live else _LIVE.discard)(path)


def discard_live_temps() -> None:
    """Remove every temp output still live: the last word of an interrupted process, whatever
    bytecode the signal landed on (the writers' own cleanup covers all but a few-instruction window)."""
    import shutil

    for p in list(_LIVE):
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        except OSError:
            pass
        _LIVE.discard(p)


def temp_name() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.partial"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove temp outputs of dead processes in `folder` (a killed run's leftovers); returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        p = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                import shutil

                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass  # not ours to fight over: it is ignored either way
    return removed


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder if folder.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_name(path: Path) -> None:
    """Refuse '', '.', '..' and names the file system cannot hold, before any work."""
    raw = os.fspath(path)
    if raw in ("", ".", "..") or path.name in ("", ".", ".."):
        raise OutputError(f"{raw!r}: not an output file name: give a file path such as out.mp4")
    limit = _name_max(path.parent)
    if len(os.fsencode(path.name)) > limit:
        raise OutputError(f"{path}: file name is {len(os.fsencode(path.name))} bytes, "
                          f"over the file system's limit of {limit}")
    if len(os.fsencode(os.path.abspath(raw))) >= 4096:
        raise OutputError(f"{path}: path is longer than the system's limit of 4095 bytes")


def _same(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path: Path, *, allow_dir: bool, inputs: Iterable[Path] = (), overwrite: Overwrite = Overwrite.REFUSE,
                 flag_hint: bool = True) -> bool:
    """Check one output path; True if it should be written, False if `Overwrite.SKIP` skips it."""
    check_name(path)
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{path}: output directory {parent} does not exist: it is a regular file")
    if not parent.is_dir():
        raise OutputError(f"{path}: output directory {parent} does not exist: create it first")
    for src in inputs:
        if _same(path, Path(src)):
            raise OutputError(f"{path}: the output would overwrite its input {src}; choose another path")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise OutputError(f"{path}: cannot check the output ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        if allow_dir:
            return True
        raise OutputError(f"{path}: is a directory: give a file name with an extension, or --format png for frames")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: is {_kind(st.st_mode)}: outputs must be regular files; refusing to replace it")
    if overwrite is Overwrite.YES:
        return True
    if overwrite is Overwrite.SKIP:
        return False
    hint = " (use -y to overwrite, -n to skip)" if flag_hint else ""
    raise OutputError(f"{path}: already exists{hint}")


def check_distinct(outputs: Sequence[Path | None]) -> None:
    """No two outputs may be the same file (e.g. --compare equal to -o)."""
    seen: list[Path] = []
    for p in outputs:
        if p is None:
            continue
        for q in seen:
            if _same(p, q):
                raise OutputError(f"{p}: used for two outputs ({q}); give each its own path")
        seen.append(p)


def check_input(path: Path) -> None:
    """An input must exist and be a regular file (or a directory, where the caller allows it)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadArgumentError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise BadArgumentError(f"{path}: cannot open ({exc.strerror})") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise BadArgumentError(f"{path}: not a regular file ({_kind(st.st_mode)})")
