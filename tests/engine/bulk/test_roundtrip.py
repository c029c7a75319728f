"""Round trip: export a project in each format, import the file into another project, and
the other project holds the same work items (and importing it again changes nothing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.bulk.exporter import open_export
from engine.bulk.importer import BulkImporter
from engine.bulk.query import ExportQuery
from engine.bulk.readers import read_import_file
from engine.store.base import Batch, ExternalLink, User, WorkItem
from engine.store.sqlstore import SqlStore
from tests.engine.bulk.helpers import make_integration

SOURCE, TARGET = "project-source", "project-target"
T0 = datetime(2025, 4, 5, 6, 7, 8, 123456, tzinfo=UTC)


async def seed(store: SqlStore) -> None:
    integration = await make_integration(store, SOURCE)
    items = [
        WorkItem(
            id="parent", project_id=SOURCE, title="Parent, with comma", status="In Progress",
            description='multi\nline "quoted"\r\nünïcödé ✓ _x0041_ literal', priority="urgent",
            type="epic", assignee_id="u-1", tags=["a", "b, c"], custom={"points": 5},
            due_date=T0 + timedelta(days=3), created_at=T0,
        ),
        WorkItem(
            id="child", project_id=SOURCE, title="Child", status="Done", parent_id="parent",
            completed_at=T0 + timedelta(hours=5), created_at=T0 + timedelta(minutes=1),
            custom={"bulkImport": {"externalId": "OLD-1", "externalUrl": "https://old/1"}},
        ),
        WorkItem(id="plain", project_id=SOURCE, title="Plain", created_at=T0),
    ]  # fmt: skip
    await store.apply_batch(
        Batch(
            users=[User(id="u-1", email="lin@example.com", name="Lin")],
            work_items=items,
            links=[
                ExternalLink(integration.id, "work_item", "parent", "77", "GH-77", "https://g/77")
            ],
        )
    )


async def export_json(store: SqlStore, project_id: str) -> list[dict[str, Any]]:
    export = await open_export(store, ExportQuery(project_id), "json")
    rows: list[dict[str, Any]] = json.loads(b"".join([c async for c in export.chunks()]))
    return rows


def comparable(rows: list[dict[str, Any]], project_id: str, millis: bool) -> list[dict[str, Any]]:
    """Rows without what a copy changes (ids, updatedAt), parents by title, times to the
    millisecond when the file was a spreadsheet."""
    titles = {row["id"]: row["title"] for row in rows}
    found = []
    for row in rows:
        row = dict(row)
        row.pop("id"), row.pop("updatedAt")
        row["parentId"] = titles.get(row["parentId"]) if row["parentId"] else None
        for name in ("dueDate", "completedAt", "createdAt"):
            if millis and row[name]:
                moment = datetime.fromisoformat(row[name])
                moment = moment.replace(microsecond=0) + timedelta(
                    milliseconds=round(moment.microsecond / 1000)
                )
                row[name] = moment.isoformat().replace("+00:00", "Z")
        found.append(row)
    return sorted(found, key=lambda r: r["title"])


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
async def test_a_file_exported_from_one_project_imports_as_the_same_items_into_another(
    store: SqlStore, fmt: str, tmp_path: Path
) -> None:
    await seed(store)
    path = tmp_path / f"items.{fmt}"
    export = await open_export(store, ExportQuery(SOURCE), fmt)
    assert await export.write_to(path) == 3

    file = read_import_file(path)
    assert file.total == 3
    importer = BulkImporter(store, TARGET, create_project=True, batch_size=2)
    result = await importer.run(file.work_items, file.users, file.projects)
    assert result.to_dict()["workItems"] == {"created": 3, "updated": 0, "skipped": 0, "failed": 0}

    source, target = await export_json(store, SOURCE), await export_json(store, TARGET)
    millis = fmt == "xlsx"
    assert comparable(target, TARGET, millis) == comparable(source, SOURCE, millis)
    assert not {row["id"] for row in target} & {row["id"] for row in source}

    again = read_import_file(path)
    repeat = await BulkImporter(store, TARGET).run(again.work_items)
    assert repeat.to_dict()["workItems"] == {"created": 0, "updated": 0, "skipped": 3, "failed": 0}
    assert len(await export_json(store, TARGET)) == 3


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
async def test_a_project_reimporting_its_own_export_changes_nothing(
    store: SqlStore, fmt: str, tmp_path: Path
) -> None:
    await seed(store)
    before = await export_json(store, SOURCE)
    path = tmp_path / f"items.{fmt}"
    await (await open_export(store, ExportQuery(SOURCE), fmt)).write_to(path)
    result = await BulkImporter(store, SOURCE).run(read_import_file(path).work_items)
    expected = {"created": 0, "updated": 0, "skipped": 3, "failed": 0}
    if fmt == "xlsx":  # times come back to the millisecond: createdAt is kept, others move
        expected = {"created": 0, "updated": 2, "skipped": 1, "failed": 0}
    assert result.to_dict()["workItems"] == expected
    assert [row["id"] for row in await export_json(store, SOURCE)] == [r["id"] for r in before]
