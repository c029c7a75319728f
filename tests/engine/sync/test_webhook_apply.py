"""Webhooks go through the same mapping, merge and echo path as polls."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from engine.webhooks.routing import WebhookEvent
from tests.engine.sync.conftest import REPO, Env


async def test_a_webhook_creates_and_a_poll_then_skips(github: Env) -> None:
    issue = github.sim.create_issue(REPO, "Opened upstream", body="hello")
    counts = await github.deliver(
        github.sim.webhook("issues", "opened", REPO, number=issue.number, secret="whsec")
    )
    assert counts.created == 1
    [item] = await github.items()
    assert (item.title, item.description) == ("Opened upstream", "hello")
    poll = await github.run({"includeComments": False})
    assert (poll.imported.created, poll.imported.updated, poll.imported.skipped) == (0, 0, 1)


async def test_a_poll_never_overwrites_a_newer_webhook_change(github: Env) -> None:
    github.sim.seed_issues(REPO, count=3, pull_requests=0)
    await github.run({"includeComments": False})
    [link, *_] = await github.links()
    number = int(link.external_id.split("#")[1])
    stale = github.sim.issue_doc(REPO, number)  # what a lagging poll will still answer
    newer = dict(
        stale,
        title="Renamed",
        updated_at=(github.sim.clock.now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    event = WebhookEvent("issue_changed", "issues", "upsert", (newer,), "issues", "d-1")
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    applied = await github.service.apply_webhook(integration, github.credentials, [event])
    assert applied.updated == 1
    older = WebhookEvent("issue_changed", "issues", "upsert", (stale,), "issues", "d-2")
    late = await github.service.apply_webhook(integration, github.credentials, [older])
    assert (late.updated, late.skipped) == (0, 1)
    poll = await github.run({"includeComments": False, "startDate": "2000-01-01T00:00:00Z"})
    assert poll.imported.updated == 0
    items = await github.store.get_work_items([link.kiro_id])
    assert items[link.kiro_id].title == "Renamed"


async def test_a_provider_delete_soft_deletes_and_unlinks(github: Env) -> None:
    github.sim.seed_issues(REPO, count=2, pull_requests=0)
    await github.run({"includeComments": False})
    github.sim.delete_issue(REPO, 1)
    delivery = github.sim.webhook("issues", "deleted", REPO, number=1, secret="whsec")
    counts = await github.deliver(delivery)
    assert counts.deleted == 1
    assert len(await github.items()) == 1
    everything = await github.items(include_deleted=True)
    gone = [i for i in everything if i.deleted_at is not None]
    assert [i.title for i in gone] == ["Seeded item 1"]  # kept, never hard-deleted
    assert {link.external_id for link in await github.links()} == {f"{REPO}#2"}
    again = await github.deliver(delivery)
    assert (again.deleted, again.skipped) == (0, 1)


async def test_comment_webhooks_attach_to_their_work_item(jira: Env) -> None:
    jira.sim.seed_issues("KAN", count=2)
    await jira.run({"includeComments": False})
    comment = jira.sim.add_comment("KAN-2", "Looks good\n\nShip it")
    counts = await jira.deliver(
        jira.sim.webhook("comment_created", "KAN-2", secret="whsec", comment_id=comment.id)
    )
    assert counts.created == 1
    [link] = await jira.links("comment")
    comments = await jira.store.get_comments([link.kiro_id])
    kiro = comments[link.kiro_id]
    assert kiro.body == "Looks good\n\nShip it"
    work_items = {x.external_id: x.kiro_id for x in await jira.links()}
    assert kiro.work_item_id == work_items[jira.sim.issue("KAN-2").id]
    poll = await jira.run({"includeComments": True})
    assert poll.imported.created == 0


async def test_webhooks_respect_the_integrations_filters(github: Env) -> None:
    await github.set_config(filters={"projects": [REPO], "labels": ["urgent"]})
    plain = github.sim.create_issue(REPO, "Not for us")
    tagged = github.sim.create_issue(REPO, "For us", labels=["urgent"])
    for issue in (plain, tagged):
        await github.deliver(
            github.sim.webhook("issues", "opened", REPO, number=issue.number, secret="whsec")
        )
    assert [i.title for i in await github.items()] == ["For us"]


async def test_a_refetch_signal_reads_the_stream_incrementally(github: Env) -> None:
    github.sim.seed_issues(REPO, count=3, pull_requests=0)
    await github.run({"includeComments": False})
    github.sim.edit_issue(REPO, 2, title="Changed upstream")
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    signal = WebhookEvent("changed", "issues", "refetch", ({"id": 1},), "issues", None)
    counts = await github.service.apply_webhook(integration, github.credentials, [signal])
    assert counts.updated == 1
    assert "Changed upstream" in {i.title for i in await github.items()}


async def test_events_for_unmapped_streams_are_ignored(github: Env) -> None:
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    events = [
        WebhookEvent("ping", None, "ack", (), "ping", None),
        WebhookEvent("x", "repos", "upsert", ({"full_name": "a/b"},), "repository", None),
    ]
    counts = await github.service.apply_webhook(integration, github.credentials, events)
    assert dataclasses.astuple(counts) == dataclasses.astuple(type(counts)())
