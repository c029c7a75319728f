"""Inbound rate limiting: one token bucket per key (a user, an IP address).

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second; a
request takes one. When the bucket is empty ``take`` returns how many seconds until a token
is back (the ``Retry-After`` of the 429). Idle buckets are dropped so the table stays small.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key; ``clock`` is monotonic seconds (tests pass their own)."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] | None = None,
        max_keys: int = 100_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock or time.monotonic
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when allowed, else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._evict_idle(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _evict_idle(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: forget the oldest half
            ordered = sorted(self._buckets.items(), key=lambda item: item[1].updated)
            for key, _ in ordered[: len(ordered) // 2]:
                del self._buckets[key]


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1, for the Retry-After header."""
    return str(max(1, math.ceil(seconds)))
