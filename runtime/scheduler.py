"""Scheduled syncs and health checks (APScheduler's AsyncIOScheduler).

One job per active integration, by ``config.syncFrequency``:

    hourly     every ``hourly_seconds`` (3600)
    daily      every ``daily_seconds`` (86400)
    realtime   webhooks apply changes as they come; a reconcile poll every
               ``reconcile_seconds`` (900) catches anything a webhook missed
    manual     no job (also when syncFrequency is not set)

Every interval carries jitter (``jitter_fraction`` of it) so integrations do not fire
together. Schedules follow connect, disconnect and config changes without a restart: the
engine calls ``on_change`` for changes made through this process, and a refresh job reloads
the active integrations every ``schedule_refresh_seconds`` for changes made elsewhere (another
node, the embedding backend). A daily health check tests each active integration's
connection; the engine marks a failing one ``error`` with the reason.

Several nodes may each schedule the same integration: the store's run lease lets one run
start, and the others' ``ConflictError`` is counted as ``skipped``.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from engine.errors import ConfigError, ConflictError, KiroSyncError, NotFoundError, error_class
from engine.facade import Engine
from runtime.metrics import Metrics
from runtime.runs import Runs
from runtime.settings import Settings

log = logging.getLogger(__name__)

SYNC_JOB = "sync:"
REFRESH_JOB = "refresh-schedules"
HEALTH_JOB = "health-check"


def sync_interval(config: dict[str, Any] | None, settings: Settings) -> float | None:
    """Seconds between scheduled runs for an integration's config; None when manual."""
    frequency = (config or {}).get("syncFrequency") or "manual"
    return {
        "hourly": settings.hourly_seconds,
        "daily": settings.daily_seconds,
        "realtime": settings.reconcile_seconds,
    }.get(frequency)


class SyncScheduler:
    """Keeps one interval job per scheduled integration in step with the store."""

    def __init__(self, engine: Engine, runs: Runs, settings: Settings, metrics: Metrics) -> None:
        self.engine = engine
        self.runs = runs
        self.settings = settings
        self.metrics = metrics
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._intervals: dict[str, float] = {}

    async def start(self) -> None:
        self._scheduler.start()
        self.engine.add_listener(self.on_change)
        await self.refresh_all()
        self._every(REFRESH_JOB, self.settings.schedule_refresh_seconds, self.refresh_all)
        self._every(HEALTH_JOB, self.settings.health_check_seconds, self.health_check)

    async def stop(self) -> None:
        """Stop firing jobs; jobs already running finish on their own."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def scheduled(self) -> dict[str, float]:
        """Integration id -> seconds between runs, for every scheduled integration."""
        return dict(self._intervals)

    async def on_change(self, integration_id: str, change: str) -> None:
        """The engine's listener: connect, disconnect or a config change happened."""
        await self.refresh(integration_id)

    async def refresh(self, integration_id: str) -> None:
        """Add, move or remove the job of one integration to match the store."""
        try:
            integration = await self.engine.get_integration(integration_id)
        except NotFoundError:
            integration = None
        interval = None
        if integration is not None and integration.get("is_active"):
            interval = sync_interval(integration.get("config"), self.settings)
        self._set_job(integration_id, interval)

    async def refresh_all(self) -> None:
        active = await self.engine.list_integrations(active_only=True)
        wanted = {item["id"]: sync_interval(item.get("config"), self.settings) for item in active}
        for integration_id in set(self._intervals) - set(wanted):
            self._set_job(integration_id, None)
        for integration_id, interval in wanted.items():
            self._set_job(integration_id, interval)

    def _set_job(self, integration_id: str, interval: float | None) -> None:
        job_id = SYNC_JOB + integration_id
        if interval is None:
            if self._intervals.pop(integration_id, None) is not None:
                self._scheduler.remove_job(job_id)
                log.info("schedule removed", extra={"integration_id": integration_id})
            return
        if self._intervals.get(integration_id) == interval:
            return
        self._intervals[integration_id] = interval
        self._every(job_id, interval, self.run_scheduled, integration_id)
        log.info("schedule set", extra={"integration_id": integration_id, "seconds": interval})

    def _every(self, job_id: str, seconds: float, func: Any, *args: Any) -> None:
        trigger = IntervalTrigger(
            seconds=seconds, jitter=seconds * self.settings.jitter_fraction or None, timezone=UTC
        )
        self._scheduler.add_job(func, trigger, args=args, id=job_id, replace_existing=True)

    async def run_scheduled(self, integration_id: str) -> None:
        """A scheduled sync; a live run (here or on another node) means skip this one."""
        try:
            await self.runs.start(integration_id, trigger="schedule")
        except ConflictError:
            self.metrics.scheduled.labels(kind="sync", outcome="skipped").inc()
            return
        except (NotFoundError, ConfigError):
            self.metrics.scheduled.labels(kind="sync", outcome="dropped").inc()
            await self.refresh(integration_id)
            return
        except Exception as exc:
            self.metrics.scheduled.labels(kind="sync", outcome="error").inc()
            log.warning(
                "scheduled sync could not start",
                extra={"integration_id": integration_id, "error_class": error_class(exc)},
            )
            return
        self.metrics.scheduled.labels(kind="sync", outcome="started").inc()

    async def health_check(self) -> None:
        """Test the connection of every active integration (the engine marks failures)."""
        for item in await self.engine.list_integrations(active_only=True):
            try:
                await self.engine.check_integration(item["id"])
            except KiroSyncError as exc:
                outcome = "failed" if isinstance(exc, ConfigError) else "error"
                self.metrics.scheduled.labels(kind="health", outcome=outcome).inc()
                log.warning(
                    "health check failed",
                    extra={"integration_id": item["id"], "error_class": error_class(exc)},
                )
            else:
                self.metrics.scheduled.labels(kind="health", outcome="ok").inc()
