"""Sync bookkeeping: atomic batches, external links, cursors and conflicts.

``apply_batch`` writes a batch's rows, links and conflicts, then its cursor advances, in one
transaction: if anything fails, none of it is kept, so a cursor never moves past rows that
were not stored. Every kind of row goes in with one bulk upsert per table.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from engine.errors import NotFoundError
from engine.store import tables as t
from engine.store.base import Batch, Conflict, Cursor, Entity, ExternalLink
from engine.store.core import SqlCore
from engine.store.kiro import normalize_user
from engine.store.sql import Session


class BookkeepingQueries(SqlCore):
    async def apply_batch(self, batch: Batch) -> None:
        """Commit every row of ``batch`` and its cursor advances together, or nothing."""
        async with self.transaction() as s:
            await self._write_rows(s, batch)
            await self._write_cursors(s, batch.cursors)

    async def _write_rows(self, s: Session, batch: Batch) -> None:
        now = self.now()
        await s.upsert(t.USERS, t.USERS.encode_columns([normalize_user(u) for u in batch.users]))
        work_items = [_stamped(w, now) for w in batch.work_items]
        await s.upsert(t.WORK_ITEMS, t.WORK_ITEMS.encode_columns(work_items))
        comments = [_stamped(c, now) for c in batch.comments]
        await s.upsert(t.COMMENTS, t.COMMENTS.encode_columns(comments))
        await self._unlink(s, batch.unlink)
        await self._write_links(s, [_synced(link, now) for link in batch.links])
        conflicts = [_created(c, now) for c in batch.conflicts]
        await s.upsert(t.CONFLICTS, t.CONFLICTS.encode_columns(conflicts))

    async def _write_cursors(self, s: Session, cursors: Sequence[Cursor]) -> None:
        await s.upsert(t.CURSORS, t.CURSORS.encode_columns(cursors))

    async def _unlink(self, s: Session, unlink: Iterable[tuple[str, Entity, str]]) -> None:
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for integration_id, entity, external_id in unlink:
            groups[(integration_id, entity)].append(external_id)
        for (integration, kind), external_ids in groups.items():
            await s.execute(
                "DELETE FROM external_links WHERE integration_id = %s AND entity = %s AND "
                + self.in_list("external_id"),
                (integration, kind, external_ids),
            )

    async def _write_links(self, s: Session, links: list[ExternalLink]) -> None:
        """Store links; a link replaces any other link of the same Kiro or external id.

        The upsert goes by external id and, through the table's second unique key, deletes
        the link a batch's Kiro id had to another external id (the external item was
        recreated).
        """
        await s.upsert(t.LINKS, t.LINKS.encode_columns(_one_per_side(links)))

    async def get_links(
        self, integration_id: str, entity: Entity, external_ids: Sequence[str]
    ) -> dict[str, ExternalLink]:
        rows = await self._links_where("external_id", integration_id, entity, external_ids)
        return {link.external_id: link for link in rows}

    async def get_links_by_kiro(
        self, integration_id: str, entity: Entity, kiro_ids: Sequence[str]
    ) -> dict[str, ExternalLink]:
        rows = await self._links_where("kiro_id", integration_id, entity, kiro_ids)
        return {link.kiro_id: link for link in rows}

    async def _links_where(
        self, column: str, integration_id: str, entity: Entity, values: Sequence[str]
    ) -> list[ExternalLink]:
        if not values:
            return []
        where = f"integration_id = %s AND entity = %s AND {self.in_list(column)}"
        rows: list[ExternalLink] = await self.query(
            t.LINKS, where, (integration_id, entity, list(dict.fromkeys(values)))
        )
        return rows

    async def iter_links(
        self, integration_id: str, entity: Entity, batch_size: int = 1000
    ) -> AsyncIterator[list[ExternalLink]]:
        """An integration's links of one entity in batches ordered by external id."""
        after = ""
        while True:
            batch: list[ExternalLink] = await self.query(
                t.LINKS,
                "integration_id = %s AND entity = %s AND external_id > %s",
                (integration_id, entity, after),
                f"ORDER BY external_id LIMIT {batch_size:d}",
            )
            if batch:
                yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1].external_id

    async def get_cursor(self, integration_id: str, stream: str, partition: str) -> str | None:
        found: Cursor | None = await self.query_one(
            t.CURSORS,
            "integration_id = %s AND stream = %s AND partition = %s",
            (integration_id, stream, partition),
        )
        return found.value if found else None

    async def list_cursors(self, integration_id: str) -> list[Cursor]:
        rows: list[Cursor] = await self.query(
            t.CURSORS, "integration_id = %s", (integration_id,), "ORDER BY stream, partition"
        )
        return rows

    async def list_conflicts(
        self, integration_id: str, status: str | None = "open"
    ) -> list[Conflict]:
        where, params = "integration_id = %s", [integration_id]
        if status is not None:
            where += " AND status = %s"
            params.append(status)
        rows: list[Conflict] = await self.query(
            t.CONFLICTS, where, params, "ORDER BY created_at, id"
        )
        return rows

    async def get_conflict(self, conflict_id: str) -> Conflict | None:
        found: Conflict | None = await self.query_one(t.CONFLICTS, "id = %s", (conflict_id,))
        return found

    async def resolve_conflict(self, conflict_id: str, resolution: str, value: Any = None) -> None:
        changes = {"status": "resolved", "resolution": resolution, "resolved_value": value}
        async with self.transaction() as s:
            found = await self.update_row(
                s, t.CONFLICTS, (conflict_id,), changes, {"resolved_at": self.now()}
            )
        if not found:
            raise NotFoundError(f"conflict {conflict_id} does not exist", conflict_id=conflict_id)


def _stamped(row: Any, now: Any) -> Any:
    """Fill missing created/updated times with ``now`` (the columns are NOT NULL)."""
    if row.created_at is not None and row.updated_at is not None:
        return row
    return dataclasses.replace(
        row, created_at=row.created_at or now, updated_at=row.updated_at or row.created_at or now
    )


def _synced(link: ExternalLink, now: Any) -> ExternalLink:
    return link if link.synced_at is not None else dataclasses.replace(link, synced_at=now)


def _created(conflict: Conflict, now: Any) -> Conflict:
    if conflict.created_at is not None:
        return conflict
    return dataclasses.replace(conflict, created_at=now)


def _one_per_side(links: list[ExternalLink]) -> list[ExternalLink]:
    """The last link for each external id, then the last of those for each Kiro id."""
    by_external = {(x.integration_id, x.entity, x.external_id): x for x in links}
    by_kiro = {(x.integration_id, x.entity, x.kiro_id): x for x in by_external.values()}
    return list(by_kiro.values())
