"""Output timing: constant fps from the GIF's own (variable) delays; --interp and --fps."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from trt_gif2video.clip import GifFrame
from trt_gif2video.errors import BadArgumentError
from trt_gif2video.runtime.backends.base import Session, TensorSpec
from trt_gif2video.stages.interpolate import Interpolator, gif_fps, output_fps

U8 = np.dtype(np.uint8)


class CrossFade(Session):
    """A numpy interpolator with the contract's I/O: (1 - t) img0 + t img1."""

    description = "numpy cross-fade"

    def __init__(self) -> None:
        image = ("N", "H", "W", 3)
        inputs = tuple(TensorSpec(n, U8, image) for n in ("gif0", "gif1", "img0", "img1"))
        super().__init__("crossfade", inputs + (TensorSpec("t", np.dtype(np.float32), ("N",)),),
                         (TensorSpec("frame_t", U8, image),), {"stride": "8"})
        self.opened = self.closed = 0

    def _infer_impl(self, feeds):
        t = feeds["t"][:, None, None, None]
        mix = (1 - t) * feeds["img0"] + t * feeds["img1"]
        return {"frame_t": np.rint(mix).astype(np.uint8)}

    def close(self) -> None:
        self.closed += 1


def _frames(delays_ms: list[int], size: int = 8) -> list[tuple[GifFrame, np.ndarray]]:
    out, t = [], 0
    for i, d in enumerate(delays_ms):
        rgb = np.full((size, size, 3), 20 * i, np.uint8)
        out.append((GifFrame(i, rgb, np.zeros((2, 3), np.uint8), t, d, d // 10), rgb + 100))
        t += d
    return out


def _run(delays, fps):
    session = CrossFade()
    interp = Interpolator(lambda: session, fps, batch=3)
    return list(interp(iter(_frames(delays)))), interp, session


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_constant_delays_give_n_times_interp_frames(factor):
    fps = output_fps([50] * 6, factor, None)
    assert fps == 20 * factor
    out, interp, session = _run([50] * 6, fps)
    assert len(out) == 6 * factor
    assert [float(o.time_ms) for o in out] == [k * 50 / factor for k in range(6 * factor)]
    for k, o in enumerate(out):
        src, phase = divmod(k, factor)
        assert o.source.index == src
        if src < 5:
            assert o.t == pytest.approx(phase / factor)
            assert int(o.rgb[0, 0, 0]) == round(100 + 20 * (src + phase / factor))
        else:  # after the last GIF frame: hold it for its delay
            assert o.t == 0.0 and int(o.rgb[0, 0, 0]) == 200
    if factor == 1:
        assert interp.calls == 0 and interp.description is None  # never even opened the model
    else:
        assert session.closed == 1


def test_interp_one_returns_the_restored_frames_themselves():
    frames = _frames([70] * 4)
    out = list(Interpolator(CrossFade, output_fps([70] * 4, 1, None))(iter(frames)))
    assert all(o.rgb is r for o, (_, r) in zip(out, frames))


def test_variable_delays_become_constant_fps_at_the_gifs_own_times():
    delays = [100, 300, 100]  # frames at 0, 100, 400 ms; ends at 500 ms
    fps = output_fps(delays, 1, None)
    assert fps == 10  # median delay
    out, _, _ = _run(delays, fps)
    assert [float(o.time_ms) for o in out] == [0, 100, 200, 300, 400]
    assert [o.source.index for o in out] == [0, 1, 1, 1, 2]
    assert [o.t for o in out] == pytest.approx([0, 0, 1 / 3, 2 / 3, 0])
    assert [int(o.rgb[0, 0, 0]) for o in out] == [100, 120, 127, 133, 140]


def test_explicit_fps_overrides_interp():
    fps = output_fps([100] * 3, 4, 25.0)
    assert fps == 25
    out, _, _ = _run([100] * 3, fps)
    assert len(out) == 8  # 0, 40, ..., 280 ms < 300 ms
    assert out[1].t == pytest.approx(0.4) and out[1].source.index == 0
    assert output_fps([100], 1, 29.97) == Fraction(2997, 100)


def test_gif_rate_is_the_median_delay_and_bad_values_are_refused():
    assert gif_fps([40, 40, 1000, 40]) == 25
    with pytest.raises(BadArgumentError, match='"--fps" must be > 0'):
        output_fps([100], 1, 0.0)
    with pytest.raises(BadArgumentError, match='"--interp" must be >= 1'):
        output_fps([100], 0, None)


def test_single_frame_gif_is_held_for_its_delay():
    out, interp, _ = _run([200], Fraction(20))
    assert len(out) == 4 and interp.calls == 0
