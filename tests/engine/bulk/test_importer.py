"""Bulk import into the real store (DuckDB and Postgres): row errors, idempotency, batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.bulk.identity import copy_id, external_item_id
from engine.bulk.importer import BulkImporter
from engine.errors import NotFoundError, StoreError
from engine.store.base import Batch, ExternalLink, User, WorkItem
from engine.store.sqlstore import SqlStore
from engine.sync.entities import kiro_id_for
from engine.sync.users import user_id_for
from tests.engine.bulk.helpers import all_items, by_title, make_integration, run_import

P = "project-bulk"


async def test_good_rows_go_in_and_bad_rows_are_reported_with_index_and_reason(
    store: SqlStore,
) -> None:
    rows = [
        {"title": "first", "status": "todo", "priority": "High", "dueDate": "2025-03-01"},
        {"title": "", "status": "Done"},
        {"title": "second", "tags": "bug, ui", "assigneeEmail": "ada@example.com"},
        {"title": "third", "status": "Blocked"},
        {"title": "fourth", "dueDate": "01/03/2025"},
        "not an object",
    ]
    result = await run_import(store, P, rows)

    assert result.to_dict()["workItems"] == {"created": 2, "updated": 0, "skipped": 0, "failed": 4}
    assert [(e.index, e.reason) for e in result.errors] == [
        (1, "title: a title is required"),
        (3, "status: unknown status 'Blocked' (the project's statuses: To Do, In Progress, Done)"),
        (4, "dueDate: not an ISO 8601 date: '01/03/2025'"),
        (5, "a row must be an object"),
    ]
    stored = await by_title(store, P)
    assert sorted(stored) == ["first", "second"]
    first, second = stored["first"], stored["second"]
    assert (first.status, first.priority) == ("To Do", "high")
    assert first.due_date == datetime(2025, 3, 1, tzinfo=UTC)
    assert second.status == "To Do" and second.tags == ["bug", "ui"]
    assert second.assignee_id == user_id_for("ada@example.com")
    users = await store.get_users_by_email(["ada@example.com"])
    assert users["ada@example.com"].id == second.assignee_id


async def test_rows_with_id_or_external_id_update_on_reimport_instead_of_duplicating(
    store: SqlStore,
) -> None:
    rows: list[dict[str, Any]] = [
        {"id": "item-a", "title": "A", "status": "In Progress"},
        {"externalId": "EXT-1", "title": "B", "externalKey": "B-1"},
        {"externalId": 7, "title": "C"},
    ]
    first = await run_import(store, P, rows)
    assert first.counts["workItems"].created == 3

    again = await run_import(store, P, rows)
    assert again.to_dict()["workItems"] == {"created": 0, "updated": 0, "skipped": 3, "failed": 0}

    rows[0]["title"], rows[1]["status"] = "A2", "done"
    changed = await run_import(store, P, rows)
    assert changed.to_dict()["workItems"] == {"created": 0, "updated": 2, "skipped": 1, "failed": 0}

    items = {item.id: item for item in await all_items(store, P)}
    assert len(items) == 3
    assert items["item-a"].title == "A2" and items["item-a"].version == 2
    b = items[external_item_id(P, "EXT-1")]
    assert (b.title, b.status) == ("B", "Done")
    assert b.custom == {"bulkImport": {"externalId": "EXT-1", "externalKey": "B-1"}}
    assert external_item_id(P, "7") in items


async def test_rows_without_a_key_are_new_items_each_time(store: SqlStore) -> None:
    await run_import(store, P, [{"title": "loose"}])
    await run_import(store, P, [{"title": "loose"}])
    assert [i.title for i in await all_items(store, P)] == ["loose", "loose"]


async def test_columns_a_row_lacks_are_kept_and_empty_ones_are_cleared(store: SqlStore) -> None:
    await run_import(
        store, P, [{"id": "x", "title": "t", "description": "keep", "tags": ["a"], "type": "bug"}]
    )
    result = await run_import(store, P, [{"id": "x", "title": "t", "type": "", "priority": "low"}])
    assert result.counts["workItems"].updated == 1
    item = (await store.get_work_items(["x"]))["x"]
    assert (item.description, item.tags, item.type, item.priority) == ("keep", ["a"], None, "low")


async def test_an_import_never_touches_another_projects_item_it_copies_it(
    store: SqlStore,
) -> None:
    await run_import(store, "project-a", [{"id": "shared", "title": "original"}])
    rows = [
        {"id": "shared", "title": "copied"},
        {"id": "child", "title": "kid", "parentId": "shared"},
    ]
    result = await run_import(store, "project-b", rows)
    assert result.counts["workItems"].created == 2

    original = (await store.get_work_items(["shared"]))["shared"]
    assert (original.project_id, original.title) == ("project-a", "original")
    copies = await by_title(store, "project-b")
    assert copies["copied"].id == copy_id("project-b", "shared")
    assert copies["kid"].parent_id == copy_id("project-b", "shared")

    again = await run_import(store, "project-b", rows)
    assert again.counts["workItems"].skipped == 2
    assert len(await all_items(store, "project-b")) == 2


async def test_with_an_integration_rows_are_linked_where_the_next_sync_looks(
    store: SqlStore,
) -> None:
    integration = await make_integration(store, P)
    # an item a sync already linked: the row with its external id updates it
    await store.apply_batch(
        Batch(
            work_items=[WorkItem(id="synced", project_id=P, title="from sync")],
            links=[ExternalLink(integration.id, "work_item", "synced", "100", "#100")],
        )
    )
    rows = [
        {"externalId": "100", "title": "renamed"},
        {
            "externalId": "101",
            "title": "new",
            "externalKey": "#101",
            "externalUrl": "https://x/101",
        },
    ]
    result = await run_import(store, P, rows, integration_id=integration.id)
    assert result.to_dict()["workItems"] == {"created": 1, "updated": 1, "skipped": 0, "failed": 0}

    links = await store.get_links(integration.id, "work_item", ["100", "101"])
    assert links["100"].kiro_id == "synced" and links["100"].external_key == "#100"
    new_id = kiro_id_for(integration.id, "work_item", "101")
    assert links["101"].kiro_id == new_id
    assert (links["101"].external_key, links["101"].external_url) == ("#101", "https://x/101")
    assert links["101"].snapshot == {} and links["101"].snapshot_hash is None
    items = await store.get_work_items(["synced", new_id])
    assert items["synced"].title == "renamed" and items[new_id].custom == {}

    again = await run_import(store, P, rows, integration_id=integration.id)
    assert again.counts["workItems"].skipped == 2


async def test_an_integration_of_another_project_is_not_found(store: SqlStore) -> None:
    integration = await make_integration(store, "elsewhere")
    with pytest.raises(NotFoundError, match="Integration not found"):
        await run_import(store, P, [{"title": "t"}], integration_id=integration.id)


async def test_an_unknown_project_is_not_found_unless_it_may_be_created(store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match="Project not found"):
        await run_import(store, "missing", [{"title": "t"}], create_project=False)
    await run_import(store, "missing", [{"title": "t"}], create_project=True)
    assert await store.get_project("missing") is not None


class FailingSecondBatch:
    """The real store, except that the second apply_batch fails (after writing nothing)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def apply_batch(self, batch: Batch) -> None:
        self.calls += 1
        if self.calls == 2:
            raise StoreError("the database went away")
        await self._store.apply_batch(batch)


async def test_each_batch_commits_on_its_own(store: SqlStore) -> None:
    rows = [{"id": f"row-{n}", "title": f"row {n}"} for n in range(6)]
    flaky = FailingSecondBatch(store)
    result = await run_import(flaky, P, rows, batch_size=2)

    assert result.to_dict()["workItems"] == {"created": 4, "updated": 0, "skipped": 0, "failed": 2}
    assert [(e.index, e.reason) for e in result.errors] == [
        (2, "not stored: the database went away"),
        (3, "not stored: the database went away"),
    ]
    assert sorted(i.id for i in await all_items(store, P)) == ["row-0", "row-1", "row-4", "row-5"]


class RecordingStore:
    """The real store, remembering every batch handed to apply_batch."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.batches: list[Batch] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def apply_batch(self, batch: Batch) -> None:
        self.batches.append(batch)
        await self._store.apply_batch(batch)


async def test_each_batch_of_rows_is_one_apply_batch_with_its_users(store: SqlStore) -> None:
    """apply_batch is atomic (the store contract); each batch of rows is exactly one call."""
    rows = [{"id": f"r{n}", "title": "t", "assigneeEmail": f"u{n}@example.com"} for n in range(5)]
    recording = RecordingStore(store)
    await run_import(recording, P, rows, batch_size=2)
    assert [[w.id for w in b.work_items] for b in recording.batches] == [
        ["r0", "r1"],
        ["r2", "r3"],
        ["r4"],
    ]
    assert [u.email for u in recording.batches[0].users] == [
        "u0@example.com",
        "u1@example.com",
    ]


async def test_projects_rows_add_statuses_the_work_items_may_use(store: SqlStore) -> None:
    result = await run_import(
        store,
        P,
        [{"title": "stuck", "status": "blocked"}],
        projects=[{"id": P, "name": "Bulk", "statuses": "Blocked, done"}, {"id": "other"}],
    )
    assert result.to_dict()["projects"] == {"created": 0, "updated": 1, "skipped": 0, "failed": 1}
    assert result.errors[0].kind == "projects" and result.errors[0].index == 1
    project = await store.get_project(P)
    assert project is not None
    assert (project.name, project.statuses) == ("Bulk", ["To Do", "In Progress", "Done", "Blocked"])
    assert (await by_title(store, P))["stuck"].status == "Blocked"


async def test_users_rows_create_unknown_users_and_never_change_known_ones(
    store: SqlStore,
) -> None:
    await store.apply_batch(Batch(users=[User(id="u-known", email="known@example.com", name="K")]))
    users = [
        {"email": "Known@Example.com", "name": "Someone Else"},
        {"email": "new@example.com", "name": "New", "id": "u-new"},
        {"email": "other@example.com"},
        {"email": "not-an-email"},
    ]
    rows = [
        {"title": "by email", "assigneeEmail": "NEW@example.com"},
        {"title": "by id", "assigneeId": "u-known"},
        {"title": "unknown id", "assigneeId": "u-ghost"},
    ]
    result = await run_import(store, P, rows, users=users)
    assert result.to_dict()["users"] == {"created": 2, "updated": 0, "skipped": 1, "failed": 1}
    assert result.to_dict()["workItems"] == {"created": 2, "updated": 0, "skipped": 0, "failed": 1}
    assert [(e.kind, e.index) for e in result.errors] == [("users", 3), ("workItems", 2)]
    assert result.errors[1].reason == "assigneeId: unknown user 'u-ghost'"

    found = await store.get_users(["u-known", "u-new", user_id_for("other@example.com")])
    assert found["u-known"].name == "K"
    assert found["u-new"].email == "new@example.com"
    items = await by_title(store, P)
    assert items["by email"].assignee_id == "u-new"
    assert items["by id"].assignee_id == "u-known"


async def test_the_last_row_for_an_item_wins_within_a_batch(store: SqlStore) -> None:
    rows = [{"id": "dup", "title": "one"}, {"id": "dup", "title": "two"}]
    result = await run_import(store, P, rows)
    assert result.to_dict()["workItems"] == {"created": 1, "updated": 0, "skipped": 1, "failed": 0}
    assert [i.title for i in await all_items(store, P)] == ["two"]


async def test_importing_a_deleted_item_restores_it(store: SqlStore) -> None:
    gone = WorkItem(id="gone", project_id=P, title="t", deleted_at=datetime(2025, 1, 1, tzinfo=UTC))
    await store.ensure_project(P)
    await store.apply_batch(Batch(work_items=[gone]))
    result = await run_import(store, P, [{"id": "gone", "title": "t"}])
    assert result.counts["workItems"].updated == 1
    assert [i.id for i in await all_items(store, P)] == ["gone"]


async def test_only_the_first_errors_are_listed_but_all_are_counted(store: SqlStore) -> None:
    result = await run_import(store, P, [{"title": ""}] * 5, max_errors=2)
    assert result.to_dict()["failed"] == 5
    assert [e.index for e in result.errors] == [0, 1]
    assert result.to_dict()["errorsOmitted"] == 3


async def test_progress_reports_rows_handled_after_each_batch(store: SqlStore) -> None:
    seen: list[int] = []
    importer = BulkImporter(store, P, create_project=True, batch_size=2, progress=seen.append)
    await importer.run(({"title": f"t{n}"} for n in range(5)), users=[{"email": "a@b.co"}])
    assert seen == [1, 3, 5, 6]
