"""Interpolator training: synthetic motion, GIF degradation, loss going down, end-to-end run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trt_gif2video.nets.interp import InterpConfig, Interpolator  # noqa: E402
from trt_gif2video.train.motion import (MotionConfig, gif_degrade_pair, pick_triplet,  # noqa: E402
                                        synth_sequence, video_sequence)

TINY = InterpConfig(flow_widths=(8, 8, 8, 8, 8, 8), refine_widths=(4, 4, 4, 4, 4, 4), max_flow=16.0)
PAN = MotionConfig(crop=64, max_shift=6.0, max_zoom=0.0, max_rot_deg=0.0, scale_range=(1.0, 1.0), sprite_prob=0.0)


def _texture(h: int = 200, w: int = 240, seed: int = 0) -> np.ndarray:
    """Smooth colourful pattern with edges: something a flow net can track."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [127 + 100 * np.sin(rng.uniform(0.05, 0.2) * xx + rng.uniform(0.05, 0.2) * yy + c) for c in range(3)]
    img = np.stack(chans, -1)
    img[(xx // 24 + yy // 24) % 2 == 0] *= 0.6  # checker edges
    return np.clip(img, 0, 255).astype(np.uint8)


def test_synth_sequence_is_a_pan():
    rng = np.random.default_rng(1)
    seq = synth_sequence(_texture(), 4, rng, PAN).frames
    assert len(seq) == 5 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in seq)
    assert not np.array_equal(seq[0], seq[-1])
    # pure translation, linear in time: the middle frame sits halfway, so matching it against
    # shifted end frames finds the same (integer-rounded) shift from both sides
    def best_shift(a, b):
        errs = {(dy, dx): np.abs(np.roll(a, (dy, dx), (0, 1))[8:-8, 8:-8].astype(int) - b[8:-8, 8:-8]).mean()
                for dy in range(-6, 7) for dx in range(-6, 7)}
        return np.array(min(errs, key=errs.get))
    total = best_shift(seq[0], seq[4])
    assert np.all(np.abs(best_shift(seq[0], seq[2]) * 2 - total) <= 2)


def test_triplet_time_and_video_crop():
    rng = np.random.default_rng(0)
    clip = np.stack([_texture(80, 96, s) for s in range(10)])
    seq = video_sequence(clip, 8, rng, PAN)
    assert len(seq.frames) == 9 and seq.frames[0].shape == (64, 64, 3) and seq.flows is None
    trip = pick_triplet(seq, rng, k=2)
    assert trip.t == 0.25 and trip.middle is seq.frames[2] and trip.frame1 is seq.frames[8]


def _warp_error(src: torch.Tensor, flow: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Mean abs error of backward-warping src onto dst, per sample, away from the borders."""
    from trt_gif2video.nets.warp import backward_warp

    return (backward_warp(src, flow) - dst)[..., 12:-12, 12:-12].abs().mean(dim=(1, 2, 3))


def test_synthetic_flows_are_exact_and_survive_augmentation():
    from trt_gif2video.train.interp import Pool, Sources

    motion = MotionConfig(crop=64, max_shift=12.0, sprite_prob=0.0)  # sprites occlude: no exact warp
    sources = Sources(photos=[_texture(seed=s) for s in range(2)], clips=[], video_p=0.0)
    pool = Pool(sources, 12, np.random.default_rng(5), motion)
    assert bool(pool.has_flow.all())
    for _ in range(3):  # random time reversal, flips and channel order each time
        g0, g1, i0, i1, gt, t, flows, has_flow = pool.batch(12, torch.device("cpu"))
        moved = (i1 - i0)[..., 12:-12, 12:-12].abs().mean(dim=(1, 2, 3))
        err01 = _warp_error(i1, flows[:, 0:2], i0)
        err10 = _warp_error(i0, flows[:, 2:4], i1)
        still = moved > 0.02  # samples whose frames really differ
        assert still.sum() >= 6
        assert bool((err01[still] < 0.2 * moved[still]).all()), (err01, moved)
        assert bool((err10[still] < 0.2 * moved[still]).all()), (err10, moved)


def test_gif_degrade_pair_looks_like_a_gif():
    rng = np.random.default_rng(3)
    a, b = _texture(64, 64, 1), _texture(64, 64, 2)
    for _ in range(4):
        ga, gb = gif_degrade_pair(a, b, rng)
        assert ga.shape == a.shape and ga.dtype == np.uint8
        assert len(np.unique(ga.reshape(-1, 3), axis=0)) <= 256
        assert not np.array_equal(ga, a)


def _pan_samples(n: int, d: int, rng: np.random.Generator) -> list[torch.Tensor]:
    """n GIF-degraded triplets of one texture panning d px per half step (a bias-learnable motion)."""
    tex = _texture()
    out: list[list[np.ndarray]] = [[] for _ in range(5)]
    for _ in range(n):
        y, x = rng.integers(0, tex.shape[0] - 32), rng.integers(0, tex.shape[1] - 32 - 2 * d)
        f0, fm, f1 = (tex[y:y + 32, x + k * d:x + k * d + 32] for k in range(3))
        g0, g1 = gif_degrade_pair(f0, f1, rng)
        for dst, img in zip(out, (g0, g1, f0, f1, fm)):
            dst.append(img)
    return [torch.from_numpy(np.stack(v)).permute(0, 3, 1, 2).float() / 255.0 for v in out]


def test_short_training_lowers_loss():
    from trt_gif2video.train.interp import interp_loss

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    g0, g1, i0, i1, gt = _pan_samples(16, 3, rng)
    t = torch.full((16,), 0.5)
    model = Interpolator(TINY)
    # lr 5e-3: at 1e-2 this tiny net has transient loss spikes whose timing moves with float
    # rounding (a warp exact to 1e-6 put one on step 30); 5e-3 descends steadily.
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)

    def loss_on(idx) -> torch.Tensor:
        return interp_loss(model.forward_all(g0[idx], g1[idx], i0[idx], i1[idx], t[idx]), i0[idx], i1[idx], gt[idx])

    with torch.no_grad():
        before = float(loss_on(slice(None)))
    for _ in range(30):
        loss = loss_on(torch.from_numpy(rng.choice(16, size=4, replace=False)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss_on(slice(None)))
    assert after < 0.5 * before, (before, after)


def test_train_interp_end_to_end(tmp_path):
    """A 4-step run on a tiny corpus written into a temporary cache: weights come back loadable."""
    from PIL import Image

    from trt_gif2video.data.corpus import Entry, Kind, Manifest, Split, corpus_dir, write_manifest
    from trt_gif2video.nets.store import load_network
    from trt_gif2video.train.interp import InterpTrainConfig, evaluate_interp, train_interp

    root = corpus_dir(tmp_path)
    (root / "photos").mkdir(parents=True)
    entries = {}
    for i, split in enumerate((Split.TRAIN, Split.TRAIN, Split.VAL)):
        rel = f"photos/p{i}.png"
        Image.fromarray(_texture(seed=i)).save(root / rel)
        entries[f"p{i}"] = Entry(id=f"p{i}", path=rel, kind=Kind.PHOTO, split=split, sha256="0", size=0,
                                 source="test", package="test", version="0", licence="CC0", member=rel,
                                 width=240, height=200)
    write_manifest(Manifest(root=root, entries=entries))
    cfg = InterpTrainConfig(out=tmp_path / "run", steps=4, batch=2, pool_size=4, refresh_every=2, refresh_count=2,
                            video_fraction=0.0, motion=PAN, model=TINY, cache_dir=tmp_path, log_every=2, val_every=2)
    path = train_interp(cfg)
    net = load_network(path)
    assert isinstance(net, Interpolator) and net.config == TINY
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "val_psnr" in log and "step 4" in log
    again = train_interp(replace(cfg, steps=6, resume=True))
    assert again == path and "resumed from" in (tmp_path / "run" / "log.txt").read_text()

    report = evaluate_interp(load_network(path), cache_dir=tmp_path, per_photo=2, factors=(2,), crop=64)
    assert set(report) == {"x2/photos", "x2/all"}
    scores = report["x2/all"]
    assert set(scores) == {"model", "repeat", "blend"}
    assert all(10 < s.psnr < 99 and 0 < s.ssim <= 1 for s in scores.values())
