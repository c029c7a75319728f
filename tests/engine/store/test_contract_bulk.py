"""Contract: bulk upserts at every size, on both backends, keep the same rules.

DuckDB stages a few rows as parameters and many as an Arrow table (engine.store.duckdb_bulk,
``SMALL_BATCH``); both paths must keep stored creation times, replace links by either key
and take the last of two rows with one key.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import StoreError
from engine.store.base import Batch, ExternalLink, User, WorkItem
from engine.store.duckdb_bulk import SMALL_BATCH
from engine.store.sqlstore import SqlStore
from tests.engine.store.helpers import integration, items

P = "project-123"
FIRST = datetime(2024, 1, 1, tzinfo=UTC)
LATER = datetime(2024, 6, 1, tzinfo=UTC)
SIZES = [1, SMALL_BATCH, SMALL_BATCH + 1, 300]


def retitled(rows: list[WorkItem], title: str) -> list[WorkItem]:
    return [dataclasses.replace(row, title=title) for row in rows]


@pytest.mark.parametrize("count", SIZES)
async def test_an_update_keeps_created_at_and_takes_the_rest(store: SqlStore, count: int) -> None:
    await store.ensure_project(P)
    await store.apply_batch(Batch(work_items=items(P, count, created_at=FIRST, updated_at=FIRST)))
    changed = retitled(items(P, count + 2, created_at=LATER, updated_at=LATER), "changed")
    await store.apply_batch(Batch(work_items=changed))

    found = await store.get_work_items([w.id for w in changed])
    assert len(found) == count + 2
    for index, item in enumerate(changed):
        stored = found[item.id]
        assert stored.title == "changed" and stored.updated_at == LATER
        assert stored.created_at == (FIRST if index < count else LATER)


@pytest.mark.parametrize("count", SIZES)
async def test_a_link_replaces_the_links_sharing_either_key(store: SqlStore, count: int) -> None:
    created = await integration(store)
    await store.apply_batch(Batch(work_items=items(P, count + 1)))
    old = [
        ExternalLink(created.id, "work_item", f"wi-{n:05d}", f"OLD-{n}", snapshot={"n": n})
        for n in range(count)
    ]
    await store.apply_batch(Batch(links=old))
    # every Kiro item now links to a recreated external item; the last one also takes over
    # OLD-0, whose item moves to another Kiro id
    moved = [
        ExternalLink(created.id, "work_item", f"wi-{n:05d}", f"NEW-{n}", snapshot={"n": -n - 1})
        for n in range(count)
    ]
    moved.append(ExternalLink(created.id, "work_item", f"wi-{count:05d}", "OLD-0"))
    await store.apply_batch(Batch(links=moved))

    by_kiro = await store.get_links_by_kiro(
        created.id, "work_item", [f"wi-{n:05d}" for n in range(count + 1)]
    )
    assert {k: v.external_id for k, v in by_kiro.items()} == {
        **{f"wi-{n:05d}": f"NEW-{n}" for n in range(count)},
        f"wi-{count:05d}": "OLD-0",
    }
    gone = await store.get_links(created.id, "work_item", [f"OLD-{n}" for n in range(1, count)])
    assert gone == {}
    assert by_kiro["wi-00000"].snapshot == {"n": -1}


@pytest.mark.parametrize("count", SIZES)
async def test_two_rows_with_one_key_keep_the_last(store: SqlStore, count: int) -> None:
    await store.ensure_project(P)
    first = retitled(items(P, count), "first")
    second = retitled(items(P, count, updated_at=FIRST + timedelta(days=1)), "second")
    await store.apply_batch(Batch(work_items=[*first, *second]))
    found = await store.get_work_items([w.id for w in first])
    assert {w.title for w in found.values()} == {"second"}
    assert len(found) == count


@pytest.mark.parametrize("count", [1, SMALL_BATCH + 1])
async def test_a_failed_batch_leaves_nothing_for_the_next(store: SqlStore, count: int) -> None:
    await store.ensure_project(P)
    await store.apply_batch(Batch(users=[User("u1", "ada@example.com")]))
    failing = Batch(work_items=items(P, count), users=[User("u2", "ADA@example.com")])
    with pytest.raises(StoreError):
        await store.apply_batch(failing)
    assert await store.get_work_items([w.id for w in failing.work_items]) == {}

    later = items(P, 2, start=count)
    await store.apply_batch(Batch(work_items=later))
    found = await store.get_work_items([w.id for w in (*failing.work_items, *later)])
    assert sorted(found) == [w.id for w in later]
