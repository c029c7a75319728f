"""Small builders shared by the store contract tests."""

from __future__ import annotations

import uuid
from typing import Any

from engine.store.base import Integration, WorkItem
from engine.store.sqlstore import SqlStore


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


async def integration(
    store: SqlStore, project_id: str = "project-123", **fields: Any
) -> Integration:
    """A stored integration (jira unless ``type`` says otherwise) in ``project_id``."""
    await store.ensure_project(project_id)
    integration_id = fields.pop("id", None) or new_id()
    values: dict[str, Any] = {"type": "jira", "name": new_id("jira-"), **fields}
    return await store.create_integration(
        Integration(id=integration_id, project_id=project_id, **values)
    )


def items(project_id: str, count: int, start: int = 0, **fields: Any) -> list[WorkItem]:
    """``count`` work items with ids ``wi-00000``... (zero-padded so ids sort numerically)."""
    return [
        WorkItem(id=f"wi-{n:05d}", project_id=project_id, title=f"item {n}", **fields)
        for n in range(start, start + count)
    ]


async def raw(store: SqlStore, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL directly (``%s`` placeholders on both backends), bypassing the store's checks."""
    async with store.transaction() as session:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) or "RETURNING" in sql.upper():
            return await session.fetchall(sql, params)
        await session.execute(sql, params)
        return []
