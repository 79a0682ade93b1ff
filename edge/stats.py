"""The one percentile every PassLane figure uses (lane, bridge, site summary, benchmarks). Pure.

Nearest rank: the smallest value such that at least p % of the values are at or below it,
so a p99 of 100 values is the 99th smallest and every figure is a value that was measured.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable

SAMPLES_KEPT = 2000
"""Latest samples a long-running unit keeps of a figure it reports (publish-to-ack latencies, step times): enough
for a p99, and flat memory however long it runs."""


def recent_samples() -> collections.deque[float]:
    """A figure's samples, the latest SAMPLES_KEPT only."""
    return collections.deque(maxlen=SAMPLES_KEPT)


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile, p in 0..100; None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not within 0..100")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
