"""Builders shared by the bulk tests."""

from __future__ import annotations

from typing import Any

from engine.bulk.importer import BulkImporter
from engine.bulk.results import ImportResult
from engine.store.base import Integration, WorkItem, WorkItemFilter
from engine.store.sqlstore import SqlStore


async def all_items(store: Any, project_id: str, **filters: Any) -> list[WorkItem]:
    found: list[WorkItem] = []
    async for batch in store.iter_work_items(WorkItemFilter(project_id=project_id, **filters)):
        found.extend(batch)
    return found


async def by_title(store: Any, project_id: str) -> dict[str, WorkItem]:
    return {item.title: item for item in await all_items(store, project_id)}


async def run_import(store: Any, project_id: str, work_items: list[Any], **kw: Any) -> ImportResult:
    users = kw.pop("users", ())
    projects = kw.pop("projects", ())
    kw.setdefault("create_project", True)
    importer = BulkImporter(store, project_id, **kw)
    return await importer.run(work_items, users, projects)


async def make_integration(
    store: SqlStore, project_id: str, integration_id: str = "integ-1"
) -> Integration:
    await store.ensure_project(project_id)
    return await store.create_integration(
        Integration(
            id=integration_id, project_id=project_id, type="github", name=f"GitHub {integration_id}"
        )
    )
