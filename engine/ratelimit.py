"""How fast one connection may talk to its provider, and how long to wait when told off.

One ``RateLimiter`` per ``Connection``:

- a concurrency cap (``rate_limit.max_concurrency``) held only while a request is in flight;
- an optional requests-per-second token bucket (bursts up to one second's budget);
- remaining/reset headers: when the provider says no requests remain, the next request waits
  until the declared reset (``reset_format``: epoch_seconds, epoch_ms, delta_seconds,
  http_date);
- retry delays: ``Retry-After`` (seconds or an HTTP date) when given, else exponential backoff
  with full jitter capped by ``backoff_max_seconds``. A wait longer than ``max_wait_seconds``
  is not slept: it raises ``RateLimitedError`` so the run can be rescheduled.

Time comes from an injectable ``Clock`` so tests never sleep for real.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from typing import Protocol

from engine.errors import RateLimitedError
from engine.spec.models import RateLimitSpec


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value: delta seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_reset(value: str | None, reset_format: str, now: float) -> float | None:
    """Seconds until a rate-limit window resets, from a reset header value."""
    if value is None or not value.strip():
        return None
    if reset_format == "http_date":
        return parse_retry_after(value, now) if not _is_number(value) else None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if reset_format == "delta_seconds":
        return max(0.0, number)
    seconds = number / 1000 if reset_format == "epoch_ms" else number
    return max(0.0, seconds - now)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


class RateLimiter:
    def __init__(
        self,
        spec: RateLimitSpec,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(spec.max_concurrency)
        self._bucket_lock = asyncio.Lock()
        self._rate = spec.requests_per_second
        self._capacity = max(1.0, self._rate or 0.0)
        self._tokens = self._capacity
        self._refilled_at = self.clock.now()
        self._blocked_until = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot: waits for a reset window, concurrency and the rps budget."""
        await self._wait_for_reset()
        async with self._slots:
            await self._take_token()
            yield

    async def _wait_for_reset(self) -> None:
        wait = self._blocked_until - self.clock.now()
        if wait > 0:
            await self.wait(wait, "the provider's rate-limit window")

    async def _take_token(self) -> None:
        if self._rate is None:
            return
        async with self._bucket_lock:
            now = self.clock.now()
            elapsed = max(0.0, now - self._refilled_at)
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._refilled_at = now
            self._tokens -= 1.0
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            await self.clock.sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> float | None:
        """Read remaining/reset headers; returns the seconds until reset when exhausted."""
        if not self.spec.remaining_header or not self.spec.reset_header:
            return None
        remaining = headers.get(self.spec.remaining_header)
        if remaining is None or not _is_number(remaining) or float(remaining) > 0:
            return None
        now = self.clock.now()
        wait = parse_reset(headers.get(self.spec.reset_header), self.spec.reset_format, now)
        if wait is not None:
            self._blocked_until = max(self._blocked_until, now + wait)
        return wait

    def exhausted(self, headers: Mapping[str, str]) -> bool:
        """True when the remaining header says no request is left in this window."""
        name = self.spec.remaining_header
        value = headers.get(name) if name else None
        return value is not None and _is_number(value) and float(value) <= 0

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        name = self.spec.retry_after_header
        return parse_retry_after(headers.get(name), self.clock.now()) if name else None

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(backoff_max, base * 2**attempt)]."""
        cap = min(self.spec.backoff_max_seconds, self.spec.backoff_base_seconds * 2**attempt)
        return self._rng.uniform(0, cap)

    async def wait(self, seconds: float, reason: str) -> None:
        """Sleep ``seconds`` unless that exceeds max_wait_seconds (then RateLimitedError)."""
        if seconds > self.spec.max_wait_seconds:
            raise RateLimitedError(
                f"{reason} asks to wait {seconds:.0f}s, more than the "
                f"{self.spec.max_wait_seconds:.0f}s allowed",
                retry_after=seconds,
            )
        if seconds > 0:
            await self.clock.sleep(seconds)
