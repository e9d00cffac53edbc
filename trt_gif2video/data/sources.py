"""The source table: which packages carry the corpus, what we keep, and the fixed split.

Everything here was decided once, from contact sheets of the files (see shared DATA.md), never
at run time: ids are `<source key>-<name>`; EXCLUDE and VAL refer to ids.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from typing import Optional

from .corpus import Kind, Split


class Channel(str, enum.Enum):
    DEBIAN = "debian"  # apt-get download + dpkg-deb
    PYPI = "pypi"  # pip download of a wheel (a zip)


@dataclass(frozen=True)
class Rule:
    """`pattern` fullmatches an archive member path; its group `name` names the file."""

    pattern: str
    kind: Kind


@dataclass(frozen=True)
class Source:
    key: str
    channel: Channel
    package: str
    licence: str
    rules: tuple[Rule, ...]

    @property
    def spec(self) -> str:
        text = repr((self.channel.value, self.package, [(r.pattern, r.kind.value) for r in self.rules]))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def match(self, member: str) -> Optional[tuple[str, Kind, str]]:
        """(id, kind) for a wanted member, else None. The id keeps the extension (minus .gz)."""
        for rule in self.rules:
            m = re.fullmatch(rule.pattern, member)
            if m:
                stem = member.rsplit("/", 1)[-1].removesuffix(".gz")
                ext = "." + stem.rsplit(".", 1)[-1].lower()
                name = re.sub(r"[^A-Za-z0-9_.-]", "_", m["name"])
                return f"{self.key}-{name}{ext}", rule.kind
        return None


_IMG = r"\.(?:jpg|jpeg|png)"
_OCV = "usr/share/doc/opencv-doc"

SOURCES: tuple[Source, ...] = (
    Source(
        "opencv",
        Channel.DEBIAN,
        "opencv-doc",
        "OpenCV samples: Apache-2.0 / BSD-3-Clause (see the package's debian/copyright)",
        (
            Rule(_OCV + r"/examples/data/(?P<name>vtest|tree|Megamind)\.avi", Kind.VIDEO),
            Rule(_OCV + r"/opencv4/html/(?P<name>box|cup)\.mp4\.gz", Kind.VIDEO),
            Rule(_OCV + r"/examples/data/(?P<name>[^/]+)" + _IMG, Kind.PHOTO),
        ),
    ),
    Source(
        "lomiri16",
        Channel.DEBIAN,
        "lomiri-wallpapers-16.04",
        "Ubuntu/Lomiri wallpaper contest photos: CC-BY-SA-3.0 / CC-BY (see the package's copyright)",
        (Rule(r"usr/share/backgrounds/(?P<name>[^/]+_by_[^/]+)" + _IMG, Kind.PHOTO),),
    ),
    Source(
        "lomiri20",
        Channel.DEBIAN,
        "lomiri-wallpapers-20.04",
        "Ubuntu/Lomiri wallpaper photo: CC-BY-SA-3.0 (see the package's copyright)",
        (Rule(r"usr/share/backgrounds/(?P<name>[^/]+)" + _IMG, Kind.PHOTO),),
    ),
    Source(
        "mate",
        Channel.DEBIAN,
        "mate-backgrounds",
        "MATE backgrounds (nature): GPL-2+ / CC-BY-SA (see the package's copyright)",
        (Rule(r"usr/share/backgrounds/mate/nature/(?P<name>[^/]+)" + _IMG, Kind.PHOTO),),
    ),
    Source(
        "plasma",
        Channel.DEBIAN,
        "plasma-workspace-wallpapers",
        "KDE Plasma wallpapers: CC-BY-SA-4.0 / LGPL / CC0 per image (see the package's copyright)",
        (Rule(r"usr/share/wallpapers/(?P<name>[^/]+)/contents/images/2560x1600" + _IMG, Kind.PHOTO),),
    ),
    Source(
        "skimage",
        Channel.PYPI,
        "scikit-image",
        "scikit-image sample data: CC0 / public domain (skimage/data/README)",
        (Rule(r"skimage/data/(?P<name>[^/]+)" + _IMG, Kind.PHOTO),),
    ),
    Source(
        "sklearn",
        Channel.PYPI,
        "scikit-learn",
        "scikit-learn sample images: CC-BY-2.0 (sklearn/datasets/images/README.txt)",
        (Rule(r"sklearn/datasets/images/(?P<name>[^/]+)" + _IMG, Kind.PHOTO),),
    ),
    Source(
        "matplotlib",
        Channel.PYPI,
        "matplotlib",
        "Grace Hopper portrait: public domain (US Navy photo)",
        (Rule(r"matplotlib/mpl-data/sample_data/(?P<name>grace_hopper)\.jpg", Kind.PHOTO),),
    ),
)

SOURCE_BY_KEY = {s.key: s for s in SOURCES}

_GREY = "greyscale: a colour dequantizer needs colour targets"
_SYNTH = "synthetic graphic (shapes, logo, text, test pattern), not a photo"
_RENDER = "render or illustration, not a photo"

# Regexes fullmatching ids, with why the file is not used (decided from contact sheets).
EXCLUDE: dict[str, str] = {
    # opencv-doc examples/data
    r"opencv-(left|right)\d\d\.jpg": _GREY + " (chessboard calibration shots)",
    r"opencv-(aloeGT|basketball1|basketball2|box|box_in_scene|digits|ellipses|mask)\.png": _GREY,
    r"opencv-ellipses\.jpg": _GREY,
    r"opencv-blox\.jpg": _GREY + " (rendered blocks)",
    r"opencv-Blender_Suzanne[12]\.jpg": _RENDER + " (grey Blender monkey)",
    r"opencv-(HappyFish|LinuxLogo|WindowsLogo)\.jpg": _SYNTH,
    r"opencv-(cards|chessboard|detect_blob|gradient|imageTextN|imageTextR|ml|notes)\.png": _SYNTH,
    r"opencv-(opencv-logo|opencv-logo-white|templ|tmpl|pic[1-6])\.png": _SYNTH,
    r"opencv-pca_test1\.jpg": _SYNTH,
    r"opencv-starry_night\.jpg": "painting (Van Gogh), not a photo",
    r"opencv-(text_defocus|text_motion)\.jpg": "near-greyscale blurred text page",
    r"opencv-sudoku\.png": "near-greyscale printed puzzle",
    r"opencv-licenseplate_motion\.jpg": "synthetically motion-blurred: not a clean target",
    r"opencv-ela_modified\.jpg": "edited copy of opencv-ela_original.jpg (a duplicate)",
    # scikit-image skimage/data
    r"skimage-(brick|camera|cell|chessboard_GRAY|clock_motion|coins|grass|gravel|microaneurysms|moon|page|text)\.png": _GREY,
    r"skimage-(chessboard_RGB|color|horse|logo|phantom)\.png": _SYNTH,
    r"skimage-ihc\.png": "microscopy stain, not a natural scene",
    r"skimage-retina\.jpg": "fundus image: mostly black disc mask, not a natural scene",
    # wallpapers
    r"lomiri16-umang_by_Abhishek_Mudgal\.jpg": _RENDER + " (gradient swirl)",
    r"lomiri16-analogpattern_by_Peter_Nerlich\.jpg": "abstract noise texture, not a scene",
    r"lomiri20-(Fossa_by_Jasper_Roks|Painting-Colors_by__herobrine7gamer)\.jpg": _RENDER,
    r"lomiri20-Infinite-Sea_by_Aury88\.jpg": _RENDER + " (digital composite)",
    r"plasma-(Autumn|Elarun|FlyingKonqui)\.(jpg|png)": _RENDER,
    r"plasma-Grey\.jpg": _GREY,
}

# Whole clips / whole photos kept out of training (~18% of the photos, every source).
# Related images (stereo pairs, flow pairs, two views) are in GROUPS and share a split.
# Videos: none of the real clips has much camera motion (cup/tree/box/vtest are fixed or
# near-fixed cameras, object motion only); Megamind (CG film, pans and cuts, black
# first frames) stays in train, so validation camera motion comes from synthesized pans
# over the validation photos.
VAL: frozenset[str] = frozenset(
    {
        "opencv-tree.avi",
        "opencv-cup.mp4",
        "lomiri16-Dragonfly_by_Bolly.jpg",
        "lomiri16-picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "lomiri16-Picture_1A_by_freespace.jpg",
        "mate-LadyBird.jpg",
        "mate-Storm.jpg",
        "plasma-ColorfulCups.jpg",
        "plasma-EveningGlow.jpg",
        "opencv-leuvenA.jpg",
        "opencv-leuvenB.jpg",
        "opencv-fruits.jpg",
        "opencv-butterfly.jpg",
        "skimage-coffee.png",
        "sklearn-china.jpg",
    }
)

GROUPS: tuple[tuple[str, ...], ...] = (
    ("opencv-aloeL.jpg", "opencv-aloeR.jpg"),
    ("opencv-leuvenA.jpg", "opencv-leuvenB.jpg"),
    ("opencv-graf1.png", "opencv-graf3.png"),
    ("opencv-rubberwhale1.png", "opencv-rubberwhale2.png"),
    ("opencv-basketball1.png", "opencv-basketball2.png"),
    ("opencv-left.jpg", "opencv-right.jpg"),
    ("opencv-ela_original.jpg", "opencv-ela_modified.jpg"),
    ("skimage-motorcycle_left.png", "skimage-motorcycle_right.png"),
)


def excluded(file_id: str) -> Optional[str]:
    """The reason `file_id` is not used, or None."""
    for pattern, reason in EXCLUDE.items():
        if re.fullmatch(pattern, file_id):
            return reason
    return None


def split_of(file_id: str) -> Split:
    return Split.VAL if file_id in VAL else Split.TRAIN


def select_sources(names: Optional[list[str]] = None) -> tuple[Source, ...]:
    """Sources by key or package name; all when `names` is empty."""
    if not names:
        return SOURCES
    from ..errors import BadArgumentError

    picked = []
    for name in names:
        found = [s for s in SOURCES if name in (s.key, s.package)]
        if not found:
            known = ", ".join(f"{s.key} ({s.package})" for s in SOURCES)
            raise BadArgumentError(f"unknown corpus source {name!r}: use one of {known}")
        picked.extend(s for s in found if s not in picked)
    return tuple(picked)
