"""Latency statistics from perf_counter_ns samples."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ..errors import BadArgumentError


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), `sorted_ns` ascending."""
    if not sorted_ns:
        raise BadArgumentError("bench: percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise BadArgumentError(f"bench: percentile must be in [0, 100], got {q}")
    pos = (len(sorted_ns) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_ns[lo] + (sorted_ns[hi] - sorted_ns[lo]) * (pos - lo)


@dataclass(frozen=True)
class Latency:
    """Per-item latency in milliseconds (an item is one frame, or one call when per_call)."""

    n: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int], per: int = 1) -> "Latency":
        """`samples_ns` of calls that each handled `per` items."""
        s = sorted(samples_ns)
        ms = 1e-6 / per
        return cls(len(s), sum(s) / len(s) * ms, percentile(s, 50) * ms, percentile(s, 95) * ms,
                   percentile(s, 99) * ms, s[-1] * ms)

    @property
    def fps(self) -> float:
        """Items per second at the mean latency (what a long run sustains)."""
        return 1000.0 / self.mean_ms if self.mean_ms > 0 else math.inf


def time_calls(fn: Callable[[int], object], n: int, warmup: int) -> list[int]:
    """Call `fn(i)` `warmup` times untimed, then `n` times timed; the ns of each timed call."""
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        samples.append(time.perf_counter_ns() - start)
    return samples
