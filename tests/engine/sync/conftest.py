"""Fixtures for sync tests: the GitHub and Jira simulators served on 127.0.0.1, an
integration in the store, and a ``SyncService`` whose clock follows the simulator's."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.catalog import ProviderCatalog
from engine.store.base import Batch, Integration, Store, WorkItem, WorkItemFilter
from engine.sync import SyncService
from engine.webhooks import InboundRequest, WebhookProcessor
from tests.simulators.base import SimClock
from tests.simulators.github import GitHubSim
from tests.simulators.jira import JiraSim

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REPO = "octo/hello"
PROJECT = "project-123"


@dataclass
class Env:
    """A simulator, its URL, the store, the service and one integration."""

    sim: Any
    url: str
    store: Store
    service: SyncService
    integration: Integration
    credentials: dict[str, Any]

    async def run(self, options: dict[str, Any] | None = None, **kw: Any) -> Any:
        current = await self.store.get_integration(self.integration.id)
        assert current is not None
        return await self.service.run(current, self.credentials, options or {}, **kw)

    async def deliver(self, delivery: Any, secret: str = "whsec") -> Any:
        """Verify and route a simulator's webhook delivery, then apply it."""
        provider = self.service.catalog.get(self.integration.type)
        processor = WebhookProcessor(provider)
        request = InboundRequest.build(
            "POST", "https://kiro.test/webhooks/x", delivery.headers, delivery.body
        )
        outcome = processor.verify_and_route(request, secret)
        current = await self.store.get_integration(self.integration.id)
        assert current is not None
        return await self.service.apply_webhook(current, self.credentials, list(outcome.events))

    async def put_item(self, **fields: Any) -> WorkItem:
        """A Kiro-side edit (or a new item): stored with updated_at = the simulator's now."""
        now = self.sim.clock.tick()
        item_id = fields.pop("id", None)
        if item_id is not None:
            found = await self.store.get_work_items([item_id])
            item = dataclasses.replace(found[item_id], **fields)
            item.version += 1
        else:
            item = WorkItem(
                id=f"w-{now.timestamp():.0f}-{fields['title'][:8]}",
                project_id=PROJECT,
                created_at=now,
                **fields,
            )
        item.updated_at = now
        await self.store.apply_batch(Batch(work_items=[item]))
        return item

    def use_catalog(self, catalog: ProviderCatalog) -> None:
        self.service = SyncService(self.store, catalog, clock=sim_clock(self.sim))

    async def twin(self, integration_id: str, catalog: ProviderCatalog | None = None) -> Env:
        """Another integration of the same provider and config (its own links and cursors)."""
        twin = Integration(
            id=integration_id,
            project_id=PROJECT,
            type=self.integration.type,
            name=integration_id,
            config=dict(self.integration.config),
        )
        created = await self.store.create_integration(twin)
        service = SyncService(
            self.store, catalog or self.service.catalog, clock=sim_clock(self.sim)
        )
        return Env(self.sim, self.url, self.store, service, created, dict(self.credentials))

    async def set_config(self, **changes: Any) -> None:
        config = {**self.integration.config, **changes}
        await self.store.update_integration(self.integration.id, config=config)
        self.integration.config = config

    async def items(self, include_deleted: bool = False) -> list[WorkItem]:
        query = WorkItemFilter(project_id=PROJECT, include_deleted=include_deleted)
        found: list[WorkItem] = []
        async for batch in self.store.iter_work_items(query):
            found.extend(batch)
        return found

    async def links(self, entity: str = "work_item") -> list[Any]:
        found: list[Any] = []
        async for batch in self.store.iter_links(self.integration.id, entity):  # type: ignore[arg-type]
            found.extend(batch)
        return found


def sim_clock(sim: Any) -> Callable[[], datetime]:
    return lambda: sim.clock.now


async def make_env(
    store: Store,
    sim: Any,
    url: str,
    provider: str,
    credentials: dict[str, Any],
    config: dict[str, Any],
    catalog: ProviderCatalog | None = None,
) -> Env:
    await store.ensure_project(PROJECT, "Kiro project")
    integration = await store.create_integration(
        Integration(
            id=f"int-{provider}", project_id=PROJECT, type=provider, name=provider, config=config
        )
    )
    service = SyncService(store, catalog or ProviderCatalog.default(), clock=sim_clock(sim))
    return Env(sim, url, store, service, integration, {**credentials, "baseUrl": url})


@pytest.fixture
def github_sim() -> GitHubSim:
    sim = GitHubSim(clock=SimClock(T0))
    sim.add_repo(REPO)
    return sim


@pytest.fixture
async def github(store: Store, github_sim: GitHubSim, aiohttp_server: Any) -> Env:
    server = await aiohttp_server(github_sim.app())
    config = {"syncDirection": "import", "filters": {"projects": [REPO]}}
    url = str(server.make_url("")).rstrip("/")
    return await make_env(store, github_sim, url, "github", {"token": "ghp_sim_token"}, config)


@pytest.fixture
def jira_sim() -> JiraSim:
    return JiraSim(clock=SimClock(T0))


@pytest.fixture
async def jira(store: Store, jira_sim: JiraSim, aiohttp_server: Any) -> Env:
    server = await aiohttp_server(jira_sim.app())
    config = {"syncDirection": "import", "filters": {"projects": ["KAN"]}}
    url = str(server.make_url("")).rstrip("/")
    credentials = {"email": "dev@example.com", "apiToken": "jira-token"}
    return await make_env(store, jira_sim, url, "jira", credentials, config)
