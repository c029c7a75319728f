"""Work items -> export rows (columns.py), streamed from the store batch by batch.

Each batch of items is one keyset page of ``Store.iter_work_items``, plus one query for its
links per integration and one for its assignees, so memory holds one batch at a time
whatever the size of the project. Values keep their types (datetimes, lists, dicts); each
format encodes them (formats.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from engine.bulk.query import ResolvedQuery
from engine.bulk.validation import BULK_KEY
from engine.store.base import ExternalLink, Store, User, WorkItem

Row = dict[str, Any]


async def export_rows(
    store: Store, query: ResolvedQuery, batch_size: int = 1000
) -> AsyncIterator[list[Row]]:
    """Lists of rows, in id order, with the columns of columns.COLUMNS."""
    if query.matches_nothing:
        return
    async for items in store.iter_work_items(query.store_filter, batch_size):
        kept = [item for item in items if query.keep(item)]
        if not kept:
            continue
        links = await _links(store, query.integration_ids, [i.id for i in kept])
        users = await store.get_users([i.assignee_id for i in kept if i.assignee_id])
        yield [_row(item, links.get(item.id), users) for item in kept]


async def _links(
    store: Store, integration_ids: list[str], kiro_ids: list[str]
) -> dict[str, ExternalLink]:
    found: dict[str, ExternalLink] = {}
    for integration_id in integration_ids:
        wanted = [i for i in kiro_ids if i not in found]
        if not wanted:
            break
        found.update(await store.get_links_by_kiro(integration_id, "work_item", wanted))
    return found


def _row(item: WorkItem, link: ExternalLink | None, users: dict[str, User]) -> Row:
    custom = dict(item.custom)
    kept = custom.pop(BULK_KEY, None) or {}
    assignee = users.get(item.assignee_id) if item.assignee_id else None
    return {
        "id": item.id,
        "externalId": link.external_id if link else kept.get("externalId"),
        "externalKey": link.external_key if link else kept.get("externalKey"),
        "externalUrl": link.external_url if link else kept.get("externalUrl"),
        "title": item.title,
        "description": item.description,
        "status": item.status,
        "priority": item.priority,
        "type": item.type,
        "assigneeId": item.assignee_id,
        "assigneeEmail": assignee.email if assignee else None,
        "tags": list(item.tags),
        "dueDate": item.due_date,
        "completedAt": item.completed_at,
        "parentId": item.parent_id,
        "createdAt": item.created_at,
        "updatedAt": item.updated_at,
        "custom": custom,
    }
