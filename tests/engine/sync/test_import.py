"""Import against the GitHub simulator: exact counts, skips, incremental reads, resuming
after a crash, windows, failing records, comments, error classes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.sync.pages import partition_key
from tests.engine.sync.conftest import REPO, Env
from tests.engine.sync.variants import variant_catalog


async def test_full_import_counts_exactly_then_skips_all(github: Env) -> None:
    github.sim.seed_issues(REPO, count=1000)  # + 100 pull requests, which are not issues
    result = await github.run({"includeComments": False})
    assert result.status == "success", result.errors
    assert result.imported.to_dict() | {"pages": 0} == {
        "created": 1000,
        "updated": 0,
        "skipped": 0,
        "deleted": 0,
        "failed": 0,
        "filtered": 0,
        "conflicts": 0,
        "pages": 0,
        "records": 1000,
        "processed": 1000,
    }
    items = await github.items()
    assert len(items) == 1000
    assert len({i.title for i in items}) == 1000
    assert len(await github.links()) == 1000
    closed = [i for i in items if i.status == "Done"]
    assert len(closed) == len([i for i in github.sim.issues_of(REPO) if i.state == "closed"])
    [log] = await github.store.list_sync_logs(github.integration.id)
    assert (log.status, log.sync_type, log.items_created, log.items_processed) == (
        "success",
        "import",
        1000,
        1000,
    )
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    assert (integration.sync_status, integration.error_message) == ("success", None)
    assert integration.last_sync_at == result.finished_at

    second = await github.run({"includeComments": False})
    assert second.imported.created == second.imported.updated == 0
    assert second.imported.skipped == second.imported.processed >= 1
    assert len(await github.items()) == 1000


async def test_incremental_reads_only_what_changed(github: Env) -> None:
    github.sim.seed_issues(REPO, count=50, pull_requests=0)
    await github.run({"includeComments": False})
    cursor = await github.store.get_cursor(github.integration.id, "issues", REPO)
    assert cursor == max(i.updated_at for i in github.sim.issues_of(REPO)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    github.sim.edit_issue(REPO, 3, title="Renamed upstream")
    github.sim.edit_issue(REPO, 7, state="closed")
    github.sim.edit_issue(REPO, 9, labels=["feature", "ui"])
    github.sim.create_issue(REPO, "Brand new", body="from github")
    result = await github.run({"includeComments": False})
    # the last record of the previous run sits on the cursor (since is inclusive): skipped
    assert (result.imported.created, result.imported.updated, result.imported.skipped) == (1, 3, 1)
    by_title = {i.title: i for i in await github.items()}
    assert "Renamed upstream" in by_title
    assert by_title["Brand new"].description == "from github"
    assert {tuple(sorted(i.tags)) for i in by_title.values()} >= {("feature", "ui")}


async def crash_after(batches: int) -> Any:
    seen = {"n": 0}

    def progress(event: dict[str, Any]) -> None:
        seen["n"] += 1
        if seen["n"] == batches:
            raise RuntimeError("the process died")

    return progress


async def test_a_crashed_run_resumes_without_duplicates_or_loss(github: Env) -> None:
    github.sim.seed_issues(REPO, count=300, pull_requests=0)
    crashed = await github.run(
        {"batchSize": 50, "includeComments": False}, progress=await crash_after(3)
    )
    assert crashed.status == "error"
    assert crashed.error_class == "internal"
    assert "resumes from the last checkpoint" in (crashed.error_message or "")
    assert crashed.imported.created == 150
    assert len(await github.items()) == 150
    cursor = await github.store.get_cursor(github.integration.id, "issues", REPO)
    issues = sorted(github.sim.issues_of(REPO), key=lambda i: i.updated_at)
    assert cursor == issues[149].updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    resumed = await github.run({"batchSize": 50, "includeComments": False})
    assert resumed.status == "success"
    assert resumed.imported.created == 150
    assert resumed.imported.skipped == 1  # the checkpointed record itself, read again
    items = await github.items()
    assert len(items) == 300
    assert sorted(i.title for i in items) == sorted(i.title for i in issues)
    links = await github.links()
    assert len(links) == len({link.kiro_id for link in links}) == 300


async def test_a_cancelled_run_is_recorded_and_the_next_one_finishes(github: Env) -> None:
    github.sim.seed_issues(REPO, count=200, pull_requests=0)
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    holder: dict[str, Any] = {}

    def progress(event: dict[str, Any]) -> None:
        if event["created"] >= 100:
            holder["handle"].cancel()

    handle = await github.service.begin(
        integration,
        github.credentials,
        {"batchSize": 50, "includeComments": False},
        "manual",
        progress,
    )
    holder["handle"] = handle
    with pytest.raises(asyncio.CancelledError):
        await handle.wait()
    run = await github.store.get_run(handle.run_id)
    assert run is not None and run.status == "cancelled"
    assert await github.store.get_running_run(github.integration.id) is None
    done = len(await github.items())
    assert 100 <= done < 200
    result = await github.run({"batchSize": 50, "includeComments": False})
    assert result.imported.created == 200 - done
    assert len(await github.items()) == 200


async def test_a_live_run_refuses_a_second_one(github: Env) -> None:
    github.sim.seed_issues(REPO, count=20, pull_requests=0)
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    gate = asyncio.Event()

    async def progress(event: dict[str, Any]) -> None:
        await gate.wait()

    first = await github.service.begin(
        integration, github.credentials, {"batchSize": 5}, "api", progress
    )
    from engine.errors import ConflictError

    with pytest.raises(ConflictError) as caught:
        await github.service.begin(integration, github.credentials, {}, "manual")
    assert caught.value.run_id == first.run_id
    current = await github.store.get_integration(github.integration.id)
    assert current is not None and current.sync_status == "syncing"
    gate.set()
    result = await first.wait()
    assert result.status == "success"


async def test_progress_reports_pages_records_and_counts(github: Env) -> None:
    github.sim.seed_issues(REPO, count=120, pull_requests=0)
    events: list[dict[str, Any]] = []
    result = await github.run({"batchSize": 50, "includeComments": False}, progress=events.append)
    assert [e["created"] for e in events] == [50, 100, 120]
    assert all(e["phase"] == "import" and e["stream"] == "issues" for e in events)
    assert events[-1]["records"] == 120 and events[-1]["pages"] == 3
    # batchSize bounds the page size too
    pages = [e.query for e in github.sim.log.entries if e.path == f"/repos/{REPO}/issues"]
    assert pages and all(q.get("per_page") == "50" for q in pages)
    run = await github.store.get_run(result.run_id)
    assert run is not None
    assert run.counters["created"] == 120 and run.status == "success"


async def test_start_and_end_dates_bound_the_window(github: Env) -> None:
    issues = github.sim.seed_issues(REPO, count=60, pull_requests=0, spacing=timedelta(hours=1))
    start, end = issues[10].updated_at, issues[19].updated_at
    window = {
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "includeComments": False,
    }
    result = await github.run(window)
    assert result.imported.created == 10
    titles = {i.title for i in await github.items()}
    assert titles == {f"Seeded item {k}" for k in range(11, 21)}
    # records after the end were read (GitHub has no "until") and left out as filtered
    assert result.imported.filtered == 40
    cursor = await github.store.get_cursor(github.integration.id, "issues", REPO)
    assert cursor == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    rest = await github.run({"includeComments": False})
    assert rest.imported.created == 40  # everything after the window; before stays out
    assert len(await github.items()) == 50


async def test_a_failing_record_makes_the_run_partial_and_is_read_again(github: Env) -> None:
    github.sim.seed_issues(REPO, count=10, pull_requests=0)
    github.sim.create_issue(REPO, "")  # an issue without a title cannot be a Kiro work item
    result = await github.run({"includeComments": False})
    assert result.status == "partial"
    assert (result.imported.created, result.imported.failed) == (10, 1)
    assert any("title is empty" in e for e in result.errors)
    [log] = await github.store.list_sync_logs(github.integration.id)
    assert log.status == "partial" and any("title is empty" in e for e in log.errors)
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None and integration.sync_status == "partial"
    assert "1 record(s) failed" in (integration.error_message or "")
    # the cursor stayed, so the broken record is tried again once fixed upstream
    assert await github.store.get_cursor(github.integration.id, "issues", REPO) is None
    github.sim.edit_issue(REPO, 11, title="Now it has a title")
    again = await github.run({"includeComments": False})
    assert again.status == "success"
    assert again.imported.created == 1


async def test_comments_hang_off_their_work_items(github: Env) -> None:
    github.sim.seed_issues(REPO, count=5, pull_requests=1)
    github.sim.seed_comments(REPO, per_issue=2)  # the pull request's comments too
    result = await github.run({"includeComments": True})
    assert result.status == "success", result.errors
    assert result.imported.created == 5 + 10
    assert result.imported.skipped == result.imported.filtered == 2  # the PR's comments
    items = {i.id: i for i in await github.items()}
    comment_links = await github.links("comment")
    comments = await github.store.get_comments([link.kiro_id for link in comment_links])
    assert len(comments) == 10
    assert {c.work_item_id for c in comments.values()} == set(items)
    assert all(c.author_id for c in comments.values())
    quiet = await github.run({"includeComments": False})
    assert quiet.imported.records < 5


async def test_transient_errors_are_retried(github: Env) -> None:
    github.sim.seed_issues(REPO, count=5, pull_requests=0)
    github.sim.inject_server_error(times=1, status=502, path=f"/repos/{REPO}/issues")
    result = await github.run({"includeComments": False})
    assert result.status == "success"
    assert result.imported.created == 5


async def test_bad_credentials_stop_the_run_saying_what_to_fix(github: Env) -> None:
    github.credentials["token"] = "ghp_wrong"
    result = await github.run()
    assert result.status == "error"
    assert result.error_class == "config"
    assert "Bad credentials" in (result.error_message or "")
    assert "reconnect the integration with valid github credentials" in (result.error_message or "")
    assert "ghp_wrong" not in (result.error_message or "")
    integration = await github.store.get_integration(github.integration.id)
    assert integration is not None
    assert integration.sync_status == "error"
    assert integration.error_message == result.error_message
    [log] = await github.store.list_sync_logs(github.integration.id)
    assert log.status == "error" and log.errors == [result.error_message]


async def test_a_missing_repository_is_a_config_error(github: Env) -> None:
    await github.set_config(filters={"projects": ["octo/nope"]})
    result = await github.run()
    assert result.status == "error" and result.error_class == "config"
    assert "config.filters.projects" in (result.error_message or "")


async def test_an_invalid_stored_config_stops_the_run(github: Env) -> None:
    await github.set_config(fieldMappings={"title": "titel"})
    result = await github.run()
    assert result.status == "error" and result.error_class == "validation"
    assert "config.fieldMappings.title: unknown Kiro work_item field 'titel'" in (
        result.error_message or ""
    )


async def test_unsorted_streams_never_move_the_cursor_past_the_run_start(
    github: Env, tmp_path: Path
) -> None:
    def unsorted(doc: dict[str, Any]) -> None:
        issues = doc["streams"]["issues"]
        issues["request"]["query"]["sort"] = "created"  # no longer in update order
        issues["cursor"]["sorted"] = False

    github.use_catalog(variant_catalog(tmp_path, "github", unsorted))
    github.sim.seed_issues(REPO, count=200, pull_requests=0)
    run_start = github.sim.clock.now
    edited: list[Any] = []

    def progress(event: dict[str, Any]) -> None:
        if not edited:  # while the run reads: one issue it has read, one it has not yet
            edited.append(github.sim.edit_issue(REPO, 1, title="Edited behind the reader"))
            edited.append(github.sim.edit_issue(REPO, 200, title="Edited ahead of the reader"))

    result = await github.run({"batchSize": 10, "includeComments": False}, progress=progress)
    assert result.status == "success"
    assert result.imported.created == 200
    assert edited[0].updated_at < edited[1].updated_at
    cursor = await github.store.get_cursor(github.integration.id, "issues", partition_key(REPO))
    # the greatest value seen is issue 200's edit, past the run's start; and the pages are
    # named by position (Link header), which that edit may have shifted: the cursor stays
    # where the run found it (none), not even at the run's start
    assert edited[1].updated_at >= run_start
    assert cursor is None
    titles = {i.title for i in await github.items()}
    assert "Edited ahead of the reader" in titles
    assert "Edited behind the reader" not in titles
    again = await github.run({"includeComments": False})
    assert (again.imported.updated, again.imported.skipped) == (1, 199)
    assert "Edited behind the reader" in {i.title for i in await github.items()}
    assert await github.store.get_cursor(
        github.integration.id, "issues", partition_key(REPO)
    ) == edited[1].updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")  # no change met: it moves


async def test_users_are_matched_by_email_and_unknown_ones_created_once(jira: Env) -> None:
    from engine.store.base import Batch, User

    ada = jira.sim.add_user("Ada@Example.com", "Ada Lovelace")
    jira.sim.add_user("grace@example.com", "Grace Hopper")
    await jira.store.apply_batch(Batch(users=[User(id="kiro-ada", email="ada@example.com")]))
    jira.sim.create_issue("KAN", "Ada's", assignee=ada.account_id)
    jira.sim.create_issue("KAN", "Also Ada's", assignee="ada@example.com")
    jira.sim.create_issue("KAN", "Grace's", assignee="grace@example.com")
    jira.sim.create_issue("KAN", "Nobody's")
    result = await jira.run({"includeComments": False})
    assert result.status == "success", result.errors
    by_email = await jira.store.get_users_by_email(["ada@example.com", "grace@example.com"])
    assert by_email["ada@example.com"].id == "kiro-ada"  # an existing Kiro user is reused
    grace = by_email["grace@example.com"]
    assert grace.name == "Grace Hopper"  # an unknown email becomes a Kiro user
    assignees = {i.title: i.assignee_id for i in await jira.items()}
    assert assignees == {
        "Ada's": "kiro-ada",
        "Also Ada's": "kiro-ada",
        "Grace's": grace.id,
        "Nobody's": None,
    }
    jira.sim.create_issue("KAN", "Grace again", assignee="grace@example.com")
    await jira.run({"includeComments": False})
    again = await jira.store.get_users_by_email(["grace@example.com"])
    assert again["grace@example.com"].id == grace.id
    assert {i.assignee_id for i in await jira.items() if i.title == "Grace again"} == {grace.id}
