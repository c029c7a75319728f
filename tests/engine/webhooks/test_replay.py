"""Replay windows over epoch seconds, milliseconds and ISO-8601 timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import WebhookRejected
from engine.webhooks.replay import check_replay_window, epoch_seconds

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = NOW.timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1531420618, 1531420618.0),
        ("1531420618", 1531420618.0),
        (" 1531420618 ", 1531420618.0),
        (1700000000000, 1700000000.0),
        ("1700000000123", 1700000000.123),
        (1531420618.5, 1531420618.5),
        ("2026-03-01T12:00:00Z", T),
        ("2026-03-01T13:00:00+01:00", T),
        (NOW, T),
    ],
)
def test_epoch_seconds_reads_seconds_milliseconds_and_iso(value: object, seconds: float) -> None:
    assert epoch_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", True, -5, 0, float("nan"), float("inf"), [1]])
def test_unreadable_timestamps(value: object) -> None:
    assert epoch_seconds(value) is None
    with pytest.raises(WebhookRejected, match="missing or unreadable"):
        check_replay_window(value, NOW, 300)


def test_window_edges_in_both_directions() -> None:
    check_replay_window(T - 300, NOW, 300)
    check_replay_window(T + 300, NOW, 300)
    check_replay_window(int((T - 59.5) * 1000), NOW, 60)
    with pytest.raises(
        WebhookRejected, match=r"^webhook timestamp is 301 s old \(tolerance 300 s\)$"
    ):
        check_replay_window(T - 301, NOW, 300)
    with pytest.raises(WebhookRejected, match="61 s in the future"):
        check_replay_window(int((T + 61) * 1000), NOW, 60)
