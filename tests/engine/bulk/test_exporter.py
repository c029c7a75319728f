"""Bulk export from the real store, each format read back by an independent reader."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from engine.bulk import formats
from engine.bulk.columns import COLUMN_NAMES
from engine.bulk.exporter import open_export
from engine.bulk.query import ExportQuery
from engine.errors import NotFoundError, ValidationError
from engine.store.base import Batch, ExternalLink, User, WorkItem
from engine.store.sqlstore import SqlStore
from tests.engine.bulk.helpers import make_integration

P = "project-export"
T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def item(n: int, **fields: Any) -> WorkItem:
    values: dict[str, Any] = {
        "id": f"wi-{n:03d}",
        "title": f"item {n}",
        "created_at": T0.replace(day=n + 1),
        "updated_at": T0.replace(day=n + 1, hour=9),
    }
    values.update(fields)
    return WorkItem(project_id=P, **values)


SEED = [
    item(
        0,
        description='line one\nline "two", with a comma\r\nand ünïcödé ✓',
        status="In Progress",
        priority="high",
        type="bug",
        assignee_id="u-ada",
        tags=["bug", "ui"],
        due_date=datetime(2025, 3, 1, tzinfo=UTC),
        custom={"points": 3, "sprint": "S1"},
    ),
    item(
        1,
        tags=["needs, comma", "x"],
        parent_id="wi-000",
        status="Done",
        completed_at=datetime(2025, 2, 1, 12, 30, tzinfo=UTC),
    ),
    item(2, title="=SUM(A1:A2) stays text", custom={"bulkImport": {"externalId": "E-2"}}),
    item(3, deleted_at=T0),
]


async def seed(store: SqlStore) -> None:
    integration = await make_integration(store, P)
    await store.apply_batch(
        Batch(
            users=[User(id="u-ada", email="ada@example.com", name="Ada")],
            work_items=SEED,
            links=[
                ExternalLink(integration.id, "work_item", "wi-000", "9001", "#1", "https://gh/1")
            ],
        )
    )


def z(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# What the store holds, written out by hand: the expected export of the three live items.
EXPECTED: list[dict[str, Any]] = [
    {
        "id": "wi-000", "externalId": "9001", "externalKey": "#1", "externalUrl": "https://gh/1",
        "title": "item 0", "description": SEED[0].description, "status": "In Progress",
        "priority": "high", "type": "bug", "assigneeId": "u-ada",
        "assigneeEmail": "ada@example.com", "tags": ["bug", "ui"],
        "dueDate": datetime(2025, 3, 1, tzinfo=UTC), "completedAt": None, "parentId": None,
        "createdAt": SEED[0].created_at, "updatedAt": SEED[0].updated_at,
        "custom": {"points": 3, "sprint": "S1"},
    },
    {
        "id": "wi-001", "externalId": None, "externalKey": None, "externalUrl": None,
        "title": "item 1", "description": None, "status": "Done", "priority": None,
        "type": None, "assigneeId": None, "assigneeEmail": None,
        "tags": ["needs, comma", "x"], "dueDate": None,
        "completedAt": datetime(2025, 2, 1, 12, 30, tzinfo=UTC), "parentId": "wi-000",
        "createdAt": SEED[1].created_at, "updatedAt": SEED[1].updated_at, "custom": {},
    },
    {
        "id": "wi-002", "externalId": "E-2", "externalKey": None, "externalUrl": None,
        "title": "=SUM(A1:A2) stays text", "description": None, "status": "To Do",
        "priority": None, "type": None, "assigneeId": None, "assigneeEmail": None, "tags": [],
        "dueDate": None, "completedAt": None, "parentId": None,
        "createdAt": SEED[2].created_at, "updatedAt": SEED[2].updated_at, "custom": {},
    },
]  # fmt: skip

DATES = ("dueDate", "completedAt", "createdAt", "updatedAt")


async def export_bytes(store: SqlStore, fmt: str, **kw: Any) -> bytes:
    export = await open_export(store, ExportQuery.from_filters(P, **kw), fmt, batch_size=2)
    return b"".join([chunk async for chunk in export.chunks()])


async def test_json_is_one_array_of_objects_with_the_documented_columns(store: SqlStore) -> None:
    await seed(store)
    rows = json.loads(await export_bytes(store, "json"))
    assert [list(row) for row in rows] == [list(COLUMN_NAMES)] * 3
    expected = [{k: z(v) if k in DATES else v for k, v in row.items()} for row in EXPECTED]
    assert rows == expected


async def test_csv_is_rfc_4180_utf8_with_a_header_row(store: SqlStore) -> None:
    await seed(store)
    data = await export_bytes(store, "csv")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.startswith(",".join(COLUMN_NAMES).encode() + b"\r\n")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    rows = list(reader)
    assert reader.fieldnames == list(COLUMN_NAMES)

    def text(name: str, value: Any) -> str:
        if value is None:
            return ""
        if name in DATES:
            return z(value) or ""
        if name == "tags":
            if any("," in t for t in value):
                return json.dumps(value, separators=(",", ":"))
            return ", ".join(value)
        if name == "custom":
            return json.dumps(value, separators=(",", ":")) if value else ""
        return str(value)

    assert rows == [{k: text(k, v) for k, v in row.items()} for row in EXPECTED]
    # every record ends in CRLF; the quoted description keeps its own line breaks
    assert data.count(b"\r\n") == 1 + 3 + 1  # header, 3 records, the CRLF inside item 0


async def test_xlsx_is_a_workbook_with_a_frozen_bold_header_and_date_cells(
    store: SqlStore,
) -> None:
    await seed(store)
    book = openpyxl.load_workbook(io.BytesIO(await export_bytes(store, "xlsx")))
    assert book.sheetnames == ["Work items"]
    sheet = book["Work items"]
    assert sheet.freeze_panes == "A2"
    header = [cell.value for cell in sheet[1]]
    assert header == list(COLUMN_NAMES)
    assert all(cell.font.b for cell in sheet[1])
    due = sheet.cell(row=2, column=COLUMN_NAMES.index("dueDate") + 1)
    assert due.is_date and due.value == datetime(2025, 3, 1)
    formula = sheet.cell(row=4, column=COLUMN_NAMES.index("title") + 1)
    assert formula.data_type == "s" and formula.value == "=SUM(A1:A2) stays text"

    def cell(name: str, value: Any) -> Any:
        if value is None or value == [] or value == {}:
            return None
        if name in DATES:  # naive UTC; Excel's day fractions come back to the millisecond
            return value.replace(tzinfo=None, microsecond=0) + timedelta(
                milliseconds=round(value.microsecond / 1000)
            )
        if name == "description":  # OOXML writes a CR as _x000D_ (openpyxl keeps it so)
            return value.replace("\r", "_x000D_")
        if name == "tags":
            if any("," in t for t in value):
                return json.dumps(value, separators=(",", ":"))
            return ", ".join(value)
        if name == "custom":
            return json.dumps(value, separators=(",", ":"))
        return value

    rows = [
        dict(zip(header, values, strict=True)) for values in sheet.iter_rows(2, values_only=True)
    ]
    assert rows == [{k: cell(k, v) for k, v in row.items()} for row in EXPECTED]


async def test_an_empty_project_exports_an_empty_file_of_each_format(store: SqlStore) -> None:
    await store.ensure_project(P)
    assert json.loads(await export_bytes(store, "json")) == []
    assert (await export_bytes(store, "csv")).decode() == ",".join(COLUMN_NAMES) + "\r\n"
    book = openpyxl.load_workbook(io.BytesIO(await export_bytes(store, "xlsx")))
    assert [[c.value for c in row] for row in book.active.iter_rows()] == [list(COLUMN_NAMES)]


async def ids(store: SqlStore, **filters: Any) -> list[str]:
    rows = json.loads(await export_bytes(store, "json", filters=filters))
    return [row["id"] for row in rows]


async def test_filters_statuses_labels_assignees_and_date_range(store: SqlStore) -> None:
    await seed(store)
    assert await ids(store, statuses=["done", "in progress"]) == ["wi-000", "wi-001"]
    assert await ids(store, labels=["bug"]) == ["wi-000"]
    assert await ids(store, labels=["bug", "x"]) == []  # every label must be on the item
    assert await ids(store, assignees=["ADA@example.com"]) == ["wi-000"]
    assert await ids(store, assignees=["u-ada"]) == ["wi-000"]
    assert await ids(store, assignees=["nobody@example.com"]) == []
    # created on January 1st, 2nd and 3rd at 03:04:05.678901; both ends are inclusive
    window = {"start": "2025-01-02T00:00:00Z", "end": "2025-01-02T03:04:05.678901Z"}
    assert await ids(store, dateRange=window) == ["wi-001"]
    assert await ids(store, dateRange={"start": "2025-01-02"}) == ["wi-001", "wi-002"]
    assert await ids(store, dateRange={"end": "2025-01-02T03:04:05Z"}) == ["wi-000"]


async def test_bad_filters_and_unknown_targets_are_refused(store: SqlStore) -> None:
    await seed(store)
    with pytest.raises(ValidationError, match="unknown status 'Blocked'"):
        await ids(store, statuses=["Blocked"])
    with pytest.raises(ValidationError, match=re.escape("filters.projects")):
        await ids(store, projects=["owner/repo"])
    with pytest.raises(ValidationError, match="unknown key"):
        await ids(store, lables=["bug"])
    with pytest.raises(ValidationError, match="unknown export format 'pdf'"):
        await open_export(store, ExportQuery(P), "pdf")
    with pytest.raises(NotFoundError, match="Project not found"):
        await open_export(store, ExportQuery("nope"), "csv")
    other = await make_integration(store, "elsewhere", "integ-2")
    with pytest.raises(NotFoundError, match="Integration not found"):
        await open_export(store, ExportQuery(P, other.id), "csv")


async def test_external_columns_come_from_the_named_integration_only(store: SqlStore) -> None:
    await seed(store)
    second = await make_integration(store, P, "integ-2")
    await store.apply_batch(
        Batch(links=[ExternalLink(second.id, "work_item", "wi-001", "L-7", "LIN-7", "https://l/7")])
    )
    both = json.loads(await export_bytes(store, "json"))
    assert [r["externalKey"] for r in both] == ["#1", "LIN-7", None]
    only = json.loads(await export_bytes(store, "json", integration_id=second.id))
    assert [r["externalKey"] for r in only] == [None, "LIN-7", None]


class CountingStore:
    """The real store, counting the batches iter_work_items has handed out."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.batches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def iter_work_items(self, query: Any, batch_size: int = 1000) -> Any:
        async for batch in self._store.iter_work_items(query, batch_size):
            self.batches += 1
            yield batch


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
async def test_rows_are_pulled_from_the_store_one_batch_at_a_time(
    store: SqlStore, fmt: str, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    await store.ensure_project(P)
    await store.apply_batch(Batch(work_items=[item(n % 28, id=f"w{n:03d}") for n in range(50)]))
    counting = CountingStore(store)
    export = await open_export(counting, ExportQuery(P), fmt, batch_size=10, tmpdir=tmp_path)  # type: ignore[arg-type]
    async with contextlib.aclosing(export.chunks()) as chunks:
        await anext(chunks)  # the opening bytes
        await anext(chunks)  # the first batch, encoded (xlsx: written to its sheet)
        assert counting.batches <= 2  # the first, and the next one being read ahead
        assert export.rows == 10
        async for _ in chunks:
            pass
    assert (counting.batches, export.rows) == (5, 50)
    assert list(tmp_path.iterdir()) == []  # the xlsx temporary files are gone


async def test_an_abandoned_xlsx_export_leaves_no_file_behind(
    store: SqlStore, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    await store.ensure_project(P)
    await store.apply_batch(Batch(work_items=[item(1, id=f"w{n:03d}") for n in range(200)]))
    export = await open_export(store, ExportQuery(P), "xlsx", tmpdir=tmp_path)
    async with contextlib.aclosing(export.chunks()) as chunks:
        await anext(chunks)
        await anext(chunks)  # rows written to the sheet's temporary file, workbook unfinished
        assert export.rows == 200 and len(list(tmp_path.iterdir())) == 1
        # constant memory: the rows are already on disk, not held until the workbook closes
        assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) > 1000
    assert list(tmp_path.iterdir()) == []  # and no file left open (filterwarnings=error)


async def test_xlsx_continues_on_a_new_sheet_when_one_is_full(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "XLSX_MAX_ROWS", 3)  # a header and two items per sheet
    await seed(store)
    book = openpyxl.load_workbook(io.BytesIO(await export_bytes(store, "xlsx")))
    assert book.sheetnames == ["Work items", "Work items 2"]
    second = book["Work items 2"]
    assert [c.value for c in second[1]] == list(COLUMN_NAMES)
    assert second.freeze_panes == "A2"
    assert [row[0] for row in second.iter_rows(2, values_only=True)] == ["wi-002"]


async def test_write_to_writes_the_file_and_counts_items(store: SqlStore, tmp_path: Path) -> None:
    await seed(store)
    export = await open_export(store, ExportQuery(P), "csv")
    assert await export.write_to(tmp_path / "out.csv") == 3
    assert export.file_name.startswith("kiro-project-export-work-items-")
    assert export.file_name.endswith(".csv")
    assert export.content_type == "text/csv; charset=utf-8"
    assert len((tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()) == 6


def test_the_documented_columns_are_the_exported_ones() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "bulk.md").read_text(encoding="utf-8")
    section = doc.split("## Columns", 1)[1].split("\n### ", 1)[0]
    table = next(block for block in section.split("\n\n") if block.startswith("| column"))
    documented = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert documented == list(COLUMN_NAMES)
