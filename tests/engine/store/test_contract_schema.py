"""Contract: migrations and the seed's constraints, identical on DuckDB and Postgres."""

from __future__ import annotations

import pytest

from engine.errors import StoreError, ValidationError
from engine.store.base import Batch, Conflict, ExternalLink, SyncLog, SyncRun
from engine.store.sqlstore import SqlStore
from tests.conftest import StoreTarget
from tests.engine.store.helpers import integration, items, new_id, raw

SEED_TYPES = ["jira", "github", "slack", "trello", "asana", "linear", "notion", "teams"]


async def test_open_records_the_schema_version(store: SqlStore) -> None:
    assert await store.schema_versions() == [1]
    rows = await raw(store, "SELECT version, name FROM schema_version")
    assert rows == [(1, "initial")]


async def test_migrations_are_idempotent_across_reopen(store_target: StoreTarget) -> None:
    first = await store_target.open()
    await first.ensure_project("project-123", "Kept")
    await first.close()

    second = await store_target.open()
    assert await second.migrate() == []
    assert await second.schema_versions() == [1]
    project = await second.get_project("project-123")
    assert project is not None and project.name == "Kept"


async def test_the_eight_seed_types_are_admitted(store: SqlStore) -> None:
    assert set(SEED_TYPES) <= set(await store.provider_types())
    for kind in SEED_TYPES:
        await integration(store, type=kind, name="main")
    assert len(await store.list_integrations("project-123")) == len(SEED_TYPES)


async def test_an_unregistered_type_is_rejected_by_the_store_and_the_database(
    store: SqlStore,
) -> None:
    with pytest.raises(ValidationError, match="unknown integration type 'myspace'"):
        await integration(store, type="myspace")
    with pytest.raises(StoreError) as raised:  # the database refuses it too (foreign key)
        await raw(
            store,
            "INSERT INTO integrations (id, project_id, type, name) VALUES (%s, %s, %s, %s)",
            (new_id(), "project-123", "myspace", "x"),
        )
    assert raised.value.constraint == "foreign_key"


async def test_a_yaml_provider_is_admitted_once_registered(store: SqlStore) -> None:
    await store.register_provider_types(["myspace", "jira"])
    created = await integration(store, type="myspace")
    assert created.type == "myspace"
    assert "myspace" in await store.provider_types()


async def test_provider_names_must_look_like_names(store: SqlStore) -> None:
    with pytest.raises(ValidationError, match="invalid provider name"):
        await store.register_provider_types(["Bad Name"])


@pytest.mark.parametrize("status", ["idle", "syncing", "success", "error", "partial"])
async def test_every_sync_status_is_admitted(store: SqlStore, status: str) -> None:
    created = await integration(store)
    await store.update_integration(created.id, sync_status=status)
    found = await store.get_integration(created.id)
    assert found is not None and found.sync_status == status


async def test_integrations_sync_status_check(store: SqlStore) -> None:
    created = await integration(store)
    with pytest.raises(StoreError) as raised:
        await store.update_integration(created.id, sync_status="running")
    assert raised.value.constraint == "check"
    found = await store.get_integration(created.id)
    assert found is not None and found.sync_status == "idle"


@pytest.mark.parametrize(("column", "value"), [("sync_type", "sideways"), ("status", "done")])
async def test_sync_log_checks(store: SqlStore, column: str, value: str) -> None:
    created = await integration(store)
    fields = {"sync_type": "import", "status": "success", column: value}
    with pytest.raises(StoreError) as raised:
        await store.add_sync_log(SyncLog(id=new_id(), integration_id=created.id, **fields))
    assert raised.value.constraint == "check"
    assert await store.list_sync_logs(created.id) == []


@pytest.mark.parametrize("sync_type", ["import", "export", "bidirectional", "webhook"])
@pytest.mark.parametrize("status", ["success", "error", "partial"])
async def test_sync_log_accepts_the_seed_values(
    store: SqlStore, sync_type: str, status: str
) -> None:
    created = await integration(store)
    await store.add_sync_log(
        SyncLog(id=new_id(), integration_id=created.id, sync_type=sync_type, status=status)
    )
    [log] = await store.list_sync_logs(created.id)
    assert (log.sync_type, log.status) == (sync_type, status)


@pytest.mark.parametrize("column", ["event_type", "payload"])
async def test_webhook_logs_require_event_type_and_payload(store: SqlStore, column: str) -> None:
    created = await integration(store)
    values = {"event_type": "'issue_updated'", "payload": "'{}'", column: "NULL"}
    with pytest.raises(StoreError) as raised:
        await raw(
            store,
            "INSERT INTO webhook_logs (id, integration_id, event_type, payload) "
            f"VALUES (%s, %s, {values['event_type']}, {values['payload']})",
            (new_id(), created.id),
        )
    assert raised.value.constraint == "not_null"


async def test_member_role_check(store: SqlStore) -> None:
    with pytest.raises(ValidationError, match="unknown role 'boss'"):
        await store.add_member("project-123", "user-1", "boss")  # type: ignore[arg-type]
    with pytest.raises(StoreError) as raised:
        await raw(
            store,
            "INSERT INTO project_members (project_id, user_id, role) VALUES (%s, %s, %s)",
            ("project-123", "user-1", "boss"),
        )
    assert raised.value.constraint == "check"


async def test_work_item_priority_check_rejects_the_whole_batch(store: SqlStore) -> None:
    await store.ensure_project("project-123")
    good = items("project-123", 3)
    bad = items("project-123", 1, start=3, priority="critical")
    with pytest.raises(StoreError) as raised:
        await store.apply_batch(Batch(work_items=good + bad))
    assert raised.value.constraint == "check"
    assert await store.get_work_items([w.id for w in good]) == {}


async def test_link_entity_check(store: SqlStore) -> None:
    created = await integration(store)
    link = ExternalLink(created.id, "board", "k1", "x1")  # type: ignore[arg-type]
    with pytest.raises(StoreError) as raised:
        await store.apply_batch(Batch(links=[link]))
    assert raised.value.constraint == "check"


async def test_run_trigger_check(store: SqlStore) -> None:
    created = await integration(store)
    with pytest.raises(StoreError) as raised:
        await store.start_run(SyncRun(id=new_id(), integration_id=created.id, trigger="cron"))
    assert raised.value.constraint == "check"
    assert await store.get_running_run(created.id) is None


async def test_conflict_status_check(store: SqlStore) -> None:
    created = await integration(store)
    conflict = Conflict(
        id=new_id(),
        integration_id=created.id,
        entity="work_item",
        kiro_id="k1",
        external_id="x1",
        field="title",
        kiro_value="a",
        external_value="b",
        base_value=None,
        status="maybe",  # type: ignore[arg-type]
    )
    with pytest.raises(StoreError) as raised:
        await store.apply_batch(Batch(conflicts=[conflict]))
    assert raised.value.constraint == "check"


async def test_both_link_uniques_exist_in_the_database(store: SqlStore) -> None:
    created = await integration(store)
    sql = (
        "INSERT INTO external_links (integration_id, entity, kiro_id, external_id) "
        "VALUES (%s, 'work_item', %s, %s)"
    )
    await raw(store, sql, (created.id, "k1", "x1"))
    for kiro_id, external_id in [("k2", "x1"), ("k1", "x2")]:
        with pytest.raises(StoreError) as raised:
            await raw(store, sql, (created.id, kiro_id, external_id))
        assert raised.value.constraint == "unique"


async def test_store_errors_are_one_line(store: SqlStore) -> None:
    created = await integration(store)
    with pytest.raises(StoreError) as raised:
        await store.update_integration(created.id, sync_status="bogus")
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith(f"{store.url_kind} store: ")
