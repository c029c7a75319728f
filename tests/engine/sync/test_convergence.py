"""Property: any interleaving of edits on both sides, with syncs in between, converges.

Kiro edits (title, description, status, tags), GitHub edits (title, body, state, labels),
new items on either side and bidirectional syncs come in random order under an automatic
conflict policy. After two final syncs, every both-direction field agrees on both sides
(as the mapping reads it back), every item exists once on each side with exactly one link,
and one more sync changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import ProviderCatalog
from engine.mapping import map_record
from engine.mapping.fields import canonical
from engine.store.base import Batch, Integration, WorkItem, WorkItemFilter
from engine.store.duckdb import DuckDBStore
from engine.sync import SyncService
from engine.sync.entities import read
from tests.engine.sync.conftest import PROJECT, REPO, T0
from tests.simulators.base import SimClock, serve
from tests.simulators.github import GitHubSim

TITLES = st.sampled_from(["alpha", "beta", "gamma"])
TAGS = st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=2)
KIRO_EDITS = st.one_of(
    st.tuples(st.just("title"), TITLES),
    st.tuples(st.just("description"), st.sampled_from(["one", "two", None])),
    st.tuples(st.just("status"), st.sampled_from(["To Do", "In Progress", "Done"])),
    st.tuples(st.just("tags"), TAGS),
)
REMOTE_EDITS = st.one_of(
    st.tuples(st.just("title"), TITLES),
    st.tuples(st.just("body"), st.sampled_from(["one", "three", None])),
    st.tuples(st.just("state"), st.sampled_from(["open", "closed"])),
    st.tuples(st.just("labels"), TAGS),
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("kiro_edit"), st.integers(0, 5), KIRO_EDITS),
        st.tuples(st.just("remote_edit"), st.integers(0, 5), REMOTE_EDITS),
        st.tuples(st.just("kiro_create"), TITLES),
        st.tuples(st.just("remote_create"), TITLES),
        st.tuples(st.just("sync")),
    ),
    max_size=12,
)
POLICIES = st.sampled_from(["latest_wins", "kiro_wins", "external_wins"])


class World:
    def __init__(self, sim: GitHubSim, store: DuckDBStore, url: str, policy: str) -> None:
        self.sim = sim
        self.store = store
        self.service = SyncService(store, ProviderCatalog.default(), clock=lambda: sim.clock.now)
        self.credentials = {"token": "ghp_sim_token", "baseUrl": url}
        self.config = {
            "syncDirection": "bidirectional",
            "conflictResolution": policy,
            "filters": {"projects": [REPO]},
        }
        self.made = 0

    async def setup(self) -> None:
        await self.store.ensure_project(PROJECT)
        await self.store.create_integration(
            Integration(id="int", project_id=PROJECT, type="github", name="gh", config=self.config)
        )

    async def items(self) -> list[WorkItem]:
        found: list[WorkItem] = []
        async for batch in self.store.iter_work_items(WorkItemFilter(project_id=PROJECT)):
            found.extend(batch)
        return sorted(found, key=lambda i: i.id)

    async def sync(self) -> Any:
        integration = await self.store.get_integration("int")
        assert integration is not None
        result = await self.service.run(integration, self.credentials, {"includeComments": False})
        assert result.status == "success", result.errors
        return result

    async def step(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "sync":
            await self.sync()
        elif kind == "kiro_create":
            self.made += 1
            now = self.sim.clock.tick()
            item = WorkItem(
                id=f"k{self.made}",
                project_id=PROJECT,
                title=step[1],
                created_at=now,
                updated_at=now,
            )
            await self.store.apply_batch(Batch(work_items=[item]))
        elif kind == "remote_create":
            self.sim.create_issue(REPO, step[1])
        elif kind == "kiro_edit":
            items = await self.items()
            if items:
                item = dataclasses.replace(items[step[1] % len(items)])
                setattr(item, step[2][0], step[2][1])
                item.updated_at, item.version = self.sim.clock.tick(), item.version + 1
                await self.store.apply_batch(Batch(work_items=[item]))
        else:
            issues = self.sim.issues_of(REPO)
            if issues:
                issue = issues[step[1] % len(issues)]
                self.sim.edit_issue(REPO, issue.number, **{step[2][0]: step[2][1]})

    async def check_converged(self) -> None:
        mapping = self.service.mapping_for("github")
        stream = mapping.streams["issues"]
        both = [f for f in stream.fields.values() if f.spec.direction == "both"]
        links = [
            link async for batch in self.store.iter_links("int", "work_item") for link in batch
        ]
        issues = self.sim.issues_of(REPO)
        items = {i.id: i for i in await self.items()}
        assert len(links) == len({x.kiro_id for x in links}) == len({x.external_id for x in links})
        assert len(links) == len(issues) == len(items)
        assert {x.kiro_id for x in links} == set(items)
        config = self.config | {"syncOptions": {}}
        for link in links:
            number = int(link.external_id.split("#")[1])
            remote = map_record(stream, self.sim.issue_doc(REPO, number), config=config).values
            item = items[link.kiro_id]
            for f in both:
                kiro_side = f.roundtrip(canonical(f.kiro, read(item, f)))
                assert kiro_side == canonical(f.kiro, remote[f.name]), (f.name, item, remote)


async def play(steps: list[tuple[Any, ...]], policy: str) -> None:
    sim = GitHubSim(clock=SimClock(T0))
    sim.add_repo(REPO)
    sim.seed_issues(REPO, count=2, pull_requests=0)
    store = DuckDBStore()
    await store.open()
    try:
        async with serve(sim) as url:
            world = World(sim, store, url, policy)
            await world.setup()
            await world.sync()
            for step in steps:
                await world.step(step)
            await world.sync()
            await world.sync()
            await world.check_converged()
            quiet = await world.sync()
            assert quiet.totals.created == quiet.totals.updated == 0, quiet.to_dict()
    finally:
        await store.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, policy=POLICIES)
def test_interleaved_edits_converge_without_duplicate_links(steps: list[Any], policy: str) -> None:
    asyncio.run(play(steps, policy))
