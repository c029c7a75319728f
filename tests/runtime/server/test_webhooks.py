"""POST /webhooks/{id} through HTTP: verified, stored before the answer, applied once.

The durability test stops short of processing (the first server has no worker), restarts the
server on the same DuckDB file, and checks the worker of the second server applies the
stored delivery exactly once, also when the provider delivers it again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store.base import WorkItemFilter
from tests.runtime.server.conftest import PROJECT, REPO, Api, connect_body
from tests.simulators.base import hmac_sha256_hex

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


async def test_generated_deliveries_never_produce_a_500(api: Api, github, github_url) -> None:
    """Any bytes, any headers, signed or not: the route answers 2xx/4xx, never 500."""
    integration_id = await connect_with_secret(api, github_url)
    drawn: list[tuple[bytes, dict[str, str], bool, str]] = []
    json_bodies = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    ).map(lambda value: json.dumps(value).encode())
    shaped = st.fixed_dictionaries(
        {"action": st.sampled_from(["opened", "edited", "deleted", "?"])},
        optional={
            "issue": st.dictionaries(
                st.sampled_from(["id", "number", "title"]), st.integers() | st.text(max_size=5)
            )
        },
    ).map(lambda value: json.dumps(value).encode())

    @settings(max_examples=80, database=None, deadline=None, derandomize=True)
    @given(
        body=st.binary(max_size=200) | json_bodies | shaped,
        event=st.sampled_from(["issues", "issue_comment", "ping", "", "weird"]),
        signed=st.booleans(),
        target=st.sampled_from([integration_id, "unknown-integration"]),
    )
    def collect(body: bytes, event: str, signed: bool, target: str) -> None:
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": str(len(drawn))}
        drawn.append((body, headers, signed, target))

    collect()
    statuses = set()
    for body, headers, signed, target in drawn:
        if signed:
            headers["X-Hub-Signature-256"] = "sha256=" + hmac_sha256_hex(WEBHOOK_SECRET, body)
        response = await api.client.post(f"/webhooks/{target}", data=body, headers=headers)
        assert response.status < 500, (body, headers, await response.text())
        statuses.add(response.status)
    assert {200, 401, 404} <= statuses
    head = await api.client.head(f"/webhooks/{integration_id}")
    assert head.status < 500
