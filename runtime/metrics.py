"""Prometheus metrics of one server, in its own ``CollectorRegistry``.

Each app builds its own ``Metrics`` (tests build many apps in one process; the global
registry would refuse the second one). ``GET /metrics`` renders ``Metrics.render()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIX = "kiro_sync"
RECORD_COUNTERS = ("created", "updated", "skipped", "deleted", "failed")
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """The server's counters, histogram and gauges."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests", "HTTP requests by route, action and status",
            ["route", "action", "status"], registry=r,
        )  # fmt: skip
        self.sync_runs = Counter(
            f"{PREFIX}_sync_runs", "Finished sync runs by trigger and status",
            ["trigger", "status"], registry=r,
        )  # fmt: skip
        self.sync_duration = Histogram(
            f"{PREFIX}_sync_duration_seconds", "Duration of finished sync runs",
            ["trigger"], buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.records = Counter(
            f"{PREFIX}_records_synced", "Records handled by sync runs, by outcome",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.webhooks_received = Counter(
            f"{PREFIX}_webhooks_received", "Webhook deliveries accepted and stored", registry=r
        )
        self.webhooks_rejected = Counter(
            f"{PREFIX}_webhooks_rejected", "Webhook deliveries refused, by status",
            ["status"], registry=r,
        )  # fmt: skip
        self.webhooks_processed = Counter(
            f"{PREFIX}_webhooks_processed", "Webhook deliveries applied by the worker", registry=r
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_webhook_queue_depth", "Webhook deliveries waiting to be applied", registry=r
        )
        self.scheduled = Counter(
            f"{PREFIX}_scheduled_jobs", "Scheduler job firings by kind and outcome",
            ["kind", "outcome"], registry=r,
        )  # fmt: skip

    def request(self, route: str, action: str, status: int) -> None:
        self.requests.labels(route=route, action=action, status=str(status)).inc()

    def run_finished(
        self, trigger: str, status: str, seconds: float | None, counters: Mapping[str, Any]
    ) -> None:
        self.sync_runs.labels(trigger=trigger, status=status).inc()
        if seconds is not None:
            self.sync_duration.labels(trigger=trigger).observe(max(seconds, 0.0))
        for outcome in RECORD_COUNTERS:
            value = counters.get(outcome)
            if isinstance(value, int) and value > 0:
                self.records.labels(outcome=outcome).inc(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
