"""The FP16 / INT8 accuracy gates refuse: a degraded model gives an error and no file.

The limits are written here as literals (0.1 dB for FP16, 0.5 dB for INT8, 0.05 for the
detector's probability and flip share), not imported from the code under test, so moving a
limit in the code fails these tests. Models are ONNX stand-ins (no torch); the gate reads its
frames from a tiny corpus built here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import runtime_standins as standins
from trt_gif2video.calib import CalibManifest
from trt_gif2video.config import Precision
from trt_gif2video.errors import ModelError
from trt_gif2video.export.check import PrecisionDrop, gate, write_gated

MANIFEST = CalibManifest(frames=8, crop=64, max_side=160, colors=(16, 32), video_share=0.0)


def _smooth(rng, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f, ph = rng.uniform(0.02, 0.08, size=(3, 2)), rng.uniform(0, 6.3, size=3)
    rgb = np.stack([127.5 + 110 * np.sin(f[c, 0] * xx + f[c, 1] * yy + ph[c]) for c in range(3)], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A corpus laid out like `data fetch` writes it: smooth photos in train and val."""
    from trt_gif2video.data import corpus

    root = tmp_path_factory.mktemp("cache")
    cdir = root / "corpus"
    (cdir / "photos").mkdir(parents=True)
    rng = np.random.default_rng(9)
    entries = {}
    for i, split in enumerate([corpus.Split.TRAIN, corpus.Split.VAL, corpus.Split.VAL]):
        rel = f"photos/p{i}.png"
        Image.fromarray(_smooth(rng, 120, 160)).save(cdir / rel)
        entries[f"p{i}"] = corpus.Entry(id=f"p{i}", path=rel, kind=corpus.Kind.PHOTO, split=split, sha256="0" * 64,
                                        size=1, source="t", package="t", version="0", licence="CC0", member=rel,
                                        width=160, height=120)
    corpus.write_manifest(corpus.Manifest(root=cdir, entries=entries))
    return root


def _save(model: onnx.ModelProto, path: Path, precision: Precision) -> Path:
    for prop in model.metadata_props:
        if prop.key == "precision":
            prop.value = precision.value
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def fp32(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fp32")
    onnx.save(standins.dequant_model(0.0), folder / "dequant_nodither.onnx")
    onnx.save(standins.dither_model(0.1), folder / "dither_detector.onnx")
    return folder


def _drop(precision: Precision, drop_db: float) -> PrecisionDrop:
    return PrecisionDrop("m.onnx", precision, 8, "onnxruntime", psnr_fp32=32.0, psnr_variant=32.0 - drop_db,
                         psnr_variant_vs_fp32=50.0)


@pytest.mark.parametrize("precision, limit", [(Precision.FP16, 0.1), (Precision.INT8, 0.5)])
def test_psnr_gates_sit_at_the_stated_limits(precision, limit):
    assert _drop(precision, limit - 0.01).passes()
    assert not _drop(precision, limit + 0.01).passes()
    assert f"gate {limit}" in _drop(precision, limit + 0.01).line()


def test_a_drop_of_exactly_the_limit_passes():
    # 32.0 - 31.5 is exactly 0.5 in binary floating point: "at most 0.5 dB" includes it
    assert PrecisionDrop("m.onnx", Precision.INT8, 8, "onnxruntime", psnr_fp32=32.0, psnr_variant=31.5,
                         psnr_variant_vs_fp32=50.0).passes()


def test_detector_gate_limits_probability_change_and_flips():
    def det(mean: float, flips: int) -> PrecisionDrop:
        return PrecisionDrop("d.onnx", Precision.INT8, 100, "onnxruntime", mean_prob_diff=mean, max_prob_diff=mean,
                             flips=flips)

    assert det(0.05, 5).passes()
    assert not det(0.051, 0).passes()  # mean |dp| above 0.05
    assert not det(0.0, 6).passes()  # 6 % of decisions flipped, above 5 %


@pytest.mark.parametrize("precision, offset", [(Precision.INT8, 0.0), (Precision.INT8, 20.0), (Precision.FP16, 0.0),
                                               (Precision.FP16, 20.0)])
def test_write_gated_refuses_a_degraded_model_and_writes_nothing(fp32, corpus_dir, tmp_path, precision, offset):
    src = fp32 / "dequant_nodither.onnx"
    dst = tmp_path / f"dequant_nodither.{precision.value}.onnx"

    def make(path: Path) -> None:  # an "FP16/INT8" model that is the FP32 one, `offset` grey levels brighter
        _save(standins.dequant_model(offset), path, precision)

    if offset == 0.0:
        drop = write_gated(src, dst, make, check_frames=8, cache_dir=corpus_dir, manifest=MANIFEST)
        assert drop.drop == pytest.approx(0.0, abs=1e-9) and drop.name == dst.name
        assert dst.is_file()
    else:
        with pytest.raises(ModelError, match="fails its accuracy gate") as err:
            write_gated(src, dst, make, check_frames=8, cache_dir=corpus_dir, manifest=MANIFEST)
        assert str(dst.name) in str(err.value) and "\n" not in str(err.value)
        assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([dst.name] if offset == 0.0 else [])  # no .trial left


def test_gate_refuses_a_shifted_detector(fp32, corpus_dir, tmp_path):
    ok = _save(standins.dither_model(0.1), tmp_path / "same.int8.onnx", Precision.INT8)
    assert gate(fp32 / "dither_detector.onnx", ok, frames=8, cache_dir=corpus_dir, manifest=MANIFEST).flips == 0
    shifted = _save(standins.dither_model(0.2), tmp_path / "shifted.int8.onnx", Precision.INT8)  # every p + 0.1
    with pytest.raises(ModelError, match="shifted.int8.onnx: fails its accuracy gate"):
        gate(fp32 / "dither_detector.onnx", shifted, frames=8, cache_dir=corpus_dir, manifest=MANIFEST)
