"""The corpus: source table, manifest, extraction from real .deb/.whl archives, idempotence.

No network and no downloaded corpus: the archives are built here with dpkg-deb / zipfile.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trt_gif2video.data import corpus, fetch, sources
from trt_gif2video.data.corpus import Kind, Split
from trt_gif2video.data.sources import Channel, Rule, Source
from trt_gif2video.errors import BadArgumentError, DataError

# --- the source table -------------------------------------------------------------------------


def test_every_source_has_licence_rules_and_unique_key():
    keys = [s.key for s in sources.SOURCES]
    assert len(keys) == len(set(keys))
    for s in sources.SOURCES:
        assert len(s.licence) > 10, s.key
        assert s.rules and all("(?P<name>" in r.pattern for r in s.rules), s.key
        assert "-" not in s.key  # ids are <key>-<name>: the key must be unambiguous


def test_exclusions_compile_and_have_reasons():
    for pattern, reason in sources.EXCLUDE.items():
        re.compile(pattern)
        assert reason.strip(), pattern
        assert pattern.split("-", 1)[0] in sources.SOURCE_BY_KEY, pattern


def test_val_ids_are_real_kept_and_both_kinds_present():
    for file_id in sources.VAL:
        assert file_id.split("-", 1)[0] in sources.SOURCE_BY_KEY, file_id
        assert sources.excluded(file_id) is None, f"{file_id} is in VAL but excluded"
        assert sources.split_of(file_id) == Split.VAL
    assert {"opencv-tree.avi", "opencv-cup.mp4"} <= sources.VAL
    assert sources.split_of("opencv-vtest.avi") == Split.TRAIN
    assert len({i.split("-", 1)[0] for i in sources.VAL}) >= 5  # mixed sources


def test_related_images_share_a_split():
    for group in sources.GROUPS:
        assert len({sources.split_of(i) for i in group}) == 1, group
    grouped = {i for g in sources.GROUPS for i in g}
    assert {"opencv-aloeL.jpg", "opencv-graf3.png", "skimage-motorcycle_right.png"} <= grouped


def test_rules_map_known_members_to_ids():
    ocv, plasma = sources.SOURCE_BY_KEY["opencv"], sources.SOURCE_BY_KEY["plasma"]
    assert ocv.match("usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz") == ("opencv-cup.mp4", Kind.VIDEO)
    assert ocv.match("usr/share/doc/opencv-doc/examples/data/aloeL.jpg") == ("opencv-aloeL.jpg", Kind.PHOTO)
    assert ocv.match("usr/share/doc/opencv-doc/examples/data/sub/x.jpg") is None
    assert plasma.match("usr/share/wallpapers/Path/contents/images/2560x1600.jpg") == ("plasma-Path.jpg", Kind.PHOTO)
    assert plasma.match("usr/share/wallpapers/Path/contents/images/1920x1080.jpg") is None


def test_select_sources_by_key_or_package():
    assert [s.key for s in sources.select_sources(["opencv-doc", "sklearn"])] == ["opencv", "sklearn"]
    assert sources.select_sources(None) == sources.SOURCES
    with pytest.raises(BadArgumentError, match="unknown corpus source 'nope'"):
        sources.select_sources(["nope"])


# --- manifest ---------------------------------------------------------------------------------


def _entry(**kw) -> corpus.Entry:
    base = dict(id="t-a.png", path="photos/t-a.png", kind=Kind.PHOTO, split=Split.VAL, sha256="0" * 64, size=3,
                source="t", package="pkg", version="1.0", licence="CC0", member="x/a.png", width=4, height=2,
                mode="RGB")
    return corpus.Entry(**{**base, **kw})


def test_manifest_round_trip(tmp_path):
    m = corpus.Manifest(
        root=tmp_path,
        entries={"t-a.png": _entry(), "t-v.avi": _entry(id="t-v.avi", path="videos/t-v.avi", kind=Kind.VIDEO,
                                                         split=Split.TRAIN, mode=None, fps=12.5, frames=9)},
        packages={"t": corpus.PackageRecord("t", "pkg", "1.0", "abc", ("t-a.png", "t-v.avi", "t-x.png"))},
    )
    corpus.write_manifest(m)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["files"]["t-v.avi"]["kind"] == "video" and raw["files"]["t-a.png"]["split"] == "val"
    assert corpus.read_manifest(tmp_path) == m


def test_missing_or_corrupt_corpus_raises_data_error(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"corpus not found at .*: run `trt-gif2video data fetch`"):
        corpus.load_manifest(tmp_path)
    monkeypatch.setenv(corpus.CACHE_ENV, str(tmp_path / "env"))
    assert corpus.corpus_dir() == tmp_path / "env" / "corpus"
    with pytest.raises(DataError, match="corpus not found"):
        corpus.photos(Split.TRAIN)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable"):
        corpus.load_manifest(tmp_path)


# --- extraction from real archives ------------------------------------------------------------


def _png_bytes(w: int, h: int, seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _video_bytes(path: Path, frames: int = 6) -> bytes:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        for i in range(frames):
            img = np.full((16, 32, 3), 20 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    """A tiny .deb (photos + a gzipped video + noise) and a tiny wheel, like the real ones."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    work = tmp_path_factory.mktemp("archives")
    pkg = work / "pkg"
    data = pkg / "usr/share/doc/tiny/data"
    data.mkdir(parents=True)
    (data / "sky.png").write_bytes(_png_bytes(40, 24, 0))
    (data / "logo.png").write_bytes(_png_bytes(8, 8, 1))
    (data / "README").write_text("not wanted")
    (data / "clip.avi.gz").write_bytes(gzip.compress(_video_bytes(work / "clip.avi")))
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN/control").write_text(
        "Package: tiny-data\nVersion: 1:2.3-4\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    deb = work / "tiny-data_2.3-4_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)], check=True, capture_output=True)
    whl = work / "tinywheel-0.5.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("tinywheel/data/cat.png", _png_bytes(20, 30, 2))
        zf.writestr("tinywheel/__init__.py", "")
    return {"deb": deb, "whl": whl}


DEB_SRC = Source("tdeb", Channel.DEBIAN, "tiny-data", "CC0 (test)", (
    Rule(r"usr/share/doc/tiny/data/(?P<name>clip)\.avi\.gz", Kind.VIDEO),
    Rule(r"usr/share/doc/tiny/data/(?P<name>[^/]+)\.png", Kind.PHOTO),
))  # fmt: skip
WHL_SRC = Source("twhl", Channel.PYPI, "tinywheel", "CC0 (test)", (Rule(r"tinywheel/data/(?P<name>[^/]+)\.png", Kind.PHOTO),))


@pytest.fixture
def table(monkeypatch):
    """The test sources' curation: one exclusion, one validation file."""
    monkeypatch.setattr(sources, "EXCLUDE", {r"tdeb-logo\.png": "synthetic logo"})
    monkeypatch.setattr(sources, "VAL", frozenset({"twhl-cat.png"}))


class CountingDownloader:
    def __init__(self, archives: dict[str, Path]):
        self.archives, self.calls = archives, []

    def __call__(self, source: Source, dest: Path) -> Path:
        self.calls.append(source.key)
        src = self.archives["deb" if source.channel == Channel.DEBIAN else "whl"]
        return Path(shutil.copy(src, dest))


def test_fetch_extracts_probes_and_splits(tmp_path, archives, table):
    dl = CountingDownloader(archives)
    report = fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl)
    m = report.manifest
    assert report.fetched == ("tdeb", "twhl") and dl.calls == ["tdeb", "twhl"]
    assert set(m.entries) == {"tdeb-sky.png", "tdeb-clip.avi", "twhl-cat.png"}
    assert set(m.packages["tdeb"].members) == {"tdeb-sky.png", "tdeb-logo.png", "tdeb-clip.avi"}
    assert m.packages["tdeb"].version == "1:2.3-4" and m.packages["twhl"].version == "0.5.1"
    sky, clip, cat = m.entries["tdeb-sky.png"], m.entries["tdeb-clip.avi"], m.entries["twhl-cat.png"]
    assert (sky.width, sky.height, sky.mode, sky.split) == (40, 24, "RGB", Split.TRAIN)
    assert (cat.width, cat.height, cat.split, cat.licence) == (20, 30, Split.VAL, "CC0 (test)")
    assert (clip.width, clip.height, clip.fps, clip.frames) == (32, 16, 12.0, 6)
    assert corpus.sha256_file(m.path_of(clip)) == clip.sha256  # stored gunzipped
    assert m.path_of(clip).read_bytes()[:4] == b"RIFF"
    assert not (tmp_path / "corpus/photos/tdeb-logo.png").exists()  # excluded: never written
    assert not list((tmp_path / "corpus").glob(".download-*"))  # archives deleted
    assert corpus.photos(Split.VAL, tmp_path) == [tmp_path / "corpus/photos/twhl-cat.png"]
    assert corpus.videos(Split.TRAIN, tmp_path) == [tmp_path / "corpus/videos/tdeb-clip.avi"]
    with pytest.raises(DataError, match="no val videos"):
        corpus.videos(Split.VAL, tmp_path)
    assert corpus.load_manifest(tmp_path, verify=True).entries == m.entries


def test_second_fetch_does_nothing(tmp_path, archives, table):
    dl = CountingDownloader(archives)
    fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl)
    before = (tmp_path / "corpus/manifest.json").read_text()
    report = fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl)
    assert report.fetched == () and report.skipped == ("tdeb", "twhl")
    assert dl.calls == ["tdeb", "twhl"]
    assert (tmp_path / "corpus/manifest.json").read_text() == before


def test_checksum_mismatch_is_detected_and_repaired(tmp_path, archives, table):
    dl = CountingDownloader(archives)
    m = fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl).manifest
    path = m.path_of(m.entries["tdeb-sky.png"])
    damaged = bytearray(path.read_bytes())
    damaged[-5] ^= 0xFF  # same size: only the hash can tell
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="tdeb-sky.png does not match its sha256"):
        corpus.load_manifest(tmp_path, verify=True)
    report = fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl)
    assert report.fetched == ("tdeb",) and report.skipped == ("twhl",)
    corpus.load_manifest(tmp_path, verify=True)


def test_table_change_applies_without_download(tmp_path, archives, table, monkeypatch):
    dl = CountingDownloader(archives)
    fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl)
    monkeypatch.setattr(sources, "EXCLUDE", {r"tdeb-(logo|sky)\.png": "synthetic"})
    monkeypatch.setattr(sources, "VAL", frozenset({"tdeb-clip.avi"}))
    report = fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=dl)
    assert report.removed == ("tdeb-sky.png",) and report.fetched == ()
    assert not (tmp_path / "corpus/photos/tdeb-sky.png").exists()
    assert corpus.videos(Split.VAL, tmp_path) == [tmp_path / "corpus/videos/tdeb-clip.avi"]
    assert corpus.load_manifest(tmp_path).entries["twhl-cat.png"].split == Split.TRAIN


def test_archive_without_wanted_files_is_an_error(tmp_path, archives, table):
    other = Source("tdeb", Channel.DEBIAN, "tiny-data", "CC0", (Rule(r"nothing/(?P<name>x)\.png", Kind.PHOTO),))
    with pytest.raises(DataError, match="no file matching the rules of source 'tdeb'"):
        fetch.fetch_corpus(tmp_path, sources=(other,), progress=False, download=CountingDownloader(archives))


def test_cli_list_and_unknown_source(tmp_path, archives, table):
    from typer.testing import CliRunner

    from trt_gif2video.cli import app

    fetch.fetch_corpus(tmp_path, sources=(DEB_SRC, WHL_SRC), progress=False, download=CountingDownloader(archives))
    runner = CliRunner()
    res = runner.invoke(app, ["data", "list", "--cache-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "twhl-cat.png" in res.output and "photos val: 1 files" in res.output
    res = runner.invoke(app, ["data", "fetch", "--cache-dir", str(tmp_path), "--only", "nope"])
    assert res.exit_code == 2 and "unknown corpus source 'nope'" in res.output
    res = runner.invoke(app, ["data", "list", "--cache-dir", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "corpus not found" in res.output


def test_corrupt_archive_is_a_data_error(tmp_path, table):
    def broken(source: Source, dest: Path) -> Path:
        bad = dest / "tiny-data_1_all.deb"
        bad.write_bytes(b"!<arch>\nnot really a deb")
        return bad

    with pytest.raises(DataError, match="tiny-data_1_all.deb is not a readable .deb"):
        fetch.fetch_corpus(tmp_path, sources=(DEB_SRC,), progress=False, download=broken)
    assert not list((tmp_path / "corpus").glob(".download-*"))
