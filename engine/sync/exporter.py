"""Export: Kiro work items changed since their last-synced snapshot -> provider writes.

The items scanned are the project's work items updated since the last complete export (a
watermark kept as the cursor of the pseudo-stream ``__export__``; the first export scans
them all). For each:

- no link: ``writes.work_item.create`` with every outbound field, then a link whose
  snapshot is what the provider will now hold (value maps round-tripped);
- a link: the outbound fields whose round-tripped Kiro value differs from the snapshot,
  less fields waiting in an open conflict, go out through ``writes.work_item.update``
  (``item.changed`` names them); nothing changed: skipped;
- the new link and snapshot commit right after each write, so a crash never leaves a
  written item unlinked behind (and re-created next run).

A write the provider rejects (a 4xx) fails that item only; the run ends partial and the
watermark stays, so the item is tried again next run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from engine.errors import ConfigError, RecordError, TemplateError
from engine.http import Connection
from engine.mapping.compiled import CompiledStream
from engine.mapping.fields import canonical
from engine.mapping.outbound import build_item
from engine.store.base import Batch, Cursor, ExternalLink, WorkItem, WorkItemFilter
from engine.sync.context import SyncContext, commit
from engine.sync.entities import read
from engine.sync.models import Counts
from engine.sync.snapshot import predicted_after_create, snapshot_hash
from engine.templating import DEFAULT_FILTERS

EXPORT_STREAM = "__export__"
_MISSING = object()
Report = Callable[[str | None], Awaitable[None]]


class Exporter:
    def __init__(
        self,
        ctx: SyncContext,
        conn: Connection,
        counts: Counts,
        run_started: datetime,
        report: Report,
    ) -> None:
        self.ctx = ctx
        self.conn = conn
        self.counts = counts
        self.run_started = run_started
        self.report = report

    def export_stream(self) -> CompiledStream:
        stream = self.ctx.mapping.export_stream("work_item")
        if stream is None:
            raise ConfigError(
                f"the {self.ctx.mapping.provider} mapping has no work item stream to export "
                "through: set syncDirection to import"
            )
        if "work_item" not in self.conn.spec.writes:
            raise ConfigError(
                f"{self.conn.name} declares no work item writes: it can only import; set "
                "syncDirection to import"
            )
        return stream

    async def run(self) -> Counts:
        stream = self.export_stream()
        ctx = self.ctx
        watermark = await ctx.store.get_cursor(ctx.integration_id, EXPORT_STREAM, "work_item")
        query = WorkItemFilter(project_id=ctx.project_id, updated_from=_moment(watermark))
        failed = self.counts.failed
        async for items in ctx.store.iter_work_items(query, ctx.options.batch_size):
            await self._batch(stream, items)
            await self.report(EXPORT_STREAM)
        if self.counts.failed == failed:
            mark = Cursor(ctx.integration_id, EXPORT_STREAM, "work_item", _iso(self.run_started))
            await commit(ctx.store, Batch(cursors=[mark]))
        return self.counts

    async def _batch(self, stream: CompiledStream, items: list[WorkItem]) -> None:
        ctx = self.ctx
        ids = [item.id for item in items]
        links = await ctx.store.get_links_by_kiro(ctx.integration_id, "work_item", ids)
        assignees = [item.assignee_id for item in items if item.assignee_id]
        users = await ctx.store.get_users(assignees) if assignees else {}
        emails = {uid: u.email for uid, u in users.items() if u.email}
        for item in items:
            self.counts.records += 1
            try:
                await self._one(stream, item, links.get(item.id), emails)
            except (RecordError, TemplateError) as exc:
                self.counts.failed += 1
                ctx.errors.add(f"export {item.id}: {exc}")

    async def _one(
        self,
        stream: CompiledStream,
        item: WorkItem,
        link: ExternalLink | None,
        emails: dict[str, str],
    ) -> None:
        values = {f.name: canonical(f.kiro, read(item, f)) for f in stream.fields.values()}
        changed = None if link is None else self._changed(stream, item, link, values)
        if changed == []:
            self.counts.skipped += 1
            return
        context = build_item(
            stream,
            kiro_id=item.id,
            project_id=item.project_id,
            values=values,
            changed=changed,
            emails=emails,
            config=self.ctx.template_config(),
        )
        operation = "create" if link is None else "update"
        result = await self.conn.write(
            "work_item", operation, item=context, link=_link_context(link)
        )
        if link is None and not result.id:
            raise RecordError(
                f"{self.conn.name}: the create answered no id (writes.work_item.create.id)"
            )
        new_link = self._new_link(stream, item, link, values, changed, result)
        await commit(self.ctx.store, Batch(links=[new_link]))
        if link is None:
            self.counts.created += 1
        else:
            self.counts.updated += 1

    def _changed(
        self, stream: CompiledStream, item: WorkItem, link: ExternalLink, values: dict[str, Any]
    ) -> list[str]:
        waiting = self.ctx.open_conflicts
        return [
            f.name
            for f in stream.field_set("out")
            if f.roundtrip(values[f.name]) != link.snapshot.get(f.name, _MISSING)
            and (item.id, f.name) not in waiting
        ]

    def _new_link(
        self,
        stream: CompiledStream,
        item: WorkItem,
        link: ExternalLink | None,
        values: dict[str, Any],
        changed: list[str] | None,
        result: Any,
    ) -> ExternalLink:
        snapshot = dict(link.snapshot) if link else {}
        for f in stream.fields.values():
            if f.outbound and (changed is None or f.name in changed):
                snapshot[f.name] = f.roundtrip(values[f.name])
            elif link is None:
                snapshot[f.name] = predicted_after_create(f)
        remote_at = _moment(result.updated_at) or (link.remote_updated_at if link else None)
        inbound = stream.field_set("in", self.ctx.enabled_options)
        return ExternalLink(
            integration_id=self.ctx.integration_id,
            entity="work_item",
            kiro_id=item.id,
            external_id=link.external_id if link else str(result.id),
            external_key=result.key or (link.external_key if link else None),
            external_url=result.url or (link.external_url if link else None),
            remote_updated_at=remote_at,
            snapshot=snapshot,
            snapshot_hash=snapshot_hash(snapshot, inbound),
            synced_at=self.ctx.now(),
        )


def _link_context(link: ExternalLink | None) -> dict[str, Any] | None:
    if link is None:
        return None
    return {
        "external_id": link.external_id,
        "external_key": link.external_key,
        "external_url": link.external_url,
        "snapshot": link.snapshot,
    }


def _moment(value: Any) -> datetime | None:
    try:
        moment: datetime | None = DEFAULT_FILTERS["to_datetime"](value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if moment is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["EXPORT_STREAM", "Exporter"]
