"""Per-unit request rate limiting. Pure: time is an argument.

A token bucket per unit: `burst` requests at once, then `rate` per second.
The bridge answers a unit over its limit with ``rate_limited`` instead of
working for it, so one compromised or looping unit cannot starve the others.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One bucket per key; thread-safe (request handlers run on a pool)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        """Take one token from `key`'s bucket if it has one."""
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(self.burst, now)
            b.tokens = min(self.burst, b.tokens + max(0.0, now - b.at) * self.rate)
            b.at = now
            if b.tokens < 1.0:
                return False
            b.tokens -= 1.0
            return True
