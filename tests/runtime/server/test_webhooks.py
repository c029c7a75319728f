"""POST /webhooks/{id} through HTTP: verified, stored before the answer, applied once.

The durability test stops short of processing (the first server has no worker), restarts the
server on the same DuckDB file, and checks the worker of the second server applies the
stored delivery exactly once, also when the provider delivers it again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.store.base import WorkItemFilter
from tests.runtime.server.conftest import PROJECT, REPO, Api, connect_body

WEBHOOK_SECRET = "runtime-webhook-secret-7f3a9c"


async def connect_with_secret(api: Api, base_url: str) -> str:
    body = connect_body(base_url)
    body["data"]["credentials"]["webhookSecret"] = WEBHOOK_SECRET
    api.secrets_seen.add(WEBHOOK_SECRET)
    status, answer = await api.call(body)
    assert status == 200, answer
    return str(answer["data"]["id"])


async def deliver(api: Api, integration_id: str, delivery: Any) -> tuple[int, str]:
    response = await api.client.post(
        f"/webhooks/{integration_id}", data=delivery.body, headers=delivery.headers
    )
    return response.status, await response.text()


async def titled(api: Api, title: str) -> int:
    count = 0
    async for batch in api.engine.store.iter_work_items(WorkItemFilter(project_id=PROJECT)):
        count += sum(1 for item in batch if item.title == title)
    return count


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_a_stored_webhook_survives_a_restart_and_applies_once(
    server, github, github_url: str
) -> None:
    first = await server(worker_enabled=False)
    integration_id = await connect_with_secret(first, github_url)
    issue = github.create_issue(REPO, "Durable delivery", "arrives while nobody processes")
    delivery = github.webhook("issues", "opened", REPO, number=issue.number, secret=WEBHOOK_SECRET)

    status, _ = await deliver(first, integration_id, delivery)
    assert 200 <= status < 300
    assert await first.engine.webhook_backlog() == 1  # committed before the answer
    assert await titled(first, "Durable delivery") == 0  # and not applied: no worker
    await first.client.close()  # the process goes away with the delivery unprocessed

    second = await server(worker_enabled=True)
    await eventually(lambda: _applied(second, "Durable delivery"))
    assert await second.engine.webhook_backlog() == 0

    status, _ = await deliver(second, integration_id, delivery)  # the provider retries
    assert 200 <= status < 300
    await asyncio.sleep(0.2)  # give the worker its chance to (wrongly) apply it again
    assert await titled(second, "Durable delivery") == 1
    metrics = await (await second.client.get("/metrics")).text()
    assert "kiro_sync_webhooks_processed_total 1.0" in metrics


async def _applied(api: Api, title: str) -> bool:
    return await titled(api, title) == 1


async def test_a_bad_signature_is_401_and_stores_nothing(api: Api, github, github_url) -> None:
    integration_id = await connect_with_secret(api, github_url)
    issue = github.create_issue(REPO, "Forged", "not from GitHub")
    forged = github.webhook("issues", "opened", REPO, number=issue.number, secret="wrong-secret")
    status, text = await deliver(api, integration_id, forged)
    assert status == 401 and WEBHOOK_SECRET not in text
    unsigned = github.webhook("issues", "opened", REPO, number=issue.number)
    status, _ = await deliver(api, integration_id, unsigned)
    assert status == 401
    assert await api.engine.webhook_backlog() == 0
    metrics = await (await api.client.get("/metrics")).text()
    assert 'kiro_sync_webhooks_rejected_total{status="401"} 2.0' in metrics


async def test_webhooks_need_no_jwt_but_an_integration(api: Api, github) -> None:
    delivery = github.webhook("ping", secret=WEBHOOK_SECRET)
    status, _ = await deliver(api, "no-such-integration", delivery)
    assert status == 404
    response = await api.client.get("/webhooks/no-such-integration")
    assert response.status == 405  # only the methods providers use
    assert (await response.json())["success"] is False


async def test_ping_is_acknowledged_without_work(api: Api, github, github_url: str) -> None:
    integration_id = await connect_with_secret(api, github_url)
    status, _ = await deliver(api, integration_id, github.webhook("ping", secret=WEBHOOK_SECRET))
    assert 200 <= status < 300
