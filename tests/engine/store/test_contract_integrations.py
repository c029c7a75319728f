"""Contract: the seed's integrations table, its logs, and deleting with dependents."""

from __future__ import annotations

import pytest

from engine.errors import ConflictError, NotFoundError
from engine.store.base import Batch, Cursor, ExternalLink, Integration, SyncLog, SyncRun, WebhookLog
from engine.store.sqlstore import SqlStore
from tests.conftest import ManualClock, StoreTarget
from tests.engine.store.helpers import integration, new_id, raw


async def test_create_get_and_list(store: SqlStore) -> None:
    one = await integration(store, config={"syncDirection": "import", "filters": {"labels": []}})
    two = await integration(store, "550e8400-e29b-41d4-a716-446655440000", type="github")
    found = await store.get_integration(one.id)
    assert found == one
    assert found is not None and found.config["syncDirection"] == "import"
    assert found.sync_status == "idle" and found.is_active
    assert [i.id for i in await store.list_integrations("project-123")] == [one.id]
    assert {i.id for i in await store.list_integrations()} == {one.id, two.id}
    assert await store.get_integration("missing") is None


async def test_a_project_cannot_hold_two_integrations_of_one_type_and_name(
    store: SqlStore,
) -> None:
    await integration(store, name="main")
    with pytest.raises(ConflictError, match="named 'main' already exists"):
        await integration(store, name="main")
    await integration(store, name="main", type="github")  # another type: fine
    await integration(store, "project-456", name="main")  # another project: fine
    assert len(await store.list_integrations()) == 3


async def test_updates_change_only_mutable_columns(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    store = await store_target.open(clock=clock)
    created = await integration(store)
    clock.advance(10)
    await store.update_integration(
        created.id,
        sync_status="error",
        error_message="401 from Jira",
        is_active=False,
        last_sync_at=clock.now,
        config={"syncFrequency": "hourly"},
    )
    found = await store.get_integration(created.id)
    assert found is not None
    assert (found.sync_status, found.error_message, found.is_active) == (
        "error",
        "401 from Jira",
        False,
    )
    assert found.config == {"syncFrequency": "hourly"}
    assert found.updated_at == clock.now and found.created_at == created.created_at
    assert await store.list_integrations(active_only=True) == []
    with pytest.raises(ValueError, match="cannot change integration column"):
        await store.update_integration(created.id, project_id="elsewhere")
    with pytest.raises(NotFoundError):
        await store.update_integration("missing", name="x")


async def test_credentials_are_stored_as_given_bytes(store: SqlStore) -> None:
    blob = bytes(range(256))
    one = await integration(store, credentials=blob)
    two = await integration(store)
    assert await store.iter_credentials() == [(one.id, blob)]
    await store.set_credentials_many([(one.id, b"\x00new"), (two.id, b"\x01two")])
    assert dict(await store.iter_credentials()) == {one.id: b"\x00new", two.id: b"\x01two"}
    with pytest.raises(NotFoundError):
        await store.set_credentials("missing", b"x")


async def test_deleting_an_integration_deletes_its_records(store: SqlStore) -> None:
    doomed, kept = await integration(store), await integration(store)
    for target in (doomed, kept):
        i = target.id
        await store.apply_batch(
            Batch(
                links=[ExternalLink(i, "work_item", "k1", "X-1")],
                cursors=[Cursor(i, "issues", "", "1")],
            )
        )
        await store.start_run(SyncRun(id=new_id(), integration_id=i, trigger="api"))
        await store.add_sync_log(SyncLog(new_id(), i, "import", "success", errors=["a", "b"]))
        await store.add_webhook(WebhookLog(new_id(), i, "push", {"a": 1}, delivery_id="d"))

    assert await store.delete_integration(doomed.id)
    assert not await store.delete_integration(doomed.id)
    for table in (
        "external_links",
        "sync_cursors",
        "sync_runs",
        "integration_sync_logs",
        "webhook_logs",
    ):
        counts = dict(await raw(store, f"SELECT integration_id, count(*) FROM {table} GROUP BY 1"))
        assert counts == {kept.id: 1}, table
    [log] = await store.list_sync_logs(kept.id)
    assert log.errors == ["a", "b"]


async def test_integration_rows_keep_the_seed_defaults(store: SqlStore) -> None:
    await store.ensure_project("project-123")
    await raw(
        store,
        "INSERT INTO integrations (project_id, type, name) VALUES (%s, %s, %s)",
        ("project-123", "slack", "defaults"),
    )
    [found] = await store.list_integrations("project-123")
    assert isinstance(found, Integration)
    assert len(found.id) == 36  # gen_random_uuid() as text
    assert (found.config, found.is_active, found.sync_status) == ({}, True, "idle")
    assert found.created_at is not None and found.updated_at is not None


async def test_an_integration_repr_leaves_out_the_credentials(store: SqlStore) -> None:
    created = await integration(store, credentials=b"\x01ciphertext-bytes")
    assert "ciphertext" not in repr(created) and "credentials" not in repr(created)
