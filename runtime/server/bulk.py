"""The ``import-data`` and ``export-data`` actions and the export download route.

The action route has already authenticated the caller and authorized the target (import:
admin, export: viewer); the project is the ``projectId``'s, or the ``integrationId``'s
integration's.

import-data
    ``data.importData`` = ``{workItems, users, projects}`` (engine/bulk/validation.py says
    what each row may carry). More rows than KIRO_SYNC_IMPORT_MAX_ROWS (10000, all arrays
    together) is 413 before anything is written. The answer counts what happened and lists
    the first row errors: ``{created, updated, skipped, failed, workItems: {...}, users:
    {...}, projects: {...}, errors: [{entity, index, reason}], errorsOmitted}``. Bad rows do
    not fail the request: it is 200 with ``failed`` > 0. With ``integrationId`` the items
    are linked to that integration (by ``externalId``) for the next sync.

export-data
    ``data.exportFormat`` json | csv | xlsx (default json), ``data.filters`` (statuses,
    labels, assignees, dateRange). The file is produced; when it is at most
    KIRO_SYNC_EXPORT_INLINE_BYTES (1 MiB) and KIRO_SYNC_EXPORT_INLINE_ROWS (10000 items) it
    is answered inline (past either, production stops at once)::

        {"inline": true, "format": "csv", "rows": 12, "fileName": "...", "contentType":
         "text/csv; charset=utf-8", "size": 2048, "encoding": "utf-8", "content": "id,..."}

    ``content`` is the array itself for json (``encoding: "json"``), the text for csv
    (``"utf-8"``), the workbook's bytes in base64 for xlsx (``"base64"``). A larger file is
    not kept: the answer is a link that produces it again when fetched::

        {"inline": false, "format": "xlsx", "fileName": "...", "contentType": "...",
         "url": "https://host/exports/<fileName>?token=...", "expiresAt": "..."}

``GET /exports/{name}?token=...`` streams the file (Content-Type, Content-Disposition:
attachment) as the export stands when it is fetched. The token (engine/bulk/links.py) is
sealed, opaque and expires after KIRO_SYNC_EXPORT_LINK_SECONDS (900); anyone holding the URL
may download it until then, like a presigned URL. It travels in the query string because
the access log records paths, never query strings. An invalid or expired token is 404.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from engine.bulk.exporter import Export
from engine.bulk.limits import BulkLimits
from engine.bulk.links import ExportLinks
from engine.errors import ValidationError
from engine.facade import Engine
from runtime.server.calls import Call, Reply
from runtime.server.models import ExportDataData, ExportDataRequest, ImportDataRequest
from runtime.server.responses import PayloadTooLarge
from runtime.server.state import ENGINE, SETTINGS

LIMITS = web.AppKey("bulk_limits", BulkLimits)
DOWNLOAD_PATH = "/exports/{name}"
_ENCODINGS = {"json": "json", "csv": "utf-8", "xlsx": "base64"}


def setup(app: web.Application, limits: BulkLimits | None = None) -> None:
    app[LIMITS] = limits or BulkLimits.from_env()
    app.router.add_get(DOWNLOAD_PATH, download, name="export-download")


def _project_of(call: Call) -> str:
    if call.scope.project_id is None:
        raise ValidationError(
            "projectId or integrationId is required", ["projectId: field required"]
        )
    return call.scope.project_id


def _integration_of(call: Call) -> str | None:
    return None if call.scope.integration is None else call.integration_id


async def import_data(call: Call) -> Reply:
    body: ImportDataRequest = call.body
    rows = body.data.importData
    limit = call.http.app[LIMITS].import_max_rows
    count = len(rows.workItems) + len(rows.users) + len(rows.projects)
    if count > limit:
        raise PayloadTooLarge(
            f"importData holds {count} rows; at most {limit} per request",
            details={"rows": count, "maxRows": limit},
        )
    result = await call.engine.import_data(
        _project_of(call),
        {"workItems": rows.workItems, "users": rows.users, "projects": rows.projects},
        integration_id=_integration_of(call),
        create_project=call.principal.is_service,
        max_errors=call.http.app[LIMITS].max_errors,
    )
    return Reply(result.to_dict())


async def export_data(call: Call) -> Reply:
    body: ExportDataRequest = call.body
    data = body.data or ExportDataData()
    export = await call.engine.export_data(
        _project_of(call), data.exportFormat, data.filters, integration_id=_integration_of(call)
    )
    limits = call.http.app[LIMITS]
    content = await _read_capped(export, limits.inline_max_bytes, limits.inline_max_rows)
    if content is not None:
        return Reply(_inline(export, data.exportFormat, content))
    links = ExportLinks(call.engine.vault.keys, call.engine.clock)
    token, expires = links.issue(
        export.query, data.exportFormat, export.file_name, limits.link_seconds
    )
    name = quote(export.file_name)
    return Reply(
        {
            "inline": False,
            "format": data.exportFormat,
            "fileName": export.file_name,
            "contentType": export.content_type,
            "url": f"{_base_url(call.http)}/exports/{name}?token={token}",
            "expiresAt": expires.isoformat().replace("+00:00", "Z"),
        }
    )


async def _read_capped(export: Export, max_bytes: int, max_rows: int) -> bytes | None:
    """The whole file when it is at most ``max_bytes`` and ``max_rows`` items; None (the
    export stopped, its temporary files removed) as soon as it grows past either."""
    parts, size = [], 0
    async with contextlib.aclosing(export.chunks()) as chunks:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes or export.rows > max_rows:
                return None
            parts.append(chunk)
    return b"".join(parts)


def _inline(export: Export, format_name: str, content: bytes) -> dict[str, Any]:
    value: Any
    if format_name == "json":
        value = orjson.loads(content)
    elif format_name == "csv":
        value = content.decode("utf-8")
    else:
        value = base64.b64encode(content).decode("ascii")
    return {
        "inline": True,
        "format": format_name,
        "rows": export.rows,
        "fileName": export.file_name,
        "contentType": export.content_type,
        "size": len(content),
        "encoding": _ENCODINGS[format_name],
        "content": value,
    }


def _base_url(request: web.Request) -> str:
    """Where callers reach this server: KIRO_SYNC_PUBLIC_URL, else the request's origin."""
    public = request.app[SETTINGS].public_url
    return public.rstrip("/") if public else str(request.url.origin())


async def download(request: web.Request) -> web.StreamResponse:
    engine: Engine = request.app[ENGINE]
    linked = ExportLinks(engine.vault.keys, engine.clock).open(request.query.get("token", ""))
    query = linked.query
    export = await engine.export_data(
        query.project_id, linked.format, query.filters(), integration_id=query.integration_id
    )
    async with contextlib.aclosing(export.chunks()) as chunks:
        first = await anext(chunks)  # failures up to here still get the JSON envelope
        response = web.StreamResponse(
            headers={
                "Content-Type": export.content_type,
                "Content-Disposition": _disposition(linked.file_name),
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        await _send(response, first, chunks)
    return response


async def _send(response: web.StreamResponse, first: bytes, rest: AsyncIterator[bytes]) -> None:
    await response.write(first)
    async for chunk in rest:
        if chunk:
            await response.write(chunk)
    await response.write_eof()


def _disposition(file_name: str) -> str:
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"
