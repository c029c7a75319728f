"""Bulk export: a project's work items as one json, csv or xlsx file, streamed.

    export = await open_export(store, ExportQuery.from_filters("project-1", None, filters), "csv")
    async with contextlib.aclosing(export.chunks()) as chunks:
        async for chunk in chunks:      # bytes, batch by batch
            ...
    export.rows                         # items written so far

Nothing is held beyond a few batches of items: rows come from ``Store.iter_work_items`` in
keyset pages (rows.py), the next batch is read while the current one is encoded (on a worker
thread, so the event loop stays free), and each goes out as soon as it is encoded
(formats.py). An xlsx workbook is
written row by row to a temporary file in constant-memory mode and streamed from disk at
the end (a zip archive cannot be sent before it is complete); the file is removed when the
stream ends or is abandoned.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from engine.bulk.formats import FORMATS, ExportFormat
from engine.bulk.query import ExportQuery, ResolvedQuery, resolve
from engine.bulk.rows import export_rows
from engine.errors import ValidationError
from engine.store.base import Store
from engine.sync.pages import read_ahead

DEFAULT_EXPORT_BATCH = 5000  # DuckDB rescans the table per keyset page: fewer, larger pages
FILE_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def format_class(name: str) -> type[ExportFormat]:
    try:
        return FORMATS[name]
    except KeyError:
        valid = ", ".join(FORMATS)
        raise ValidationError(
            f"unknown export format {name!r}", [f"exportFormat: must be one of {valid}"]
        ) from None


class Export:
    """One export, ready to stream (``open_export`` checked the project and the filters)."""

    def __init__(
        self,
        store: Store,
        query: ExportQuery,
        resolved: ResolvedQuery,
        format_name: str,
        *,
        batch_size: int = DEFAULT_EXPORT_BATCH,
        tmpdir: Path | None = None,
        now: datetime | None = None,
    ) -> None:
        self.store = store
        self.query = query
        self.resolved = resolved
        self.format = format_class(format_name)
        self.batch_size = batch_size
        self.tmpdir = tmpdir
        self.rows = 0
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        project = _UNSAFE.sub("-", query.project_id).strip("-.")[:80] or "project"
        self.file_name = f"kiro-{project}-work-items-{stamp}.{self.format.extension}"

    @property
    def content_type(self) -> str:
        return self.format.content_type

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The file's bytes, in order, one chunk per batch of items (empty for xlsx, whose
        bytes all come at the end); close it (``aclosing``) when stopping early."""
        writer = self.format(self.tmpdir)
        try:
            yield writer.begin()
            source = export_rows(self.store, self.resolved, self.batch_size)
            async for rows in read_ahead(source, depth=1):
                data = await asyncio.to_thread(writer.write, rows)
                self.rows += len(rows)
                yield data  # even when empty: a consumer may stop between batches
            rest = await asyncio.to_thread(writer.finish)
            if isinstance(rest, Path):
                async for chunk in _file_chunks(rest):
                    yield chunk
            elif rest:
                yield rest
        finally:
            writer.close()

    async def write_to(self, path: Path) -> int:
        """Write the whole export to ``path``; the number of items written."""
        with path.open("wb") as out:
            async for chunk in self.chunks():
                out.write(chunk)
        return self.rows


async def open_export(
    store: Store,
    query: ExportQuery,
    format_name: str,
    *,
    batch_size: int = DEFAULT_EXPORT_BATCH,
    tmpdir: Path | None = None,
    now: datetime | None = None,
) -> Export:
    """An export of ``query`` in ``format_name``; ValidationError for an unknown format or
    status, NotFoundError for an unknown project or integration."""
    format_class(format_name)
    resolved = await resolve(store, query)
    return Export(
        store, query, resolved, format_name, batch_size=batch_size, tmpdir=tmpdir, now=now
    )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, FILE_CHUNK):
            yield chunk
