"""import-data and export-data over the real server, and the export download route."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import openpyxl
import pytest

from engine.bulk.columns import COLUMN_NAMES
from engine.store.base import WorkItemFilter
from tests.runtime.server.conftest import PROJECT, REPO, Api, connected

ACTION = "/functions/v1/integration-service"


def import_body(work_items: list[Any], **extra: Any) -> dict[str, Any]:
    data = {"workItems": work_items, **extra.pop("data", {})}
    return {"action": "import-data", "projectId": PROJECT, "data": {"importData": data}, **extra}


async def items(api: Api, project_id: str = PROJECT) -> list[Any]:
    found = []
    async for batch in api.engine.store.iter_work_items(WorkItemFilter(project_id=project_id)):
        found.extend(batch)
    return found


async def test_import_reports_bad_rows_by_index_while_good_rows_go_in(api: Api) -> None:
    rows = [
        {"id": "a", "title": "Alpha", "status": "in progress", "tags": ["x"]},
        {"title": "Bad date", "dueDate": "tomorrow"},
        {"id": "b", "title": "Beta", "assigneeEmail": "bo@example.com"},
        {"title": "Bad email", "assigneeEmail": "bo(at)example.com"},
        "not an object",
    ]
    status, body = await api.call(
        import_body(rows, data={"users": [{"email": "bo@example.com", "name": "Bo"}]})
    )
    assert status == 200, body
    data = body["data"]
    assert {k: data[k] for k in ("created", "updated", "skipped", "failed")} == {
        "created": 3,
        "updated": 0,
        "skipped": 0,
        "failed": 3,
    }
    assert data["workItems"] == {"created": 2, "updated": 0, "skipped": 0, "failed": 3}
    assert data["users"]["created"] == 1
    assert data["errors"] == [
        {"entity": "workItems", "index": 1, "reason": "dueDate: not an ISO 8601 date: 'tomorrow'"},
        {
            "entity": "workItems",
            "index": 3,
            "reason": "assigneeEmail: not a valid email address: 'bo(at)example.com'",
        },
        {"entity": "workItems", "index": 4, "reason": "a row must be an object"},
    ]
    stored = {item.id: item for item in await items(api)}
    assert sorted(stored) == ["a", "b"]
    assert stored["a"].status == "In Progress"

    status, again = await api.call(import_body(rows))
    assert again["data"]["workItems"] == {"created": 0, "updated": 0, "skipped": 2, "failed": 3}
    assert len(await items(api)) == 2


async def test_more_rows_than_the_limit_is_413_and_writes_nothing(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIRO_SYNC_IMPORT_MAX_ROWS", "3")
    api = await server()
    rows = [{"title": f"t{n}"} for n in range(3)]
    status, body = await api.call(import_body([*rows, {"title": "one too many"}]))
    assert (status, body) == (
        413,
        {
            "success": False,
            "error": "importData holds 4 rows; at most 3 per request",
            "details": {"rows": 4, "maxRows": 3},
        },
    )
    assert await items(api) == []
    status, body = await api.call(
        import_body(rows[:2], data={"users": [{"email": "u@example.com"}]})
    )
    assert status == 200 and body["data"]["created"] == 3  # the limit counts every array


async def test_import_needs_a_project_and_rejects_a_malformed_body(api: Api) -> None:
    status, body = await api.call({"action": "import-data", "data": {"importData": {}}})
    assert (status, body["error"]) == (400, "projectId or integrationId is required")
    status, body = await api.call(
        {"action": "import-data", "projectId": PROJECT, "data": {"importData": {"rows": []}}}
    )
    assert status == 400 and body["details"] == [
        "data.importData.rows: Extra inputs are not permitted"
    ]


async def test_imported_rows_of_an_integration_are_reconciled_by_the_next_sync(
    api: Api, github_url: str
) -> None:
    integration_id = await connected(api, github_url)
    body = import_body(
        [{"externalId": f"{REPO}#2", "title": "Typed by hand", "status": "In Progress"}],
        integrationId=integration_id,
    )
    del body["projectId"]
    status, answer = await api.call(body)
    assert status == 200 and answer["data"]["workItems"]["created"] == 1, answer

    status, _ = await api.call({"action": "sync", "integrationId": integration_id})
    assert status == 202
    await api.wait_idle(integration_id)

    synced = [item for item in await items(api) if item.title.startswith("Seeded item 2")]
    assert len(synced) == 1  # the sync found the imported item by its link: no duplicate
    assert synced[0].title == "Seeded item 2"  # the provider's values, with no base to merge
    link = (await api.engine.store.get_links(integration_id, "work_item", [f"{REPO}#2"]))[
        f"{REPO}#2"
    ]
    assert link.kiro_id == synced[0].id and link.snapshot_hash is not None
    assert not [item for item in await items(api) if item.title == "Typed by hand"]


async def seed(api: Api) -> None:
    rows = [
        {"id": "w1", "title": "First, with comma", "status": "Done", "tags": "a, b",
         "dueDate": "2025-05-06T07:08:09Z", "description": 'say "hi"\nbye'},
        {"id": "w2", "title": "Second", "priority": "p1", "assigneeEmail": "cy@example.com"},
        {"id": "w3", "title": "Third", "status": "todo"},
    ]  # fmt: skip
    status, body = await api.call(import_body(rows))
    assert status == 200 and body["data"]["created"] == 3


async def test_small_exports_are_answered_inline_in_each_format(api: Api) -> None:
    await seed(api)
    exports = {}
    for fmt in ("json", "csv", "xlsx"):
        status, body = await api.call(
            {"action": "export-data", "projectId": PROJECT, "data": {"exportFormat": fmt}}
        )
        assert status == 200, body
        data = body["data"]
        assert data["inline"] is True and data["rows"] == 3 and data["format"] == fmt
        assert data["fileName"].endswith(f".{fmt}")
        exports[fmt] = data

    rows = exports["json"]["content"]
    assert exports["json"]["encoding"] == "json"
    assert [r["id"] for r in rows] == ["w1", "w2", "w3"] and list(rows[0]) == list(COLUMN_NAMES)
    assert rows[0]["dueDate"] == "2025-05-06T07:08:09Z" and rows[1]["priority"] == "high"
    assert rows[1]["assigneeEmail"] == "cy@example.com"

    text = exports["csv"]["content"]
    assert exports["csv"]["encoding"] == "utf-8" and exports["csv"]["size"] == len(text.encode())
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert parsed[0]["title"] == "First, with comma" and parsed[0]["tags"] == "a, b"
    assert parsed[0]["description"] == 'say "hi"\nbye'

    assert exports["xlsx"]["encoding"] == "base64"
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(exports["xlsx"]["content"])))
    sheet = book.active
    assert [c.value for c in sheet[1]] == list(COLUMN_NAMES)
    assert [r[0] for r in sheet.iter_rows(2, values_only=True)] == ["w1", "w2", "w3"]


async def test_export_filters_and_refusals(api: Api) -> None:
    await seed(api)
    body = {
        "action": "export-data",
        "projectId": PROJECT,
        "data": {"exportFormat": "json", "filters": {"statuses": ["closed"], "labels": ["a"]}},
    }
    status, answer = await api.call(body)
    assert [r["id"] for r in answer["data"]["content"]] == ["w1"]
    body["data"]["filters"] = {"assignees": ["cy@example.com"]}
    status, answer = await api.call(body)
    assert [r["id"] for r in answer["data"]["content"]] == ["w2"]
    body["data"]["filters"] = {"statuses": ["Shipped"]}
    status, answer = await api.call(body)
    assert status == 400 and "unknown status 'Shipped'" in answer["error"]
    body["data"] = {"exportFormat": "pdf"}
    status, answer = await api.call(body)
    assert status == 400 and answer["details"][0].startswith("data.exportFormat")


async def large_export(api: Api, fmt: str) -> dict[str, Any]:
    status, body = await api.call(
        {"action": "export-data", "projectId": PROJECT, "data": {"exportFormat": fmt}}
    )
    assert status == 200, body
    return dict(body["data"])


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
async def test_larger_exports_are_a_link_that_streams_the_file(
    server: Any, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("KIRO_SYNC_EXPORT_INLINE_BYTES", "200")
    api = await server()
    await seed(api)
    data = await large_export(api, fmt)
    assert data["inline"] is False and "content" not in data
    url = urlsplit(data["url"])
    assert f"{url.scheme}://{url.netloc}" == "http://kiro-sync.test"  # KIRO_SYNC_PUBLIC_URL
    assert url.path == f"/exports/{data['fileName']}" and url.query.startswith("token=")

    response = await api.client.get(f"{url.path}?{url.query}")  # the token is the credential
    assert response.status == 200
    assert response.headers["Content-Type"] == data["contentType"]
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="{data["fileName"]}"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    payload = await response.read()
    if fmt == "json":
        ids = [row["id"] for row in json.loads(payload)]
    elif fmt == "csv":
        ids = [row["id"] for row in csv.DictReader(io.StringIO(payload.decode(), newline=""))]
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(payload)).active
        ids = [row[0] for row in sheet.iter_rows(2, values_only=True)]
    assert ids == ["w1", "w2", "w3"]


async def test_an_export_of_more_items_than_the_inline_count_is_a_link(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIRO_SYNC_EXPORT_INLINE_ROWS", "2")
    api = await server()
    await seed(api)  # three small items: a few kilobytes in any format
    for fmt in ("json", "csv", "xlsx"):
        data = await large_export(api, fmt)
        assert data["inline"] is False and data["url"], fmt


async def test_a_download_link_expires_and_cannot_be_forged(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIRO_SYNC_EXPORT_INLINE_BYTES", "1")
    api = await server()
    await seed(api)
    url = urlsplit((await large_export(api, "csv"))["url"])
    token = url.query.removeprefix("token=")
    api.secrets_seen.add(token)  # the access log must never hold it

    blob = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    blob[len(blob) // 2] ^= 1
    forged = base64.urlsafe_b64encode(bytes(blob)).decode().rstrip("=")
    for query in (f"token={forged}", "", "token="):
        response = await api.client.get(f"{url.path}?{query}")
        assert response.status == 404
        assert await response.json() == {"success": False, "error": "Export link is not valid"}

    real_clock = api.engine.clock
    api.engine.clock = lambda: real_clock() + timedelta(seconds=901)
    response = await api.client.get(f"{url.path}?{url.query}")
    assert response.status == 404
    assert (await response.json())["error"] == "Export link has expired; export again for a new one"
