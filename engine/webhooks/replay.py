"""Replay windows: a signed timestamp too far from now means a replayed (or very late) request.

The timestamp comes from the ``replay_timestamp`` template: epoch seconds (Slack's
``X-Slack-Request-Timestamp``), epoch milliseconds (Linear's ``webhookTimestamp``) or an
ISO-8601 string. Milliseconds are told from seconds by size: anything above 10^11 (a date
after the year 5000 in seconds, 1973 in milliseconds) is milliseconds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from engine.errors import WebhookRejected

MS_THRESHOLD = 100_000_000_000


def epoch_seconds(value: Any) -> float | None:
    """Seconds since the epoch from a number, a numeric string or an ISO-8601 string."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    number = _number(value)
    if number is None:
        return _iso_seconds(str(value))
    if not math.isfinite(number) or number <= 0:
        return None
    return number / 1000 if number >= MS_THRESHOLD else number


def _number(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _iso_seconds(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def check_replay_window(value: Any, now: datetime, tolerance_seconds: int) -> None:
    """Raise ``WebhookRejected`` unless ``value`` is within ``tolerance_seconds`` of ``now``."""
    seconds = epoch_seconds(value)
    if seconds is None:
        raise WebhookRejected("webhook timestamp is missing or unreadable", reason="no_timestamp")
    skew = seconds - now.timestamp()
    if abs(skew) > tolerance_seconds:
        when = "old" if skew < 0 else "in the future"
        raise WebhookRejected(
            f"webhook timestamp is {abs(skew):.0f} s {when} (tolerance {tolerance_seconds} s)",
            reason="replay_window",
        )
