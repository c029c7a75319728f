"""Import files -> rows: json, csv and xlsx as people and other tools write them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import orjson
import pytest
import xlsxwriter

from engine.bulk.readers import read_import_file
from engine.errors import ValidationError


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_csv_with_a_byte_order_mark_lenient_headers_and_quoted_line_breaks(tmp_path: Path) -> None:
    text = '\ufeffTitle,Due Date,assignee_email\r\n"two\r\nlines",2025-01-02,\r\n\r\nsolo\r\n'
    file = read_import_file(write(tmp_path / "a.csv", text.encode()))
    assert file.total == 2
    assert list(file.work_items) == [
        {"Title": "two\r\nlines", "Due Date": "2025-01-02", "assignee_email": ""},
        {"Title": "solo", "Due Date": "", "assignee_email": ""},  # short row: empty cells
    ]


def test_csv_cells_beyond_the_header_fail_their_row(tmp_path: Path) -> None:
    file = read_import_file(write(tmp_path / "a.csv", b"title\r\nok\r\nbad,extra\r\nfine,\r\n"))
    rows = list(file.work_items)
    assert rows[0] == {"title": "ok"} and rows[2] == {"title": "fine"}
    assert rows[1] == {"title": "bad", "(cells beyond the 1 columns of the header)": ["extra"]}


def test_csv_headers_are_checked_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"title,colour,,Title\r\nx,y,z,w\r\n")
    with pytest.raises(ValidationError) as caught:
        list(read_import_file(path).work_items)
    assert caught.value.problems == [
        "a.csv: column 2 'colour' is not one of id, externalId, externalKey, externalUrl, "
        "title, description, status, priority, type, assigneeId, assigneeEmail, tags, "
        "dueDate, completedAt, parentId, createdAt, updatedAt, custom",
        "a.csv: column 3 (blank) is not one of id, externalId, externalKey, externalUrl, "
        "title, description, status, priority, type, assigneeId, assigneeEmail, tags, "
        "dueDate, completedAt, parentId, createdAt, updatedAt, custom",
        "a.csv: column 4 repeats title",
    ]


def test_csv_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "title\r\ncaf\u00e9\r\n".encode("latin-1"))
    with pytest.raises(ValidationError, match=re.escape("a.csv: not UTF-8 text")):
        read_import_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'title\r\nfirst\r\n"second, never closed\r\nthird\r\nfourth\r\n',
            "unexpected end of data",
        ),
        ('title,status\r\n"quoted"tail,Done\r\n', "',' expected after '\"'"),
    ],
)
def test_malformed_csv_is_refused_not_read_as_one_long_field(
    tmp_path: Path, text: str, message: str
) -> None:
    """A lenient reader took the open quote's cell to the end of the file: rows lost."""
    path = write(tmp_path / "a.csv", text.encode())
    with pytest.raises(ValidationError) as caught:
        list(read_import_file(path).work_items)
    assert caught.value.message.startswith("a.csv: not valid CSV: line ")
    assert message in caught.value.message


def test_json_array_or_the_import_data_object(tmp_path: Path) -> None:
    file = read_import_file(write(tmp_path / "a.json", b'[{"title": "a"}, {"title": "b"}]'))
    assert (list(file.work_items), file.total) == ([{"title": "a"}, {"title": "b"}], 2)
    data = {"workItems": [{"title": "a"}], "users": [{"email": "u@x.io"}], "projects": [{}]}
    file = read_import_file(write(tmp_path / "b.json", orjson.dumps(data)))
    assert (file.users, file.projects, file.total) == ([{"email": "u@x.io"}], [{}], 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{oops", "a.json: not valid JSON"),
        (b'"text"', "a.json: expected an array or an object"),
        (b'{"items": []}', "a.json: unknown key 'items'; valid: workItems, users, projects"),
        (b'{"users": {}}', "a.json: users must be an array"),
    ],
)
def test_bad_json_files_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        read_import_file(write(tmp_path / "a.json", data))


def test_unknown_extensions_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ValidationError, match=re.escape("unknown file type; use .json, .csv or .xlsx")
    ):
        read_import_file(write(tmp_path / "a.txt", b"title"))
    with pytest.raises(ValidationError, match="no such file"):
        read_import_file(tmp_path / "missing.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValidationError, match=re.escape("folder.csv: a directory, not a file")):
        read_import_file(tmp_path / "folder.csv")
    with pytest.raises(ValidationError, match=re.escape("a.xlsx: not an xlsx workbook")):
        read_import_file(write(tmp_path / "a.xlsx", b"not a zip"))


def test_xlsx_sheets_of_work_items_users_and_projects(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    book = xlsxwriter.Workbook(str(path))
    items = book.add_worksheet("Sheet1")
    items.write_row(0, 0, ["Title", "Due Date", "External Id", None])
    items.write_row(1, 0, ["first", None, 42])
    items.write_datetime(
        1, 1, datetime(2025, 1, 2, 3, 4), book.add_format({"num_format": "yyyy-mm-dd"})
    )
    items.write_row(2, 0, [None, None, None])  # an empty row is skipped
    items.write_row(3, 0, ["a\rb _x0041_ c"])
    more = book.add_worksheet("Work items 2")
    more.write_row(0, 0, ["title"])
    more.write_row(1, 0, ["third"])
    book.add_worksheet("Users").write_row(0, 0, ["Email", "Name"])
    book.get_worksheet_by_name("Users").write_row(1, 0, ["u@example.com", "U"])
    book.add_worksheet("projects").write_row(0, 0, ["statuses"])
    book.get_worksheet_by_name("projects").write_row(1, 0, ["Review"])
    book.close()

    file = read_import_file(path)
    assert file.users == [{"Email": "u@example.com", "Name": "U"}]
    assert file.projects == [{"statuses": "Review"}]
    assert list(file.work_items) == [
        {"Title": "first", "Due Date": datetime(2025, 1, 2, 3, 4), "External Id": 42},
        # OOXML escapes are decoded as Excel decodes them (this writer left _x0041_ bare)
        {"Title": "a\rb A c", "Due Date": None, "External Id": None},
        {"title": "third"},
    ]


def test_an_xlsx_header_is_checked_like_a_csv_one(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Users").write_row(0, 0, ["email", "role"])
    book.close()
    with pytest.raises(
        ValidationError,
        match=re.escape("a.xlsx, sheet 'Users': column 2 'role' is not one of id, email, name"),
    ):
        read_import_file(path)
