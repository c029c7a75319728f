"""The scheduler inside a running server: jobs fire, follow changes, skip live runs, and
the health check marks a failing integration. Intervals are fractions of a second."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.metrics import Metrics
from runtime.runs import Runs
from runtime.scheduler import SyncScheduler, sync_interval
from runtime.server.state import SCHEDULER
from runtime.settings import Settings
from tests.runtime.server.conftest import GITHUB_TOKEN, Api, connected

FAST = {
    "scheduler_enabled": True,
    "hourly_seconds": 0.3,
    "daily_seconds": 50.0,
    "reconcile_seconds": 40.0,
    "jitter_fraction": 0.0,
    "schedule_refresh_seconds": 0.2,
    "health_check_seconds": 3600.0,
}


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def scheduled_runs(api: Api, outcome: str = "started") -> float:
    text = await (await api.client.get("/metrics")).text()
    line = f'kiro_sync_scheduled_jobs_total{{kind="sync",outcome="{outcome}"}} '
    for row in text.splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return 0.0


def test_frequencies_map_to_intervals() -> None:
    settings = Settings.load(**FAST)
    assert sync_interval({"syncFrequency": "hourly"}, settings) == 0.3
    assert sync_interval({"syncFrequency": "daily"}, settings) == 50.0
    assert sync_interval({"syncFrequency": "realtime"}, settings) == 40.0  # the reconcile poll
    assert sync_interval({"syncFrequency": "manual"}, settings) is None
    assert sync_interval({}, settings) is None and sync_interval(None, settings) is None


async def test_hourly_integrations_are_synced_on_schedule(server, github_url: str) -> None:
    api = await server(**FAST)
    integration_id = await connected(api, github_url, syncFrequency="hourly")
    assert api.app[SCHEDULER].scheduled() == {integration_id: 0.3}
    await eventually(lambda: _started_at_least(api, 2))
    status = await api.wait_idle(integration_id)
    assert status["last_sync_at"] is not None and status["sync_status"] == "success"


async def _started_at_least(api: Api, count: int) -> bool:
    return await scheduled_runs(api) >= count


async def test_schedules_follow_config_and_disconnect(server, github_url: str) -> None:
    api = await server(**FAST)
    integration_id = await connected(api, github_url)  # manual: no job
    scheduler = api.app[SCHEDULER]
    assert scheduler.scheduled() == {}
    config = {"syncDirection": "import", "syncFrequency": "daily", "filters": {"projects": []}}
    await api.engine.update_config(integration_id, config)
    assert scheduler.scheduled() == {integration_id: 50.0}
    await api.engine.update_config(integration_id, {**config, "syncFrequency": "realtime"})
    assert scheduler.scheduled() == {integration_id: 40.0}
    status, _ = await api.call({"action": "disconnect", "integrationId": integration_id})
    assert status == 200 and scheduler.scheduled() == {}


async def test_changes_made_elsewhere_are_picked_up(server, github_url: str) -> None:
    api = await server(**FAST)
    integration_id = await connected(api, github_url)
    # another node (or the embedding backend) changes the row behind this process's back
    await api.engine.store.update_integration(
        integration_id, config={"syncFrequency": "daily", "filters": {"projects": []}}
    )

    async def moved() -> bool:
        return api.app[SCHEDULER].scheduled() == {integration_id: 50.0}

    await eventually(moved)
    await api.engine.store.update_integration(integration_id, is_active=False)

    async def dropped() -> bool:
        return api.app[SCHEDULER].scheduled() == {}

    await eventually(dropped)


async def test_a_live_run_makes_the_other_scheduler_skip(api: Api, github_url: str) -> None:
    integration_id = await connected(api, github_url)
    settings = Settings.load(**FAST)
    nodes = [
        SyncScheduler(api.engine, Runs(api.engine, Metrics()), settings, Metrics())
        for _ in range(2)
    ]
    await asyncio.gather(*(node.run_scheduled(integration_id) for node in nodes))
    outcomes = sorted(
        outcome
        for node in nodes
        for outcome in ("started", "skipped")
        if node.metrics.scheduled.labels(kind="sync", outcome=outcome)._value.get() == 1
    )
    assert outcomes == ["skipped", "started"]
    await api.wait_idle(integration_id)
    for node in nodes:
        await node.runs.close(5.0)


async def test_health_check_marks_a_failing_integration(server, github, github_url) -> None:
    api = await server(**{**FAST, "health_check_seconds": 0.2})
    integration_id = await connected(api, github_url)
    del github.tokens[GITHUB_TOKEN]  # the token is revoked at the provider

    async def marked() -> bool:
        _status, body = await api.call(
            {"action": "get-sync-status", "integrationId": integration_id}
        )
        return body["data"]["sync_status"] == "error"

    await eventually(marked)
    _status, body = await api.call({"action": "get-sync-status", "integrationId": integration_id})
    assert "Bad credentials" in body["data"]["error_message"]
