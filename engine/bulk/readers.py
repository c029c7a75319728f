"""Import files -> rows, read lazily, for ``kiro-sync import FILE``.

By extension:

- ``.json``: an array of work item objects, or an object ``{"workItems": [...], "users":
  [...], "projects": [...]}`` (the API's ``importData``). The file is parsed at once; for
  very large imports prefer csv or xlsx, which stream.
- ``.csv``: UTF-8 (a byte order mark is allowed), a header row, one work item per row.
  A missing trailing cell is empty; blank lines are skipped; a quote left open, or text
  right after a closing quote, is an error naming the line.
- ``.xlsx``: the first row of a sheet is its header. Sheets named "Users" and "Projects"
  hold those rows; every other sheet holds work items (an export's "Work items 2"... too).
  Read with openpyxl in read-only mode, row by row; an empty cell is an empty value.

Headers are checked before any row is read: an unknown or repeated column is a
ValidationError naming it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import orjson

from engine.bulk.columns import header_key
from engine.bulk.validation import PROJECT_NAMES, USER_NAMES, WORK_ITEM_NAMES
from engine.errors import ValidationError

Raw = dict[str, Any]
_SHEET_KINDS = {"users": USER_NAMES, "projects": PROJECT_NAMES}
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


@dataclass
class ImportFile:
    """The rows of a file; ``total`` counts them all when known up front (progress bars)."""

    work_items: Iterable[Raw]
    users: list[Raw] = field(default_factory=list)
    projects: list[Raw] = field(default_factory=list)
    total: int | None = None


def read_import_file(path: Path) -> ImportFile:
    suffix = path.suffix.lower()
    if not path.is_file():
        what = "a directory, not a file" if path.is_dir() else "no such file"
        raise ValidationError(f"{path}: {what}", [f"{path}: {what}"])
    if suffix == ".json":
        return _read_json(path)
    if suffix == ".csv":
        return ImportFile(_csv_rows(path), total=_csv_count(path))
    if suffix == ".xlsx":
        return _read_xlsx(path)
    raise ValidationError(
        f"{path.name}: unknown file type; use .json, .csv or .xlsx",
        [f"{path}: the name must end in .json, .csv or .xlsx"],
    )


def check_header(where: str, header: Iterable[Any], names: Mapping[str, str]) -> list[str]:
    """The header as strings; ValidationError for a blank, unknown or repeated column."""
    columns = ["" if cell is None else str(cell).strip() for cell in header]
    problems, seen = [], set()
    for number, name in enumerate(columns, start=1):
        canonical = names.get(header_key(name))
        if canonical is None:
            label = repr(name) if name else "(blank)"
            valid = ", ".join(names.values())
            problems.append(f"{where}: column {number} {label} is not one of {valid}")
        elif canonical in seen:
            problems.append(f"{where}: column {number} repeats {canonical}")
        seen.add(canonical)
    if problems:
        raise ValidationError(problems[0], problems)
    return columns


# --- json ----------------------------------------------------------------------------------
def _read_json(path: Path) -> ImportFile:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"{path.name}: not valid JSON: {exc}", [f"{path}: {exc}"]) from None
    if isinstance(data, list):
        return ImportFile(data, total=len(data))
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name}: expected an array or an object")
    unknown = sorted(set(data) - {"workItems", "users", "projects"})
    if unknown:
        raise ValidationError(
            f"{path.name}: unknown key {unknown[0]!r}; valid: workItems, users, projects"
        )
    parts = {key: data.get(key, []) for key in ("workItems", "users", "projects")}
    for key, rows in parts.items():
        if rows is None:
            parts[key] = []
        elif not isinstance(rows, list):
            raise ValidationError(f"{path.name}: {key} must be an array")
    total = sum(len(rows) for rows in parts.values())
    return ImportFile(parts["workItems"], parts["users"], parts["projects"], total)


# --- csv -----------------------------------------------------------------------------------
def _csv_rows(path: Path) -> Iterator[Raw]:
    with _open_text(path) as handle:
        records = _records(csv.reader(handle, strict=True), path)
        header = check_header(path.name, next(records, []), WORK_ITEM_NAMES)
        width = len(header)
        for cells in records:
            if not any(cell.strip() for cell in cells):
                continue
            row: Raw = dict(zip(header, cells + [""] * (width - len(cells)), strict=False))
            extra = [cell for cell in cells[width:] if cell.strip()]
            if extra:  # fails validation as an unknown column, with the row's index
                row[f"(cells beyond the {width} columns of the header)"] = extra
            yield row


def _csv_count(path: Path) -> int:
    with _open_text(path) as handle:
        records = _records(csv.reader(handle, strict=True), path)
        next(records, None)
        return sum(1 for cells in records if any(c.strip() for c in cells))


def _open_text(path: Path) -> Any:
    return path.open(encoding="utf-8-sig", newline="")


def _records(reader: Any, path: Path) -> Iterator[list[str]]:
    """The csv records, header first; decoding and syntax errors as ValidationError. The
    reader is strict: a quote left open is an error at its line, not a field swallowing
    every row after it."""
    try:
        yield from reader
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        where = f"line {reader.line_num}: " if reader.line_num else ""
        raise ValidationError(f"{path.name}: not valid CSV: {where}{exc}") from None


# --- xlsx ----------------------------------------------------------------------------------
def _read_xlsx(path: Path) -> ImportFile:
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, ValueError... on bad files
        raise ValidationError(f"{path.name}: not an xlsx workbook ({type(exc).__name__})") from None
    try:
        extra = {kind: _sheet_rows(book, kind, path) for kind in _SHEET_KINDS}
        sheets = [ws.title for ws in book.worksheets if ws.title.casefold() not in _SHEET_KINDS]
        total = sum(max((book[title].max_row or 1) - 1, 0) for title in sheets)
    except BaseException:
        book.close()
        raise
    total += sum(len(rows) for rows in extra.values())
    rows = _work_item_sheets(book, sheets, path)
    return ImportFile(rows, extra["users"], extra["projects"], total)


def _sheet_rows(book: Any, kind: str, path: Path) -> list[Raw]:
    for sheet in book.worksheets:
        if sheet.title.casefold() == kind:
            return list(_rows_of(sheet, _SHEET_KINDS[kind], path))
    return []


def _work_item_sheets(book: Any, titles: list[str], path: Path) -> Iterator[Raw]:
    try:
        for title in titles:
            yield from _rows_of(book[title], WORK_ITEM_NAMES, path)
    finally:
        book.close()


def _unescape(value: Any) -> Any:
    """OOXML escapes control characters in text as ``_xHHHH_`` (``_x000D_`` for a carriage
    return, ``_x005F_`` for a literal underscore before such a pattern); openpyxl keeps the
    escapes, Excel does not."""
    if isinstance(value, str) and "_x" in value:
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def _rows_of(sheet: Any, names: Mapping[str, str], path: Path) -> Iterator[Raw]:
    rows = sheet.iter_rows(values_only=True)
    first = next(rows, None)
    if first is None:
        return
    width = max((i + 1 for i, cell in enumerate(first) if cell not in (None, "")), default=0)
    header = check_header(f"{path.name}, sheet {sheet.title!r}", first[:width], names)
    for values in rows:
        cells = list(values[:width]) + [None] * (width - len(values))
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells):
            continue
        yield dict(zip(header, map(_unescape, cells), strict=True))
