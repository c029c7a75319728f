"""Postgres specifics: SKIP LOCKED claims across connections, schemas, connection errors."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from engine.errors import StoreError
from engine.store import open_store
from engine.store.base import WebhookLog
from engine.store.postgres import PostgresStore
from tests.conftest import ManualClock, postgres_url
from tests.engine.store.helpers import integration, new_id

pytestmark = pytest.mark.postgres


async def store_in(schema: str, **options: object) -> PostgresStore:
    store = PostgresStore(postgres_url(), schema=schema, **options)  # type: ignore[arg-type]
    await store.open()
    return store


async def fill(store: PostgresStore, clock: ManualClock, count: int) -> list[str]:
    created = await integration(store)
    ids = []
    for n in range(count):
        ids.append(new_id())
        await store.add_webhook(
            WebhookLog(ids[-1], created.id, "push", {"n": n}, delivery_id=str(n))
        )
        clock.advance(1)
    return ids


async def test_a_claim_skips_rows_another_connection_has_locked(
    postgres_schema: str, clock: ManualClock
) -> None:
    store = await store_in(postgres_schema, clock=clock)
    try:
        ids = await fill(store, clock, 5)
        options = f"-c search_path={postgres_schema}"
        other = await psycopg.AsyncConnection.connect(postgres_url(), options=options)
        async with other, other.transaction():
            await other.execute(
                "SELECT id FROM webhook_logs WHERE id = ANY(%s) FOR UPDATE", (ids[:2],)
            )
            claimed = await asyncio.wait_for(store.claim_webhooks(10, "worker-1"), 5)
            assert [w.id for w in claimed] == ids[2:]
        # The lock is gone; the two rows it held are free to claim now.
        assert [w.id for w in await store.claim_webhooks(10, "worker-2")] == ids[:2]
    finally:
        await store.close()


async def test_two_processes_claiming_at_once_split_the_work(
    postgres_schema: str, clock: ManualClock
) -> None:
    one = await store_in(postgres_schema, clock=clock)
    two = await store_in(postgres_schema, clock=clock)
    try:
        ids = await fill(one, clock, 60)
        rounds = await asyncio.gather(
            *[(one if n % 2 else two).claim_webhooks(7, f"worker-{n}") for n in range(12)]
        )
        claimed = [w.id for batch in rounds for w in batch]
        assert sorted(claimed) == sorted(ids)  # every delivery once, none twice
    finally:
        await one.close()
        await two.close()


async def test_stores_opening_one_schema_at_once_migrate_it_once(postgres_schema: str) -> None:
    stores = [PostgresStore(postgres_url(), schema=postgres_schema) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert await stores[0].schema_versions() == [1]
    finally:
        for s in stores:
            await s.close()


async def test_tables_live_in_the_stores_schema(postgres_schema: str) -> None:
    store = await store_in(postgres_schema)
    try:
        await integration(store)
    finally:
        await store.close()
    with psycopg.connect(postgres_url()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'integrations'",
            (postgres_schema,),
        ).fetchone()
        count = conn.execute(f'SELECT count(*) FROM "{postgres_schema}".integrations').fetchone()
    assert row == (1,) and count == (1,)


async def test_deleting_an_integration_row_cascades_like_the_seed(postgres_schema: str) -> None:
    store = await store_in(postgres_schema)
    try:
        created = await integration(store)
        await store.add_webhook(WebhookLog(new_id(), created.id, "push", {}))
        async with store.transaction() as s:
            await s.execute("DELETE FROM integrations WHERE id = %s", (created.id,))
        assert await store.webhook_backlog() == 0
    finally:
        await store.close()


async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    url = "postgresql://kiro:hunter2-very-secret@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as raised:
        await open_store(url, connect_timeout=2)
    message = str(raised.value)
    assert message.startswith("postgres store: ") and "\n" not in message
    assert "hunter2" not in message and "hunter2" not in repr(raised.value)


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid schema name"):
        PostgresStore(postgres_url(), schema="x; DROP TABLE users")


def test_repr_shows_no_credentials() -> None:
    store = PostgresStore("postgresql://kiro:hunter2@db.example:5432/kiro", schema="s1")
    assert repr(store) == "PostgresStore('db.example:5432/kiro', schema='s1')"


async def test_an_invalid_url_error_masks_its_password() -> None:
    from engine.errors import StoreError
    from engine.store.postgres import PostgresStore

    with pytest.raises(StoreError, match="invalid Postgres URL") as caught:
        await PostgresStore("postgresql://kiro:s3cret-pw@[broken/db").open()
    assert "s3cret-pw" not in str(caught.value)
    assert "kiro:****@" in str(caught.value)
