"""The export formats, one small class each, chosen by name (``json``, ``csv``, ``xlsx``).

A format turns lists of rows (rows.py) into bytes: ``begin()`` once, ``write(rows)`` per
batch (bytes to send now; may be empty), ``finish()`` once (the rest: bytes, or a file to
stream), ``close()`` always (removes temporary files).

- json: one array of objects, keys in column order, dates ISO 8601 UTC (``...Z``), tags an
  array, custom an object; written object by object.
- csv: RFC 4180 (CRLF line ends, fields quoted when they hold a comma, quote or line break),
  UTF-8 without a byte order mark, a header row; written by Python's csv module.
- xlsx: a real workbook (xlsxwriter in constant-memory mode: each row is flushed to a
  temporary file as it is written, so memory stays flat): bold, frozen header row, date
  cells (UTC, shown ``yyyy-mm-dd hh:mm:ss``), text cells for text (never formulas). A sheet
  holds at most 1,048,575 items; more continue on "Work items 2", "Work items 3"...
  Excel keeps at most 32,767 characters in a cell: longer text is cut there.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson
import xlsxwriter

from engine.bulk.columns import COLUMN_NAMES, COLUMNS, Column
from engine.bulk.rows import Row

XLSX_MAX_ROWS = 1_048_576  # rows in one sheet, the header included


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``: ``2025-03-01T09:30:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tags_text(tags: Sequence[str]) -> str:
    """Comma-separated, or a JSON array when a tag itself holds a comma."""
    if any("," in tag for tag in tags):
        return orjson.dumps(list(tags)).decode()
    return ", ".join(tags)


def cell_text(column: Column, value: Any) -> str:
    """A value as the text of a csv field or a spreadsheet cell ("" for none)."""
    if value is None:
        return ""
    if column.kind == "datetime":
        return iso(value) or ""
    if column.kind == "tags":
        return tags_text(value)
    if column.kind == "json":
        return orjson.dumps(value).decode() if value else ""
    return str(value)


class ExportFormat:
    name: ClassVar[str]
    extension: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(self, tmpdir: Path | None = None) -> None:
        self.tmpdir = tmpdir

    def begin(self) -> bytes:
        return b""

    def write(self, rows: list[Row]) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes | Path:
        return b""

    def close(self) -> None:
        """Remove whatever the format left on disk (safe to call twice)."""


class JsonFormat(ExportFormat):
    name = "json"
    extension = "json"
    content_type = "application/json"

    def __init__(self, tmpdir: Path | None = None) -> None:
        super().__init__(tmpdir)
        self._first = True

    def begin(self) -> bytes:
        return b"["

    def write(self, rows: list[Row]) -> bytes:
        parts = []
        for row in rows:
            parts.append(b"\n" if self._first else b",\n")
            parts.append(orjson.dumps(row, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC))
            self._first = False
        return b"".join(parts)

    def finish(self) -> bytes:
        return b"\n]\n" if not self._first else b"]\n"


class CsvFormat(ExportFormat):
    name = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, tmpdir: Path | None = None) -> None:
        super().__init__(tmpdir)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def begin(self) -> bytes:
        self._writer.writerow(COLUMN_NAMES)
        return self._take()

    def write(self, rows: list[Row]) -> bytes:
        self._writer.writerows([cell_text(c, row[c.name]) for c in COLUMNS] for row in rows)
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")


class XlsxFormat(ExportFormat):
    name = "xlsx"
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def __init__(self, tmpdir: Path | None = None) -> None:
        super().__init__(tmpdir)
        self._dir = Path(tempfile.mkdtemp(prefix="kiro-export-", dir=tmpdir))
        self.path = self._dir / "export.xlsx"
        self._book = xlsxwriter.Workbook(
            str(self.path), {"constant_memory": True, "tmpdir": str(self._dir)}
        )
        self._bold = self._book.add_format({"bold": True})
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._sheets = 0
        self._sheet: Any = None
        self._row = XLSX_MAX_ROWS
        self._finished = False

    def write(self, rows: list[Row]) -> bytes:
        for row in rows:
            if self._row >= XLSX_MAX_ROWS:
                self._new_sheet()
            self._write_row(row)
            self._row += 1
        return b""

    def finish(self) -> Path:
        if self._sheet is None:
            self._new_sheet()
        self._book.close()
        self._finished = True
        return self.path

    def close(self) -> None:
        if not self._finished:  # abandoned: close the sheets' row files, assemble nothing
            for sheet in self._book.worksheets():
                if getattr(sheet, "row_data_fh", None) is not None:
                    sheet._opt_close()  # xlsxwriter's own closing of a constant-memory sheet
            self._finished = True
        shutil.rmtree(self._dir, ignore_errors=True)

    def _new_sheet(self) -> None:
        self._sheets += 1
        name = "Work items" if self._sheets == 1 else f"Work items {self._sheets}"
        sheet = self._book.add_worksheet(name)
        for number, column in enumerate(COLUMNS):
            sheet.set_column(number, number, column.width)
            sheet.write_string(0, number, column.name, self._bold)
        sheet.freeze_panes(1, 0)
        self._sheet, self._row = sheet, 1

    def _write_row(self, row: Row) -> None:
        sheet, number = self._sheet, self._row
        for col, column in enumerate(COLUMNS):
            value = row[column.name]
            if value is None:
                continue
            if column.kind == "datetime":
                naive = value.astimezone(UTC).replace(tzinfo=None)
                sheet.write_datetime(number, col, naive, self._date)
            else:
                text = cell_text(column, value)
                if text:
                    sheet.write_string(number, col, text)


FORMATS: dict[str, type[ExportFormat]] = {
    cls.name: cls for cls in (JsonFormat, CsvFormat, XlsxFormat)
}
