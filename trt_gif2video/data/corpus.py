"""The fetched corpus on disk: its manifest, and the file lists training/evaluation use.

Layout: `<cache>/corpus/{videos,photos}/<id><ext>` plus `<cache>/corpus/manifest.json`
(written by `trt_gif2video.data.fetch`). No torch, no network here.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

from ..hashing import sha256_file
from ..errors import DataError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CACHE_ENV = "TRT_GIF2VIDEO_CACHE"
FETCH_HINT = "run `trt-gif2video data fetch`"

PathLike = Union[str, "os.PathLike[str]"]


class Kind(str, enum.Enum):
    VIDEO = "video"
    PHOTO = "photo"

    @property
    def folder(self) -> str:
        return self.value + "s"


class Split(str, enum.Enum):
    TRAIN = "train"
    VAL = "val"


@dataclass(frozen=True)
class Entry:
    """One corpus file. `path` is relative to the corpus dir (POSIX separators)."""

    id: str
    path: str
    kind: Kind
    split: Split
    sha256: str
    size: int
    source: str  # key in the source table
    package: str
    version: str
    licence: str
    member: str  # path inside the downloaded archive
    width: int
    height: int
    mode: Optional[str] = None  # Pillow mode of a photo (RGB, RGBA, P, ...)
    fps: Optional[float] = None
    frames: Optional[int] = None

    def to_json(self) -> dict:
        return {**asdict(self), "kind": self.kind.value, "split": self.split.value}

    @classmethod
    def from_json(cls, d: dict) -> "Entry":
        return cls(**{**d, "kind": Kind(d["kind"]), "split": Split(d["split"])})


@dataclass(frozen=True)
class PackageRecord:
    """What one source contributed; `members` are all ids its rules matched (excluded ones too)."""

    source: str
    package: str
    version: str
    spec: str  # hash of the source's rules: a changed rule means fetch again
    members: tuple[str, ...]

    def to_json(self) -> dict:
        return {**asdict(self), "members": list(self.members)}

    @classmethod
    def from_json(cls, d: dict) -> "PackageRecord":
        return cls(**{**d, "members": tuple(d["members"])})


@dataclass(frozen=True)
class Manifest:
    root: Path  # the corpus dir the relative paths resolve against
    entries: dict[str, Entry] = field(default_factory=dict)
    packages: dict[str, PackageRecord] = field(default_factory=dict)

    def path_of(self, entry: Entry) -> Path:
        return self.root / entry.path

    def select(self, kind: Kind, split: Optional[Split] = None) -> list[Entry]:
        return sorted(
            (e for e in self.entries.values() if e.kind == kind and (split is None or e.split == split)),
            key=lambda e: e.id,
        )

    def with_root(self, root: Path) -> "Manifest":
        return replace(self, root=root)

    def to_json(self) -> dict:
        return {
            "format": MANIFEST_FORMAT,
            "packages": {k: p.to_json() for k, p in sorted(self.packages.items())},
            "files": {k: e.to_json() for k, e in sorted(self.entries.items())},
        }

    @classmethod
    def from_json(cls, root: Path, d: dict) -> "Manifest":
        if d.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {d.get('format')!r} != {MANIFEST_FORMAT}")
        return cls(
            root=root,
            entries={k: Entry.from_json(v) for k, v in d["files"].items()},
            packages={k: PackageRecord.from_json(v) for k, v in d["packages"].items()},
        )


def resolve_cache_dir(cache_dir: Optional[PathLike] = None) -> Path:
    """Explicit argument > $TRT_GIF2VIDEO_CACHE > the platform's user cache dir."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("trt-gif2video"))


def corpus_dir(cache_dir: Optional[PathLike] = None) -> Path:
    return resolve_cache_dir(cache_dir) / "corpus"




def entry_problem(manifest: Manifest, entry: Entry, check_hash: bool = True) -> Optional[str]:
    """None when the file is present and matches the manifest, else what is wrong."""
    path = manifest.path_of(entry)
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    if size != entry.size:
        return f"{path} has {size} bytes, manifest says {entry.size}"
    if check_hash and sha256_file(path) != entry.sha256:
        return f"{path} does not match its sha256 in the manifest"
    return None


def read_manifest(root: Path) -> Optional[Manifest]:
    """The manifest under corpus dir `root`, or None when there is none. Corrupt -> DataError."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.from_json(root, json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"corpus manifest {path} is unreadable ({exc}): delete it and {FETCH_HINT}") from None


def write_manifest(manifest: Manifest) -> Path:
    """Atomic (temp file + rename): readers never see a half-written manifest."""
    manifest.root.mkdir(parents=True, exist_ok=True)
    path = manifest.root / MANIFEST_NAME
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n")
    os.replace(tmp, path)
    return path


def load_manifest(cache_dir: Optional[PathLike] = None, verify: bool = False) -> Manifest:
    """The fetched corpus. `verify` re-hashes every file (slow: ~300 MB)."""
    root = corpus_dir(cache_dir)
    manifest = read_manifest(root)
    if manifest is None or not manifest.entries:
        raise DataError(f"corpus not found at {root}: {FETCH_HINT}")
    if verify:
        problems = [p for e in manifest.entries.values() if (p := entry_problem(manifest, e))]
        if problems:
            raise DataError(f"corpus at {root} is damaged ({len(problems)} files, first: {problems[0]}): {FETCH_HINT}")
    return manifest


def _paths(kind: Kind, split: Split, cache_dir: Optional[PathLike]) -> list[Path]:
    manifest = load_manifest(cache_dir)
    found = [manifest.path_of(e) for e in manifest.select(kind, Split(split))]
    if not found:
        raise DataError(f"corpus at {manifest.root} has no {Split(split).value} {kind.folder}: {FETCH_HINT}")
    return found


def photos(split: Split = Split.TRAIN, cache_dir: Optional[PathLike] = None) -> list[Path]:
    """Photo files of one split, sorted by id (load with Pillow and `.convert("RGB")`)."""
    return _paths(Kind.PHOTO, split, cache_dir)


def videos(split: Split = Split.TRAIN, cache_dir: Optional[PathLike] = None) -> list[Path]:
    """Video files (.avi/.mp4) of one split, sorted by id."""
    return _paths(Kind.VIDEO, split, cache_dir)
