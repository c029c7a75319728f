"""Import: provider streams -> mapped records -> Kiro, batch by batch, with checkpoints.

For every mapped stream the run reads (work items first, then comments when
includeComments, then streams gated by includeAttachments/includeHistory), partition by
partition:

1. the stored cursor of (integration, stream, partition) -- or the run's startDate -- and the
   window {start, end} go into the read; pages are fetched ahead while batches commit;
2. each record is mapped (a record that cannot be is counted failed, the run goes on), then
   checked against the filters the stream does not push down and the run's window;
3. whole pages gather into batches of at most ``batchSize`` records; each batch commits with
   its cursor advance in one ``apply_batch`` (engine.sync.checkpoint decides the value);
4. batches are pipelined: batch N+1's store reads run, then batch N's commit while batch
   N+1 is decided; N+1 waits for N's commit (and reads again) when N writes an id it read.
   Commits keep their order, so a crash still leaves a prefix of batches with its cursor.

After a failed record the partition's cursor stays where it was, so the record is read again
next run instead of being passed over. Pages named by position that met a record changed
during the run send the cursor back at the partition's end (engine.sync.checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import RecordError
from engine.http import Connection
from engine.mapping.compiled import CompiledStream
from engine.mapping.inbound import MappedRecord, map_record
from engine.reader import Page
from engine.spec.models import StreamSpec
from engine.store.base import Cursor
from engine.sync.applier import RecordApplier, Work
from engine.sync.checkpoint import CursorTracker
from engine.sync.context import SyncContext
from engine.sync.filters import RecordFilter
from engine.sync.models import Counts
from engine.sync.pages import partition_key, partitions_of, read_ahead

Report = Callable[[str | None], Awaitable[None]]
_ENTITY_ORDER = {"work_item": 0, "comment": 1}


def streams_to_read(ctx: SyncContext, conn: Connection) -> list[CompiledStream]:
    """The mapped streams this run reads, work items before what hangs off them."""
    enabled = ctx.enabled_options
    chosen = [
        s
        for s in ctx.mapping.streams.values()
        if s.name in conn.spec.streams and (s.spec.option is None or s.spec.option in enabled)
    ]
    return sorted(chosen, key=lambda s: _ENTITY_ORDER.get(s.entity, 9))


@dataclass(slots=True)
class _MappedPage:
    records: int  # as read (before filters)
    best_cursor: Any  # the greatest cursor value among them
    mapped: list[MappedRecord]  # those kept


# Event loop turns a started commit takes to hand its statements to the store's thread
# (its task, then the store's own task); building the next batch waits for them, or the
# commit would only start once the build is done.
_STEPS_TO_THE_STORE = 3


class _InFlight:
    """A built batch on its way to the store."""

    def __init__(self, stream: str, work: Work) -> None:
        self.stream = stream
        self.work = work
        self.task: asyncio.Task[None] | None = None

    def start(self, applier: RecordApplier) -> None:
        if self.task is None:
            self.task = asyncio.ensure_future(applier.commit(self.work))

    async def finish(self, applier: RecordApplier) -> Counts:
        self.start(applier)
        assert self.task is not None
        await self.task
        return self.work.counts


@dataclass
class _Partition:
    stream: CompiledStream
    spec: StreamSpec
    partition: Any
    tracker: CursorTracker
    keep: RecordFilter
    pending: list[MappedRecord] = field(default_factory=list)
    failed: bool = False


class Importer:
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
        self.applier = RecordApplier(ctx)
        self._in_flight: _InFlight | None = None

    async def run(self) -> Counts:
        for stream in streams_to_read(self.ctx, self.conn):
            await self.import_stream(stream)
        return self.counts

    async def import_stream(self, stream: CompiledStream) -> None:
        spec = self.conn.spec.streams[stream.name]
        options = self.ctx.options
        keep = RecordFilter(
            stream,
            self.ctx.config.filters,
            spec.pushed_filters,
            (options.start_date, options.end_date),
        )
        for partition in await partitions_of(self.conn, stream.name, spec):
            stored = await self.ctx.store.get_cursor(
                self.ctx.integration_id, stream.name, partition_key(partition)
            )
            paginator = self.conn.registry.get("pagination", spec.pagination.type)
            tracker = CursorTracker(
                spec.cursor,
                stored,
                self.run_started,
                options.end_date,
                position_based=getattr(paginator, "position_based", False),
            )
            await self._read(_Partition(stream, spec, partition, tracker, keep))

    async def _read(self, part: _Partition) -> None:
        options = self.ctx.options
        start = options.start_date
        cursor = _iso(start) if start is not None else part.tracker.stored
        window = {"start": _iso(start), "end": _iso(options.end_date)}
        pages = self.conn.read(
            part.stream.name, cursor=cursor, window=window, partition=part.partition
        )
        # pages are read and mapped ahead (a batch's worth) while the previous batch commits
        depth = max(2, min(50, -(-options.batch_size // part.spec.page_size) + 1))
        try:
            mapped_pages = self._mapped_pages(part, pages)
            async for page in read_ahead(mapped_pages, depth, self._start_in_flight):
                mapped = page.mapped
                if part.pending and len(part.pending) + len(mapped) > options.batch_size:
                    await self._flush(part, final=False)
                part.tracker.observe_best(page.best_cursor)
                part.pending.extend(mapped)
                self.counts.pages += 1
                self.counts.records += page.records
            await self._flush(part, final=True)
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                await self._settle()
            raise
        await self._settle()

    async def _mapped_pages(
        self, part: _Partition, pages: AsyncIterator[Page]
    ) -> AsyncIterator[_MappedPage]:
        """Pages mapped as they arrive; the provider's records are let go right after (the
        mapped values and the page's greatest cursor are all the import keeps)."""
        async with aclosing(pages):  # type: ignore[type-var]
            async for page in pages:
                mapped = self._map(part, page)
                best = part.tracker.best_of(page.records)
                yield _MappedPage(len(page.records), best, mapped)

    def _map(self, part: _Partition, page: Page) -> list[MappedRecord]:
        config = self.ctx.template_config()
        enabled = self.ctx.enabled_options
        kept: list[MappedRecord] = []
        for record in page.records:
            try:
                mapped = map_record(
                    part.stream,
                    record,
                    config=config,
                    options=enabled,
                    parent=page.parent,
                    partition=page.partition,
                )
            except RecordError as exc:
                self.counts.failed += 1
                part.failed = True
                self.ctx.errors.add(str(exc))
                continue
            keep = part.keep.keep(mapped)
            mapped.context = {}  # the filters were its last reader: the record can go
            if keep:
                kept.append(mapped)
            else:
                self.counts.skipped += 1
                self.counts.filtered += 1
        return kept

    async def _flush(self, part: _Partition, final: bool) -> None:
        """Build the pending records into a batch; it commits while the next one is built.

        The next batch's store reads happen before this one's commit starts (one DuckDB
        thread, first come first served) unless pages are slow to come; when this batch
        writes what they read (the same external or Kiro ids), the commit is awaited and
        they are read again."""
        cursors = self._checkpoint(part, final)
        records, part.pending = part.pending, []
        if not records and not cursors:
            return
        prepared = await self.applier.prepare(part.stream, records, cursors)
        previous = self._in_flight
        if previous is not None and self.applier.touches(prepared, previous.work):
            await self._settle()
            prepared = await self.applier.prepare(part.stream, records, cursors)
        elif previous is not None:
            previous.start(self.applier)
            for _ in range(_STEPS_TO_THE_STORE):  # let that commit reach the store's thread
                await asyncio.sleep(0)
        work = self.applier.build(prepared)
        if work.counts.failed:
            part.failed = True  # later batches keep the cursor where it was
        await self._settle()
        self._in_flight = _InFlight(part.stream.name, work)

    def _start_in_flight(self) -> None:
        """Pages are slow to come: the batch in flight commits now rather than wait for the
        next batch's reads (the store would sit idle meanwhile)."""
        if self._in_flight is not None:
            self._in_flight.start(self.applier)

    async def _settle(self) -> None:
        """Commit the batch in flight (if its commit has not started, start it) and count."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        done = await in_flight.finish(self.applier)
        done.pages = done.records = 0
        self.counts.add(done)
        await self.report(in_flight.stream)

    def _checkpoint(self, part: _Partition, final: bool) -> list[Cursor]:
        if part.failed:  # the cursor stays; a rewind (back, never forward) still applies
            value = part.tracker.rewind() if final else None
        else:
            value = part.tracker.checkpoint(final)
        if value is None:
            return []
        key = partition_key(part.partition)
        return [Cursor(self.ctx.integration_id, part.stream.name, key, value)]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["Importer", "streams_to_read"]
