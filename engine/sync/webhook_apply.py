"""Apply what verified webhook deliveries carry, through the same path as a poll.

Each event names a stream, an action and the records it carries (the provider YAML's
``webhooks.events`` decide; engine.webhooks builds them):

- ``upsert``: the records are mapped and applied like polled ones (filters included), so a
  webhook and a poll of the same change converge, an echo of our own write is recognised by
  its snapshot hash, and a later poll of an older version is skipped (remote updated times);
- ``delete``: the linked Kiro rows are soft-deleted and unlinked (only the external id is
  needed: a partial record is enough);
- ``refetch``: the delivery is only a signal; the stream is read incrementally from its
  stored cursor, as a run would.

Events of streams the mapping does not cover are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from engine.catalog import ProviderCatalog
from engine.errors import RecordError, TemplateError
from engine.http import Connection
from engine.mapping.compiled import CompiledStream
from engine.mapping.inbound import MappedRecord, map_record, record_context
from engine.registry import Registry
from engine.sync.applier import RecordApplier
from engine.sync.context import SyncContext
from engine.sync.filters import RecordFilter
from engine.sync.importer import Importer
from engine.sync.models import Counts


class WebhookEventLike(Protocol):
    """What engine.webhooks hands over per routed event."""

    @property
    def stream(self) -> str | None: ...

    @property
    def action(self) -> str: ...

    @property
    def records(self) -> Sequence[Any]: ...


class WebhookApplier:
    def __init__(
        self, ctx: SyncContext, catalog: ProviderCatalog, registry: Registry | None = None
    ) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.registry = registry
        self.applier = RecordApplier(ctx)
        self.counts = Counts()

    async def apply(
        self, credentials: dict[str, Any], events: Sequence[WebhookEventLike]
    ) -> Counts:
        await self.ctx.load_conflicts()
        for event in events:
            stream = self.ctx.mapping.stream(event.stream) if event.stream else None
            if stream is None or event.action not in ("upsert", "delete", "refetch"):
                continue
            if event.action == "refetch":
                await self._refetch(stream, credentials)
            else:
                await self._records(stream, list(event.records), event.action == "delete")
        return self.counts

    async def _records(self, stream: CompiledStream, records: list[Any], delete: bool) -> None:
        mapped: list[MappedRecord] = []
        keep = self._filter(stream)
        for record in records:
            self.counts.records += 1
            try:
                item = self._deleted(stream, record) if delete else self._map(stream, record)
            except RecordError as exc:
                self.counts.failed += 1
                self.ctx.errors.add(str(exc))
                continue
            if delete or keep.keep(item):
                mapped.append(item)
            else:
                self.counts.skipped += 1
                self.counts.filtered += 1
        if mapped:
            self.counts.add(await self.applier.apply(stream, mapped))

    def _map(self, stream: CompiledStream, record: Any) -> MappedRecord:
        options = self.ctx.enabled_options
        return map_record(stream, record, config=self.ctx.template_config(), options=options)

    def _deleted(self, stream: CompiledStream, record: Any) -> MappedRecord:
        context = record_context(stream, record, self.ctx.template_config())
        try:
            external_id = stream.id.get(record, context)
        except TemplateError as exc:
            raise RecordError(f"{stream.name}: a deleted record has no id: {exc}") from None
        if external_id in (None, ""):
            raise RecordError(f"{stream.name}: a deleted record has no id ({stream.id.text})")
        return MappedRecord(stream.name, stream.entity, str(external_id), {}, deleted=True)

    def _filter(self, stream: CompiledStream) -> RecordFilter:
        """Deliveries come per subscribed project already; the rest is checked here."""
        pushed = [] if "project" in stream.filters else ["projects"]
        return RecordFilter(stream, self.ctx.config.filters, pushed)

    async def _refetch(self, stream: CompiledStream, credentials: dict[str, Any]) -> None:
        provider = self.catalog.get(self.ctx.integration.type)
        async with Connection(
            provider, credentials, self.ctx.template_config(), registry=self.registry
        ) as conn:
            importer = Importer(self.ctx, conn, self.counts, self.ctx.now(), _quiet)
            await importer.import_stream(stream)


async def _quiet(stream: str | None) -> None:
    return None


__all__ = ["WebhookApplier", "WebhookEventLike"]
