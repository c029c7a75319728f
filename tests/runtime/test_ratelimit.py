"""Token buckets: burst, refill, Retry-After, eviction."""

from __future__ import annotations

from runtime.ratelimit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.take("ip") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("ip")
    assert 0.99 <= wait <= 1.0
    assert limiter.take("other") == 0.0  # keys are independent
    clock.now += 1.0
    assert limiter.take("ip") == 0.0
    assert limiter.take("ip") > 0


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.2) == "2"


def test_idle_buckets_are_evicted() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock, max_keys=10)
    for i in range(10):
        limiter.take(f"k{i}")
    clock.now += 5
    limiter.take("new")
    assert len(limiter._buckets) == 1
