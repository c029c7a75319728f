"""Export of Kiro comments: new comments on linked work items -> ``writes.comment.create``.

Runs after the work items go out (export and bidirectional runs), when the mapping has a
comment stream marked ``export``, its ``option`` (``includeComments``) is on and the provider
declares ``writes.comment.create``. The integration's work item links are walked batch by
batch; for the comments of each linked, live work item of the project:

- no link for this integration: ``writes.comment.create`` with ``item.body`` built from the
  comment stream's outbound fields and ``item.work_item`` = the work item's link
  (``external_id``, ``external_key``, ``external_url``); oldest first;
- a link, and an outbound field (the body) that differs from the snapshot as it would come
  back: ``writes.comment.update`` (``link`` = the comment's link) when the provider declares
  it; otherwise the edit is not sent (comments are append-only) and counted skipped once;
- unchanged, deleted, or on a deleted work item: nothing. A comment whose work item has no
  link yet is not read: it goes out on a later run, once the item is linked.

The link and its snapshot commit right after each write, so a crash never leaves a written
comment unlinked (and written twice next run). The snapshot holds what the provider now
holds: the fields sent (round-tripped) and, for the others (the author the provider gave the
comment), what the write's ``record`` maps to -- so the comment coming back by poll or
webhook hashes to the snapshot and is skipped, not imported again. A write the provider
rejects (a 4xx) fails that comment only; the run ends partial and the comment, still
unlinked, is tried again next run.

Edits are counted once thanks to a watermark (the cursor ``__export__``/``comment``), which
moves to the run's start after a run without failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.errors import RecordError, TemplateError
from engine.http import Connection
from engine.mapping.compiled import CompiledStream, UserRef
from engine.mapping.fields import canonical
from engine.mapping.inbound import map_record
from engine.mapping.outbound import build_item
from engine.store.base import Batch, Comment, Cursor, ExternalLink, User
from engine.sync.context import SyncContext, commit
from engine.sync.entities import read
from engine.sync.models import Counts
from engine.sync.snapshot import canonical_values, predicted_after_create, snapshot_hash
from engine.templating import DEFAULT_FILTERS

EXPORT_STREAM = "__export__"
WATERMARK = "comment"
_MISSING = object()
_EARLIEST = datetime.min.replace(tzinfo=UTC)
Report = Callable[[str | None], Awaitable[None]]


@dataclass(slots=True)
class _Pending:
    """One comment to write: its parent's link, its own link (updates) and what changed."""

    comment: Comment
    parent: ExternalLink
    link: ExternalLink | None
    values: dict[str, Any]
    changed: list[str] | None  # None: a create


@dataclass(slots=True)
class _Recorded:
    """What the write's ``record`` maps to: inbound values, remote time, new users."""

    values: dict[str, Any]
    remote_updated_at: datetime | None
    users: list[User]


class CommentExporter:
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
        self.watermark: datetime | None = None

    def export_stream(self) -> CompiledStream | None:
        """The comment stream to export through, or None when comments do not go out."""
        stream = self.ctx.mapping.export_stream("comment")
        if stream is None or "create" not in self.conn.spec.writes.get("comment", {}):
            return None
        option = stream.spec.option
        if option is not None and option not in self.ctx.enabled_options:
            return None
        return stream

    @property
    def can_update(self) -> bool:
        return "update" in self.conn.spec.writes.get("comment", {})

    async def run(self) -> Counts:
        stream = self.export_stream()
        if stream is None:
            return self.counts
        ctx = self.ctx
        mark = await ctx.store.get_cursor(ctx.integration_id, EXPORT_STREAM, WATERMARK)
        self.watermark = _moment(mark)
        failed = self.counts.failed
        async for parents in ctx.store.iter_links(
            ctx.integration_id, "work_item", ctx.options.batch_size
        ):
            for pending in await self._pending(stream, parents):
                await self._send(stream, pending)
                await self.report(stream.name)
        if self.counts.failed == failed:
            done = Cursor(ctx.integration_id, EXPORT_STREAM, WATERMARK, _iso(self.run_started))
            await commit(ctx.store, Batch(cursors=[done]))
        return self.counts

    # --- what goes out -------------------------------------------------------------------
    async def _pending(self, stream: CompiledStream, parents: list[ExternalLink]) -> list[_Pending]:
        """The comments of these linked work items that need a write, oldest first."""
        ctx = self.ctx
        rows = await ctx.store.get_work_items([link.kiro_id for link in parents])
        live = {
            link.kiro_id: link
            for link in parents
            if (row := rows.get(link.kiro_id)) is not None
            and row.deleted_at is None
            and row.project_id == ctx.project_id
        }
        found: list[_Pending] = []
        async for comments in ctx.store.iter_comments(list(live), ctx.options.batch_size):
            current = [c for c in comments if c.deleted_at is None]
            links = await ctx.store.get_links_by_kiro(
                ctx.integration_id, "comment", [c.id for c in current]
            )
            for comment in current:
                parent = live[comment.work_item_id]
                pending = self._classify(stream, comment, parent, links.get(comment.id))
                if pending is not None:
                    found.append(pending)
        found.sort(key=lambda p: (p.comment.created_at or _EARLIEST, p.comment.id))
        return found

    def _classify(
        self,
        stream: CompiledStream,
        comment: Comment,
        parent: ExternalLink,
        link: ExternalLink | None,
    ) -> _Pending | None:
        values = {f.name: canonical(f.kiro, read(comment, f)) for f in stream.fields.values()}
        if link is None:
            return _Pending(comment, parent, None, values, None)
        changed = self._changed(stream, comment, link, values)
        if not changed:
            return None
        if self.can_update:
            return _Pending(comment, parent, link, values, changed)
        if self._edited_since_watermark(comment):
            self.counts.records += 1
            self.counts.skipped += 1  # append-only: the provider cannot take the edit
        return None

    def _changed(
        self, stream: CompiledStream, comment: Comment, link: ExternalLink, values: dict[str, Any]
    ) -> list[str]:
        waiting = self.ctx.open_conflicts
        return [
            f.name
            for f in stream.field_set("out")
            if f.roundtrip(values[f.name]) != link.snapshot.get(f.name, _MISSING)
            and (comment.id, f.name) not in waiting
        ]

    def _edited_since_watermark(self, comment: Comment) -> bool:
        moment = comment.updated_at or comment.created_at
        return self.watermark is None or moment is None or moment >= self.watermark

    # --- one write -----------------------------------------------------------------------
    async def _send(self, stream: CompiledStream, pending: _Pending) -> None:
        self.counts.records += 1
        try:
            await self._write(stream, pending)
        except (RecordError, TemplateError) as exc:
            self.counts.failed += 1
            self.ctx.errors.add(f"export comment {pending.comment.id}: {exc}")

    async def _write(self, stream: CompiledStream, pending: _Pending) -> None:
        ctx, creating = self.ctx, pending.link is None
        item = await self._item(stream, pending)
        operation = "create" if creating else "update"
        link = _own_link(pending.link)
        result = await self.conn.write("comment", operation, item=item, link=link)
        if creating and not result.id:
            raise RecordError(
                f"{self.conn.name}: the create answered no id (writes.comment.create.id)"
            )
        recorded = await self._recorded(stream, result)
        new_link = self._new_link(stream, pending, result, recorded)
        users = recorded.users if recorded else []
        try:
            await commit(ctx.store, Batch(users=users, links=[new_link]))
        except BaseException:
            ctx.users.forget_new(users)
            raise
        if creating:
            self.counts.created += 1
        else:
            self.counts.updated += 1

    async def _item(self, stream: CompiledStream, pending: _Pending) -> dict[str, Any]:
        """The write's ``item``: the mapped comment, and its work item's link."""
        item = build_item(
            stream,
            kiro_id=pending.comment.id,
            project_id=self.ctx.project_id,
            values=pending.values,
            changed=pending.changed,
            emails=await self._emails(stream, pending.values),
            config=self.ctx.template_config(),
        )
        item["work_item"] = _link_context(pending.parent)
        return item

    async def _emails(self, stream: CompiledStream, values: dict[str, Any]) -> dict[str, str]:
        """Emails of the Kiro users outbound user fields name (none in the bundled maps)."""
        out = stream.field_set("out")
        ids = [values[f.name] for f in out if f.kiro.kind == "user" and values[f.name]]
        if not ids:
            return {}
        users = await self.ctx.store.get_users(ids)
        return {uid: user.email for uid, user in users.items() if user.email}

    async def _recorded(self, stream: CompiledStream, result: Any) -> _Recorded | None:
        """The write's ``record`` mapped as the stream maps what it reads; None when the
        provider declares none or it does not map to the written id."""
        ctx = self.ctx
        if not isinstance(result.record, dict):
            return None
        try:
            mapped = map_record(
                stream, result.record, config=ctx.template_config(), options=ctx.enabled_options
            )
        except RecordError:
            return None
        if result.id and mapped.external_id != str(result.id):
            return None
        fields = stream.field_set("in", ctx.enabled_options)
        refs = [v for v in mapped.values.values() if isinstance(v, UserRef)]
        await ctx.users.resolve(refs)
        values = {
            f.name: ctx.users.id_of(mapped.values.get(f.name))
            if f.kiro.kind == "user"
            else mapped.values.get(f.name)
            for f in fields
        }
        users = ctx.users.take_new(values[f.name] for f in fields if f.kiro.kind == "user")
        return _Recorded(canonical_values(values, fields), mapped.remote_updated_at, users)

    def _new_link(
        self,
        stream: CompiledStream,
        pending: _Pending,
        result: Any,
        recorded: _Recorded | None,
    ) -> ExternalLink:
        previous, changed = pending.link, pending.changed
        snapshot = dict(previous.snapshot) if previous else {}
        for f in stream.fields.values():
            if f.outbound and (changed is None or f.name in changed):
                snapshot[f.name] = f.roundtrip(pending.values[f.name])
            elif recorded is not None and f.name in recorded.values:
                snapshot[f.name] = recorded.values[f.name]
            elif previous is None:
                snapshot[f.name] = predicted_after_create(f)
        remote_at = (
            _moment(result.updated_at)
            or (recorded.remote_updated_at if recorded else None)
            or (previous.remote_updated_at if previous else None)
        )
        return ExternalLink(
            integration_id=self.ctx.integration_id,
            entity="comment",
            kiro_id=pending.comment.id,
            external_id=previous.external_id if previous else str(result.id),
            external_key=result.key or (previous.external_key if previous else None),
            external_url=result.url or (previous.external_url if previous else None),
            remote_updated_at=remote_at,
            snapshot=snapshot,
            snapshot_hash=snapshot_hash(snapshot, stream.field_set("in", self.ctx.enabled_options)),
            synced_at=self.ctx.now(),
        )


def _link_context(link: ExternalLink) -> dict[str, Any]:
    """A link as ``item.work_item`` carries it."""
    return {
        "external_id": link.external_id,
        "external_key": link.external_key,
        "external_url": link.external_url,
    }


def _own_link(link: ExternalLink | None) -> dict[str, Any] | None:
    """The comment's own link as an update's ``link`` sees it (None on create)."""
    return None if link is None else {**_link_context(link), "snapshot": link.snapshot}


def _moment(value: Any) -> datetime | None:
    try:
        moment: datetime | None = DEFAULT_FILTERS["to_datetime"](value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if moment is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["CommentExporter"]
