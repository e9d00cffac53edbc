"""Temporal interpolation stage: restored GIF frames at the GIF's own (variable) times in,
frames at a constant output rate out.

Output frame k is shown at s_k = k / fps. It falls between GIF frames i and i+1
(t_i <= s_k < t_{i+1}); t = (s_k - t_i) / (t_{i+1} - t_i). t = 0 gives the restored frame
itself, otherwise the interpolator runs on (GIF_i, GIF_i+1, restored_i, restored_i+1, t).
After the last GIF frame the output holds it for its delay. Times are exact fractions, so a
constant-delay GIF at --interp 1 maps one to one and never calls the interpolator.
"""

from __future__ import annotations

import statistics
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..clip import GifFrame
from ..errors import BadArgumentError
from ..io.encode import as_fps
from ..models import Network
from ..runtime.backends.base import Session, default_stride
from .alpha import nearer_alpha
from .pad import TileSpec, run_tiled
from .receptive import session_margin

def gif_fps(delays_ms: Sequence[int]) -> Fraction:
    """The GIF's typical frame rate: 1000 / the median effective delay."""
    if not delays_ms:
        raise BadArgumentError("interpolate: need at least one frame delay to derive a frame rate")
    return Fraction(1000, statistics.median_low(delays_ms))


MAX_OUTPUT_FPS = 1000  # far above any display; a typo like --fps 1e9 would otherwise list ~1e8 times per frame


def output_fps(delays_ms: Sequence[int], interp: int, fps: float | None) -> Fraction:
    """--fps if given, else the GIF's rate times --interp (at most MAX_OUTPUT_FPS)."""
    if fps is not None:
        if not fps > 0:
            raise BadArgumentError(f'restore: "--fps" must be > 0, got {fps}')
        out = as_fps(fps)
    elif interp < 1:
        raise BadArgumentError(f'restore: "--interp" must be >= 1, got {interp}')
    else:
        out = gif_fps(delays_ms) * interp
    if out > MAX_OUTPUT_FPS:
        raise BadArgumentError(f"restore: output rate {float(out):g} fps is above {MAX_OUTPUT_FPS}: "
                               'lower "--fps" or "--interp"')
    return out


@dataclass(frozen=True)
class OutputFrame:
    index: int
    time_ms: Fraction
    rgb: np.ndarray  # HxWx3 uint8, the restored/interpolated frame
    source: GifFrame  # the GIF frame shown at this time (what a viewer sees; for --compare)
    t: float  # 0 = the restored source frame itself
    alpha: np.ndarray | None = None  # HxW uint8 of the nearer GIF frame (stages.alpha); None = opaque


def _same_picture(fa: GifFrame, fb: GifFrame) -> bool:
    """Two GIF frames a viewer cannot tell apart: same colours and same transparency."""
    if not (fa.rgb is fb.rgb or np.array_equal(fa.rgb, fb.rgb)):
        return False
    if fa.alpha is None or fb.alpha is None:
        return fa.alpha is fb.alpha
    return np.array_equal(fa.alpha, fb.alpha)


def _times_until(k: int, fps: Fraction, end_ms: Fraction) -> list[tuple[int, Fraction]]:
    """(k, s_k) for every output frame from k on with s_k < end_ms."""
    out = []
    while (s := Fraction(1000 * k) / fps) < end_ms:
        out.append((k, s))
        k += 1
    return out


class Interpolator:
    """Iterator transform (GifFrame, restored) -> OutputFrame; opens the interpolator only if needed."""

    def __init__(self, open_model: Callable[[], Session], fps: Fraction, batch: int = 8, tiles: TileSpec = TileSpec(),
                 motion_ms: Fraction | None = None):
        """motion_ms: the GIF's typical delay. A frame held longer than twice that stays still
        (no network call) until the last motion_ms before the next frame, where the motion is
        interpolated at the GIF's usual pace; None interpolates across every gap, however long."""
        self._open = open_model
        self.fps = fps
        self.motion_ms = motion_ms
        self.held = 0  # output frames that reused a restored frame instead of a network call
        self.batch = batch
        self.tiles = tiles
        self.calls = 0  # interpolator invocations (for tests and stats)
        self.description: str | None = None

    def __call__(self, frames: Iterable[tuple[GifFrame, np.ndarray]]) -> Iterator[OutputFrame]:
        k = 0
        prev: tuple[GifFrame, np.ndarray] | None = None
        with ExitStack() as stack:
            session: Session | None = None

            def get_session() -> Session:
                nonlocal session
                if session is None:
                    session = stack.enter_context(self._open())
                    self.description = session.description
                return session

            for cur in frames:
                if prev is not None:
                    times = _times_until(k, self.fps, Fraction(cur[0].timestamp_ms))
                    yield from self._between(prev, cur, times, get_session)
                    k += len(times)
                prev = cur
            if prev is not None:
                last, restored = prev
                end = Fraction(last.timestamp_ms + last.delay_ms)
                for k, s in _times_until(k, self.fps, end):
                    yield OutputFrame(k, s, restored, last, 0.0, last.alpha)

    def _between(
        self,
        a: tuple[GifFrame, np.ndarray],
        b: tuple[GifFrame, np.ndarray],
        times: list[tuple[int, Fraction]],
        get_session: Callable[[], Session],
    ) -> Iterator[OutputFrame]:
        (fa, ra), (fb, rb) = a, b
        ta, tb = Fraction(fa.timestamp_ms), Fraction(fb.timestamp_ms)
        if tb <= ta:
            raise BadArgumentError(f"interpolate: GIF frame {fb.index} is not after frame {fa.index} ({tb} <= {ta} ms)")
        if _same_picture(fa, fb):
            for k, s in times:  # nothing moves (colour nor alpha): every output is the restored frame
                self.held += 1
                yield OutputFrame(k, s, ra, fa, 0.0, fa.alpha)
            return
        if self.motion_ms is not None and tb - ta > 2 * self.motion_ms:
            ta = tb - self.motion_ms  # hold until the last typical delay before the next frame
        ts = [(k, s, max(0.0, float((s - ta) / (tb - ta)))) for k, s in times]
        for k, s, t in ts:
            if t == 0.0:
                self.held += s > Fraction(fa.timestamp_ms)
                yield OutputFrame(k, s, ra, fa, 0.0, fa.alpha)
        pending = [x for x in ts if x[2] > 0.0]
        for start in range(0, len(pending), self.batch):
            chunk = pending[start : start + self.batch]
            frames = self._run(get_session(), fa.rgb, fb.rgb, ra, rb, [t for _, _, t in chunk])
            for (k, s, t), rgb in zip(chunk, frames):
                yield OutputFrame(k, s, rgb, fa, t, nearer_alpha(fa, fb, t))

    def _run(self, session: Session, g0, g1, i0, i1, ts: list[float]) -> np.ndarray:
        self.calls += 1
        images = {"gif0": g0, "gif1": g1, "img0": i0, "img1": i1}
        stride = default_stride(session, Network.INTERP)
        return run_tiled(
            lambda feeds: session.infer(feeds)["frame_t"],
            {k: np.broadcast_to(v, (len(ts), *v.shape)) for k, v in images.items()},  # one pair, every t
            {"t": np.asarray(ts, np.float32)},
            stride,
            self.tiles,
            session.limits,
            margin=lambda: session_margin(session, stride),  # read only if a frame is tiled
        )
