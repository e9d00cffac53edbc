"""Mutation run over the core: apply each one-line mutation of mutations.py to a copy of the
package, run the tests that cover it, and report how many the tests catch.

    python tests/mutation/run.py              # all mutations (CPU heavy: minutes)
    python tests/mutation/run.py pts-shift    # some, by id
    python tests/mutation/run.py --list

The working tree is never modified: the package and tests are copied to a temp directory
(the shipped weights are linked, not copied). A mutation is caught when its covering tests
fail (or time out); "stale" means its text is no longer in the file (the code changed: update
the mutation). Not part of CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mutations import MUTATIONS  # noqa: E402


def _copy_tree(dst: Path) -> None:
    shutil.copytree(REPO / "trt_gif2video", dst / "trt_gif2video",
                    ignore=shutil.ignore_patterns("weights", "__pycache__"))
    (dst / "trt_gif2video" / "weights").symlink_to(REPO / "trt_gif2video" / "weights")
    shutil.copytree(REPO / "tests", dst / "tests", ignore=shutil.ignore_patterns("mutation", "__pycache__"))
    for name in ("pyproject.toml", "calib", "docs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name)
        elif src.is_file():
            shutil.copy(src, dst / name)


def _pytest(root: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRT_GIF2VIDEO_WEIGHTS"}
    env.update(PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="2")
    start = time.perf_counter()
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                             cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    tail = [ln for ln in run.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))][:1]
    return ("pass" if run.returncode == 0 else f"fail(rc={run.returncode})"), time.perf_counter() - start, \
        (tail[0] if tail else run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="mutation ids (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutation")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the covering tests")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.ids or m[0] in args.ids]
    if args.list or not chosen:
        for mid, path, _, _, tests, what in MUTATIONS:
            print(f"{mid:24} {path:24} {what}  [{', '.join(Path(t).name for t in tests)}]")
        return 0 if chosen else 2
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        if not args.no_baseline:
            covering = sorted({t for m in chosen for t in m[4]})
            status, secs, tail = _pytest(root, covering, args.timeout * 2)
            print(f"baseline ({len(covering)} test files, unmutated): {status} in {secs:.0f} s {tail}", flush=True)
            if status != "pass":
                print("the covering tests fail without any mutation: fix them first")
                return 1
        caught = stale = 0
        survivors = []
        for mid, rel, old, new, tests, what in chosen:
            target = root / "trt_gif2video" / rel
            source = target.read_text()
            if source.count(old) != 1:
                stale += 1
                print(f"{mid:24} STALE    text found {source.count(old)} times in {rel}", flush=True)
                continue
            target.write_text(source.replace(old, new))
            try:
                status, secs, tail = _pytest(root, tests, args.timeout)
            finally:
                target.write_text(source)
            killed = status != "pass"
            caught += killed
            if not killed:
                survivors.append(mid)
            print(f"{mid:24} {'caught ' if killed else 'SURVIVED'} {secs:5.0f} s  {what}  {tail[:90]}", flush=True)
        tried = len(chosen) - stale
        rate = 100.0 * caught / tried if tried else 0.0
        print(f"\ncaught {caught} of {tried} mutations ({rate:.0f} %); stale {stale}; survivors: {', '.join(survivors) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
