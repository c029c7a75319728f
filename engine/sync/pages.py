"""Reading helpers for the importer: a stream's partitions, and pages read ahead.

Cursors are kept per (stream, partition), so the importer walks a partitioned stream one
partition at a time (``conn.read(stream, partition=p, cursor=cursor_of_p)``) and needs the
partition values first: ``partitions.values`` rendered, else the values of
``partitions.stream``'s records.

``read_ahead`` keeps the next pages coming from the network while the current batch is
mapped and committed (a bounded queue: memory stays flat).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import orjson

from engine.http import Connection
from engine.spec.models import StreamSpec

T = TypeVar("T")
Q = TypeVar("Q")


async def partitions_of(conn: Connection, name: str, spec: StreamSpec) -> list[Any]:
    """The partition values of a stream; ``[None]`` when it is not partitioned."""
    partitions = spec.partitions
    if partitions is None or spec.parent is not None:
        return [None]  # a child stream inherits its parent's partitions
    where = f"streams.{name}.partitions"
    if partitions.values:
        rendered = conn.provider.render(partitions.values, conn.context(), f"{where}.values")
        listed = _as_list(rendered)
        if listed or not partitions.stream:
            return listed
    assert partitions.stream is not None and partitions.value is not None
    found: dict[str, Any] = {}
    async with aclosing(conn.read(partitions.stream)) as pages:  # type: ignore[type-var]
        async for page in pages:
            for record in page.records:
                context = conn.context(record=record)
                value = conn.provider.render(partitions.value, context, f"{where}.value")
                if value not in (None, ""):
                    found.setdefault(partition_key(value), value)
    return list(found.values())


def partition_key(partition: Any) -> str:
    """How a partition is named in the cursor table ("" for none)."""
    if partition is None:
        return ""
    if isinstance(partition, str):
        return partition
    return orjson.dumps(partition, option=orjson.OPT_SORT_KEYS).decode()


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class _End:
    pass


class _Failed:
    def __init__(self, error: Exception) -> None:
        self.error = error


async def read_ahead(
    source: AsyncIterator[T],
    depth: int = 2,
    on_idle: Callable[[], None] | None = None,
    idle_after: float = 0.05,
) -> AsyncIterator[T]:
    """Yield ``source``'s items while up to ``depth`` more are fetched in the background.

    ``on_idle`` is called when the consumer has waited ``idle_after`` seconds for the next
    item: the moment to start work held back while items kept coming."""
    queue: asyncio.Queue[T | _End | _Failed] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async with aclosing(source):  # type: ignore[type-var]
                async for item in source:
                    await queue.put(item)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(_Failed(exc))
        else:
            await queue.put(_End())

    task = asyncio.create_task(pump())
    try:
        while True:
            item = await _next(queue, on_idle, idle_after)
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _next(
    queue: asyncio.Queue[Q], on_idle: Callable[[], None] | None, idle_after: float
) -> Q:
    if on_idle is None or not queue.empty():
        return await queue.get()
    try:
        return await asyncio.wait_for(queue.get(), idle_after)
    except TimeoutError:
        on_idle()
    return await queue.get()


__all__ = ["partition_key", "partitions_of", "read_ahead"]
