"""Contract: sync runs hold a lease, one per integration at a time, across processes."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import ConflictError, NotFoundError
from engine.store.base import SyncRun
from engine.store.sqlstore import SqlStore
from tests.conftest import ManualClock, StoreTarget
from tests.engine.store.helpers import integration, new_id


def run(integration_id: str, run_id: str | None = None, node: str = "node-a") -> SyncRun:
    return SyncRun(
        id=run_id or new_id(), integration_id=integration_id, trigger="manual", node=node
    )


async def test_a_second_run_conflicts_and_names_the_running_one(store: SqlStore) -> None:
    created = await integration(store)
    first = await store.start_run(run(created.id))
    assert first.status == "running" and first.lease_expires_at is not None

    with pytest.raises(ConflictError) as raised:
        await store.start_run(run(created.id))
    assert raised.value.run_id == first.id
    running = await store.get_running_run(created.id)
    assert running is not None and running.id == first.id


async def test_runs_of_different_integrations_do_not_conflict(store: SqlStore) -> None:
    one, two = await integration(store), await integration(store)
    await store.start_run(run(one.id))
    await store.start_run(run(two.id))
    assert await store.get_running_run(two.id) is not None


async def test_concurrent_starts_from_two_stores_let_exactly_one_win(
    store_target: StoreTarget,
) -> None:
    first = await store_target.open()
    # Postgres: a second pool, as a second process would have. DuckDB's file belongs to one
    # process, so there the contenders share the store (and its single connection).
    second = await store_target.open() if store_target.backend == "postgres" else first
    created = await integration(first)
    attempts = [
        (first if n % 2 else second).start_run(run(created.id, f"run-{n}")) for n in range(8)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)

    winners = [r for r in results if isinstance(r, SyncRun)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 7
    assert {loser.run_id for loser in losers} <= {winners[0].id, *(f"run-{n}" for n in range(8))}
    assert any(loser.run_id == winners[0].id for loser in losers)
    running = await first.get_running_run(created.id)
    assert running is not None and running.id == winners[0].id


async def test_an_expired_lease_is_taken_over(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock)
    created = await integration(store)
    stale = await store.start_run(run(created.id, node="crashed-node"), lease_seconds=60)

    clock.advance(59)
    with pytest.raises(ConflictError):
        await store.start_run(run(created.id))
    clock.advance(2)
    assert await store.get_running_run(created.id) is None  # the lease is over
    fresh = await store.start_run(run(created.id, node="node-b"))

    old = await store.get_run(stale.id)
    assert old is not None and old.status == "error" and old.error_class == "lease_expired"
    assert old.error_message is not None and "crashed-node" in old.error_message
    with pytest.raises(ConflictError, match="no longer running"):
        await store.renew_lease(stale.id)
    running = await store.get_running_run(created.id)
    assert running is not None and running.id == fresh.id


async def test_renewing_keeps_the_lease_alive(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock)
    created = await integration(store)
    started = await store.start_run(run(created.id), lease_seconds=60)
    for _ in range(5):
        clock.advance(50)
        await store.renew_lease(started.id, lease_seconds=60)
    with pytest.raises(ConflictError) as raised:
        await store.start_run(run(created.id))
    assert raised.value.run_id == started.id


async def test_finishing_a_run_frees_the_integration(store: SqlStore) -> None:
    created = await integration(store)
    started = await store.start_run(run(created.id))
    await store.update_run(
        started.id,
        status="partial",
        counters={"processed": 10, "created": 7, "skipped": 3},
        progress={"stream": "issues"},
        error_class="record",
        error_message="3 records skipped",
    )
    finished = await store.get_run(started.id)
    assert finished is not None
    assert finished.status == "partial" and finished.finished_at is not None
    assert finished.counters == {"processed": 10, "created": 7, "skipped": 3}
    assert finished.lease_expires_at is None
    assert await store.get_running_run(created.id) is None
    again = await store.start_run(run(created.id))
    assert [r.id for r in await store.list_runs(created.id)] == [again.id, started.id]


async def test_run_updates_are_checked(store: SqlStore) -> None:
    created = await integration(store)
    started = await store.start_run(run(created.id))
    with pytest.raises(ValueError, match="cannot change sync run column"):
        await store.update_run(started.id, integration_id="other")
    with pytest.raises(NotFoundError):
        await store.update_run("no-such-run", status="error")
    with pytest.raises(NotFoundError):
        await store.renew_lease("no-such-run")
    with pytest.raises(NotFoundError):
        await store.start_run(run("no-such-integration"))
