"""Export: Kiro work items go out through the provider's declared writes (create, then
update; Jira's status through a transition), with links and snapshots stored."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.engine.sync.conftest import REPO, Env
from tests.simulators.jira_model import adf_doc


async def test_jira_export_creates_then_updates(jira: Env) -> None:
    jira.sim.add_project("KAN")
    await jira.set_config(syncDirection="export")
    first = await jira.put_item(
        title="Login fails",
        description="Steps:\nopen the app\n\nExpected: a login",
        status="Done",
        priority="urgent",
        tags=["auth", "bug"],
        due_date=datetime(2025, 4, 1, tzinfo=UTC),
    )
    second = await jira.put_item(title="Write docs", status="To Do")
    result = await jira.run()
    assert result.status == "success", result.errors
    assert (result.exported.created, result.exported.updated) == (2, 0)

    links = await jira.store.get_links_by_kiro(
        jira.integration.id, "work_item", [first.id, second.id]
    )
    issue = jira.sim.issue(links[first.id].external_key or "")
    assert issue.summary == "Login fails"
    assert issue.status == "Done"  # reached through the workflow's transition
    assert issue.priority == "Highest"
    assert sorted(issue.labels) == ["auth", "bug"]
    assert issue.duedate == "2025-04-01"
    assert issue.description == adf_doc("Steps:\nopen the app\n\nExpected: a login")
    assert jira.sim.issue(links[second.id].external_key or "").status == "To Do"
    assert links[first.id].external_url.endswith(f"/browse/{issue.key}")  # type: ignore[union-attr]

    await jira.put_item(id=first.id, title="Login fails on Safari", status="In Progress")
    update = await jira.run()
    assert (update.exported.created, update.exported.updated, update.exported.skipped) == (0, 1, 0)
    issue = jira.sim.issue(issue.key)
    assert (issue.summary, issue.status) == ("Login fails on Safari", "In Progress")
    edits = [e for e in jira.sim.log.entries if e.method == "PUT"]
    assert edits[-1].json() == {"fields": {"summary": "Login fails on Safari"}}
    assert any(
        e.method == "POST" and e.path.endswith(f"{issue.id}/transitions")
        for e in jira.sim.log.entries
    )

    quiet = await jira.run()
    assert quiet.exported.processed == 0  # nothing changed since the last export
    assert len(jira.sim.issues) == 2


async def test_a_rejected_write_fails_that_item_only(jira: Env) -> None:
    jira.sim.add_project("KAN")
    await jira.set_config(syncDirection="export")
    await jira.put_item(title="Fine")
    await jira.put_item(title="Bad label", tags=["needs triage"])  # Jira refuses spaces
    result = await jira.run()
    assert result.status == "partial"
    assert (result.exported.created, result.exported.failed) == (1, 1)
    assert any("needs triage" in e and "contains spaces" in e for e in result.errors)
    again = await jira.run()
    assert (again.exported.created, again.exported.failed, again.exported.skipped) == (0, 1, 1)


async def test_github_export_creates_then_updates(github: Env) -> None:
    await github.set_config(syncDirection="export", filters={"projects": [REPO]})
    item = await github.put_item(
        title="Crash on start", description="trace", tags=["bug"], status="In Progress"
    )
    done = await github.put_item(title="Old task", status="Done")
    result = await github.run()
    assert result.status == "success", result.errors
    assert result.exported.created == 2
    links = await github.store.get_links_by_kiro(
        github.integration.id, "work_item", [item.id, done.id]
    )
    repo, number = links[item.id].external_id.split("#")
    assert repo == REPO
    issue = github.sim.get_issue(REPO, int(number))
    assert (issue.title, issue.body, issue.labels, issue.state) == (
        "Crash on start",
        "trace",
        ["bug"],
        "open",
    )
    closed = github.sim.get_issue(REPO, int(links[done.id].external_id.split("#")[1]))
    assert closed.state == "closed"

    await github.put_item(id=item.id, status="Done", tags=["bug", "p1"])
    update = await github.run()
    assert update.exported.updated == 1
    issue = github.sim.get_issue(REPO, int(number))
    assert issue.state == "closed" and sorted(issue.labels) == ["bug", "p1"]
    assert issue.title == "Crash on start"
