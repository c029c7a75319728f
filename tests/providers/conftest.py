"""End-to-end rigs for the bundled providers: a simulator on a real socket, an Engine (the
facade, with a DuckDB store and the bundled catalog) whose clock follows the simulator's, and
a webhook receiver in front of the Engine whose URL is the Engine's public URL, so webhooks
registered by API at the simulator come back to it.

    rig = await make_rig(sim, aiohttp_server, tmp_path)
    result = await rig.connect("github", {"token": ...}, {"filters": {...}})
    run = await rig.sync()                          # SyncResult, checked for success
    answer = await rig.deliver(delivery)           # POST to /webhooks/{id}; then processed
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.catalog import ProviderCatalog
from engine.config import SyncOptions, parse_config
from engine.connect import ConnectResult
from engine.facade import Engine
from engine.store.base import Batch, ExternalLink, WorkItem, WorkItemFilter
from engine.store.duckdb import DuckDBStore
from engine.sync.models import SyncResult
from engine.vault import Vault, generate_key, parse_keys
from engine.webhooks import InboundRequest
from tests.simulators.base import Delivery, DeliveryResult, post_webhook

PROJECT = "project-kiro"


class FakeClock:
    """A Connection clock: sleeps return at once, are recorded and move time forward."""

    def __init__(self, start: float) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


def receiver(holder: dict[str, Engine]) -> web.Application:
    """POST /webhooks/{integration_id} -> Engine.receive_webhook, answered as it says."""

    async def receive(request: web.Request) -> web.Response:
        engine = holder["engine"]
        answer = await engine.receive_webhook(
            request.match_info["integration_id"],
            InboundRequest.build(
                request.method, str(request.url), dict(request.headers), await request.read()
            ),
        )
        if isinstance(answer.body, dict):
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        data = answer.body.encode() if isinstance(answer.body, str) else (answer.body or b"")
        return web.Response(status=answer.status, body=data, headers=answer.headers)

    app = web.Application()
    app.router.add_post("/webhooks/{integration_id}", receive)
    return app


@dataclass
class Rig:
    """One provider simulator and one Engine in front of it."""

    sim: Any
    sim_url: str
    engine: Engine
    store: DuckDBStore
    public_url: str
    integration_id: str = ""
    credentials: dict[str, Any] = field(default_factory=dict)

    async def connect(
        self,
        provider: str,
        credentials: dict[str, Any],
        config: dict[str, Any],
    ) -> ConnectResult:
        result = await self.engine.connect(
            project_id=PROJECT,
            integration_type=provider,
            credentials={**credentials, "baseUrl": self.sim_url},
            config=config,
            create_project=True,
        )
        self.integration_id = result.integration["id"]
        return result

    async def sync(self, expect: str = "success", **options: Any) -> SyncResult:
        result = await self.engine.sync(self.integration_id, SyncOptions(**options))
        assert result.status == expect, (result.status, result.error_message, result.errors)
        return result

    async def configure(self, **changes: Any) -> None:
        current = await self.engine.get_integration(self.integration_id)
        await self.engine.update_config(self.integration_id, {**current["config"], **changes})

    async def items(self, include_deleted: bool = False) -> list[WorkItem]:
        query = WorkItemFilter(project_id=PROJECT, include_deleted=include_deleted)
        found: list[WorkItem] = []
        async for batch in self.store.iter_work_items(query):
            found.extend(batch)
        return found

    async def links(self, entity: str = "work_item") -> dict[str, ExternalLink]:
        """External id -> link."""
        found: dict[str, ExternalLink] = {}
        async for batch in self.store.iter_links(self.integration_id, entity):  # type: ignore[arg-type]
            found.update({link.external_id: link for link in batch})
        return found

    async def item(self, external_id: str) -> WorkItem:
        """The Kiro work item linked to ``external_id`` (deleted ones too)."""
        link = (await self.links())[external_id]
        return (await self.store.get_work_items([link.kiro_id]))[link.kiro_id]

    async def comments_of(self, external_id: str) -> list[str]:
        link = (await self.links())[external_id]
        found: list[str] = []
        async for batch in self.store.iter_comments([link.kiro_id]):
            found.extend(c.body for c in batch)
        return sorted(found)

    def now(self) -> datetime:
        return self.engine.now()

    async def edit_in_kiro(self, item: WorkItem, **changes: Any) -> WorkItem:
        """Change a Kiro work item as the Kiro backend would (updated_at moves)."""
        for name, value in changes.items():
            setattr(item, name, value)
        item.updated_at = self.now() + timedelta(seconds=1)
        await self.store.apply_batch(Batch(work_items=[item]))
        return item

    async def new_in_kiro(self, item_id: str, **values: Any) -> WorkItem:
        item = WorkItem(id=item_id, project_id=PROJECT, **values)
        item.created_at = self.now()
        item.updated_at = self.now() + timedelta(seconds=1)
        await self.store.apply_batch(Batch(work_items=[item]))
        return item

    def webhook_url(self) -> str:
        return f"{self.public_url}/webhooks/{self.integration_id}"

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """POST a provider's delivery to the Engine's webhook URL (as the provider does)."""
        return await post_webhook(self.webhook_url(), delivery)

    async def process(self) -> int:
        return await self.engine.process_webhooks()


async def make_rig(sim: Any, aiohttp_server: Any, tmp_path: Path) -> Rig:
    """A simulator and an Engine in front of it; ``close_rig`` closes the store."""
    sim_server = await aiohttp_server(sim.app())
    holder: dict[str, Engine] = {}
    hook_server = await aiohttp_server(receiver(holder))
    public_url = str(hook_server.make_url("")).rstrip("/")
    store = DuckDBStore(str(tmp_path / "kiro-sync.duckdb"))
    await store.open()
    engine = Engine(
        store,
        ProviderCatalog.default(),
        vault=Vault(parse_keys(generate_key(), "test")),
        clock=lambda: sim.clock.now,
        public_url=public_url,
        node="provider-tests",
    )
    holder["engine"] = engine
    return Rig(sim, str(sim_server.make_url("")).rstrip("/"), engine, store, public_url)


def requests_to(sim: Any, method: str, path: str) -> list[Any]:
    """The simulator's log entries for exactly this method and path."""
    return [e for e in sim.log.entries if e.method == method and e.path == path]


def only(values: Iterable[Any]) -> Any:
    listed = list(values)
    assert len(listed) == 1, listed
    return listed[0]


async def close_rig(rig: Rig) -> None:
    await rig.engine.close()
    await rig.store.close()


def wired(config: dict[str, Any]) -> dict[str, Any]:
    """A config as templates see it (every default filled in), for a bare Connection."""
    return parse_config(config).wire()
