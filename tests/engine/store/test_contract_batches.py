"""Contract: atomic batches, bulk upserts, streamed reads, links, cursors, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.errors import NotFoundError, StoreError
from engine.store.base import (
    Batch,
    Comment,
    Conflict,
    Cursor,
    ExternalLink,
    User,
    WorkItem,
    WorkItemFilter,
)
from engine.store.sql import Session
from engine.store.sqlstore import SqlStore
from tests.engine.store.helpers import integration, items, new_id

P = "project-123"


async def all_ids(store: SqlStore, query: WorkItemFilter, batch_size: int = 1000) -> list[str]:
    found: list[str] = []
    async for batch in store.iter_work_items(query, batch_size):
        found.extend(w.id for w in batch)
    return found


async def test_batch_rows_and_cursor_commit_together(store: SqlStore) -> None:
    created = await integration(store)
    link = ExternalLink(created.id, "work_item", "wi-00000", "PROJ-1", snapshot={"title": "a"})
    await store.apply_batch(
        Batch(
            work_items=items(P, 2),
            links=[link],
            cursors=[Cursor(created.id, "issues", "", "2025-01-01T00:00:00Z")],
        )
    )
    assert set(await store.get_work_items(["wi-00000", "wi-00001"])) == {"wi-00000", "wi-00001"}
    assert await store.get_cursor(created.id, "issues", "") == "2025-01-01T00:00:00Z"
    assert (await store.get_links(created.id, "work_item", ["PROJ-1"]))["PROJ-1"].kiro_id == (
        "wi-00000"
    )


async def test_a_failing_cursor_advance_keeps_neither_rows_nor_cursor(store: SqlStore) -> None:
    created = await integration(store)
    await store.apply_batch(Batch(cursors=[Cursor(created.id, "issues", "", "old")]))
    link = ExternalLink(created.id, "work_item", "wi-00000", "PROJ-1")
    bad_cursor = Cursor(created.id, "", "", "new")  # violates CHECK (stream <> '')
    good_cursor = Cursor(created.id, "issues", "", "new")
    with pytest.raises(StoreError):
        await store.apply_batch(
            Batch(work_items=items(P, 50), links=[link], cursors=[good_cursor, bad_cursor])
        )
    assert await store.get_work_items([w.id for w in items(P, 50)]) == {}
    assert await store.get_links(created.id, "work_item", ["PROJ-1"]) == {}
    assert await store.get_cursor(created.id, "issues", "") == "old"


async def test_an_exception_between_rows_and_cursor_leaves_neither(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await integration(store)
    await store.apply_batch(Batch(cursors=[Cursor(created.id, "issues", "", "old")]))
    seen_inside: list[int] = []

    async def crash_before_cursors(session: Session, cursors: list[Cursor]) -> None:
        row = await session.fetchone("SELECT count(*) FROM work_items")
        seen_inside.append(int(row[0]) if row else -1)
        raise RuntimeError("worker died between the rows and the cursor")

    monkeypatch.setattr(store, "_write_cursors", crash_before_cursors)
    batch = Batch(work_items=items(P, 10), cursors=[Cursor(created.id, "issues", "", "new")])
    with pytest.raises(RuntimeError):
        await store.apply_batch(batch)
    monkeypatch.undo()

    assert seen_inside == [10]  # the rows were written inside the transaction...
    assert await store.get_work_items([w.id for w in batch.work_items]) == {}  # ...and undone
    assert await store.get_cursor(created.id, "issues", "") == "old"


async def test_bulk_upsert_inserts_then_updates(store: SqlStore) -> None:
    await store.ensure_project(P)
    await store.apply_batch(Batch(work_items=items(P, 2500)))
    changed = items(P, 1000, start=2000, status="Done")  # 500 updates, 500 inserts
    await store.apply_batch(Batch(work_items=changed))

    ids = await all_ids(store, WorkItemFilter(P))
    assert len(ids) == 3000 and ids == sorted(ids)
    found = await store.get_work_items(["wi-01999", "wi-02000", "wi-02999"])
    assert [found[i].status for i in ("wi-01999", "wi-02000", "wi-02999")] == [
        "To Do",
        "Done",
        "Done",
    ]


async def test_an_update_keeps_the_stored_created_at(store: SqlStore) -> None:
    await store.ensure_project(P)
    first = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    [item] = items(P, 1, created_at=first, updated_at=first)
    await store.apply_batch(Batch(work_items=[item]))
    later = [*items(P, 1, updated_at=first + timedelta(days=1)), *items(P, 1, start=1)]
    later[0].title = "renamed"
    await store.apply_batch(Batch(work_items=later))
    found = await store.get_work_items(["wi-00000", "wi-00001"])
    assert found["wi-00000"].title == "renamed"
    assert found["wi-00000"].created_at == first
    assert found["wi-00000"].updated_at == first + timedelta(days=1)
    assert found["wi-00001"].created_at is not None


async def test_the_last_copy_of_a_row_in_one_batch_wins(store: SqlStore) -> None:
    await store.ensure_project(P)
    first, second = items(P, 1), items(P, 1)
    first[0].title, second[0].title = "first", "second"
    await store.apply_batch(Batch(work_items=first + second))
    assert (await store.get_work_items(["wi-00000"]))["wi-00000"].title == "second"


async def test_every_work_item_field_round_trips(store: SqlStore) -> None:
    await store.ensure_project(P)
    stamp = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=timezone(timedelta(hours=2)))
    item = WorkItem(
        id="550e8400-e29b-41d4-a716-446655440000",
        project_id=P,
        title="Ünïcode — title",
        description="line 1\nline 2\ttab",
        status="In Progress",
        priority="urgent",
        assignee_id="user-1",
        tags=["bug", "front end"],
        type="bug",
        due_date=stamp,
        completed_at=stamp + timedelta(days=1),
        parent_id="wi-parent",
        custom={"points": 3, "nested": {"a": [1, None, "x"]}, "ok": True},
        created_at=stamp,
        updated_at=stamp + timedelta(hours=1),
        deleted_at=None,
        version=7,
    )
    await store.apply_batch(Batch(work_items=[item]))
    found = (await store.get_work_items([item.id]))[item.id]
    assert found == item
    assert found.due_date is not None and found.due_date.utcoffset() == timedelta(0)


async def test_missing_timestamps_are_filled_and_naive_ones_are_utc(store: SqlStore) -> None:
    await store.ensure_project(P)
    naive = datetime(2025, 1, 2, 3, 4, 5)
    [item] = items(P, 1, due_date=naive)
    await store.apply_batch(Batch(work_items=[item]))
    found = (await store.get_work_items([item.id]))[item.id]
    assert found.due_date == naive.replace(tzinfo=UTC)
    assert found.created_at is not None and found.updated_at is not None


async def test_iter_work_items_streams_batches_and_filters(store: SqlStore) -> None:
    await store.ensure_project(P)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = items(P, 2500)
    for n, row in enumerate(rows):
        row.status = "Done" if n % 2 else "To Do"
        row.tags = ["even"] if n % 2 == 0 else ["odd", "x"]
        row.assignee_id = "u1" if n < 10 else None
        row.updated_at = base + timedelta(minutes=n)
        row.deleted_at = base if n == 0 else None
    await store.apply_batch(Batch(work_items=rows + items("other-project", 5, start=9000)))

    sizes = [len(b) async for b in store.iter_work_items(WorkItemFilter(P), batch_size=1000)]
    assert sizes == [1000, 1000, 499]  # wi-00000 is deleted
    assert len(await all_ids(store, WorkItemFilter(P, include_deleted=True))) == 2500
    assert len(await all_ids(store, WorkItemFilter(P, statuses=["Done"]))) == 1250
    assert len(await all_ids(store, WorkItemFilter(P, tags=["x", "nope"]))) == 1250
    assert await all_ids(store, WorkItemFilter(P, assignee_ids=["u1"])) == [
        f"wi-{n:05d}" for n in range(1, 10)
    ]
    window = WorkItemFilter(
        P, updated_from=base + timedelta(minutes=100), updated_to=base + timedelta(minutes=109)
    )
    assert len(await all_ids(store, window)) == 10


async def test_users_match_by_email_case_insensitively(store: SqlStore) -> None:
    await store.apply_batch(Batch(users=[User("u1", " Ada@Example.COM ", "Ada")]))
    found = await store.get_users_by_email(["ada@example.com", "ADA@example.com", "x@y.z"])
    assert list(found) == ["ada@example.com"]
    assert found["ada@example.com"].id == "u1"
    assert (await store.get_users(["u1"]))["u1"].email == "ada@example.com"


async def test_two_users_cannot_share_an_email(store: SqlStore) -> None:
    await store.apply_batch(Batch(users=[User("u1", "ada@example.com")]))
    with pytest.raises(StoreError) as raised:
        await store.apply_batch(Batch(users=[User("u2", "ADA@example.com")]))
    assert raised.value.constraint == "unique"


async def test_comments_round_trip_and_stream(store: SqlStore) -> None:
    await store.ensure_project(P)
    comments = [
        Comment(f"c{n:03d}", "wi-00000" if n % 2 else "wi-00001", f"body {n}") for n in range(30)
    ]
    await store.apply_batch(Batch(work_items=items(P, 2), comments=comments))
    got = [c.id async for b in store.iter_comments(["wi-00000"], batch_size=4) for c in b]
    assert got == [f"c{n:03d}" for n in range(1, 30, 2)]
    assert (await store.get_comments(["c001"]))["c001"].body == "body 1"


async def test_links_by_either_side_and_relinking(store: SqlStore) -> None:
    created = await integration(store)
    i = created.id
    snapshot = {"title": "a", "tags": ["x"], "n": 1}
    first = ExternalLink(i, "work_item", "k1", "X-1", "PROJ-1", "https://x/1", snapshot=snapshot)
    await store.apply_batch(Batch(links=[first, ExternalLink(i, "work_item", "k2", "X-2")]))
    assert (await store.get_links(i, "work_item", ["X-1"]))["X-1"].snapshot == snapshot
    assert (await store.get_links_by_kiro(i, "work_item", ["k2"]))["k2"].external_id == "X-2"

    # The external item was recreated: the new external id replaces the old link of k1.
    await store.apply_batch(Batch(links=[ExternalLink(i, "work_item", "k1", "X-9")]))
    assert set(await store.get_links(i, "work_item", ["X-1", "X-2", "X-9"])) == {"X-2", "X-9"}
    # Links are per entity: a comment link with the same ids is a different link.
    await store.apply_batch(Batch(links=[ExternalLink(i, "comment", "k1", "X-9")]))
    assert (await store.get_links(i, "work_item", ["X-9"]))["X-9"].kiro_id == "k1"

    await store.apply_batch(Batch(unlink=[(i, "work_item", "X-9")]))
    assert set(await store.get_links(i, "work_item", ["X-2", "X-9"])) == {"X-2"}
    assert set(await store.get_links(i, "comment", ["X-9"])) == {"X-9"}


async def test_links_can_swap_and_move_in_one_batch(store: SqlStore) -> None:
    created = await integration(store)
    i = created.id

    async def pairs() -> set[tuple[str, str]]:
        found = await store.get_links(i, "work_item", ["X-1", "X-2", "X-3"])
        return {(x.kiro_id, x.external_id) for x in found.values()}

    await store.apply_batch(
        Batch(
            links=[
                ExternalLink(i, "work_item", "k1", "X-1"),
                ExternalLink(i, "work_item", "k2", "X-2"),
            ]
        )
    )
    swapped = [ExternalLink(i, "work_item", "k1", "X-2"), ExternalLink(i, "work_item", "k2", "X-1")]
    await store.apply_batch(Batch(links=swapped))
    assert await pairs() == {("k1", "X-2"), ("k2", "X-1")}

    # X-1 moves to k3; k2 is left without a link.
    await store.apply_batch(Batch(links=[ExternalLink(i, "work_item", "k3", "X-1")]))
    assert await pairs() == {("k1", "X-2"), ("k3", "X-1")}
    assert await store.get_links_by_kiro(i, "work_item", ["k2"]) == {}


async def test_iter_links_streams_in_external_id_order(store: SqlStore) -> None:
    created = await integration(store)
    links = [ExternalLink(created.id, "work_item", f"k{n}", f"X-{n:04d}") for n in range(25)]
    await store.apply_batch(Batch(links=links))
    batches = [b async for b in store.iter_links(created.id, "work_item", batch_size=10)]
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [x.external_id for b in batches for x in b] == [f"X-{n:04d}" for n in range(25)]


async def test_cursors_are_per_stream_and_partition(store: SqlStore) -> None:
    created = await integration(store)
    i = created.id
    assert await store.get_cursor(i, "issues", "") is None
    await store.apply_batch(
        Batch(cursors=[Cursor(i, "issues", "", "1"), Cursor(i, "issues", "repo-a", "2")])
    )
    await store.apply_batch(Batch(cursors=[Cursor(i, "issues", "", "3")]))
    assert [(c.stream, c.partition, c.value) for c in await store.list_cursors(i)] == [
        ("issues", "", "3"),
        ("issues", "repo-a", "2"),
    ]


def conflict(integration_id: str, field: str, **values: Any) -> Conflict:
    return Conflict(
        id=new_id(),
        integration_id=integration_id,
        entity="work_item",
        kiro_id="k1",
        external_id="X-1",
        field=field,
        kiro_value=values.get("kiro", "Kiro title"),
        external_value=values.get("external", ["a", 1]),
        base_value=values.get("base"),
    )


async def test_conflicts_are_recorded_and_resolved(store: SqlStore) -> None:
    created = await integration(store)
    one, two = conflict(created.id, "title"), conflict(created.id, "tags", kiro={"x": None})
    await store.apply_batch(Batch(conflicts=[one, two]))
    listed = await store.list_conflicts(created.id)
    assert {c.id for c in listed} == {one.id, two.id}
    stored = await store.get_conflict(two.id)
    assert stored is not None and stored.kiro_value == {"x": None} and stored.base_value is None

    await store.resolve_conflict(one.id, "kiro_wins", "Kiro title")
    assert [c.id for c in await store.list_conflicts(created.id)] == [two.id]
    [resolved] = await store.list_conflicts(created.id, status="resolved")
    assert (resolved.resolution, resolved.resolved_value) == ("kiro_wins", "Kiro title")
    assert resolved.resolved_at is not None
    assert len(await store.list_conflicts(created.id, status=None)) == 2
    with pytest.raises(NotFoundError):
        await store.resolve_conflict("nope", "kiro_wins")
