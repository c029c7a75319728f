"""Mapped records -> Kiro rows, links and conflicts, committed as one batch.

Polls and webhooks both end here, so they converge. For each record, by its external id:

- a provider delete: the linked Kiro row is soft-deleted (``deleted_at``) and unlinked;
- older than what the link already holds (``remote_updated_at``): skipped, so a poll never
  overwrites a newer change a webhook already applied;
- mapped values hashing to the link's snapshot hash: skipped (unchanged, or our own echo);
- no link (or its Kiro row is gone): a new Kiro row, a link and a snapshot;
- otherwise a three-way merge (engine.sync.merge) decides field by field; conflicts left to
  a person become sync_conflicts rows.

Everything of one call, and the cursor advances handed in, go through one ``apply_batch``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from engine.errors import RecordError
from engine.mapping.compiled import CompiledField, CompiledStream, UserRef
from engine.mapping.fields import canonical, canonicalizer
from engine.mapping.inbound import MappedRecord
from engine.store.base import Batch, Conflict, Cursor, ExternalLink
from engine.sync.context import SyncContext, commit
from engine.sync.entities import ENTITY_KINDS, EntityKind, assign, kiro_id_for, read
from engine.sync.merge import NO_BASE, FieldState, MergeOutcome, merge_fields
from engine.sync.models import Counts
from engine.sync.snapshot import snapshot_hash, values_hash


@dataclasses.dataclass(slots=True)
class Prepared:
    """A batch whose store reads are done (``RecordApplier.prepare``)."""

    stream: CompiledStream
    latest: dict[str, MappedRecord]  # one record per external id
    count: int  # records handed in
    cursors: list[Cursor]
    links: dict[str, ExternalLink]
    rows: dict[str, Any]
    parents: dict[str, str]


@dataclasses.dataclass(slots=True)
class Work:
    """The rows of one batch being assembled (``RecordApplier.build``), and its counts."""

    batch: Batch
    counts: Counts
    now: datetime
    links: dict[str, ExternalLink]
    rows: dict[str, Any]
    parents: dict[str, str]


@dataclasses.dataclass(slots=True)
class _Plan:
    """What ``_one`` needs about a stream's inbound fields, worked out once per run."""

    stream: CompiledStream
    fields: list[CompiledField]  # the inbound fields of the run's options
    users: list[str]  # of those, the user fields (their refs become Kiro user ids)
    canonical: list[tuple[str, Callable[[Any], Any] | None]]  # None: the value as it is
    outbound_only: list[CompiledField]
    plain: list[str]  # fields set as row attributes (the rest through ``assign``)

    @classmethod
    def of(cls, stream: CompiledStream, options: frozenset[str]) -> _Plan:
        fields = stream.field_set("in", options)
        return cls(
            stream=stream,
            fields=fields,
            users=[f.name for f in fields if f.kiro.kind == "user"],
            canonical=[(f.name, canonicalizer(f.kiro)) for f in fields],
            outbound_only=[f for f in stream.fields.values() if not f.inbound],
            plain=[f.name for f in fields if f.kiro.custom_key is None],
        )


class RecordApplier:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self._plans: dict[tuple[str, frozenset[str]], _Plan] = {}

    def _plan(self, stream: CompiledStream) -> _Plan:
        key = (stream.name, self.ctx.enabled_options)
        plan = self._plans.get(key)
        if plan is None or plan.stream is not stream:
            plan = self._plans[key] = _Plan.of(stream, key[1])
        return plan

    async def apply(
        self,
        stream: CompiledStream,
        records: Sequence[MappedRecord],
        cursors: Iterable[Cursor] = (),
    ) -> Counts:
        """Apply ``records`` and commit them with ``cursors``; the counts of what happened."""
        work = self.build(await self.prepare(stream, records, cursors))
        await self.commit(work)
        return work.counts

    async def prepare(
        self,
        stream: CompiledStream,
        records: Sequence[MappedRecord],
        cursors: Iterable[Cursor] = (),
    ) -> Prepared:
        """Everything ``build`` needs from the store: links, linked rows, parents, users."""
        ctx, kind = self.ctx, ENTITY_KINDS[stream.entity]
        latest = _latest_per_id(records)
        links = await ctx.store.get_links(ctx.integration_id, kind.entity, list(latest))  # type: ignore[arg-type]
        rows = await kind.load(ctx.store, [link.kiro_id for link in links.values()])
        parents = await self._parents(stream, latest.values())
        await ctx.users.resolve(_user_refs(latest.values(), self._plan(stream).users))
        return Prepared(stream, latest, len(records), list(cursors), links, rows, parents)

    def build(self, prepared: Prepared) -> Work:
        """Decide every record of a prepared batch (no store access): the rows to write."""
        ctx, stream = self.ctx, prepared.stream
        kind = ENTITY_KINDS[stream.entity]
        batch = Batch(cursors=prepared.cursors)
        work = Work(batch, Counts(), ctx.now(), prepared.links, prepared.rows, prepared.parents)
        for mapped in prepared.latest.values():
            try:
                self._one(stream, kind, mapped, work)
            except RecordError as exc:
                work.counts.failed += 1
                ctx.errors.add(str(exc))
        work.counts.skipped += prepared.count - len(prepared.latest)  # one record twice
        return work

    @staticmethod
    def touches(prepared: Prepared, work: Work) -> bool:
        """Whether a batch still being committed writes what ``prepared`` read: a link of
        one of its external ids, or a row or link of a Kiro id it found linked. If not, the
        prepared batch can be built while the other one commits (its reads stay true)."""
        batch = work.batch
        external = {link.external_id for link in batch.links}
        external.update(external_id for _, _, external_id in batch.unlink)
        if not external.isdisjoint(prepared.latest):
            return True
        kiro = {link.kiro_id for link in batch.links}
        kiro.update(row.id for row in batch.work_items)
        kiro.update(row.id for row in batch.comments)
        return not kiro.isdisjoint(link.kiro_id for link in prepared.links.values())

    async def commit(self, work: Work) -> None:
        """Write a built batch (with the new users it refers to) in one transaction."""
        await self._commit(work)

    async def _commit(self, work: Work) -> None:
        batch = work.batch
        written = [*batch.work_items, *batch.comments]
        users = self.ctx.users.take_new(_user_ids(written))
        batch.users = users
        await self.ctx.ensure_statuses(getattr(row, "status", None) for row in batch.work_items)
        try:
            await commit(self.ctx.store, batch)
        except BaseException:
            self.ctx.users.forget_new(users)
            raise
        for conflict in batch.conflicts:
            key = (conflict.kiro_id, conflict.field)
            if conflict.status == "open":
                self.ctx.open_conflicts[key] = conflict
            else:
                self.ctx.open_conflicts.pop(key, None)

    async def _parents(
        self, stream: CompiledStream, records: Iterable[MappedRecord]
    ) -> dict[str, str]:
        """Comments: the external id of their work item -> its Kiro id."""
        wanted = [m.work_item_external_id for m in records if m.work_item_external_id]
        if stream.entity != "comment" or not wanted:
            return {}
        found = await self.ctx.store.get_links(self.ctx.integration_id, "work_item", wanted)
        return {external: link.kiro_id for external, link in found.items()}

    # --- one record ---------------------------------------------------------------------------
    def _one(
        self, stream: CompiledStream, kind: EntityKind, mapped: MappedRecord, work: Work
    ) -> None:
        link = work.links.get(mapped.external_id)
        if mapped.deleted:
            self._delete(kind, mapped, link, work)
            return
        if link is not None and _older(mapped.remote_updated_at, link.remote_updated_at):
            work.counts.skipped += 1
            return
        plan = self._plan(stream)
        values = self._resolved(mapped, plan)
        remote = {
            name: value if canon is None else canon(value)
            for (name, canon), value in zip(plan.canonical, values.values(), strict=True)
        }
        remote_hash = values_hash(remote)  # remote holds exactly the plan's fields
        if link is not None and link.snapshot_hash == remote_hash:
            work.counts.skipped += 1
            return
        row = work.rows.get(link.kiro_id) if link is not None else None
        if link is None or row is None:
            self._create(stream, kind, mapped, link, values, (remote, remote_hash), work)
        elif getattr(row, "deleted_at", None) is not None:
            work.counts.skipped += 1  # deleted in Kiro: Kiro's decision stands
        else:
            self._update(stream, kind, mapped, link, row, values, remote, work)

    def _resolved(self, mapped: MappedRecord, plan: _Plan) -> dict[str, Any]:
        """The record's values of the plan's fields (in its order), users as Kiro ids."""
        found = mapped.values
        values = {f.name: found.get(f.name) for f in plan.fields}
        for name in plan.users:
            values[name] = self.ctx.users.id_of(values[name])
        return values

    def _create(
        self,
        stream: CompiledStream,
        kind: EntityKind,
        mapped: MappedRecord,
        link: ExternalLink | None,
        values: dict[str, Any],
        remote: tuple[dict[str, Any], str],
        work: Work,
    ) -> None:
        """A new Kiro row and its link; ``remote`` is the snapshot of the record's values
        and its hash (outbound-only fields are not hashed, so it is the new link's)."""
        parent = self._parent_of(stream, mapped, work)
        if stream.entity == "comment" and parent is None:
            work.counts.skipped += 1  # its work item is not synced (filtered, or a PR)
            work.counts.filtered += 1
            return
        kiro_id = (
            link.kiro_id
            if link
            else kiro_id_for(self.ctx.integration_id, kind.entity, mapped.external_id)
        )
        row = kind.new(kiro_id, self.ctx.project_id, parent, work.now)
        plan = self._plan(stream)
        for name in plan.plain:
            setattr(row, name, values[name])
        if len(plan.plain) != len(values):
            assign(row, stream.fields, {k: v for k, v in values.items() if k not in plan.plain})
        if mapped.created_at is not None:
            row.created_at = mapped.created_at
        kind.add(work.batch, row)
        snapshot, snapshot_hash = remote
        if plan.outbound_only:
            snapshot = {**snapshot, **_outbound_only(plan.outbound_only, row)}
        work.batch.links.append(
            self._link(stream, mapped, kiro_id, snapshot, None, work.now, snapshot_hash)
        )
        work.counts.created += 1

    def _update(
        self,
        stream: CompiledStream,
        kind: EntityKind,
        mapped: MappedRecord,
        link: ExternalLink,
        row: Any,
        values: dict[str, Any],
        remote: dict[str, Any],
        work: Work,
    ) -> None:
        fields = stream.field_set("in", self.ctx.enabled_options)
        states = [_state(f, link, row, remote) for f in fields]
        outcome = merge_fields(states, self.ctx.policy, row.updated_at, mapped.remote_updated_at)
        if outcome.take:
            row = kind.copy(row)
            assign(row, stream.fields, {name: values[name] for name in outcome.take})
            kind.touch(row, work.now)
            kind.add(work.batch, row)
            work.counts.updated += 1
        else:
            work.counts.skipped += 1
        self._conflicts(kind, mapped, row, outcome, work)
        snapshot = {**link.snapshot, **outcome.snapshot}
        work.batch.links.append(self._link(stream, mapped, link.kiro_id, snapshot, link, work.now))

    def _delete(
        self, kind: EntityKind, mapped: MappedRecord, link: ExternalLink | None, work: Work
    ) -> None:
        if link is None:
            work.counts.skipped += 1
            return
        row = work.rows.get(link.kiro_id)
        if row is not None and getattr(row, "deleted_at", None) is None:
            row = kind.copy(row)
            row.deleted_at = work.now
            kind.touch(row, work.now)
            kind.add(work.batch, row)
        work.batch.unlink.append((self.ctx.integration_id, kind.entity, mapped.external_id))  # type: ignore[arg-type]
        work.counts.deleted += 1

    def _conflicts(
        self, kind: EntityKind, mapped: MappedRecord, row: Any, outcome: MergeOutcome, work: Work
    ) -> None:
        manual = {facts.field: facts for facts in outcome.manual}
        for name in outcome.snapshot:
            key = (row.id, name)
            known = self.ctx.open_conflicts.get(key)
            facts = manual.get(name)
            if facts is None:
                if known is not None:  # the sides agree again
                    work.batch.conflicts.append(_settled(known, work.now))
                continue
            if known and (known.kiro_value, known.external_value) == (facts.local, facts.remote):
                continue
            work.batch.conflicts.append(
                Conflict(
                    id=known.id if known else _conflict_id(),
                    integration_id=self.ctx.integration_id,
                    entity=kind.entity,  # type: ignore[arg-type]
                    kiro_id=row.id,
                    external_id=mapped.external_id,
                    field=name,
                    kiro_value=facts.local,
                    external_value=facts.remote,
                    base_value=facts.base,
                    created_at=work.now,
                )
            )
            work.counts.conflicts += 1

    def _parent_of(self, stream: CompiledStream, mapped: MappedRecord, work: Work) -> str | None:
        if stream.entity != "comment" or not mapped.work_item_external_id:
            return None
        return work.parents.get(mapped.work_item_external_id)

    def _link(
        self,
        stream: CompiledStream,
        mapped: MappedRecord,
        kiro_id: str,
        snapshot: dict[str, Any],
        previous: ExternalLink | None,
        now: datetime,
        known_hash: str | None = None,
    ) -> ExternalLink:
        """The link after this sync; ``known_hash`` is ``snapshot``'s when already known."""
        if known_hash is None:
            known_hash = snapshot_hash(snapshot, self._plan(stream).fields)
        remote_at = mapped.remote_updated_at
        if previous is not None and _older(remote_at, previous.remote_updated_at):
            remote_at = previous.remote_updated_at
        return ExternalLink(
            integration_id=self.ctx.integration_id,
            entity=stream.entity,  # type: ignore[arg-type]
            kiro_id=kiro_id,
            external_id=mapped.external_id,
            external_key=mapped.key or (previous.external_key if previous else None),
            external_url=mapped.url or (previous.external_url if previous else None),
            remote_updated_at=remote_at,
            snapshot=snapshot,
            snapshot_hash=known_hash,
            synced_at=now,
        )


def _state(
    item_field: CompiledField, link: ExternalLink, row: Any, remote: dict[str, Any]
) -> FieldState:
    local = canonical(item_field.kiro, read(row, item_field))
    if item_field.outbound:
        local = item_field.roundtrip(local)
    return FieldState(
        name=item_field.name,
        base=link.snapshot.get(item_field.name, NO_BASE),
        local=local,
        remote=remote[item_field.name],
        inbound_only=not item_field.outbound,
    )


def _outbound_only(fields: Iterable[CompiledField], row: Any) -> dict[str, Any]:
    """Snapshot values of fields that only go out: what Kiro holds (nothing was sent)."""
    return {f.name: f.roundtrip(canonical(f.kiro, read(row, f))) for f in fields}


def _latest_per_id(records: Sequence[MappedRecord]) -> dict[str, MappedRecord]:
    """One record per external id: the most recently updated (the last one on ties)."""
    latest: dict[str, MappedRecord] = {}
    for mapped in records:
        known = latest.get(mapped.external_id)
        if known is None or not _older(mapped.remote_updated_at, known.remote_updated_at):
            latest[mapped.external_id] = mapped
    return latest


def _older(moment: datetime | None, than: datetime | None) -> bool:
    return moment is not None and than is not None and moment < than


def _user_refs(records: Iterable[MappedRecord], names: list[str]) -> list[UserRef]:
    """The users the records refer to in the fields ``names`` (those resolved to ids)."""
    found = (m.values.get(name) for m in records for name in names)
    return [v for v in found if isinstance(v, UserRef)]


def _user_ids(rows: Iterable[Any]) -> list[str]:
    ids = []
    for row in rows:
        for name in ("assignee_id", "author_id"):
            value = getattr(row, name, None)
            if value:
                ids.append(value)
    return ids


def _conflict_id() -> str:
    return str(uuid.uuid4())


def _settled(conflict: Conflict, now: datetime) -> Conflict:
    return dataclasses.replace(conflict, status="resolved", resolution="converged", resolved_at=now)


__all__ = ["Prepared", "RecordApplier", "Work"]
