"""Bidirectional sync: three-way merge, the four conflict policies, manual conflicts and
their resolution, echo suppression by poll and by webhook."""

from __future__ import annotations

from typing import Any

import pytest

from engine.store.base import WorkItem
from tests.engine.sync.conftest import REPO, Env


async def linked(env: Env, number: int = 1) -> tuple[WorkItem, str]:
    """Import ``number`` seeded Jira issues; the first Kiro item and its issue key."""
    env.sim.seed_issues("KAN", count=number)
    await env.run({"includeComments": False})
    await env.set_config(syncDirection="bidirectional")
    [link, *_] = await env.links()
    items = await env.store.get_work_items([link.kiro_id])
    return items[link.kiro_id], link.external_key


async def title_in_kiro(env: Env, item_id: str) -> str:
    return (await env.store.get_work_items([item_id]))[item_id].title


async def test_changes_on_different_fields_both_survive(jira: Env) -> None:
    item, key = await linked(jira)
    await jira.put_item(id=item.id, title="Kiro title")
    jira.sim.edit_issue(key, priority="Highest", labels=["from-jira"])
    result = await jira.run({"includeComments": False})
    assert result.status == "success", result.errors
    assert (result.imported.updated, result.exported.updated) == (1, 1)
    kiro = (await jira.store.get_work_items([item.id]))[item.id]
    assert (kiro.title, kiro.priority, kiro.tags) == ("Kiro title", "urgent", ["from-jira"])
    issue = jira.sim.issue(key)
    assert (issue.summary, issue.priority, issue.labels) == ("Kiro title", "Highest", ["from-jira"])
    settled = await jira.run({"includeComments": False})
    assert settled.totals.created + settled.totals.updated == 0


@pytest.mark.parametrize(
    ("policy", "kiro_edits_last", "winner"),
    [
        ("latest_wins", False, "jira"),
        ("latest_wins", True, "kiro"),
        ("kiro_wins", False, "kiro"),
        ("external_wins", True, "jira"),
    ],
)
async def test_conflicts_follow_the_policy(
    jira: Env, policy: str, kiro_edits_last: bool, winner: str
) -> None:
    item, key = await linked(jira)
    await jira.set_config(conflictResolution=policy)
    if kiro_edits_last:
        jira.sim.edit_issue(key, summary="Jira title")
        await jira.put_item(id=item.id, title="Kiro title")
    else:
        await jira.put_item(id=item.id, title="Kiro title")
        jira.sim.edit_issue(key, summary="Jira title")
    result = await jira.run({"includeComments": False})
    assert result.status == "success", result.errors
    expected = "Kiro title" if winner == "kiro" else "Jira title"
    assert await title_in_kiro(jira, item.id) == expected
    assert jira.sim.issue(key).summary == expected
    assert await jira.store.list_conflicts(jira.integration.id) == []
    again = await jira.run({"includeComments": False})
    assert again.totals.updated == 0


async def test_manual_conflicts_wait_for_a_person_then_apply(jira: Env) -> None:
    item, key = await linked(jira)
    await jira.set_config(conflictResolution="manual")
    await jira.put_item(id=item.id, title="Kiro title", priority="low")
    jira.sim.edit_issue(key, summary="Jira title")
    result = await jira.run({"includeComments": False})
    assert result.status == "success"
    assert result.imported.conflicts == 1
    [conflict] = await jira.store.list_conflicts(jira.integration.id)
    assert (conflict.field, conflict.kiro_value, conflict.external_value) == (
        "title",
        "Kiro title",
        "Jira title",
    )
    assert conflict.base_value == "Seeded issue 1"
    # both sides left as they are for the conflicting field; the other change went out
    assert await title_in_kiro(jira, item.id) == "Kiro title"
    assert jira.sim.issue(key).summary == "Jira title"
    assert jira.sim.issue(key).priority == "Low"

    again = await jira.run({"includeComments": False})
    assert again.imported.conflicts == 0
    assert len(await jira.store.list_conflicts(jira.integration.id)) == 1

    integration = await jira.store.get_integration(jira.integration.id)
    assert integration is not None
    await jira.service.resolve_conflict(integration, conflict.id, "kiro")
    assert await jira.store.list_conflicts(jira.integration.id) == []
    resolved = await jira.run({"includeComments": False})
    assert resolved.exported.updated == 1
    assert jira.sim.issue(key).summary == "Kiro title"
    [done] = await jira.store.list_conflicts(jira.integration.id, status="resolved")
    assert done.resolution == "kiro:applied"


async def test_a_resolution_recorded_in_the_store_is_applied_by_the_next_run(jira: Env) -> None:
    item, key = await linked(jira)
    await jira.set_config(conflictResolution="manual")
    await jira.put_item(id=item.id, title="Kiro title")
    jira.sim.edit_issue(key, summary="Jira title")
    await jira.run({"includeComments": False})
    [conflict] = await jira.store.list_conflicts(jira.integration.id)
    await jira.store.resolve_conflict(conflict.id, "value", "A third title")
    result = await jira.run({"includeComments": False})
    assert result.exported.updated == 1
    assert await title_in_kiro(jira, item.id) == "A third title"
    assert jira.sim.issue(key).summary == "A third title"


async def test_sides_that_agree_again_settle_their_conflict(jira: Env) -> None:
    item, key = await linked(jira)
    await jira.set_config(conflictResolution="manual")
    await jira.put_item(id=item.id, title="Kiro title")
    jira.sim.edit_issue(key, summary="Jira title")
    await jira.run({"includeComments": False})
    jira.sim.edit_issue(key, summary="Kiro title")  # someone copies Kiro's title to Jira
    await jira.run({"includeComments": False})
    assert await jira.store.list_conflicts(jira.integration.id) == []
    [settled] = await jira.store.list_conflicts(jira.integration.id, status="resolved")
    assert settled.resolution == "converged"


async def test_jira_echo_of_an_export_is_skipped_by_poll_and_by_webhook(jira: Env) -> None:
    jira.sim.add_project("KAN")
    await jira.set_config(syncDirection="bidirectional")
    item = await jira.put_item(title="Made in Kiro", description="Two\n\nparagraphs", tags=["x"])
    first = await jira.run({"includeComments": False})
    assert first.exported.created == 1
    [link] = await jira.links()
    poll = await jira.run({"includeComments": False})
    assert poll.imported.created + poll.imported.updated == 0
    assert poll.imported.skipped == 1
    hook = await jira.deliver(
        jira.sim.webhook("jira:issue_updated", link.external_key, secret="whsec")
    )
    assert (hook.skipped, hook.updated, hook.created) == (1, 0, 0)
    await jira.put_item(id=item.id, status="Done")
    out = await jira.run({"includeComments": False})
    assert out.exported.updated == 1
    assert jira.sim.issue(link.external_key).status == "Done"
    echo = await jira.run({"includeComments": False})
    assert (echo.imported.updated, echo.imported.skipped, echo.exported.processed) == (0, 1, 0)


async def test_github_echo_of_an_export_is_skipped_by_poll_and_by_webhook(github: Env) -> None:
    await github.set_config(syncDirection="bidirectional", filters={"projects": [REPO]})
    item = await github.put_item(title="Made in Kiro", status="In Progress", tags=["b", "a"])
    first = await github.run({"includeComments": False})
    assert first.exported.created == 1
    [link] = await github.links()
    poll = await github.run({"includeComments": False})
    assert (poll.imported.skipped, poll.imported.updated) == (1, 0)
    number = int(link.external_id.split("#")[1])
    hook = await github.deliver(
        github.sim.webhook("issues", "opened", REPO, number=number, secret="whsec")
    )
    assert (hook.skipped, hook.updated) == (1, 0)
    # "In Progress" goes out as open and comes back as To Do: not a change on either side
    kiro = (await github.store.get_work_items([item.id]))[item.id]
    assert kiro.status == "In Progress"
    again = await github.run({"includeComments": False})
    assert again.totals.updated == 0


async def test_bidirectional_second_run_skips_everything(jira: Env) -> None:
    jira.sim.seed_issues("KAN", count=30)
    await jira.set_config(syncDirection="bidirectional")
    first = await jira.run({"includeComments": False})
    assert first.imported.created == 30
    second = await jira.run({"includeComments": False})
    assert second.totals.created == second.totals.updated == second.totals.failed == 0
    stats: dict[str, Any] = second.to_dict()
    assert stats["totals"]["skipped"] == stats["totals"]["processed"]
