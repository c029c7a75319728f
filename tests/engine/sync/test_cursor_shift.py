"""Pages named by position (GitHub's Link header, sorted by updated_at): an item edited while
the run walks them moves to the end and shifts the later ones back a place, so one is never
served. The cursor must not pass over it: the next run reads it, and nothing twice."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.sync.pages import partition_key
from tests.engine.sync.conftest import REPO, Env

OPTIONS = {"batchSize": 50, "includeComments": False}  # pages of 50 too


def _stamp(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def edit_before_the_second_page(env: Env, number: int) -> None:
    """Edit issue ``number`` upstream once the first page has been served: the next pages
    (followed from the Link header) are requested under /repositories/."""

    async def respond(request: web.Request, handler: Any) -> web.StreamResponse:
        env.sim.edit_issue(REPO, number, title="Edited while the run read")
        response: web.StreamResponse = await handler(request)
        return response

    env.sim.inject("edit", respond, method="GET", path="/repositories/")


async def cursor_of(env: Env) -> str | None:
    return await env.store.get_cursor(env.integration.id, "issues", partition_key(REPO))


async def test_an_item_edited_during_the_walk_loses_nothing(github: Env) -> None:
    seeded = github.sim.seed_issues(REPO, count=250, pull_requests=0)
    by_update = sorted(seeded, key=lambda i: i.updated_at)
    edit_before_the_second_page(github, by_update[9].number)

    first = await github.run(OPTIONS)
    assert first.status == "success", first.errors
    # the edit moved item 10 to the end: page 2 began at old item 52, item 51 was not served
    assert first.imported.created == 249
    # the cursor went back to the first page's greatest value, not to item 10's new time
    assert await cursor_of(github) == _stamp(by_update[49].updated_at)

    second = await github.run(OPTIONS)
    assert second.status == "success", second.errors
    assert second.imported.created == 1
    assert second.imported.updated == 0
    items = await github.items()
    assert len(items) == 250
    titles = sorted(i.title for i in items)
    expected = sorted(i.title for i in github.sim.issues_of(REPO))
    assert titles == expected and "Edited while the run read" in titles
    links = await github.links()
    assert len(links) == len({link.kiro_id for link in links}) == 250
    assert len({link.external_id for link in links}) == 250
    # nothing changed since: the cursor now advances to the greatest value seen
    assert await cursor_of(github) == _stamp(max(i.updated_at for i in seeded))


async def test_without_a_concurrent_edit_the_cursor_advances(github: Env) -> None:
    seeded = github.sim.seed_issues(REPO, count=250, pull_requests=0)
    first = await github.run(OPTIONS)
    assert (first.status, first.imported.created) == ("success", 250)
    greatest = _stamp(max(i.updated_at for i in seeded))
    assert await cursor_of(github) == greatest

    github.sim.clock.advance(minutes=5)
    github.sim.create_issue(REPO, "Newer")
    github.sim.log.clear()
    second = await github.run(OPTIONS)
    assert (second.imported.created, second.imported.skipped) == (1, 1)
    [request] = github.sim.log.matching("GET", f"/repos/{REPO}/issues")
    assert request.query["since"] == greatest
    assert len(await github.items()) == 251
