"""Two servers on one Postgres database, as when scaling out: they see the same
integrations, a sync never runs on both, and webhook deliveries posted to either node are
each applied exactly once by the two workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from engine.facade import Engine
from engine.store.postgres import PostgresStore
from engine.vault import Vault
from runtime.server.app import create_app
from tests.conftest import postgres_url
from tests.runtime.server.conftest import REPO, Api, base_settings, connect_body
from tests.runtime.server.test_webhooks import WEBHOOK_SECRET, deliver, titled

pytestmark = pytest.mark.postgres

Node = Callable[[str], Awaitable[Api]]


@pytest.fixture
async def node(
    aiohttp_client, postgres_schema: str, tmp_path: Path, secrets_seen
) -> AsyncIterator[Node]:
    """``await node(name)``: a server with its own engine and store on the shared schema."""
    vault = Vault.from_env({}, tmp_path)  # every node holds the same key
    engines: list[Engine] = []
    servers: list[Api] = []

    async def start(name: str) -> Api:
        store = PostgresStore(postgres_url(), schema=postgres_schema)
        await store.open()
        engine = Engine(store, vault=vault, node=name, public_url="http://kiro-sync.test")
        await engine.register_provider_types()
        engines.append(engine)
        app = create_app(base_settings(tmp_path / name), engine=engine)
        servers.append(Api(await aiohttp_client(app), secrets_seen))
        return servers[-1]

    yield start
    for server in servers:  # workers and runs stop before their stores close
        await server.client.close()
    for engine in engines:
        await engine.close(timeout=5)
        await engine.store.close()


async def test_nodes_share_integrations_runs_and_the_webhook_queue(
    node: Node, github, github_url: str
) -> None:
    first, second = await node("node-a"), await node("node-b")
    body = connect_body(github_url)
    body["data"]["credentials"]["webhookSecret"] = WEBHOOK_SECRET
    first.secrets_seen.add(WEBHOOK_SECRET)
    status, answer = await first.call(body)
    assert status == 200, answer
    integration_id = answer["data"]["id"]
    status, listing = await second.call({"action": "get-integrations", "projectId": "project-123"})
    assert [item["id"] for item in listing["data"]] == [integration_id]

    github.inject_delay(0.5, times=1, path=f"/repos/{REPO}/issues")  # keep the run alive
    status, started = await first.call({"action": "sync", "integrationId": integration_id})
    assert status == 202
    status, refused = await second.call({"action": "sync", "integrationId": integration_id})
    assert status == 409 and refused["details"] == {"runId": started["data"]["runId"]}
    await first.wait_idle(integration_id)

    titles = [f"Scaled {n}" for n in range(6)]
    for n, title in enumerate(titles):
        issue = github.create_issue(REPO, title, "delivered to one node or the other")
        delivery = github.webhook(
            "issues", "opened", REPO, number=issue.number, secret=WEBHOOK_SECRET
        )
        status, _ = await deliver(first if n % 2 else second, integration_id, delivery)
        assert status == 200
        status, _ = await deliver(second if n % 2 else first, integration_id, delivery)
        assert status == 200  # the same delivery again, at the other node: a duplicate

    async def all_applied() -> bool:
        counts = [await titled(first, title) for title in titles]
        return counts == [1] * len(titles) and await first.engine.webhook_backlog() == 0

    deadline = asyncio.get_running_loop().time() + 15
    while not await all_applied():
        assert asyncio.get_running_loop().time() < deadline, "deliveries were not applied"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # a late second application would show now
    assert [await titled(second, title) for title in titles] == [1] * len(titles)
