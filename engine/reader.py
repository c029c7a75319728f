"""Streams: from a StreamSpec to pages of records, one page at a time.

``StreamReader(conn).read(stream, cursor=..., window=..., partition=..., limit=...)`` (also
``conn.read(...)``) yields ``Page`` objects. Memory does not grow with the number of pages:
each page is requested only when the consumer asks for the next one (with ``concurrency``
above 1, a bounded queue holds at most that many pages ahead).

What one read does:

- **units of work**: one per partition (``partitions.values`` rendered to a list, else the
  records of ``partitions.stream`` through ``partitions.value``) or per parent record
  (``parent.stream``; the child sees it as ``parent`` and inherits its partition), or a single
  unit. Up to ``concurrency`` units run at once.
- **a unit** renders the request (``partition``, ``parent``, ``cursor``, ``window``, ``page``
  = {size}, ``now``, ``credentials``, ``config``), then loops: send, take ``records_path``,
  let the paginator decide, keep records passing ``record_filter``, yield a Page.
- **cursor**: the stored cursor minus ``overlap_seconds``, formatted with ``format``
  (strftime, UTC) before templates see it; ``max_cursor`` finds the greatest cursor value
  of a page for the sync engine's checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, KiroSyncError, PaginationLoopError
from engine.jsonpath import compile_path
from engine.pagination import Paginator
from engine.provider import truthy
from engine.spec.models import CursorSpec, StreamSpec
from engine.templating import DEFAULT_FILTERS

if TYPE_CHECKING:
    from engine.http import Connection
    from engine.wire import OutgoingRequest

_MAX_PARENT_DEPTH = 8


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Page:
    """One page of a stream's records (already filtered)."""

    stream: str
    partition: Any
    records: list[Any]
    page_number: int
    parent: Any = None


@dataclass(frozen=True, slots=True)
class _Unit:
    partition: Any
    parent: Any


class _Finished:
    """The end of a concurrent read, with the error that ended it, if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class StreamReader:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection
        self.provider = connection.provider

    async def read(
        self,
        stream: str,
        *,
        cursor: Any = None,
        window: Mapping[str, Any] | None = None,
        partition: Any = None,
        limit: int | None = None,
    ) -> AsyncIterator[Page]:
        """Pages of ``stream``; ``limit`` caps the number of records yielded."""
        left = limit
        if left is not None and left <= 0:
            return
        pages = self._read(stream, cursor, window, partition, ())
        async with aclosing(pages):
            async for page in pages:
                if left is not None and len(page.records) >= left:
                    yield _trimmed(page, left)
                    return
                if left is not None:
                    left -= len(page.records)
                yield page

    def stream_spec(self, name: str) -> StreamSpec:
        spec = self.conn.spec.streams.get(name)
        if spec is None:
            known = ", ".join(sorted(self.conn.spec.streams))
            raise ConfigError(f"{self.conn.name} has no stream {name!r}; streams: {known}")
        return spec

    async def _read(
        self,
        name: str,
        cursor: Any,
        window: Mapping[str, Any] | None,
        partition: Any,
        chain: tuple[str, ...],
    ) -> AsyncGenerator[Page, None]:
        if name in chain or len(chain) >= _MAX_PARENT_DEPTH:
            raise ConfigError(
                f"{self.conn.name}: streams form a loop: {' -> '.join((*chain, name))}"
            )
        spec = self.stream_spec(name)
        base = self.conn.context(
            cursor=render_cursor(spec.cursor, cursor), window=window, page={"size": spec.page_size}
        )
        units = self._units(name, spec, cursor, window, partition, (*chain, name))
        if spec.concurrency > 1:
            pages = self._concurrent(name, spec, base, units)
        else:
            pages = self._sequential(name, spec, base, units)
        async with aclosing(pages):
            async for page in pages:
                yield page

    # --- units of work --------------------------------------------------------------------
    async def _units(
        self,
        name: str,
        spec: StreamSpec,
        cursor: Any,
        window: Mapping[str, Any] | None,
        partition: Any,
        chain: tuple[str, ...],
    ) -> AsyncGenerator[_Unit, None]:
        if spec.parent is not None:
            async for unit in self._parent_units(name, spec, cursor, window, partition, chain):
                yield unit
        elif partition is not None:
            yield _Unit(partition, None)
        elif spec.partitions is not None:
            async for value in self._partition_values(name, spec, chain):
                yield _Unit(value, None)
        else:
            yield _Unit(None, None)

    async def _parent_units(
        self,
        name: str,
        spec: StreamSpec,
        cursor: Any,
        window: Mapping[str, Any] | None,
        partition: Any,
        chain: tuple[str, ...],
    ) -> AsyncGenerator[_Unit, None]:
        assert spec.parent is not None
        where = f"streams.{name}.parent.when"
        parents = self._read(spec.parent.stream, cursor, window, partition, chain)
        async with aclosing(parents):
            async for page in parents:
                for record in page.records:
                    context = {
                        "record": record,
                        "parent": record,
                        "config": self.conn.config,
                        "partition": page.partition,
                        "window": window,
                    }
                    if self.provider.condition(spec.parent.when, context, where):
                        yield _Unit(page.partition, record)

    async def _partition_values(
        self, name: str, spec: StreamSpec, chain: tuple[str, ...]
    ) -> AsyncGenerator[Any, None]:
        partitions = spec.partitions
        assert partitions is not None
        where = f"streams.{name}.partitions"
        if partitions.values:
            values = self.provider.render(partitions.values, self.conn.context(), f"{where}.values")
            listed = _as_list(values)
            if listed or not partitions.stream:
                for value in listed:
                    yield value
                return
        assert partitions.stream is not None and partitions.value is not None
        seen: set[str] = set()
        source = self._read(partitions.stream, None, None, None, chain)
        async with aclosing(source):
            async for page in source:
                for record in page.records:
                    context = self.conn.context(record=record)
                    value = self.provider.render(partitions.value, context, f"{where}.value")
                    if value not in (None, "") and repr(value) not in seen:
                        seen.add(repr(value))
                        yield value

    # --- running units ----------------------------------------------------------------------
    async def _sequential(
        self, name: str, spec: StreamSpec, base: dict[str, Any], units: AsyncGenerator[_Unit, None]
    ) -> AsyncGenerator[Page, None]:
        async with aclosing(units):
            async for unit in units:
                pages = self._pages(name, spec, base, unit)
                async with aclosing(pages):
                    async for page in pages:
                        yield page

    async def _concurrent(
        self, name: str, spec: StreamSpec, base: dict[str, Any], units: AsyncGenerator[_Unit, None]
    ) -> AsyncGenerator[Page, None]:
        """Up to ``concurrency`` units at once; a bounded queue of pages keeps memory flat."""
        width = spec.concurrency
        pages: asyncio.Queue[Page | _Finished] = asyncio.Queue(maxsize=width)
        todo: asyncio.Queue[_Unit | None] = asyncio.Queue(maxsize=width)

        async def feed() -> None:
            async with aclosing(units):
                async for unit in units:
                    await todo.put(unit)
            for _ in range(width):
                await todo.put(None)

        async def work() -> None:
            while (unit := await todo.get()) is not None:
                async with aclosing(self._pages(name, spec, base, unit)) as unit_pages:
                    async for page in unit_pages:
                        await pages.put(page)

        async def supervise() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(feed())
                    for _ in range(width):
                        group.create_task(work())
            except BaseExceptionGroup as failed:
                await pages.put(_Finished(_first_error(failed)))
            else:
                await pages.put(_Finished())

        supervisor = asyncio.create_task(supervise())
        try:
            while not isinstance(item := await pages.get(), _Finished):
                yield item
            if item.error is not None:
                raise item.error
        finally:
            supervisor.cancel()
            await asyncio.wait([supervisor])

    async def _pages(
        self, name: str, spec: StreamSpec, base: dict[str, Any], unit: _Unit
    ) -> AsyncGenerator[Page, None]:
        context = {**base, "partition": unit.partition, "parent": unit.parent}
        request = self.conn.build_request(spec.request, context, f"streams.{name}.request")
        paginator: Paginator = self.conn.registry.create(
            "pagination", spec.pagination, page_size=spec.page_size, max_pages=spec.max_pages
        )
        paginator.init_request(request)
        filter_context = {
            "config": self.conn.config,
            "partition": unit.partition,
            "parent": unit.parent,
            "window": base["window"],
        }
        number = 0
        while True:
            response = await self.conn.send(request, stream=name, idempotent=True)
            found = extract_records(spec.records_path, response.data)
            try:
                paginator.update_state(response, found)
            except PaginationLoopError as exc:
                raise self._loop_error(exc, request, name) from None
            del response
            number += 1
            records = self._filter(name, spec, found, filter_context)
            del found
            yield Page(name, unit.partition, records, number, unit.parent)
            if not paginator.has_next_page:
                return
            paginator.update_request(request)

    def _filter(
        self, name: str, spec: StreamSpec, records: list[Any], context: dict[str, Any]
    ) -> list[Any]:
        if spec.record_filter is None:
            return records
        where = f"{self.provider.name}: streams.{name}.record_filter"
        template = self.provider.templates.compile(spec.record_filter)
        scope = dict(context)  # one dict for the page: a render keeps no reference to it
        kept = []
        for record in records:
            scope["record"] = record
            if truthy(template.render(scope, where)):
                kept.append(record)
        return kept

    def _loop_error(
        self, exc: PaginationLoopError, request: OutgoingRequest, name: str
    ) -> KiroSyncError:
        label = self.conn.label(request, name)
        return label.error(PaginationLoopError, None, exc.message, token=exc.context.get("token"))


def extract_records(path: str, data: Any) -> list[Any]:
    """The records at ``records_path``: a list found there, or each match of a wildcard."""
    if data is None:
        return []
    compiled = compile_path(path)
    if compiled.is_simple:
        found = compiled.first(data)
        return _as_list(found)
    return compiled.values(data)


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _trimmed(page: Page, count: int) -> Page:
    return Page(page.stream, page.partition, page.records[:count], page.page_number, page.parent)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


# --- cursors --------------------------------------------------------------------------------
def render_cursor(spec: CursorSpec | None, value: Any) -> Any:
    """The cursor templates see: overlap subtracted, then ``format`` applied."""
    if value is None or value == "" or spec is None:
        return None if value == "" else value
    number = _as_number(value)
    if number is not None and not _looks_like_date(value):
        return _number_cursor(spec, value, number)
    moment = _as_datetime(value)
    if moment is None:
        if spec.format or spec.overlap_seconds:
            raise ConfigError(f"the cursor {str(value)[:60]!r} is not a date or a number")
        return value
    moment -= timedelta(seconds=spec.overlap_seconds)
    if spec.format:
        return moment.astimezone(UTC).strftime(spec.format)
    if not spec.overlap_seconds and not isinstance(value, datetime):
        return value
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number_cursor(spec: CursorSpec, value: Any, number: Decimal) -> Any:
    """Epoch cursors (seconds, milliseconds, Slack's "1512085950.000216")."""
    is_ms = number > 10_000_000_000
    shifted = number - spec.overlap_seconds * (1000 if is_ms else 1)
    if spec.format:
        seconds = float(shifted) / (1000 if is_ms else 1)
        return datetime.fromtimestamp(seconds, tz=UTC).strftime(spec.format)
    if not spec.overlap_seconds:
        return value
    if isinstance(value, int):
        return int(shifted)
    if isinstance(value, float):
        return float(shifted)
    return str(shifted)


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _looks_like_date(value: Any) -> bool:
    return isinstance(value, str) and "-" in value.strip()[1:]


def _as_datetime(value: Any) -> datetime | None:
    try:
        moment: datetime | None = DEFAULT_FILTERS["to_datetime"](value)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment


def _sort_key(value: Any) -> tuple[int, Any]:
    number = _as_number(value)
    if number is not None and not _looks_like_date(value):
        return (0, number)
    moment = _as_datetime(value)
    if moment is not None:
        return (0, Decimal(str(moment.timestamp())))
    return (1, str(value))


def max_cursor(spec: CursorSpec | StreamSpec, records: list[Any]) -> Any:
    """The greatest cursor value among ``records`` (dates compared as instants), or None."""
    cursor = spec.cursor if isinstance(spec, StreamSpec) else spec
    if cursor is None:
        return None
    path = compile_path(cursor.field)
    values = [path.first(record) for record in records]
    latest = _latest_date(values)
    if latest is not _NOT_DATES:
        return latest
    best: Any = None
    best_key: tuple[int, Any] | None = None
    for value in values:
        if value is None or value == "":
            continue
        key = _sort_key(value)
        if best_key is None or key > best_key:
            best, best_key = value, key
    return best


_NOT_DATES = object()


def _latest_date(values: list[Any]) -> Any:
    """The latest of ``values`` when every one is ISO date text (the usual cursor), compared
    as instants like ``_sort_key`` does, without its number and Decimal detours; otherwise
    ``_NOT_DATES``. Empty values are left out, as there."""
    best: Any = None
    best_moment: datetime | None = None
    for value in values:
        if value is None or value == "":
            continue
        if type(value) is not str or "-" not in value.strip()[1:]:
            return _NOT_DATES
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return _NOT_DATES
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if best_moment is None or moment > best_moment:
            best, best_moment = value, moment
    return best
