"""Contract: webhook deliveries are stored once, claimed, retried and expire their claims."""

from __future__ import annotations

from datetime import timedelta

from engine.store.base import WebhookLog
from engine.store.sqlstore import SqlStore
from tests.conftest import ManualClock, StoreTarget
from tests.engine.store.helpers import integration, new_id


def delivery(integration_id: str, delivery_id: str | None, n: int = 0) -> WebhookLog:
    return WebhookLog(
        id=new_id(),
        integration_id=integration_id,
        event_type="issue_updated",
        payload={"issue": {"key": f"PROJ-{n}"}, "n": n},
        delivery_id=delivery_id,
    )


async def deliveries(store: SqlStore, clock: ManualClock, count: int) -> list[WebhookLog]:
    created = await integration(store)
    logs = []
    for n in range(count):
        logs.append(delivery(created.id, f"d-{n}", n))
        assert await store.add_webhook(logs[-1])
        clock.advance(1)  # distinct arrival times: claims go oldest first
    return logs


async def test_a_delivery_id_is_stored_once_per_integration(store: SqlStore) -> None:
    one, two = await integration(store), await integration(store)
    assert await store.add_webhook(delivery(one.id, "abc"))
    assert not await store.add_webhook(delivery(one.id, "abc"))
    assert await store.add_webhook(delivery(two.id, "abc"))
    assert await store.add_webhook(delivery(one.id, None))
    assert await store.add_webhook(delivery(one.id, None))  # no id: nothing to dedupe on
    assert await store.webhook_backlog() == 4


async def test_claims_take_the_oldest_and_never_hand_out_a_row_twice(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock)
    logs = await deliveries(store, clock, 5)
    first = await store.claim_webhooks(3, "worker-1")
    assert [w.id for w in first] == [w.id for w in logs[:3]]
    assert all(w.attempts == 1 for w in first)
    assert first[0].payload == {"issue": {"key": "PROJ-0"}, "n": 0}
    second = await store.claim_webhooks(10, "worker-2")
    assert [w.id for w in second] == [w.id for w in logs[3:]]
    assert await store.claim_webhooks(10, "worker-3") == []


async def test_processed_deliveries_leave_the_backlog(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock)
    logs = await deliveries(store, clock, 2)
    for claimed in await store.claim_webhooks(10, "worker-1"):
        await store.mark_webhook(claimed.id, processed=True)
    assert await store.webhook_backlog() == 0
    clock.advance(3600)
    assert await store.claim_webhooks(10, "worker-1") == []
    done = await store.get_webhook(logs[0].id)
    assert (
        done is not None
        and done.processed
        and done.processed_at == clock.now - timedelta(seconds=3600)
    )


async def test_a_crashed_workers_claim_expires_and_is_retaken(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock)
    [log] = await deliveries(store, clock, 1)
    assert len(await store.claim_webhooks(10, "crashing-worker", claim_seconds=60)) == 1
    clock.advance(59)
    assert await store.claim_webhooks(10, "worker-2") == []
    clock.advance(2)
    [retaken] = await store.claim_webhooks(10, "worker-2")
    assert retaken.id == log.id and retaken.attempts == 2


async def test_a_failed_attempt_is_retried_after_a_backoff_until_attempts_run_out(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock, webhook_max_attempts=3)
    [log] = await deliveries(store, clock, 1)
    for attempt in (1, 2, 3):
        [claimed] = await store.claim_webhooks(10, "worker")
        assert claimed.attempts == attempt
        await store.mark_webhook(claimed.id, processed=False, error=f"boom {attempt}")
        assert await store.claim_webhooks(10, "worker") == []  # backing off
        clock.advance(2**attempt + 1)
    assert await store.claim_webhooks(10, "worker") == []  # out of attempts
    assert await store.webhook_backlog() == 0
    dead = await store.get_webhook(log.id)
    assert dead is not None and not dead.processed and dead.error == "boom 3"
